package service_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

// requireBadRequest checks that err is a 400 for target whose message
// contains each of parts.
func requireBadRequest(t *testing.T, err error, target string, parts ...string) {
	t.Helper()
	require.Error(t, err)
	e, ok := core.AsError(err)
	require.True(t, ok, "want a *core.Error, got %T: %v", err, err)
	require.Equal(t, http.StatusBadRequest, e.Status)
	require.Equal(t, target, e.Target, e.Message)
	for _, p := range parts {
		require.Contains(t, e.Message, p)
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		target string // "" when the body is accepted
		parts  []string
	}{
		{"object", `{"location": "eastus", "x": {"y": [1, 2]}}`, "", nil},
		{"empty", ``, "", nil},
		{"whitespace", " \n\t ", "", nil},
		{"trailing whitespace", "{}\n", "", nil},
		{"syntax error", `{"location": }`, "body", []string{"not valid JSON", "line 1, column 14"}},
		{"syntax error on line 3", "{\n  \"a\": 1,\n  \"b\": x\n}", "body", []string{"line 3, column 8"}},
		{"ends early", `{"location": "eastus"`, "body", []string{"ends too early"}},
		{"null", `null`, "body", []string{"JSON object"}},
		{"array", `[{}]`, "body", []string{"an object", "array"}},
		{"string", `"x"`, "body", []string{"an object", "string"}},
		{"number", `5`, "body", []string{"an object", "number"}},
		{"two documents", `{} {}`, "body", []string{"follows", "line 1, column 4"}},
		{"garbage after", "{}\n  junk", "body", []string{"follows", "line 2, column 3"}},
		{"stray brace", `{}}`, "body", []string{"line 1, column 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := service.ReadBody(strings.NewReader(tc.body), 1<<20)
			if tc.target == "" {
				require.NoError(t, err)
				require.NotNil(t, b.Doc, "an accepted body is an object")
				return
			}
			requireBadRequest(t, err, tc.target, tc.parts...)
		})
	}
}

func TestReadBodyKeepsNumbersAndUnknownFields(t *testing.T) {
	t.Parallel()
	b, err := service.ReadBody(strings.NewReader(`{"big": 12345678901234567890, "unknownField": {"k": true}}`), 1<<20)
	require.NoError(t, err)
	// Numbers stay exact (json.Number), so echoing them back changes nothing.
	require.Equal(t, `{"big":12345678901234567890,"unknownField":{"k":true}}`, string(resource.Encode(b.Doc)))
}

func TestReadBodyLimit(t *testing.T) {
	t.Parallel()
	_, err := service.ReadBody(strings.NewReader(`{"a": "`+strings.Repeat("x", 100)+`"}`), 64)
	requireBadRequest(t, err, "body", "larger than 64 bytes")
	_, err = service.ReadBody(strings.NewReader(`{"a": "x"}`), 10)
	require.NoError(t, err, "a body of exactly the limit is accepted")
}

func TestBodyIntoNamesTheField(t *testing.T) {
	t.Parallel()
	type spec struct {
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		Count      int               `json:"count"`
		Enabled    *bool             `json:"enabled"`
		Properties struct {
			Description *string  `json:"description"`
			Nodes       []string `json:"nodes"`
			Scale       struct {
				Max int `json:"maxNodeCount"`
			} `json:"scaleSettings"`
		} `json:"properties"`
	}
	for _, tc := range []struct {
		body, target, want string
	}{
		{`{"location": 5}`, "location", `Field "location" must be a string, not a JSON number.`},
		{`{"tags": "x"}`, "tags", `Field "tags" must be an object, not a JSON string.`},
		{`{"count": "3"}`, "count", `Field "count" must be a whole number, not a JSON string.`},
		{`{"count": 1.5}`, "count", `Field "count" must be a whole number, not a JSON number 1.5.`},
		{`{"enabled": "yes"}`, "enabled", `Field "enabled" must be true or false, not a JSON string.`},
		{`{"properties": "x"}`, "properties", `Field "properties" must be an object, not a JSON string.`},
		{`{"properties": {"description": 5}}`, "properties.description", `Field "properties.description" must be a string, not a JSON number.`},
		{`{"properties": {"nodes": "a"}}`, "properties.nodes", `Field "properties.nodes" must be a list, not a JSON string.`},
		{`{"properties": {"scaleSettings": {"maxNodeCount": "2"}}}`, "properties.scaleSettings.maxNodeCount", `must be a whole number`},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			b, err := service.ReadBody(strings.NewReader(tc.body), 1<<20)
			require.NoError(t, err)
			var s spec
			requireBadRequest(t, b.Into(&s), tc.target, tc.want)
		})
	}
	b, err := service.ReadBody(strings.NewReader(`{"location": "eastus", "tags": {"a": "b"}, "unknown": [1]}`), 1<<20)
	require.NoError(t, err)
	var s spec
	require.NoError(t, b.Into(&s))
	require.Equal(t, "eastus", s.Location)
}

func TestMerge(t *testing.T) {
	t.Parallel()
	dst := map[string]any{"a": 1, "obj": map[string]any{"x": 1, "y": 2}, "list": []any{1, 2}, "replaced": map[string]any{"k": 1}}
	src := map[string]any{"b": 2, "obj": map[string]any{"y": 3, "z": 4}, "list": []any{3}, "replaced": "flat"}
	got := resource.Merge(dst, src)
	require.Equal(t, map[string]any{
		"a": 1, "b": 2, "obj": map[string]any{"x": 1, "y": 3, "z": 4}, "list": []any{3}, "replaced": "flat",
	}, got)

	// A nested source object is copied, not shared.
	inner := map[string]any{"k": "v"}
	out := resource.Merge(nil, map[string]any{"o": inner})
	out["o"].(map[string]any)["k"] = "changed"
	require.Equal(t, "v", inner["k"])
}

func TestKeys(t *testing.T) {
	t.Parallel()
	key := resource.ResourceKey("/subscriptions/s/resourcegroups/g", "MyWS")
	require.Equal(t, "/subscriptions/s/resourcegroups/g|myws", key)
	parent, name := resource.ParseKey(key)
	require.Equal(t, "/subscriptions/s/resourcegroups/g", parent)
	require.Equal(t, "myws", name)
	parent, name = resource.ParseKey("sub1")
	require.Equal(t, "", parent)
	require.Equal(t, "sub1", name)
}

func TestStorageAccountName(t *testing.T) {
	t.Parallel()
	uid := "0d4c7d8e-1111-2222-3333-444455556666"
	for _, ws := range []string{"ws1", "MLW-dp100_Labs-with-a-very-long-name", "___"} {
		n := service.StorageAccountName(ws, uid)
		require.Len(t, n, 24, "Azure storage account names are at most 24 characters")
		for _, r := range n {
			require.True(t, r >= 'a' && r <= 'z' || r >= '0' && r <= '9', "%q has %q", n, r)
		}
	}
	require.NotEqual(t, service.StorageAccountName("ws1", uid), service.StorageAccountName("ws1", "1"+uid[1:]))
}

func TestMapValueOfWrongTypeNamesTheMap(t *testing.T) {
	t.Parallel()
	b, err := service.ReadBody(strings.NewReader(`{"tags":{"a":5}}`), 1<<20)
	require.NoError(t, err)
	var v struct {
		Tags map[string]string `json:"tags"`
	}
	err = b.Into(&v)
	e, ok := core.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "tags", e.Target)
	require.Contains(t, e.Message, `Every value of "tags" must be a string`)
}

package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/store"
)

// TestAuthentication: every API call needs a known bearer token, and a
// refusal is a 401 in the ARM error envelope that says what to do.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	for _, tc := range []struct {
		name, header string
	}{
		{"no token", ""},
		{"unknown token", "Bearer mlw_thisisnotatoken"},
		{"forged signed token", "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"},
		{"not a bearer token", "Basic YWRtaW46YWRtaW4="},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := s.NewRequest(t, http.MethodGet, "/subscriptions/"+s.Subscription+"/resourceGroups", nil)
			req.Header.Del("Authorization")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := s.Send(t, req)
			require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
			e := r.Error(t)
			require.Equal(t, "AuthenticationFailed", e.Code)
			require.Equal(t, "AuthenticationFailed", r.Header.Get("x-ms-error-code"))
			require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
		})
	}
	// Writes are refused just the same, and change nothing.
	req := s.NewRequest(t, http.MethodPut, s.GroupPath("rg1"), map[string]any{"location": "eastus"})
	req.Header.Set("Authorization", "Bearer mlw_wrong")
	require.Equal(t, http.StatusUnauthorized, s.Send(t, req).StatusCode)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.GroupPath("rg1"), nil).StatusCode)

	// The health check and the workspace discovery document need no token.
	r, err := s.HTTPClient().Get(s.URL + "/healthz")
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusOK, r.StatusCode)
}

// TestBadRequests: malformed or mistyped input gets a 4xx whose target (or
// message) names what to fix, and a refused write leaves nothing behind.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "eastus")

	type badCase struct {
		name   string
		path   string
		body   any
		status int
		code   string
		target string
		// inMessage must appear in the message (the field, line/column, ...).
		inMessage string
	}
	ws := func(name string) string { return s.WorkspacePath("rg1", name) }
	cases := []badCase{
		// Groups.
		{"group: malformed JSON", s.GroupPath("rg2"), `{"location": "eastus",`, 400, "BadRequest", "body", "not valid JSON"},
		{"group: syntax error position", s.GroupPath("rg2"), "{\n  \"location\": eastus\n}", 400, "BadRequest", "body", "line 2, column"},
		{"group: location is a number", s.GroupPath("rg2"), `{"location": 5}`, 400, "BadRequest", "location", "location"},
		{"group: tags is a string", s.GroupPath("rg2"), `{"location": "eastus", "tags": "x"}`, 400, "BadRequest", "tags", "tags"},
		{"group: no location", s.GroupPath("rg2"), `{}`, 400, "BadRequest", "location", "location"},
		{"group: JSON null", s.GroupPath("rg2"), `null`, 400, "BadRequest", "body", "object"},
		{"group: JSON array", s.GroupPath("rg2"), `[{"location": "eastus"}]`, 400, "BadRequest", "body", "object"},
		{"group: name with a space", s.GroupPath("bad name"), `{"location": "eastus"}`, 400, "BadRequest", "resourceGroupName", "bad name"},
		{"group: name with !", s.GroupPath("bad!"), `{"location": "eastus"}`, 400, "BadRequest", "resourceGroupName", "bad!"},
		{"group: name ends with a period", s.GroupPath("rg."), `{"location": "eastus"}`, 400, "BadRequest", "resourceGroupName", "period"},
		{"group: name too long", s.GroupPath(strings.Repeat("g", 91)), `{"location": "eastus"}`, 400, "BadRequest", "resourceGroupName", "90"},
		{"group: unknown subscription", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg2", `{"location": "eastus"}`, 404, "SubscriptionNotFound", "", s.Subscription},
		{"group: moves to another location", s.GroupPath("rg1"), `{"location": "westus"}`, 400, "BadRequest", "location", "eastus"},

		// Workspaces.
		{"workspace: unknown group", s.WorkspacePath("nosuchgroup", "ws1"), `{"location": "eastus"}`, 404, "ResourceGroupNotFound", "", "nosuchgroup"},
		{"workspace: malformed JSON", ws("ws1"), `{"location": }`, 400, "BadRequest", "body", "line 1, column 14"},
		{"workspace: location is a number", ws("ws1"), `{"location": 5}`, 400, "BadRequest", "location", "location"},
		{"workspace: tags is a string", ws("ws1"), `{"tags": "x"}`, 400, "BadRequest", "tags", "tags"},
		{"workspace: description is a number", ws("ws1"), `{"properties": {"description": 5}}`, 400, "BadRequest", "properties.description", "properties.description"},
		{"workspace: friendlyName is a list", ws("ws1"), `{"properties": {"friendlyName": ["a"]}}`, 400, "BadRequest", "properties.friendlyName", "properties.friendlyName"},
		{"workspace: properties is a string", ws("ws1"), `{"properties": "x"}`, 400, "BadRequest", "properties", "properties"},
		{"workspace: JSON null", ws("ws1"), `null`, 400, "BadRequest", "body", "object"},
		{"workspace: JSON string", ws("ws1"), `"ws1"`, 400, "BadRequest", "body", "object"},
		{"workspace: two documents", ws("ws1"), `{"location": "eastus"} {"x": 1}`, 400, "BadRequest", "body", "JSON"},
		{"workspace: name too short", ws("ab"), `{}`, 400, "BadRequest", "workspaceName", "ab"},
		{"workspace: name starts with a hyphen", ws("-ws1"), `{}`, 400, "BadRequest", "workspaceName", "-ws1"},
		{"workspace: name with a period", ws("ws.1"), `{}`, 400, "BadRequest", "workspaceName", "ws.1"},
		{"workspace: name too long", ws(strings.Repeat("w", 34)), `{}`, 400, "BadRequest", "workspaceName", "33"},
		{"workspace: body too large", ws("ws1"), `{"tags": {"x": "` + strings.Repeat("x", 8<<20) + `"}}`, 400, "BadRequest", "body", "larger"},

		// Routing.
		{"unknown path", "/subscriptions/" + s.Subscription + "/nosuchthing", nil, 404, "NoRegisteredProviderFound", "", "/nosuchthing"},
		{"unsupported method", s.GroupPath("rg1") + "/providers/Microsoft.MachineLearningServices/workspaces", `{}`, 405, "MethodNotAllowed", "", "PUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, http.MethodPut, tc.path, tc.body)
			require.Equal(t, tc.status, r.StatusCode, r)
			e := r.Error(t)
			require.Equal(t, tc.code, e.Code, r)
			require.Equal(t, tc.target, e.Target, r)
			require.Contains(t, e.Message, tc.inMessage, r)
		})
	}

	// Nothing was half-created: no workspace and no datastore...
	for _, name := range []string{"ws1", "ab", "-ws1", "ws.1"} {
		r := s.Do(t, http.MethodGet, ws(name), nil)
		require.Equal(t, http.StatusNotFound, r.StatusCode, r)
		r = s.Do(t, http.MethodGet, ws(name)+"/datastores", nil)
		require.Equal(t, http.StatusNotFound, r.StatusCode, r)
	}
	var groups []map[string]any
	s.MustRunJSON(t, &groups, "group", "list")
	require.Len(t, groups, 1, "only rg1 exists")
	require.Equal(t, "eastus", groups[0]["location"], "the refused move changed nothing")

	// ... so the workspace can now be created, with exactly its own four
	// datastores (leftovers would collide with them).
	r := s.Do(t, http.MethodPut, ws("ws1"), map[string]any{"properties": map[string]any{"description": "ok"}})
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	r = s.Do(t, http.MethodGet, ws("ws1")+"/datastores", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Len(t, r.JSON(t)["value"], 4)

	// A refused update of an existing workspace changes nothing either.
	r = s.Do(t, http.MethodPut, ws("ws1"), `{"location": "westus"}`)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r)
	require.Equal(t, "location", r.Error(t).Target)
	r = s.Do(t, http.MethodPatch, ws("ws1"), `{"tags": ["a"]}`)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r)
	require.Equal(t, "tags", r.Error(t).Target)
	r = s.Do(t, http.MethodGet, ws("ws1"), nil)
	require.Equal(t, "eastus", r.JSON(t)["location"])
	require.Equal(t, "ok", r.JSON(t)["properties"].(map[string]any)["description"])

	// And the database agrees: one group, one workspace, four datastores.
	s.Stop()
	st := openStore(t, s)
	ctx := context.Background()
	for kind, want := range map[string]int{core.KindResourceGroup: 1, core.KindWorkspace: 1, core.KindDatastore: 4} {
		rs, err := st.List(ctx, store.ListOptions{Kind: kind})
		require.NoError(t, err)
		require.Len(t, rs, want, kind)
	}
}

// TestCaseInsensitivePaths: ARM compares literal path segments and names
// without regard to case, and keeps the case of names as created.
func TestCaseInsensitivePaths(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "MyGroup", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "MyWorkspace", "-g", "MyGroup")

	path := "/SUBSCRIPTIONS/" + strings.ToUpper(s.Subscription) + "/resourcegroups/mygroup/PROVIDERS/microsoft.machinelearningservices/Workspaces/myworkspace"
	r := s.Do(t, http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	doc := r.JSON(t)
	require.Equal(t, "MyWorkspace", doc["name"])
	require.Equal(t, s.WorkspacePath("MyGroup", "MyWorkspace"), doc["id"])

	// Creating it again in another case is an update, not a second one.
	r = s.Do(t, http.MethodPut, s.WorkspacePath("MYGROUP", "MYWORKSPACE"), map[string]any{"tags": map[string]string{"a": "b"}})
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var list []map[string]any
	s.MustRunJSON(t, &list, "workspace", "list")
	require.Len(t, list, 1)
	require.Equal(t, "MyWorkspace", list[0]["name"])

	// Names are percent-decoded before validation and comparison; Azure
	// allows letters of any script in group names.
	r = s.Do(t, http.MethodPut, s.GroupPath("Grüppe_(1)"), map[string]any{"location": "eastus"})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	r = s.Do(t, http.MethodGet, "/subscriptions/"+s.Subscription+"/resourceGroups/"+url.PathEscape("GRÜPPE_(1)"), nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, "Grüppe_(1)", r.JSON(t)["name"])
}

package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// testApp is an App that prints to a buffer in the given format, with
// --query q when q is not empty (parsed as the flag is).
func testApp(t *testing.T, format, q string) (*App, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	app := &App{Out: &out, Err: &bytes.Buffer{}}
	require.NoError(t, outputFlag{&app.output}.Set(format))
	if q != "" {
		require.NoError(t, queryFlag{&app.query}.Set(q))
	}
	return app, &out
}

var testJobs = []Doc{
	{"name": "b_job", "properties": Doc{"status": "Running", "experimentName": "exp", "jobType": "Command"}},
	{"name": "a_job", "properties": Doc{"status": "Completed", "experimentName": "exp", "jobType": "Command"}},
}

var jobView = view{shape: jobShape, cols: jobColumns}

// TestQueryAndFormats: --query runs on the SDK's shape (status, not
// properties.status) and each format prints its result as az does.
func TestQueryAndFormats(t *testing.T) {
	for _, tc := range []struct {
		name, format, query, want string
	}{
		{"tsv of a field", "tsv", "[].status", "Running\nCompleted\n"},
		{"tsv keeps the hash's order", "tsv", "[].{status: status, name: name}", "Running\tb_job\nCompleted\ta_job\n"},
		{"tsv of a filter", "tsv", "[?status=='Completed'].name", "a_job\n"},
		{"json of a projection", "json", "[].name", "[\n  \"b_job\",\n  \"a_job\"\n]\n"},
		{"json keys sorted", "json", "[0].{z: name, a: status}", "{\n  \"a\": \"Running\",\n  \"z\": \"b_job\"\n}\n"},
		{"yaml", "yaml", "[1].{name: name}", "name: a_job\n"},
		{"table in the query's order", "table", "[].{Status: status, Name: name}", "Status     Name\n------     ----\nRunning    b_job\nCompleted  a_job\n"},
		{"table of a single value", "table", "length(@)", "Result\n------\n2\n"},
		{"rest queries the REST body", "rest", "[].properties.status", "[\n  \"Running\",\n  \"Completed\"\n]\n"},
		{"null prints nothing", "json", "[0].nosuchfield", ""},
		{"none prints nothing", "none", "[].name", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, out := testApp(t, tc.format, tc.query)
			require.NoError(t, app.printView(testJobs, jobView))
			require.Equal(t, tc.want, out.String())
		})
	}
}

// TestTSVLikeAz: az's tsv of whole documents: values in key order, a
// nested list as its length, a nested mapping as nothing, a single
// document as one line.
func TestTSVLikeAz(t *testing.T) {
	var b bytes.Buffer
	v := map[string]any{"b": []any{1.0, 2.0}, "a": "x", "c": map[string]any{"k": "v"}, "d": 2.5, "e": true, "f": nil}
	require.NoError(t, writeTSV(&b, v, nil))
	require.Equal(t, "x\t2\t\t2.5\tTrue\tNone\n", b.String())
	b.Reset()
	require.NoError(t, writeTSV(&b, []any{true, 3.0, []any{"p", "q"}}, nil))
	require.Equal(t, "true\n3\np\tq\n", b.String())
}

// TestQueryFlagRefusesBadQueries: a query that does not parse fails while
// flags are parsed, before any command acts.
func TestQueryFlagRefusesBadQueries(t *testing.T) {
	var q *query
	err := queryFlag{&q}.Set("[?status=='x'")
	require.ErrorContains(t, err, "not a JMESPath query")
	require.Nil(t, q)
	require.NoError(t, queryFlag{&q}.Set("items[?a > `1`] | [].{x: a, y: b}"))
	require.Equal(t, []string{"x", "y"}, q.keys)
	require.Error(t, outputFlag{new(string)}.Set("xml"))
}

// TestTableWithoutQuery keeps the curated columns of the REST document.
func TestTableWithoutQuery(t *testing.T) {
	app, out := testApp(t, "table", "")
	require.NoError(t, app.printView(testJobs, jobView))
	require.Contains(t, out.String(), "Name   Display name  Experiment  Status")
	require.Contains(t, out.String(), "b_job")
}

// TestJSONIsTheSDKShape: -o json prints the shape az ml prints; -o rest
// the REST body.
func TestJSONIsTheSDKShape(t *testing.T) {
	app, out := testApp(t, "json", "")
	require.NoError(t, app.printView(testJobs[0], jobView))
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	require.Equal(t, map[string]any{"name": "b_job", "status": "Running", "experiment_name": "exp", "type": "command"}, got)

	app, out = testApp(t, "rest", "")
	require.NoError(t, app.printView(testJobs[0], jobView))
	require.NoError(t, yaml.Unmarshal(out.Bytes(), &got))
	require.Equal(t, "Running", lookup(got, "properties.status"))
}

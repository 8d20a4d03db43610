package httpapi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// newTestRouter registers routes whose handler is identified by pattern.
func newTestRouter(routes ...[2]string) *router {
	rt := &router{}
	for _, r := range routes {
		rt.add(&route{method: r[0], pattern: r[1]})
	}
	return rt
}

func TestRouterMatch(t *testing.T) {
	t.Parallel()
	rt := newTestRouter(
		[2]string{"GET", "/subscriptions/{sub}/resourceGroups"},
		[2]string{"GET", "/subscriptions/{sub}/resourceGroups/{rg}"},
		[2]string{"PUT", "/subscriptions/{sub}/resourceGroups/{rg}"},
		[2]string{"GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"},
		[2]string{"GET", "/blob/{account}/{path...}"},
		[2]string{"GET", "/healthz"},
	)
	for _, tc := range []struct {
		name, method, path string
		pattern            string // "" when nothing matches
		params             map[string]string
		found              bool // the path exists (for 405 versus 404)
	}{
		{"literal", "GET", "/healthz", "/healthz", map[string]string{}, true},
		{"trailing slash", "GET", "/healthz/", "/healthz", map[string]string{}, true},
		{"params keep their case", "GET", "/subscriptions/SUB-1/resourceGroups/MyGroup",
			"/subscriptions/{sub}/resourceGroups/{rg}", map[string]string{"sub": "SUB-1", "rg": "MyGroup"}, true},
		{"literals ignore case", "GET", "/SUBSCRIPTIONS/s/resourcegroups/g/PROVIDERS/microsoft.machinelearningservices/WORKSPACES/w",
			"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}",
			map[string]string{"sub": "s", "rg": "g", "ws": "w"}, true},
		{"list", "GET", "/subscriptions/s/resourceGroups", "/subscriptions/{sub}/resourceGroups", map[string]string{"sub": "s"}, true},
		{"rest captures the remainder", "GET", "/blob/acct/container/dir/file.txt", "/blob/{account}/{path...}",
			map[string]string{"account": "acct", "path": "container/dir/file.txt"}, true},
		{"rest may be empty", "GET", "/blob/acct", "/blob/{account}/{path...}", map[string]string{"account": "acct", "path": ""}, true},
		{"HEAD falls back to GET", "HEAD", "/subscriptions/s/resourceGroups/g", "/subscriptions/{sub}/resourceGroups/{rg}",
			map[string]string{"sub": "s", "rg": "g"}, true},
		{"wrong method: 405", "DELETE", "/subscriptions/s/resourceGroups/g", "", nil, true},
		{"unknown path: 404", "GET", "/subscriptions/s/nothing", "", nil, false},
		{"empty segment is no param", "GET", "/subscriptions//resourceGroups", "", nil, false},
		{"empty segments are dropped, as ARM does", "GET", "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices//workspaces/w",
			"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}",
			map[string]string{"sub": "s", "rg": "g", "ws": "w"}, true},
		{"a rest keeps its empty segments", "GET", "/blob/acct/c//x", "/blob/{account}/{path...}",
			map[string]string{"account": "acct", "path": "c//x"}, true},
		{"too long: 404", "GET", "/healthz/x", "", nil, false},
		{"root: 404", "GET", "/", "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, params, found := rt.match(tc.method, tc.path)
			require.Equal(t, tc.found, found)
			if tc.pattern == "" {
				require.Nil(t, r)
				return
			}
			require.NotNil(t, r)
			require.Equal(t, tc.pattern, r.pattern)
			require.Equal(t, tc.params, params)
		})
	}
}

// TestRouterPrefersTheMethod: when a literal and a parameter both match a
// path, the route that has the request's method wins; a 405 is only for a
// path that no route of that method matches.
func TestRouterPrefersTheMethod(t *testing.T) {
	t.Parallel()
	rt := newTestRouter(
		[2]string{"GET", "/ws/{ws}/jobs/{job}"},
		[2]string{"DELETE", "/ws/{ws}/jobs/{job}"},
		[2]string{"POST", "/ws/{ws}/jobs/cancel"},
	)
	r, params, found := rt.match(http.MethodGet, "/ws/w/jobs/cancel")
	require.True(t, found)
	require.NotNil(t, r, "GET /ws/w/jobs/cancel is the job named cancel")
	require.Equal(t, "/ws/{ws}/jobs/{job}", r.pattern)
	require.Equal(t, map[string]string{"ws": "w", "job": "cancel"}, params)

	r, _, _ = rt.match(http.MethodPost, "/ws/w/jobs/cancel")
	require.NotNil(t, r)
	require.Equal(t, "/ws/{ws}/jobs/cancel", r.pattern)

	r, _, found = rt.match(http.MethodPut, "/ws/w/jobs/cancel")
	require.Nil(t, r)
	require.True(t, found, "405: the path exists for other methods")
}

func TestRouterRefusesDuplicates(t *testing.T) {
	t.Parallel()
	rt := newTestRouter([2]string{"GET", "/a/{x}"})
	require.Panics(t, func() { rt.add(&route{method: "GET", pattern: "/A/{y}"}) })
	require.NotPanics(t, func() { rt.add(&route{method: "PUT", pattern: "/a/{x}"}) })
}

package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseResourceFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want resourceFilter
		bad  bool
	}{
		{in: "", want: resourceFilter{}},
		{in: "resourceGroup eq 'rg-dp100-labs'", want: resourceFilter{"resourcegroup": "rg-dp100-labs"}},
		// What `az resource list -g rg --resource-type … --name …` sends.
		{in: "resourceGroup eq 'rg' and name eq 'ws' and resourceType eq 'Microsoft.MachineLearningServices/workspaces'",
			want: resourceFilter{"resourcegroup": "rg", "name": "ws", "resourcetype": "Microsoft.MachineLearningServices/workspaces"}},
		{in: "tagname eq 'env' AND tagvalue eq 'it''s'", want: resourceFilter{"tagname": "env", "tagvalue": "it's"}},
		{in: "startswith(tagname, 'e')", bad: true},
		{in: "color eq 'red'", bad: true},
		{in: "name eq ws", bad: true},
	} {
		got, err := parseResourceFilter(tc.in)
		if tc.bad {
			require.Error(t, err, tc.in)
			require.Contains(t, err.Error(), "field eq 'value'")
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

// TestExistenceRoutes: a HEAD on an ARM document answers 204 (ARM's
// CheckExistence, which `az group exists` reads) and its GET's errors
// (404) as they are; outside /subscriptions, and for a GET that writes its
// own answer, HEAD stays the GET.
func TestExistenceRoutes(t *testing.T) {
	t.Parallel()
	a := &API{}
	a.Handle("GET", "/subscriptions/{sub}/resourceGroups/{rg}", func(r *Request) (any, error) {
		if r.Param("rg") == "missing" {
			return nil, errNotFoundForTest
		}
		return map[string]any{"name": r.Param("rg")}, nil
	})
	a.Handle("GET", "/subscriptions/{sub}/files/{path...}", func(r *Request) (any, error) { return handled, nil })
	a.HandlePublic("GET", "/blob/{account}", func(r *Request) (any, error) { return map[string]any{}, nil })
	a.existenceRoutes()

	call := func(path string) (int, any, error) {
		rt, params, _ := a.rt.match(http.MethodHead, path)
		require.NotNil(t, rt, path)
		out, err := rt.h(&Request{Request: httptest.NewRequest(http.MethodHead, path, nil), Params: params})
		if resp, ok := out.(*Response); ok {
			return resp.Status, out, err
		}
		return 0, out, err
	}
	status, _, err := call("/subscriptions/s/resourceGroups/rg1")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, status)

	_, _, err = call("/subscriptions/s/resourceGroups/missing")
	require.ErrorIs(t, err, errNotFoundForTest)

	_, out, err := call("/subscriptions/s/files/a/b")
	require.NoError(t, err)
	require.Same(t, handled, out)

	rt, _, _ := a.rt.match(http.MethodHead, "/blob/acct")
	require.Equal(t, http.MethodGet, rt.method, "HEAD outside ARM falls back to the GET")
}

var errNotFoundForTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "not found" }

package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// relative strips scheme and host from a URL the server sent, so that it
// can be requested again after a restart moved the server to another port.
func relative(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	require.NotEmpty(t, p.Host, "the server must send absolute URLs: %s", u)
	return p.RequestURI()
}

// requireLRO checks the headers of the 202 that starts a long-running
// operation and returns its two polling URLs.
func requireLRO(t *testing.T, s *Server, r *Response) (async, location string) {
	t.Helper()
	require.Equal(t, http.StatusAccepted, r.StatusCode, r)
	async, location = r.Header.Get("Azure-AsyncOperation"), r.Header.Get("Location")
	require.True(t, strings.HasPrefix(async, s.URL+"/"), "Azure-AsyncOperation %q", async)
	require.True(t, strings.HasPrefix(location, s.URL+"/"), "Location %q", location)
	require.Contains(t, async, "/mfeOperationsStatus/")
	require.Contains(t, location, "/mfeOperationResults/")
	// azure-core waits 30 s between polls without Retry-After.
	require.Equal(t, "1", r.Header.Get("Retry-After"))
	// The SDK follows the URLs verbatim: they must carry the api-version.
	require.Contains(t, async, "api-version=")
	require.Contains(t, location, "api-version=")
	return async, location
}

// TestDeleteIsLongRunning follows ARM's asynchronous operation protocol
// for a group deletion from start to end, as azure-mgmt-core polls it.
func TestDeleteIsLongRunning(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
	s.MustRun(t, "workspace", "create", "-n", "ws2", "-g", "rg1")

	// Another replica holds the leader lease, so the deletion is accepted
	// but waits: its operation is observably in progress.
	s.Stop()
	st := openStore(t, s)
	ok, err := st.TryLease(context.Background(), leaseName, "e2e-other-replica", time.Hour)
	require.NoError(t, err)
	require.True(t, ok, "a graceful stop must release the leader lease")
	require.NoError(t, st.Close())
	s.Start()

	async, location := requireLRO(t, s, s.Do(t, http.MethodDelete, s.GroupPath("rg1"), nil))
	async, location = relative(t, async), relative(t, location)

	r := s.Do(t, http.MethodGet, async, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, "InProgress", r.JSON(t)["status"])
	require.Equal(t, "1", r.Header.Get("Retry-After"))

	r = s.Do(t, http.MethodGet, location, nil)
	require.Equal(t, http.StatusAccepted, r.StatusCode, r)
	require.Equal(t, "1", r.Header.Get("Retry-After"))
	require.NotEmpty(t, r.Header.Get("Location"))

	// The group is still readable, marked as being deleted, and refuses
	// new workspaces.
	r = s.Do(t, http.MethodGet, s.GroupPath("rg1"), nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, "Deleting", r.JSON(t)["properties"].(map[string]any)["provisioningState"])
	r = s.Do(t, http.MethodPut, s.WorkspacePath("rg1", "ws3"), map[string]any{"location": "eastus"})
	require.Equal(t, http.StatusConflict, r.StatusCode, r)

	// The other replica goes away; this server leads after a restart and
	// finishes the deletion it accepted before.
	s.Stop()
	st = openStore(t, s)
	_, err = st.TryLease(context.Background(), leaseName, "e2e-other-replica", -time.Hour)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	s.Start()

	doc := s.AwaitOperation(t, async)
	require.Equal(t, "Succeeded", doc["status"])
	require.NotEmpty(t, doc["endTime"])
	r = s.Do(t, http.MethodGet, async, nil)
	require.Empty(t, r.Header.Get("Retry-After"), "a finished operation needs no more polls")
	r = s.Do(t, http.MethodGet, location, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.GroupPath("rg1"), nil).StatusCode)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1"), nil).StatusCode)
}

// TestDeleteWorkspacePolls polls a workspace deletion the way the SDK does:
// each poll sees InProgress (with Retry-After) until it sees Succeeded.
func TestDeleteWorkspacePolls(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")

	async, location := requireLRO(t, s, s.Do(t, http.MethodDelete, s.WorkspacePath("rg1", "ws1"), nil))
	Await(t, "the workspace deletion to succeed", func() error {
		r := s.Do(t, http.MethodGet, async, nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		switch status := r.JSON(t)["status"]; status {
		case "InProgress":
			require.Equal(t, "1", r.Header.Get("Retry-After"))
			return errNotYet
		case "Succeeded":
			return nil
		default:
			t.Fatalf("unexpected operation status %v: %v", status, r)
			return nil
		}
	})
	r := s.Do(t, http.MethodGet, location, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1"), nil).StatusCode)
	require.Equal(t, http.StatusOK, s.Do(t, http.MethodGet, s.GroupPath("rg1"), nil).StatusCode, "deleting a workspace keeps its group")

	// An unknown operation is a 404 in the ARM envelope.
	r = s.Do(t, http.MethodGet, "/subscriptions/"+s.Subscription+"/providers/Microsoft.MachineLearningServices/locations/eastus/mfeOperationsStatus/nosuchop", nil)
	require.Equal(t, http.StatusNotFound, r.StatusCode, r)
	require.Equal(t, "OperationNotFound", r.Error(t).Code)
}

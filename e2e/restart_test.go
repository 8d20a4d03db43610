package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/api"
)

// snapshot is what a user can see of the server's state, without the
// fields that depend on the URL the client used.
func snapshot(t *testing.T, s *Server) map[string]any {
	t.Helper()
	var groups, workspaces []map[string]any
	s.MustRunJSON(t, &groups, "group", "list")
	s.MustRunREST(t, &workspaces, "workspace", "list")
	for _, ws := range workspaces {
		props := ws["properties"].(map[string]any)
		delete(props, "discoveryUrl")
		delete(props, "mlFlowTrackingUri")
	}
	r := s.Do(t, http.MethodGet, s.WorkspacePath("rg-a", "ws-a1")+"/datastores", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var stores struct {
		Value []map[string]any `json:"value"`
	}
	r.Decode(t, &stores)
	for _, ds := range stores.Value {
		delete(ds["properties"].(map[string]any), "accountName")
	}
	return map[string]any{"groups": groups, "workspaces": workspaces, "datastores": stores.Value}
}

func populate(t *testing.T, s *Server) {
	t.Helper()
	s.MustRun(t, "group", "create", "-n", "rg-a", "-l", "eastus", "--tags", "env=dev")
	s.MustRun(t, "group", "create", "-n", "RG-B", "-l", "westeurope")
	s.MustRun(t, "workspace", "create", "-n", "ws-a1", "-g", "rg-a", "--description", "first")
	s.MustRun(t, "workspace", "create", "-n", "ws-a2", "-g", "rg-a", "--tags", "k=v")
	s.MustRun(t, "workspace", "create", "-n", "ws-b1", "-g", "RG-B")
	s.MustRun(t, "workspace", "update", "-n", "ws-b1", "-g", "RG-B", "--description", "updated")
}

// TestRestartKeepsState: everything written before a SIGTERM or a SIGKILL
// is there after the next start on the same data directory, the CLI's
// token and CA still work, and the reconcilers run again (a deletion
// started after the restart finishes).
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stop func(*Server)
	}{
		{"SIGTERM", (*Server).Stop},
		{"SIGKILL", (*Server).Kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := StartServer(t, Options{})
			populate(t, s)
			before := snapshot(t, s)
			ca, err := os.ReadFile(filepath.Join(s.Dir, api.LocalCAFile))
			require.NoError(t, err)
			token := s.Token()

			tc.stop(s)
			s.Start()

			require.Equal(t, before, snapshot(t, s))
			require.Equal(t, token, s.Token(), "a restart must not replace the CLI's token")
			ca2, err := os.ReadFile(filepath.Join(s.Dir, api.LocalCAFile))
			require.NoError(t, err)
			require.Equal(t, ca, ca2, "a restart must not replace the CA that clients trust")

			// Writes and reconcilers work after the restart.
			s.MustRun(t, "workspace", "create", "-n", "ws-a3", "-g", "rg-a")
			s.MustRun(t, "group", "delete", "-n", "RG-B", "--yes")
			require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.WorkspacePath("RG-B", "ws-b1"), nil).StatusCode)

			// And a second restart still has all of it.
			s.Restart()
			var workspaces []api.Workspace
			s.MustRunJSON(t, &workspaces, "workspace", "list")
			var names []string
			for _, ws := range workspaces {
				names = append(names, ws.Name)
			}
			require.Equal(t, []string{"ws-a1", "ws-a2", "ws-a3"}, names)
		})
	}
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives still
// completes; new connections are refused; the server then exits 0,
// removes server.json and closes the database cleanly.
//
// The request in flight is a PUT whose body is sent in two parts. With
// "Expect: 100-continue" the server answers "100 Continue" only when the
// handler starts reading the body, so the test knows the handler is
// running before it sends SIGTERM; it sends the rest of the body once the
// listener is closed.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})

	pem, err := os.ReadFile(filepath.Join(s.Dir, api.LocalCAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	defer conn.Close()

	body := `{"location": "eastus", "tags": {"made": "during shutdown"}}`
	half := len(body) / 2
	fmt.Fprintf(conn, "PUT %s?api-version=2020-06-01 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		s.GroupPath("rg-inflight"), s.Addr(), s.Token(), len(body))
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "100 Continue")
	_, err = rd.ReadString('\n') // the blank line that ends the interim response
	require.NoError(t, err)
	_, err = conn.Write([]byte(body[:half]))
	require.NoError(t, err)

	s.Signal(syscall.SIGTERM)
	s.AwaitLog(t, "shutting down")
	Await(t, "the listener to close", func() error {
		c, err := s.Dial()
		if err == nil {
			c.Close()
			return errors.New("the server still accepts connections")
		}
		return nil
	})

	_, err = conn.Write([]byte(body[half:]))
	require.NoError(t, err)
	resp, err := http.ReadResponse(rd, nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	require.Equal(t, 0, s.Wait(), "exit status after SIGTERM")
	require.NoFileExists(t, filepath.Join(s.Dir, api.LocalServerFile), "server.json names a server that is gone")
	// SQLite removes the write-ahead log when the last connection closes
	// cleanly (it checkpoints into mlw.db first).
	require.NoFileExists(t, filepath.Join(s.Dir, "mlw.db-wal"), "the database was not closed cleanly")
	require.Contains(t, s.Log(), "mlw server stopped")

	s.Start()
	r := s.Do(t, http.MethodGet, s.GroupPath("rg-inflight"), nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, map[string]any{"made": "during shutdown"}, r.JSON(t)["tags"])
}

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServerStatusStop: `mlw server status` finds the server of its data
// directory by the lock it holds; `mlw server stop` stops that server
// cleanly and leaves another data directory's server running.
func TestServerStatusStop(t *testing.T) {
	t.Parallel()
	a := StartServer(t, Options{})
	b := StartServer(t, Options{})

	var st struct {
		DataDir string `json:"dataDir"`
		Running bool   `json:"running"`
		PID     int    `json:"pid"`
		URL     string `json:"url"`
		Version string `json:"version"`
	}
	a.MustRunJSON(t, &st, "server", "status")
	require.True(t, st.Running)
	require.Equal(t, a.proc.cmd.Process.Pid, st.PID)
	require.Equal(t, a.URL, st.URL)
	require.Equal(t, a.Dir, st.DataDir)
	require.NotEmpty(t, st.Version, "the server answered /healthz")

	_, stderr, code := a.Run("server", "stop")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "Stopped mlw server")
	require.Zero(t, a.Wait(), "a clean exit (SIGTERM), not a kill")
	require.True(t, b.Running(), "the other data directory's server is left alone")

	stdout, stderr, code := a.Run("server", "status", "-o", "json")
	require.Equal(t, 3, code, "3: not running")
	require.Contains(t, stderr, "no mlw server is running from "+a.Dir)
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	require.False(t, st.Running)

	_, stderr, code = a.Run("server", "stop")
	require.Zero(t, code, "stopping a stopped server is no error")
	require.Contains(t, stderr, "No mlw server is running")

	b.MustRunJSON(t, &st, "server", "status")
	require.True(t, st.Running)
}

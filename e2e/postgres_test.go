package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// TestRestartPostgres: with --database postgres://… the state lives in
// PostgreSQL, and restarts keep it just as with SQLite.
func TestRestartPostgres(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Database: pgtest.URL(t)})
	populate(t, s)
	before := snapshot(t, s)

	s.Restart()
	require.Equal(t, before, snapshot(t, s))
	// A graceful stop released the leader lease, so the new process leads
	// at once and the deletion finishes.
	s.MustRun(t, "group", "delete", "-n", "RG-B", "--yes")
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.GroupPath("RG-B"), nil).StatusCode)
	after := snapshot(t, s)

	// After a crash the lease of the dead process must expire before this
	// one leads (it might be another replica), so only the state is checked.
	s.Kill()
	s.Start()
	require.Equal(t, after, snapshot(t, s))
	s.MustRun(t, "workspace", "create", "-n", "ws-a3", "-g", "rg-a")
}

package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// openStore opens the SQLite database of a stopped server, for the few
// checks that a user cannot make through the API (what a failed request
// left behind, who holds the leader lease). It is closed when the test ends.
func openStore(t *testing.T, s *Server) store.Store {
	t.Helper()
	require.False(t, s.Running(), "open the database of a stopped server only")
	st, err := sqlite.Open(context.Background(), filepath.Join(s.Dir, "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// leaseName is the leader lease that gates the reconcilers
// (internal/server). Holding it from the test stands in for another
// replica that leads, so that no reconciler runs in the server under test.
const leaseName = "controllers"

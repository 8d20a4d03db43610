package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/postgres"
	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
	"github.com/mlw-project/mlw/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.URL(t))
		require.NoError(t, err)
		return s
	})
}

// TestAnalyzesFilledTables: a table filled soon after the database was
// made is analyzed by mlw within seconds (autovacuum would take up to a
// minute, and the planner meanwhile takes its rows for one); a table that
// stays small is left to autovacuum.
func TestAnalyzesFilledTables(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	defer db.Close()
	// Autovacuum must not get there first.
	_, err = db.ExecContext(ctx, `ALTER TABLE resources SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO resources (kind, parent, name_key, name, uid, spec, status, state, owner, deleting,
		generation, version, created_at, updated_at, created_by, modified_by)
		SELECT 'job', '/w', 'j' || i, 'j' || i, 'u' || i, '{}', '{}', 'Completed', '', 0, 1, 1, i, i, '', '' FROM generate_series(1, 1500) AS i`)
	require.NoError(t, err)
	analyzed := func(table string) bool {
		var done bool
		require.NoError(t, db.QueryRowContext(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&done))
		return done
	}
	require.Eventually(t, func() bool { return analyzed("resources") }, 30*time.Second, 200*time.Millisecond)
	require.False(t, analyzed("operations"), "an empty table is left alone")
}

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
	"github.com/mlw-project/mlw/internal/store/storetest"
	"github.com/mlw-project/mlw/internal/tracking"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
		require.NoError(t, err)
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mlw.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.PutSetting(ctx, "k", "v"))
	require.NoError(t, s.Close())
	require.NotPanics(t, func() { _ = s.Close() }, "closing twice (as tests' cleanups do) is harmless")
	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.GetSetting(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", v)
}

// TestMetricChunksMigrateClustered: a database whose metric chunks are in
// the first layout (a rowid table and its key's index) is moved to the
// clustered one on open, its points kept.
func TestMetricChunksMigrateClustered(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mlw.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	e := &tracking.Experiment{Workspace: "ws", Name: "lab", LifecycleStage: tracking.Active, CreationTime: 1, LastUpdateTime: 1}
	require.NoError(t, s.CreateExperiment(ctx, e))
	require.NoError(t, s.CreateRun(ctx, &tracking.Run{Info: tracking.RunInfo{Workspace: "ws", RunID: "r1", ExperimentID: e.ID,
		Status: tracking.Running, StartTime: 1, LifecycleStage: tracking.Active}}))
	for step := range 3 {
		require.NoError(t, s.LogBatch(ctx, "ws", "r1", tracking.Batch{Metrics: []tracking.Metric{{Key: "loss", Value: float64(step) / 2, Timestamp: 10, Step: int64(step)}}}))
	}
	require.NoError(t, s.Close())

	// Back to the first layout, and to the schema version before the move
	// (migration 9): the later migrations run again too (their indexes are
	// made IF NOT EXISTS).
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE old_chunks (run_key TEXT NOT NULL, key TEXT NOT NULL, seq BIGINT NOT NULL, n INTEGER NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (run_key, key, seq));
		INSERT INTO old_chunks SELECT * FROM mlflow_metric_chunks;
		DROP TABLE mlflow_metric_chunks;
		ALTER TABLE old_chunks RENAME TO mlflow_metric_chunks;
		DELETE FROM schema_migrations WHERE version >= 9`)
	require.NoError(t, err)
	require.False(t, clustered(t, db))
	require.NoError(t, db.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.MetricHistory(ctx, "ws", "r1", "loss", 0, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, []float64{0, 0.5, 1}, []float64{got[0].Value, got[1].Value, got[2].Value})
	db, err = sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	require.True(t, clustered(t, db))
}

// clustered reports whether the metric chunks are a WITHOUT ROWID table.
func clustered(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var ddl string
	require.NoError(t, db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'mlflow_metric_chunks'`).Scan(&ddl))
	return strings.Contains(ddl, "WITHOUT ROWID")
}

// TestCheckpointsOffTheWriter: what is written reaches the database file
// through the background checkpoints, long before the writer's own
// automatic checkpoint (which waits for a log of 10,000 pages).
func TestCheckpointsOffTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mlw.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	before, err := os.Stat(path)
	require.NoError(t, err)
	big := strings.Repeat("x", 64<<10)
	for i := range 32 { // 2 MiB: about 520 pages of the log
		require.NoError(t, s.PutSetting(ctx, fmt.Sprintf("k%d", i), big))
	}
	require.Eventually(t, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() >= before.Size()+2<<20
	}, 20*time.Second, 50*time.Millisecond, "the database file did not grow: no checkpoint ran")
}

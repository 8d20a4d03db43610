package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store/sqlstore"
	"github.com/mlw-project/mlw/internal/tracking"
)

// TestMetricChunksCompact: tiny chunks are merged into one; middle-sized
// ones once there are 16 of them; history is the same before and after.
func TestMetricChunksCompact(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		e := &tracking.Experiment{Workspace: "w", Name: "e", LifecycleStage: tracking.Active}
		require.NoError(t, s.CreateExperiment(ctx, e))
		require.NoError(t, s.CreateRun(ctx, &tracking.Run{Info: tracking.RunInfo{Workspace: "w", RunID: "r", ExperimentID: e.ID, LifecycleStage: tracking.Active}}))
		step := int64(0)
		log := func(n int) {
			ms := make([]tracking.Metric, n)
			for i := range ms {
				ms[i] = tracking.Metric{Key: "loss", Value: float64(step), Timestamp: step, Step: step}
				step++
			}
			require.NoError(t, s.LogBatch(ctx, "w", "r", tracking.Batch{Metrics: ms}))
		}
		chunks := func() int {
			n, err := sqlstore.MetricChunks(ctx, s, "w", "r", "loss")
			require.NoError(t, err)
			return n
		}
		for range 17 {
			log(100)
		}
		log(1)
		log(1)
		before, err := s.MetricHistory(ctx, "w", "r", "loss", 0, 0)
		require.NoError(t, err)
		require.Len(t, before, 1702)
		require.GreaterOrEqual(t, chunks(), 18, "a chunk per batch (a few may have been compacted on the way)")
		require.NoError(t, sqlstore.CompactMetric(ctx, s, "w", "r", "loss"))
		require.LessOrEqual(t, chunks(), 2, "the tiny ones merged, then the 17 middle-sized ones")
		after, err := s.MetricHistory(ctx, "w", "r", "loss", 0, 0)
		require.NoError(t, err)
		require.Equal(t, before, after)
	})
}

package slurm

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend/backendtest"
)

// TestBatchConformance runs backendtest's Batch suite against the real
// single-node Slurm (scripts/setup-slurm.sh), jobs running as nobody in a
// directory of their own.
func TestBatchConformance(t *testing.T) {
	requireSlurm(t)
	if os.Getuid() != 0 {
		t.Skip("submitting as another account (sbatch --uid) needs root")
	}
	backendtest.RunBatch(t, func(t *testing.T) *backendtest.BatchHarness {
		dir, err := os.MkdirTemp("", "mlw-batch-conformance-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o777))
		return &backendtest.BatchHarness{Batch: NewBatch(), Dir: dir, UID: 65534, GID: 65534, Wait: 2 * time.Minute}
	})
}

package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// BatchHarness is one batch scheduler under test (backend.Batch: Slurm).
type BatchHarness struct {
	Batch backend.Batch
	// Dir is a directory the scheduler's jobs can read and write (the
	// shared directory), fresh for the test.
	Dir string
	// UID and GID are the account test jobs run as.
	UID, GID int
	// Partition is the partition to submit to ("" for the default).
	Partition string
	// Wait bounds how long a trivial job may take to end (the scheduler's
	// passes included).
	Wait time.Duration
}

// BatchFactory returns a fresh harness for one test.
type BatchFactory func(t *testing.T) *BatchHarness

// RunBatch runs the conformance suite of backend.Batch: submit, find by
// name (what makes a submission happen once across restarts), states and
// exit codes, cancel, the partition and what cannot fit.
func RunBatch(t *testing.T, f BatchFactory) {
	t.Run("BatchRunsToCompletion", func(t *testing.T) { testBatchCompletes(t, f(t)) })
	t.Run("BatchExitCode", func(t *testing.T) { testBatchExitCode(t, f(t)) })
	t.Run("BatchFindByName", func(t *testing.T) { testBatchFind(t, f(t)) })
	t.Run("BatchCancel", func(t *testing.T) { testBatchCancel(t, f(t)) })
	t.Run("BatchPartitionAndFits", func(t *testing.T) { testBatchPartition(t, f(t)) })
}

func batchName(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "mlw-conformance-" + hex.EncodeToString(b)
}

func (h *BatchHarness) spec(t *testing.T, name, script string) backend.BatchSpec {
	return backend.BatchSpec{Name: name, Partition: h.Partition, Script: "#!/bin/bash\n" + script + "\n", WorkDir: h.Dir,
		Output: filepath.Join(h.Dir, name+".out"), Env: []string{"PATH=/usr/bin:/bin", "HOME=" + h.Dir}, Nodes: 1, TasksPerNode: 1,
		PerNode: backend.Resources{MilliCPU: 1000, MemoryBytes: 64 << 20}, UID: h.UID, GID: h.GID}
}

func (h *BatchHarness) submit(t *testing.T, spec backend.BatchSpec) string {
	t.Helper()
	id, err := h.Batch.Submit(context.Background(), spec)
	require.NoError(t, err)
	require.NotEmpty(t, id)
	t.Cleanup(func() { _ = h.Batch.Cancel(context.Background(), id) })
	return id
}

// await polls the job until ok (or fails the test when it ends first, or
// after Wait).
func (h *BatchHarness) await(t *testing.T, spec backend.BatchSpec, id, what string, ok func(backend.BatchState) bool) backend.BatchState {
	t.Helper()
	deadline := time.Now().Add(h.Wait)
	for {
		states, err := h.Batch.Jobs(context.Background(), []backend.BatchRef{{ID: id, Output: spec.Output}})
		require.NoError(t, err)
		st, known := states[id]
		if known && ok(st) {
			return st
		}
		if known && st.Ended {
			t.Fatalf("job %s ended (%s %s) before %s", id, st.Kind, st.Message, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not %s within %v (last: %+v, known %v)", id, what, h.Wait, st, known)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ended(st backend.BatchState) bool { return st.Ended }

func testBatchCompletes(t *testing.T, h *BatchHarness) {
	name := batchName(t)
	spec := h.spec(t, name, `echo "ran $SLURM_JOB_ID"; echo done > result`)
	id := h.submit(t, spec)
	st := h.await(t, spec, id, "ended", ended)
	require.Equal(t, backend.BatchCompleted, st.Kind, st.Message)
	require.Equal(t, 0, st.ExitCode)
	out, err := os.ReadFile(spec.Output)
	require.NoError(t, err)
	require.Contains(t, string(out), "ran ", "the script's output is in Output")
	b, err := os.ReadFile(filepath.Join(h.Dir, "result"))
	require.NoError(t, err, "the script ran in WorkDir")
	require.Equal(t, "done\n", string(b))
}

func testBatchExitCode(t *testing.T, h *BatchHarness) {
	spec := h.spec(t, batchName(t), `echo failing; exit 3`)
	id := h.submit(t, spec)
	st := h.await(t, spec, id, "ended", ended)
	require.Equal(t, backend.BatchFailed, st.Kind)
	require.Equal(t, 3, st.ExitCode)
}

func testBatchFind(t *testing.T, h *BatchHarness) {
	ctx := context.Background()
	name := batchName(t)
	got, err := h.Batch.Find(ctx, name)
	require.NoError(t, err)
	require.Empty(t, got, "no job has that name yet")
	spec := h.spec(t, name, `true`)
	id := h.submit(t, spec)
	got, err = h.Batch.Find(ctx, name)
	require.NoError(t, err)
	require.Equal(t, id, got, "a submitted job is found by its name (so it is never submitted twice)")
	h.await(t, spec, id, "ended", ended)
	got, err = h.Batch.Find(ctx, name)
	require.NoError(t, err)
	require.Equal(t, id, got, "an ended job is still found by its name")
}

func testBatchCancel(t *testing.T, h *BatchHarness) {
	ctx := context.Background()
	spec := h.spec(t, batchName(t), `echo started > started; sleep 300`)
	id := h.submit(t, spec)
	h.await(t, spec, id, "running", func(st backend.BatchState) bool { return st.Kind == backend.BatchRunning })
	require.NoError(t, h.Batch.Cancel(ctx, id))
	st := h.await(t, spec, id, "ended", ended)
	require.Equal(t, backend.BatchCancelled, st.Kind, st.Message)
	require.NoError(t, h.Batch.Cancel(ctx, id), "cancelling an ended job succeeds")
}

func testBatchPartition(t *testing.T, h *BatchHarness) {
	ctx := context.Background()
	p, err := h.Batch.Partition(ctx, h.Partition)
	require.NoError(t, err)
	require.True(t, p.Up, "partition %s is %s", p.Name, p.State)
	require.NotEmpty(t, p.Nodes)
	for _, n := range p.Nodes {
		require.NotEmpty(t, n.Name)
		require.Positive(t, n.CPUs, n.Name)
		require.Positive(t, n.MemoryMB, n.Name)
	}
	small := h.spec(t, batchName(t), `true`)
	require.NoError(t, h.Batch.Fits(small, p))
	huge := small
	huge.PerNode.MilliCPU = 1_000_000
	err = h.Batch.Fits(huge, p)
	require.True(t, errors.Is(err, backend.ErrBatchUnsatisfiable), "%v", err)
	require.True(t, strings.Contains(err.Error(), "CPU") || strings.Contains(err.Error(), "cpu"), "says what is missing: %v", err)
	_, err = h.Batch.Partition(ctx, "no-such-partition-"+batchName(t)[16:])
	require.True(t, errors.Is(err, backend.ErrBatchNoPartition), "%v", err)
}

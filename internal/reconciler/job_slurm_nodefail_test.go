package reconciler

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/resource"
)

// nodeFailBatch is the real Slurm with node failures injected: a job
// marked by failNode is cancelled in Slurm and reported ended NODE_FAIL,
// as slurmctld reports a job whose node went down. (Taking the one node
// of the test machine's Slurm down would stop every other Slurm test.)
type nodeFailBatch struct {
	backend.Batch
	mu     sync.Mutex
	failed map[string]bool
}

func (f *nodeFailBatch) failNode(id string) {
	f.mu.Lock()
	f.failed[id] = true
	f.mu.Unlock()
	_ = f.Batch.Cancel(context.Background(), id)
}

func (f *nodeFailBatch) Jobs(ctx context.Context, refs []backend.BatchRef) (map[string]backend.BatchState, error) {
	states, err := f.Batch.Jobs(ctx, refs)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.failed {
		if _, asked := states[id]; asked {
			states[id] = backend.BatchState{Kind: backend.BatchNodeFail, State: "NODE_FAIL", Ended: true, ExitCode: -1,
				Reason: "NodeDown", Message: "The node the job ran on failed (NODE_FAIL)."}
		}
	}
	return states, nil
}

// TestSlurmNodeFailure: a node failing under a job fails it with the
// reason on a dedicated cluster, and runs it again as a new Slurm job on a
// low-priority one, as Azure does with a preempted node.
func TestSlurmNodeFailure(t *testing.T) {
	b, real := slurmBundle(t)
	inject := &nodeFailBatch{Batch: real, failed: map[string]bool{}}
	b.jobs.Slurm.Batch = inject
	b.putCluster("dedicated", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1},"backend":{"type":"slurm"}}`)
	b.putCluster("lowpri", `{"vmSize":"STANDARD_DS1_V2","vmPriority":"LowPriority","scaleSettings":{"maxNodeCount":1},"backend":{"type":"slurm"}}`)
	b.submit("ded", command("dedicated", `echo attempt $MLW_ATTEMPT; sleep 300`))
	b.submit("low", command("lowpri", `echo attempt $MLW_ATTEMPT; [ "$MLW_ATTEMPT" = 2 ] || sleep 300`))
	b.drain()

	for _, name := range []string{"ded", "low"} {
		b.awaitSlurm(name+" running", func() bool { return b.job(name).State == resource.JobRunning })
		inject.failNode(b.status(name).Slurm.JobID)
	}

	st := b.awaitJobState("ded", resource.JobFailed)
	require.Equal(t, "NodeFail", st.Error.Code, st.Error.Message)
	require.Contains(t, st.Error.Message, "NODE_FAIL")

	b.awaitSlurm("low's second attempt", func() bool { return b.status("low").Attempt == 2 })
	st = b.awaitJobState("low", resource.JobCompleted)
	require.Len(t, st.Attempts, 1, "the failed attempt is recorded")
	require.Equal(t, backend.BatchNodeFail, st.Attempts[0].Outcome)
	require.True(t, strings.Contains(st.Attempts[0].Reason, "NODE_FAIL"), st.Attempts[0].Reason)
	require.Contains(t, b.artifact("low", UserLog), "attempt 2")
}

package reconciler

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// One rank of a multi-process job ends with 0 while the other runs: the
// ended rank is not watched again (its Wait returns at once, which made
// the job reconcile in a loop until the last rank ended).
func TestEndedRankIsNotWatchedAgain(t *testing.T) {
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	b.submit("dist", command("c1", "python -m train", `"distribution":{"distributionType":"PyTorch","processCountPerInstance":2}`))
	b.drain()
	b.requireState("dist", resource.JobRunning)
	b.exit("dist", 0, 0)
	b.requireState("dist", resource.JobRunning)
	n := 0
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		it, ok := b.q.pop()
		if !ok {
			select {
			case <-b.q.added:
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if it.kind == core.KindJob {
			n++
			_, err := b.jobs.Reconcile(b.ctx, it.key)
			require.NoError(t, err)
		}
	}
	require.Less(t, n, 5, "the job was reconciled %d times in 300 ms with nothing happening", n)
}

// Deleting an ended job whose node now runs another job leaves that job
// alone (its processes were swept when it ended, not again at deletion).
func TestDeletingAnEndedJobSparesTheNextOnItsNode(t *testing.T) {
	if v, why := local.CgroupSupport(); v == 0 {
		t.Skip(why)
	}
	b, _ := localBundle(t, "", nil)
	b.putCluster("c1", smallCluster)
	b.submit("first", command("c1", `echo first`))
	b.awaitState("first", resource.JobCompleted)
	b.submit("second", command("c1", `echo $BASHPID > main.pid; while [ ! -f go ]; do sleep 0.05; done; echo done`))
	st := b.awaitState("second", resource.JobRunning)
	require.Equal(t, b.status("first").Nodes, st.Nodes, "same node")
	wd := b.workDir("second")
	b.await("second to start", func() bool { _, ok := pidIn(filepath.Join(wd, "main.pid")); return ok })
	pid := readPID(t, filepath.Join(wd, "main.pid"))
	_, err := b.svc.DeleteJob(b.ctx, b.ref, "first")
	require.NoError(t, err)
	b.drain()
	b.await("first to be gone", func() bool {
		_, err := b.st.Get(b.ctx, core.KindJob, b.job("second").Parent, "first")
		return errors.Is(err, store.ErrNotFound)
	})
	require.True(t, alive(pid), "second's process was killed by deleting first")
	require.Equal(t, resource.JobRunning, b.job("second").State)
	require.NoError(t, os.WriteFile(filepath.Join(wd, "go"), nil, 0o644))
	b.awaitState("second", resource.JobCompleted)
}

// A node left leaving by a removal that did not finish (StopNode failed,
// or the server stopped in between) is removed by a later pass, after a
// restart too, and not started again.
func TestUnfinishedNodeRemovalIsFinished(t *testing.T) {
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", labCluster)
	b.submit("j", command("c1", "true"))
	b.drain()
	b.exit("j", 0, 0)
	b.requireState("j", resource.JobCompleted)
	ns := b.nodes("c1")
	require.Len(t, ns, 1)
	n := ns[0]
	n.State = "leaving" // as removeNodes leaves it before StopNode
	require.NoError(t, b.st.Update(b.ctx, n))
	b.clusters = &Clusters{Store: b.st, Nodes: b.be, Queue: b.q, Log: b.clusters.Log, Sched: NewScheduler(), Clock: b.clusters.Clock} // a restarted server
	b.dispatch.Types[resource.AmlCompute] = b.clusters
	b.q.Enqueue(core.KindCompute, resource.Key(b.compute("c1")))
	b.advance(time.Hour)
	b.q.Enqueue(core.KindCompute, resource.Key(b.compute("c1")))
	b.advance(time.Hour)
	require.Empty(t, b.nodes("c1"), "leaving node never removed")
	require.Empty(t, b.be.Nodes(), "the backend still has the node")
}

// Lowering maxNodeCount while jobs are queued: a freed node above the new
// max is removed, not handed to the next job (by the job reconciler or by
// the cluster's own assignment).
func TestNoHandOffAboveLoweredMax(t *testing.T) {
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":2}}`)
	for _, n := range []string{"a", "b", "c", "d"} {
		b.submit(n, command("c1", "true"))
		b.advance(time.Second)
	}
	b.requireState("a", resource.JobRunning)
	b.requireState("b", resource.JobRunning)
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	b.exit("a", 0, 0)
	b.exit("b", 0, 0)
	require.Equal(t, "running", b.nodeStates("c1"), "the cluster shrank to its new max")
	b.requireState("c", resource.JobRunning)
	b.requireState("d", resource.JobQueued)
	b.exit("c", 0, 0)
	b.requireState("d", resource.JobRunning)
	require.Equal(t, "running", b.nodeStates("c1"))
}

// A job whose process exited 0 before its node was preempted completes: it
// is not run again.
func TestExitSeenBeforePreemptionCompletes(t *testing.T) {
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","vmPriority":"LowPriority","scaleSettings":{"maxNodeCount":2}}`)
	j := b.submit("j", command("c1", "true"))
	b.drain()
	st := b.requireState("j", resource.JobRunning)
	require.True(t, b.be.Exit(procID(j, st.Attempt, 0), 0))
	_, err := b.svc.PreemptNode(b.ctx, b.ref, "c1", st.Nodes[0])
	require.NoError(t, err)
	b.drain()
	st = b.status("j")
	require.Equal(t, 1, st.Attempt, "ran again")
	require.Equal(t, resource.JobCompleted, b.job("j").State)
}

// An ended job's working directories go an hour after it ends (its
// outputs and logs are artifacts by then); until then they stay.
func TestEndedJobWorkDirsExpire(t *testing.T) {
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", labCluster)
	b.submit("j", command("c1", "true"))
	b.drain()
	wd := b.workDir("j")
	require.DirExists(t, wd)
	b.advance(2 * time.Hour) // a long run: the retention counts from its end
	require.NoError(t, b.jobs.SweepWorkDirs(b.ctx))
	require.DirExists(t, wd, "a running job's directories were removed")
	b.exit("j", 0, 0)
	b.requireState("j", resource.JobCompleted)
	b.advance(59 * time.Minute)
	require.NoError(t, b.jobs.SweepWorkDirs(b.ctx))
	require.DirExists(t, wd, "removed before its hour")
	b.advance(time.Minute)
	require.NoError(t, b.jobs.SweepWorkDirs(b.ctx))
	require.NoDirExists(t, filepath.Dir(wd), "an ended job's directories stay after their hour")
	b.requireState("j", resource.JobCompleted)
}

// A preparation that keeps failing with an unexpected error (here: the
// working directory cannot be made) fails the job with that error after a
// few tries, rather than holding its node in Preparing for ever.
func TestPreparationErrorFailsTheJobAfterRetries(t *testing.T) {
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", labCluster)
	require.NoError(t, os.WriteFile(filepath.Join(b.jobs.DataDir, "jobs"), nil, 0o644)) // blocks every working directory
	b.submit("j", command("c1", "true"))
	tries := 0
	for i := 0; i < 1000; i++ {
		it, ok := b.q.pop()
		if !ok {
			if resource.JobTerminal(b.job("j").State) {
				break
			}
			b.q.Enqueue(core.KindJob, resource.Key(b.job("j"))) // the controller's retry
			continue
		}
		var err error
		switch it.kind {
		case core.KindJob:
			_, err = b.jobs.Reconcile(b.ctx, it.key)
			if err != nil {
				tries++
			}
		case core.KindCompute:
			_, err = b.dispatch.Reconcile(b.ctx, it.key)
			require.NoError(t, err)
		}
	}
	require.Equal(t, maxPrepFailures-1, tries, "retried before failing")
	st := b.requireState("j", resource.JobFailed)
	require.Equal(t, "PreparationFailed", st.Error.Code)
	require.Contains(t, st.Error.Message, "not a directory")
	require.Len(t, b.nodes("c1"), 1)
	require.Empty(t, b.nodes("c1")[0].Owner, "the node is free again")
}

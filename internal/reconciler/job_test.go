package reconciler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

const labCluster = `{"vmSize":"STANDARD_DS11_V2","vmPriority":"Dedicated","scaleSettings":{"minNodeCount":0,"maxNodeCount":2,"nodeIdleTimeBeforeScaleDown":"PT120S"}}`

func envOf(spec backend.ProcessSpec) map[string]string {
	m := map[string]string{}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestJobLifecycleOnCluster: a job on an empty cluster makes it grow to
// one node, runs there with the environment Azure ML jobs see, completes
// with a timestamp for every phase, and the node goes after its idle time.
func TestJobLifecycleOnCluster(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("aml-cluster", labCluster)
	c := b.compute("aml-cluster")
	require.Equal(t, "Steady", c.State)
	require.Empty(t, b.nodes("aml-cluster"))

	j := b.submit("job1", command("azureml:aml-cluster", "python train.py --x ${{inputs.x}}", `"inputs":{"x":{"jobInputType":"literal","value":"7"}}`))
	require.Equal(t, resource.JobNotStarted, j.State)
	require.Equal(t, resource.ResourceOpKey(c), j.Owner, "a job's Owner is its compute's key")
	b.drain()

	st := b.requireState("job1", resource.JobRunning)
	require.Equal(t, "NotStarted,Queued,Preparing,Running", phases(st))
	require.Equal(t, "Waiting for a node: aml-cluster is scaling up to 1 node.", st.Phases[1].Reason, "why it waited, kept")
	require.Equal(t, 1, st.Attempt)
	require.Len(t, st.Nodes, 1)
	require.Equal(t, "running", b.nodeStates("aml-cluster"))
	require.Equal(t, 1, b.env.calls)

	p, ok := b.be.Process(procID(j, 1, 0))
	require.True(t, ok)
	require.Equal(t, st.Nodes[0], p.Spec.Node)
	require.Equal(t, "python train.py --x 7", p.Spec.Command)
	env := envOf(p.Spec)
	require.Equal(t, "job1", env["AZUREML_RUN_ID"])
	require.Equal(t, "1", env["PYTHONUNBUFFERED"])
	require.Equal(t, "7", env["AZURE_ML_INPUT_x"])
	require.Contains(t, env["PATH"], "/env/bin", "the environment's interpreter comes first")
	require.NotContains(t, env, "WORLD_SIZE", "a single process is not distributed")
	require.True(t, strings.HasSuffix(p.Spec.Log, filepath.Join("dcid.job1", "user_logs", "std_log.txt")), p.Spec.Log)
	for _, d := range []string{"outputs", "logs", "checkpoints"} {
		_, err := os.Stat(filepath.Join(p.Spec.Dir, d))
		require.NoError(t, err, "./%s exists", d)
	}

	b.advance(time.Second)
	b.exit("job1", 0, 0)
	st = b.requireState("job1", resource.JobCompleted)
	require.Equal(t, "NotStarted,Queued,Preparing,Running,Finalizing,Completed", phases(st))
	require.NotNil(t, st.StartTime)
	require.NotNil(t, st.EndTime)
	require.Equal(t, 0, *st.ExitCode)
	proc, _ := b.be.Process(procID(j, 1, 0))
	require.True(t, proc.Released())
	require.Equal(t, "idle", b.nodeStates("aml-cluster"))

	// The node waits out its idle time, then goes.
	b.advance(119 * time.Second)
	require.Equal(t, "idle", b.nodeStates("aml-cluster"))
	require.Contains(t, b.clusterStatus("aml-cluster").ScaleReason, "will be removed after 2m0s idle")
	b.advance(time.Second)
	require.Empty(t, b.nodes("aml-cluster"))
	cs := b.clusterStatus("aml-cluster")
	require.Equal(t, "Steady", cs.AllocationState)
	require.Equal(t, 0, cs.TargetNodeCount)
	require.Contains(t, cs.ScaleReason, "Scaling down by 1 to 0 node(s)")
	require.Empty(t, b.be.Nodes())

	lifecycle, err := os.ReadFile(filepath.Join(b.jobs.artifactDir(&jobCtx{job: j, ws: b.ws}), LifecycleLog))
	require.NoError(t, err)
	for _, want := range []string{"Queued on aml-cluster", "Preparing attempt 1", "environment AzureML-sklearn-1.5 ready", "Running: 1 process(es)", "Completed"} {
		require.Contains(t, string(lifecycle), want)
	}
}

// TestQueueIsFIFOAndSaysWhy: with the cluster at max, the next job waits
// with a reason naming the cluster and its nodes, and runs on the first
// node that frees up, before jobs submitted after it.
func TestQueueIsFIFOAndSaysWhy(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"minNodeCount":0,"maxNodeCount":1}}`)
	for i := 1; i <= 3; i++ {
		b.submit(fmt.Sprintf("job%d", i), command("c1", "true"))
		b.advance(time.Millisecond)
	}
	b.requireState("job1", resource.JobRunning)
	b.requireState("job2", resource.JobQueued)
	b.requireState("job3", resource.JobQueued)
	require.Equal(t, "c1 at 1/1 nodes, all busy", b.clusterStatus("c1").QueueReason)

	b.exit("job1", 0, 0)
	b.requireState("job2", resource.JobRunning)
	b.requireState("job3", resource.JobQueued)
	b.exit("job2", 0, 0)
	b.exit("job3", 0, 0)
	st := b.requireState("job3", resource.JobCompleted)
	require.Len(t, b.nodes("c1"), 1, "one node served all three")
	require.Equal(t, "", b.clusterStatus("c1").QueueReason)
	// The finished job still says why it waited, and how each phase ended.
	byStatus := map[string]string{}
	for _, ph := range st.Phases {
		byStatus[ph.Status] = ph.Reason
	}
	require.Equal(t, "Waiting for a node: c1 at 1/1 nodes, all busy.", byStatus[resource.JobQueued], "%+v", st.Phases)
	require.Contains(t, byStatus[resource.JobRunning], "Running on ")
	require.Empty(t, byStatus[resource.JobCompleted], "the current phase's reason is the job's")
}

// TestDistributedJob: instance_count 2 runs one process per node with the
// PyTorch variables, and only once both nodes are there.
func TestDistributedJob(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":3}}`)
	j := b.submit("dist", command("c1", "python -m train", `"resources":{"instanceCount":2},"distribution":{"distributionType":"PyTorch","processCountPerInstance":2}`))
	b.drain()
	st := b.requireState("dist", resource.JobRunning)
	require.Len(t, st.Nodes, 2)
	require.Len(t, st.Procs, 4)
	require.NotZero(t, st.MasterPort)
	for rank := range 4 {
		p, ok := b.be.Process(procID(j, 1, rank))
		require.True(t, ok)
		env := envOf(p.Spec)
		require.Equal(t, "4", env["WORLD_SIZE"])
		require.Equal(t, fmt.Sprint(rank), env["RANK"])
		require.Equal(t, fmt.Sprint(rank/2), env["NODE_RANK"])
		require.Equal(t, fmt.Sprint(rank%2), env["LOCAL_RANK"])
		require.Equal(t, "10.0.0.1", env["MASTER_ADDR"])
		require.Equal(t, fmt.Sprint(st.MasterPort), env["MASTER_PORT"])
		require.Equal(t, st.Nodes[rank/2], p.Spec.Node)
		require.True(t, strings.HasSuffix(p.Spec.Log, fmt.Sprintf("std_log_process_%d.txt", rank)), p.Spec.Log)
	}
	// One rank ending is not the end; one failing is.
	b.exit("dist", 0, 0)
	b.requireState("dist", resource.JobRunning)
	logPath := filepath.Join(b.jobs.artifactDir(&jobCtx{job: j, ws: b.ws}), "user_logs", "std_log_process_2.txt")
	require.NoError(t, os.MkdirAll(filepath.Dir(logPath), 0o755))
	require.NoError(t, os.WriteFile(logPath, []byte("step 1\nTraceback (most recent call last):\nValueError: bad batch\n"), 0o644))
	b.exit("dist", 2, 1)
	st = b.requireState("dist", resource.JobFailed)
	require.Contains(t, st.Error.Message, "rank 2")
	require.Contains(t, st.Error.Message, "exited with status code 1")
	require.Contains(t, st.Error.Message, "ValueError: bad batch")
	require.Empty(t, b.be.Running(), "the other ranks were stopped")
	require.Equal(t, "idle,idle", b.nodeStates("c1"))
}

// TestCancel: a queued job is canceled without running; a running one is
// stopped, and its node freed; cancel operations finish.
func TestCancel(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	j1 := b.submit("run", command("c1", "sleep 100"))
	b.submit("wait", command("c1", "sleep 100"))
	b.drain()
	b.requireState("run", resource.JobRunning)

	before := b.job("wait")
	_, op, err := b.svc.CancelJob(b.ctx, b.ref, "wait")
	require.NoError(t, err)
	require.NotNil(t, op)
	// Admission records the request in the spec; the status and state
	// are the reconciler's to move.
	asked := b.job("wait")
	require.Equal(t, string(before.Status), string(asked.Status), "admission never writes a job's status")
	require.Equal(t, before.State, asked.State)
	require.Equal(t, before.Generation+1, asked.Generation, "the cancel is a spec change")
	require.Equal(t, "Canceled by admin.", resource.IntentOf(asked.Spec).Cancel.Reason)
	b.drain()
	st := b.requireState("wait", resource.JobCanceled)
	require.Equal(t, "Canceled by admin.", st.Reason)
	require.Zero(t, st.Attempt, "it never ran")
	got, err := b.st.GetOperation(b.ctx, op.ID)
	require.NoError(t, err)
	require.Equal(t, resource.OpSucceeded, got.Status)

	_, op, err = b.svc.CancelJob(b.ctx, b.ref, "run")
	require.NoError(t, err)
	b.drain()
	st = b.requireState("run", resource.JobCanceled)
	p, _ := b.be.Process(procID(j1, 1, 0))
	require.True(t, p.Stopped())
	require.Equal(t, "NotStarted,Queued,Preparing,Running,Finalizing,Canceled", phases(st))
	require.Equal(t, "idle", b.nodeStates("c1"))
	got, _ = b.st.GetOperation(b.ctx, op.ID)
	require.Equal(t, resource.OpSucceeded, got.Status)

	// Canceling an ended job changes nothing.
	_, op, err = b.svc.CancelJob(b.ctx, b.ref, "run")
	require.NoError(t, err)
	require.Nil(t, op)
}

// TestTimeout: limits.timeout fails the job with a reason, in virtual time.
func TestTimeout(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	j := b.submit("slow", command("c1", "sleep 100", `"limits":{"jobLimitsType":"Command","timeout":"PT30S"}`))
	b.drain()
	b.advance(29 * time.Second)
	b.requireState("slow", resource.JobRunning)
	b.advance(time.Second)
	st := b.requireState("slow", resource.JobFailed)
	require.Equal(t, "JobTimeout", st.Error.Code)
	require.Contains(t, st.Error.Message, "limits.timeout of PT30S")
	p, _ := b.be.Process(procID(j, 1, 0))
	require.True(t, p.Stopped())
}

// TestEnvironmentFailureFailsInPreparing: the preparer's message becomes
// the job's error; the node is released.
func TestEnvironmentFailureFailsInPreparing(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.env.err = &EnvError{Code: "EnvironmentPackagesMissing", Message: "Environment AzureML-sklearn-1.5:1 needs Python packages that /usr/bin/python3 cannot import: scikit-learn. Install them … apt-get install python3-sklearn."}
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	b.submit("j", command("c1", "python train.py"))
	b.drain()
	st := b.requireState("j", resource.JobFailed)
	require.Equal(t, "NotStarted,Queued,Preparing,Failed", phases(st))
	require.Equal(t, "EnvironmentPackagesMissing", st.Error.Code)
	require.Contains(t, st.Error.Message, "python3-sklearn")
	require.Empty(t, b.be.Running())
	require.Equal(t, "idle", b.nodeStates("c1"))
}

// TestPreemptionRequeues: a preempted low-priority node's job runs again
// on a new node; the attempt is recorded; the node is removed.
func TestPreemptionRequeues(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("low", `{"vmSize":"STANDARD_DS1_V2","vmPriority":"LowPriority","scaleSettings":{"maxNodeCount":1}}`)
	j := b.submit("train", command("low", "python train.py"))
	b.drain()
	first := b.requireState("train", resource.JobRunning).Nodes[0]

	_, err := b.svc.PreemptNode(b.ctx, b.ref, "dedicated-does-not-exist", "")
	require.Error(t, err)
	n, err := b.svc.PreemptNode(b.ctx, b.ref, "low", "")
	require.NoError(t, err)
	require.Equal(t, first, n.Name, "without a node id, the busy node")
	b.drain()

	st := b.requireState("train", resource.JobRunning)
	require.Equal(t, 2, st.Attempt)
	require.Len(t, st.Attempts, 1)
	require.Equal(t, "Preempted", st.Attempts[0].Outcome)
	require.Contains(t, st.Attempts[0].Reason, first)
	require.NotEqual(t, first, st.Nodes[0], "the next attempt runs on a new node")
	old, _ := b.be.Process(procID(j, 1, 0))
	require.True(t, old.Stopped())
	_, ok := b.be.Process(procID(j, 2, 0))
	require.True(t, ok)
	require.Equal(t, "running", b.nodeStates("low"), "the preempted node is gone")
	require.Contains(t, phases(st), "Running,Queued,Preparing,Running")
	preempted := st.Phases[len(st.Phases)-4]
	require.Equal(t, resource.JobRunning, preempted.Status)
	require.Equal(t, "Node "+first+" was preempted.", preempted.Reason, "the interrupted phase says why it ended")

	b.exit("train", 0, 0)
	b.requireState("train", resource.JobCompleted)

	// A dedicated cluster's nodes cannot be preempted.
	b.putCluster("ded", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	_, err = b.svc.PreemptNode(b.ctx, b.ref, "ded", "")
	e, _ := core.AsError(err)
	require.NotNil(t, e)
	require.Contains(t, e.Message, "Dedicated")
}

// TestHostCapacity: nodes that do not fit on the host wait, and the
// cluster and the queued job say so; nothing is overcommitted.
func TestHostCapacity(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{capacity: backend.Resources{MilliCPU: 3000, MemoryBytes: 32 << 30}})
	b.putCluster("c1", labCluster) // DS11_V2: 2 vCPUs each, max 2
	b.submit("a", command("c1", "true"))
	b.submit("b", command("c1", "true"))
	b.drain()
	b.requireState("a", resource.JobRunning)
	b.requireState("b", resource.JobQueued)
	require.Len(t, b.nodes("c1"), 1)
	cs := b.clusterStatus("c1")
	require.Equal(t, "Resizing", cs.AllocationState)
	require.Equal(t, 2, cs.TargetNodeCount)
	fit := resource.FindCondition(cs.Conditions, resource.ConditionNodesFit)
	require.NotNil(t, fit)
	require.Equal(t, resource.ConditionFalse, fit.Status)
	require.Equal(t, "HostCapacityExceeded", fit.Reason)
	require.Contains(t, fit.Message, "do not fit on this host")
	require.Contains(t, cs.QueueReason, "do not fit on this host")

	b.exit("a", 0, 0)
	b.requireState("b", resource.JobRunning)
	require.Len(t, b.nodes("c1"), 1, "the freed node took the job")
}

// TestDeleteClusterCancelsJobs: deleting a cluster cancels its running and
// queued jobs, releases its nodes and finishes the operation.
func TestDeleteClusterCancelsJobs(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	j := b.submit("run", command("c1", "sleep 100"))
	b.submit("wait", command("c1", "sleep 100"))
	b.drain()
	op, err := b.svc.DeleteCompute(b.ctx, b.ref, "c1")
	require.NoError(t, err)
	b.drain()
	for b.q.delayed != nil {
		b.advance(time.Second)
		if _, err := b.st.Get(b.ctx, core.KindCompute, resource.WorkspaceKey(b.ws), "c1"); errors.Is(err, store.ErrNotFound) {
			break
		}
	}
	_, _, err = b.svc.GetCompute(b.ctx, b.ref, "c1")
	require.Error(t, err)
	st := b.requireState("run", resource.JobCanceled)
	require.Equal(t, "The cluster 'c1' was deleted.", st.Reason)
	b.requireState("wait", resource.JobCanceled)
	p, _ := b.be.Process(procID(j, 1, 0))
	require.True(t, p.Stopped())
	require.Empty(t, b.be.Nodes())
	got, _ := b.st.GetOperation(b.ctx, op.ID)
	require.Equal(t, resource.OpSucceeded, got.Status)
	nodes, err := b.st.List(b.ctx, store.ListOptions{Kind: resource.KindNode})
	require.NoError(t, err)
	require.Empty(t, nodes)
}

// TestConcurrentSubmissions: many jobs submitted at once, some with the
// same name, all run exactly once.
func TestConcurrentSubmissions(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":4}}`)
	var wg sync.WaitGroup
	created := make([]bool, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("job%d", i%30) // ten names twice
			_, isNew, err := b.svc.PutJob(b.ctx, b.ref, name, body(t, `{"properties":`+command("c1", "true")+`}`))
			require.NoError(t, err)
			created[i] = isNew
		}()
	}
	wg.Wait()
	n := 0
	for _, c := range created {
		if c {
			n++
		}
	}
	require.Equal(t, 30, n, "each name is created once; the second PUT is an update")
	for done := 0; done < 30; {
		b.drain()
		done = 0
		for i := range 30 {
			j := b.job(fmt.Sprintf("job%d", i))
			if j.State == resource.JobRunning {
				b.exit(j.Name, 0, 0)
			}
			if j.State == resource.JobCompleted {
				done++
			}
		}
	}
	for i := range 30 {
		j := b.job(fmt.Sprintf("job%d", i))
		st := resource.JobStatusOf(j)
		require.Equal(t, 1, st.Attempt)
		p, ok := b.be.Process(procID(j, 1, 0))
		require.True(t, ok)
		require.Equal(t, 1, p.Starts, "job%d started once", i)
	}
	require.LessOrEqual(t, len(b.nodes("c1")), 4)
}

// TestWorkspaceDeletionStopsJobs: deleting a workspace marks its computes
// and jobs for deletion (the container reconciler does); the job and
// cluster reconcilers stop the processes, release the nodes and remove
// their rows, so the workspace's deletion can finish.
func TestWorkspaceDeletionStopsJobs(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`)
	j := b.submit("run", command("c1", "sleep 100"))
	b.submit("wait", command("c1", "sleep 100"))
	b.drain()
	b.requireState("run", resource.JobRunning)

	// What the container reconciler does to a workspace's finalized kinds.
	for _, kind := range []string{core.KindCompute, core.KindJob} {
		rows, err := b.st.List(b.ctx, store.ListOptions{Kind: kind, ParentPrefix: resource.WorkspaceKey(b.ws)})
		require.NoError(t, err)
		for _, r := range rows {
			r.Deleting, r.State = true, resource.StateDeleting
			require.NoError(t, b.st.Update(b.ctx, r))
			b.q.Enqueue(kind, resource.Key(r))
		}
	}
	b.drain()
	for range 10 {
		b.advance(time.Second)
	}
	for _, kind := range []string{core.KindCompute, core.KindJob, resource.KindNode} {
		rows, err := b.st.List(b.ctx, store.ListOptions{Kind: kind, ParentPrefix: resource.WorkspaceKey(b.ws)})
		require.NoError(t, err)
		require.Empty(t, rows, "%s rows left", kind)
	}
	p, _ := b.be.Process(procID(j, 1, 0))
	require.True(t, p.Stopped())
	require.Empty(t, b.be.Running())
	require.Empty(t, b.be.Nodes())
}

// TestFreedNodeGoesToNextJob: a node freed by an ended job goes straight to
// the oldest queued job, in the transaction that ends the first, without
// being idle in between; the order stays first in, first out.
func TestFreedNodeGoesToNextJob(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"minNodeCount":0,"maxNodeCount":1}}`)
	for i := 1; i <= 3; i++ {
		b.submit(fmt.Sprintf("job%d", i), command("c1", "true"))
		b.advance(time.Millisecond)
	}
	b.requireState("job1", resource.JobRunning)
	idleSince := resource.NodeStatusOf(b.nodes("c1")[0]).IdleSince

	b.advance(time.Minute)
	// Only the job is told; the hand-off is the job reconciler's.
	j1 := b.job("job1")
	require.True(t, b.be.Exit(procID(j1, 1, 0), 0))
	_, err := b.jobs.Reconcile(b.ctx, resource.Key(j1))
	require.NoError(t, err)
	end := *b.requireState("job1", resource.JobCompleted).EndTime
	st := b.requireState("job2", resource.JobPreparing)
	require.Equal(t, end, st.PhaseTime(resource.JobPreparing), "assigned when job1 ended")
	b.requireState("job3", resource.JobQueued)
	n := b.nodes("c1")[0]
	require.Equal(t, "running", n.State)
	require.Equal(t, resource.Key(b.job("job2")), n.Owner)
	require.Equal(t, idleSince, resource.NodeStatusOf(n).IdleSince, "the node was never idle")

	b.drain()
	b.requireState("job2", resource.JobRunning)
	b.exit("job2", 0, 0)
	b.requireState("job3", resource.JobRunning)
	b.exit("job3", 0, 0)
	b.requireState("job3", resource.JobCompleted)
	require.Equal(t, "idle", b.nodeStates("c1"))
	require.Equal(t, "", b.clusterStatus("c1").QueueReason)
}

// TestHandOffNeverOvertakes: a node freed while the oldest queued job needs
// more nodes than that goes idle, and the job behind it keeps waiting.
func TestHandOffNeverOvertakes(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"minNodeCount":0,"maxNodeCount":2}}`)
	b.submit("a", command("c1", "true"))
	b.advance(time.Millisecond)
	b.submit("b", command("c1", "true"))
	b.advance(time.Millisecond)
	b.submit("wide", command("c1", "true", `"resources":{"instanceCount":2}`))
	b.advance(time.Millisecond)
	b.submit("small", command("c1", "true"))
	b.advance(time.Millisecond)
	b.requireState("a", resource.JobRunning)
	b.requireState("b", resource.JobRunning)

	b.exit("a", 0, 0)
	b.requireState("wide", resource.JobQueued)
	b.requireState("small", resource.JobQueued)
	require.Equal(t, "idle,running", b.nodeStates("c1"))

	b.exit("b", 0, 0)
	st := b.requireState("wide", resource.JobRunning)
	require.Len(t, st.Nodes, 2)
	b.requireState("small", resource.JobQueued)
	b.exit("wide", 0, 0)
	b.exit("wide", 1, 0)
	b.requireState("small", resource.JobRunning)
}

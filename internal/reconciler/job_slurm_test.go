package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/slurm"
	"github.com/mlw-project/mlw/internal/backend/slurm/slurmtest"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Tests of Slurm-backed clusters against the real Slurm that
// scripts/setup-slurm.sh starts (as root): the reconcilers and slurm.Batch,
// nothing faked but the environment builder. They skip without Slurm,
// unless MLW_REQUIRE_SLURM=1.

// requireSlurm skips the test unless a real Slurm answers with a default
// partition that has a node.
func requireSlurm(t *testing.T) backend.Batch {
	t.Helper()
	b, _ := slurmtest.Require(t)
	return b
}

func slurmBundle(t *testing.T) (*jobBundle, backend.Batch) {
	t.Helper()
	batch := requireSlurm(t)
	b := setupJobs(t, bundleOpts{})
	shared := t.TempDir()
	for d := shared; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o711)) // t.TempDir makes them 0700
	}
	require.NoError(t, os.Chmod(b.dir, 0o700)) // as mlw server keeps its data directory
	s := &Slurm{Batch: batch, SharedDir: shared, Accounts: map[string]string{"*": "nobody"}, Queue: b.q, Poll: 100 * time.Millisecond}
	b.jobs.Slurm, b.clusters.Slurm = s, s
	t.Cleanup(func() {
		// Nothing a test started outlives it.
		s.mu.Lock()
		var ids []string
		for id := range s.watched {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		if len(ids) > 0 {
			_ = batch.Cancel(context.Background(), ids...)
		}
		s.stopPolling()
	})
	return b, batch
}

// awaitSlurm drains the reconcilers until cond holds, waiting for the
// poller's notices; Slurm starts jobs about once a second, so the deadline
// is generous.
func (b *jobBundle) awaitSlurm(what string, cond func() bool) {
	b.t.Helper()
	b.awaitWithin(what, 3*time.Minute, cond)
}

func (b *jobBundle) awaitJobState(name, state string) *resource.JobStatus {
	b.t.Helper()
	b.awaitSlurm("job "+name+" "+state, func() bool {
		j := b.job(name)
		return j.State == state || JobTerminalState(j.State) && state != j.State && JobTerminalState(state)
	})
	return b.requireState(name, state)
}

func (b *jobBundle) artifact(name, file string) string {
	b.t.Helper()
	raw, _ := os.ReadFile(filepath.Join(b.jobs.artifactDir(&jobCtx{job: b.job(name), ws: b.ws}), file))
	return string(raw)
}

// TestSlurmCluster: a Slurm-backed cluster reports the partition's nodes,
// runs jobs as the mapped account with live logs, maps exit codes, memory
// kills, cancel and mlw's timeout, runs two ranks with the local rank
// variables, and never submits an attempt twice.
func TestSlurmCluster(t *testing.T) {
	b, batch := slurmBundle(t)
	b.putCluster("slurm", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":4},"backend":{"type":"slurm"}}`)
	b.putCluster("slurm2", `{"vmSize":"STANDARD_DS2_V2","scaleSettings":{"maxNodeCount":1},"backend":{"type":"slurm"}}`)
	c := b.compute("slurm")
	prov, cs := resource.ClusterStatusOf(c)
	require.Equal(t, resource.StateSucceeded, prov, "%+v", cs)
	require.NotEmpty(t, b.nodes("slurm"), "the partition's nodes are the cluster's")
	host, _ := os.Hostname()
	require.Equal(t, strings.Split(host, ".")[0], b.nodes("slurm")[0].Name)

	b.submit("live", command("slurm", `h=$(ls `+b.dir+` >/dev/null 2>&1 && echo visible || echo hidden); echo started as $(id -un) in $PWD, data dir $h; while [ ! -e go ]; do sleep 0.1; done; echo done`))
	b.submit("fail3", command("slurm", `echo oops >&2; exit 3`))
	b.submit("oom", command("slurm", `/usr/bin/python3 -c "import time; b = b'x' * (4500 << 20); time.sleep(120)"`))
	b.submit("ranks", command("slurm2", `echo rank=$RANK local=$LOCAL_RANK node=$NODE_RANK world=$WORLD_SIZE local_world=$LOCAL_WORLD_SIZE master=$MASTER_ADDR`,
		`"distribution":{"distributionType":"PyTorch","processCountPerInstance":2}`))
	b.drain()

	// Live logs: the first line is in the job's artifacts while it runs.
	// (The poller may copy the line before it sees the job running: both
	// are awaited; the job waits for the test, so it runs meanwhile.)
	b.awaitSlurm("live's first line while it runs", func() bool {
		return strings.Contains(b.artifact("live", UserLog), "started") && b.job("live").State == resource.JobRunning
	})
	st := b.requireState("live", resource.JobRunning)
	require.Contains(t, b.artifact("live", UserLog), "started as nobody in "+st.Slurm.Root+"/a1-n0, data dir hidden")
	require.NoError(t, os.WriteFile(filepath.Join(st.Slurm.Root, "a1-n0", "go"), nil, 0o644))
	st = b.awaitJobState("live", resource.JobCompleted)
	require.Equal(t, "NotStarted,Queued,Preparing,Running,Finalizing,Completed", phases(st))
	require.Contains(t, b.artifact("live", UserLog), "done")
	require.Equal(t, 0, *st.ExitCode)

	st = b.awaitJobState("fail3", resource.JobFailed)
	require.Equal(t, 3, *st.ExitCode)
	require.Contains(t, st.Error.Message, "exited with status code 3")
	require.Contains(t, st.Error.Message, "oops")

	st = b.awaitJobState("oom", resource.JobFailed)
	require.Equal(t, "OutOfMemory", st.Error.Code, st.Error.Message)
	require.Contains(t, st.Error.Message, "larger VM size")

	st = b.awaitJobState("ranks", resource.JobCompleted)
	for rank := range 2 {
		log := b.artifact("ranks", UserLogName(rank, 2))
		require.Contains(t, log, fmt.Sprintf("rank=%d local=%d node=0 world=2 local_world=2 master=%s", rank, rank, b.nodes("slurm2")[0].Name), log)
	}

	// Cancel → scancel.
	b.submit("cancel", command("slurm", `echo waiting; sleep 300`))
	b.awaitSlurm("cancel running", func() bool { return b.job("cancel").State == resource.JobRunning })
	id := b.status("cancel").Slurm.JobID
	_, _, err := b.svc.CancelJob(b.ctx, b.ref, "cancel")
	require.NoError(t, err)
	b.awaitJobState("cancel", resource.JobCanceled)
	awaitSlurmEnd(t, batch, id, backend.BatchCancelled)

	// limits.timeout: mlw stops the job (the virtual clock passes it).
	b.submit("slow", command("slurm", `sleep 300`, `"limits":{"jobLimitsType":"Command","timeout":"PT30S"}`))
	b.awaitSlurm("slow running", func() bool { return b.job("slow").State == resource.JobRunning })
	id = b.status("slow").Slurm.JobID
	b.advance(31 * time.Second)
	st = b.awaitJobState("slow", resource.JobFailed)
	require.Equal(t, "JobTimeout", st.Error.Code)
	awaitSlurmEnd(t, batch, id, backend.BatchCancelled)
}

// awaitSlurmEnd waits until Slurm reports the job ended in kind.
func awaitSlurmEnd(t *testing.T, batch backend.Batch, id, kind string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		states, err := batch.Jobs(context.Background(), []backend.BatchRef{{ID: id}})
		require.NoError(t, err)
		if st, ok := states[id]; ok && st.Ended {
			require.Equal(t, kind, st.Kind, "%+v", st)
			return
		}
		require.True(t, time.Now().Before(deadline), "Slurm job %s did not end: %+v", id, states[id])
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSlurmRestart: an attempt submitted before a crash (sbatch ran, its
// id was never written) is found again by name, not submitted twice; and
// a user whose account is missing is refused with the fix.
func TestSlurmRestart(t *testing.T) {
	b, batch := slurmBundle(t)
	b.putCluster("slurm", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":2},"backend":{"type":"slurm"}}`)
	b.submit("once", command("slurm", `echo ran once`))
	b.awaitSlurm("once submitted", func() bool { st := b.status("once"); return st.Slurm != nil && st.Slurm.JobID != "" })
	first := b.status("once").Slurm.JobID

	// The crash: the status loses the id, and a new server's reconciler
	// (a new poller) takes over.
	j := b.job("once")
	st := resource.JobStatusOf(j)
	st.Slurm.JobID = ""
	j.Status = resource.Encode(st)
	require.NoError(t, b.st.Update(b.ctx, j))
	b.jobs.Slurm.stopPolling() // the first server's poller goes with it
	s := &Slurm{Batch: batch, SharedDir: b.jobs.Slurm.SharedDir, Accounts: b.jobs.Slurm.Accounts, Queue: b.q, Poll: 100 * time.Millisecond}
	t.Cleanup(s.stopPolling)
	b.jobs = &Jobs{Store: b.st, Queue: b.q, Log: b.jobs.Log, Assets: b.svc, Env: b.jobs.Env, Procs: b.jobs.Procs, Sched: b.jobs.Sched,
		DataDir: b.dir, Clock: b.jobs.Clock, Slurm: s}
	b.clusters.Slurm = s
	b.q.Enqueue(core.KindJob, resource.Key(j))
	st = b.awaitJobState("once", resource.JobCompleted)
	require.Equal(t, first, st.Slurm.JobID, "the job Slurm ran is the one submitted first")
	require.Contains(t, b.artifact("once", LifecycleLog), "was submitted before a restart")
	require.Equal(t, 1, strings.Count(b.artifact("once", UserLog), "ran once"))
	byName, err := slurm.New(slurm.ExecRunner{}).FindByName(b.ctx, st.Slurm.Name)
	require.NoError(t, err)
	require.Len(t, byName, 1, "one Slurm job named %s", st.Slurm.Name)

	// Slurm owns preemption.
	_, err = b.svc.PreemptNode(b.ctx, b.ref, "slurm", "")
	e, ok := core.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 409, e.Status, e.Message)
	require.Contains(t, e.Message, "runs on Slurm")

	// No account for the user: refused with what to do.
	s.Accounts = nil
	b.submit("noacct", command("slurm", `true`))
	st = b.awaitJobState("noacct", resource.JobFailed)
	require.Equal(t, "SlurmAccountMissing", st.Error.Code)
	require.Contains(t, st.Error.Message, "MLW_SLURM_ACCOUNTS=admin=<account>")
}

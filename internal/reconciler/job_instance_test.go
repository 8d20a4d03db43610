package reconciler

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/fake"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Jobs on compute instances, with the fake backends: the instance
// reconciler brings the instance up and down, the job reconciler runs its
// jobs inside it (Instances.StartProcess), one at a time.

const instanceDS11 = `{"vmSize":"STANDARD_DS11_V2","idleTimeBeforeShutdown":"PT30M"}`

// instanceJobs returns what the fake instance backend started inside ci.
func (b *jobBundle) instanceJobs(ci string) []fake.JobProcess {
	return b.fakeInsts.Jobs(b.compute(ci).UID)
}

func (b *jobBundle) idleStatus(ci string) string {
	st := resource.InstanceStatusOf(b.compute(ci))
	m, _ := st.Props["idleShutdown"].(map[string]any)
	s, _ := m["status"].(string)
	return s
}

// delayedJobs lists the job keys asked to come back later (polls).
func (b *jobBundle) delayedJobs() []string {
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	var out []string
	for _, d := range b.q.delayed {
		if d.kind == core.KindJob {
			out = append(out, d.key)
		}
	}
	return out
}

// TestJobOnComputeInstance: jobs queued on a stopped instance wait (with a
// reason, without polling) and start as soon as it runs, one at a time,
// inside it: the instance backend starts the process with the instance's
// spec, in a directory the instance sees, with the job's variables and
// none of the server's. The instance's idle shutdown counts the job.
func TestJobOnComputeInstance(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	c := b.putInstance("ci1", instanceDS11)
	require.Equal(t, resource.InstanceRunning, b.instanceState("ci1"))
	b.act("ci1", "stop")
	require.Equal(t, resource.InstanceStopped, b.instanceState("ci1"))

	j1 := b.submit("one", command("ci1", "true"))
	b.submit("two", command("ci1", "true"))
	b.drain()
	st := b.requireState("one", resource.JobQueued)
	require.Equal(t, "Waiting for compute instance ci1 to run (it is Stopped); start it with `mlw compute start --name ci1`.", st.Reason)
	require.Empty(t, b.delayedJobs(), "queued jobs do not poll their instance")

	// Starting the instance starts the oldest job at once: no clock moves.
	b.act("ci1", "start")
	require.Equal(t, resource.InstanceRunning, b.instanceState("ci1"))
	st = b.requireState("one", resource.JobRunning)
	require.Equal(t, "Running on compute instance ci1.", st.Reason)
	st2 := b.requireState("two", resource.JobQueued)
	require.Equal(t, "Waiting for compute instance ci1: it runs job one.", st2.Reason)

	jobs := b.instanceJobs("ci1")
	require.Len(t, jobs, 1)
	p := jobs[0]
	require.Equal(t, procID(j1, 1, 0), p.Spec.ID)
	require.Empty(t, p.Spec.Node)
	require.Equal(t, backend.Resources{}, p.Spec.Limits, "the job shares the instance's limits")
	jobsDir := InstanceJobsDir(b.dir, c.UID)
	require.Equal(t, filepath.Join(jobsDir, j1.UID, "a1-n0"), p.Spec.Dir)
	require.DirExists(t, p.Spec.Dir)
	require.Equal(t, "ci1", p.Instance.Env["CI_NAME"])
	require.Contains(t, p.Instance.Binds, backend.Bind{Path: jobsDir})
	require.Contains(t, p.Instance.Binds, backend.Bind{Path: blob.AccountDir(b.dir, resource.WorkspaceStatusOf(b.ws).StorageAccount)})
	require.Contains(t, p.Instance.Binds, backend.Bind{Path: filepath.Join(b.dir, "envs"), ReadOnly: true})
	require.Contains(t, p.Spec.Env, "AZUREML_RUN_ID=one")
	require.Contains(t, p.Spec.Env, "MLW_CHECKPOINT_DIR="+filepath.Join(jobsDir, j1.UID, "checkpoints"))
	for _, kv := range p.Spec.Env {
		require.False(t, strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "USER="), "the server's %s does not reach a job on an instance", kv)
	}
	require.Equal(t, "busy: 1 running job", b.idleStatus("ci1"), "the instance's idle shutdown sees the job at once")

	b.exit("one", 0, 0)
	b.requireState("one", resource.JobCompleted)
	b.requireState("two", resource.JobRunning)
	b.exit("two", 0, 0)
	b.requireState("two", resource.JobCompleted)
	require.Contains(t, b.idleStatus("ci1"), "idle since")
	require.Len(t, b.instanceJobs("ci1"), 2)
}

// TestStopInstanceEndsItsJob: stopping (or restarting) an instance ends
// the job running inside it, Canceled with a reason that says so; a job
// queued behind it waits for the next start.
func TestStopInstanceEndsItsJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ action, want string }{
		{"stop", "The compute instance 'ci1' was stopped while the job ran."},
		{"restart", "The compute instance 'ci1' was restarted while the job ran."},
	} {
		t.Run(tc.action, func(t *testing.T) {
			t.Parallel()
			b := setupJobs(t, bundleOpts{})
			b.putInstance("ci1", instanceDS11)
			j := b.submit("long", command("ci1", "sleep 600"))
			b.drain()
			b.submit("next", command("ci1", "true"))
			b.drain()
			b.requireState("long", resource.JobRunning)

			b.act("ci1", tc.action)
			st := b.requireState("long", resource.JobCanceled)
			require.Equal(t, tc.want, st.Reason)
			p, _ := b.be.Process(procID(j, 1, 0))
			require.False(t, p.IsRunning())
			require.True(t, p.Released())
			if tc.action == "stop" {
				require.Equal(t, resource.InstanceStopped, b.instanceState("ci1"))
				st = b.requireState("next", resource.JobQueued)
				require.Contains(t, st.Reason, "(it is Stopped)")
				b.act("ci1", "start")
			}
			b.requireState("next", resource.JobRunning)
		})
	}
}

// TestDeleteInstanceEndsItsJobs: deleting an instance cancels the job
// running inside it and those queued on it, each with its reason.
func TestDeleteInstanceEndsItsJobs(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putInstance("ci1", instanceDS11)
	j := b.submit("long", command("ci1", "sleep 600"))
	b.drain()
	b.submit("queued", command("ci1", "true"))
	b.drain()
	b.requireState("long", resource.JobRunning)

	_, err := b.svc.DeleteCompute(b.ctx, b.ref, "ci1")
	require.NoError(t, err)
	b.drain()
	st := b.requireState("long", resource.JobCanceled)
	require.Equal(t, "The compute instance 'ci1' was deleted while the job ran.", st.Reason)
	st = b.requireState("queued", resource.JobCanceled)
	require.Equal(t, "The compute 'ci1' was deleted.", st.Reason)
	p, _ := b.be.Process(procID(j, 1, 0))
	require.False(t, p.IsRunning())
	_, _, err = b.svc.GetCompute(b.ctx, b.ref, "ci1")
	require.Error(t, err)
}

// TestJobKilledWithItsInstance: a job whose process dies because its
// instance went away under it (the instance reconciler had not yet asked
// it to stop) ends Canceled with the instance's reason, not Failed.
func TestJobKilledWithItsInstance(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putInstance("ci1", instanceDS11)
	j := b.submit("long", command("ci1", "sleep 600"))
	b.drain()
	b.requireState("long", resource.JobRunning)

	// Admission moved the instance to Stopping; its backend already
	// killed everything; the job hears of its process's end first.
	c := b.compute("ci1")
	c.State = resource.InstanceStopping
	require.NoError(t, b.st.Update(b.ctx, c))
	require.True(t, b.be.Kill(procID(j, 1, 0)))
	b.q.Enqueue(core.KindJob, resource.Key(j))
	for {
		it, ok := b.q.pop()
		if !ok {
			break
		}
		if it.kind == core.KindJob {
			_, err := b.jobs.Reconcile(b.ctx, it.key)
			require.NoError(t, err)
		}
	}
	st := b.requireState("long", resource.JobCanceled)
	require.Equal(t, "The compute instance 'ci1' was stopped while the job ran (it is Stopping).", st.Reason)
}

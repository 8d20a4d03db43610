package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests replay what the client ran against a real Slurm 22.05
// (testdata/*.rec, written by testdata/record). The recorded jobs are
// named after what is expected of them.

// outcome is what a recorded job's name says it ended as.
type outcome struct {
	kind     Kind
	exitCode int
	signal   int
}

var outcomes = map[string]outcome{
	"rec-completed-0": {Completed, 0, 0},
	"rec-failed-3":    {Failed, 3, 0},
	"rec-failed-127":  {Failed, 127, 0},
	"rec-failed-139":  {Failed, 139, 11},
	"rec-outofmemory": {kind: OutOfMemory},
	"rec-timeout":     {kind: Timeout},
	"rec-cancelled":   {kind: Cancelled},
	"rec-nodefail":    {kind: NodeFail},
}

func newTestClient(t *testing.T, recordings ...string) (*Client, *replay) {
	t.Helper()
	r := newReplay(t, recordings...)
	c := New(r)
	c.Location = time.UTC // the recording machine's zone
	return c, r
}

func byName(t *testing.T, jobs map[string]Job) map[string]Job {
	t.Helper()
	out := map[string]Job{}
	for id, j := range jobs {
		require.Equal(t, id, j.ID)
		out[j.Name] = j
	}
	return out
}

func checkOutcomes(t *testing.T, jobs map[string]Job, fromHistory bool) {
	t.Helper()
	for name, j := range byName(t, jobs) {
		want, ok := outcomes[name]
		require.True(t, ok, "recorded job %s has no expected outcome", name)
		require.Equal(t, want.kind, j.Status.Kind, "%s: %+v", name, j)
		if want.kind == Completed || want.kind == Failed {
			require.Equal(t, want.exitCode, j.Status.ExitCode, name)
			require.Equal(t, want.signal, j.Status.Signal, name)
		}
		require.NotEmpty(t, j.Status.Message, name)
		require.Equal(t, fromHistory, j.FromHistory, name)
		require.False(t, j.Ended.IsZero(), "%s has no end time", name)
		require.False(t, j.Started.Before(j.Submitted), name)
		require.False(t, j.Ended.Before(j.Started), name)
		require.NotEmpty(t, j.NodeList, name)
	}
}

func TestJobsPendingAndRunningInOneSqueue(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "jobs-active")
	ids := r.recordedIDs(t, "squeue")
	require.Len(t, ids, 3)
	jobs, err := c.Jobs(context.Background(), ids)
	require.NoError(t, err)
	require.Equal(t, []string{"squeue"}, r.commands(), "one squeue for all, no sacct: slurmctld knows them all")
	got := byName(t, jobs)
	require.Len(t, got, 3)

	run := got["rec-running"]
	require.Equal(t, Running, run.Status.Kind)
	require.Equal(t, "RUNNING", run.State)
	require.Empty(t, run.Status.Reason)
	require.Equal(t, "mlw job | with spaces", run.Comment, "a | in the comment, the last field, is kept")
	require.Equal(t, 10*time.Minute, run.TimeLimit)
	require.NotEmpty(t, run.BatchHost)
	require.Equal(t, run.BatchHost, run.NodeList)
	require.False(t, run.Started.IsZero())
	require.True(t, run.Ended.IsZero(), "a running job's end is only Slurm's estimate")

	res := got["rec-pending-resources"]
	require.Equal(t, Pending, res.Status.Kind)
	require.Equal(t, "Resources", res.Status.Reason)
	require.Contains(t, res.Status.Message, "Waiting for resources")
	require.True(t, res.Started.IsZero(), "a pending job's start is only Slurm's estimate")
	require.Empty(t, res.BatchHost)

	prio := got["rec-pending-priority"]
	require.Equal(t, Pending, prio.Status.Kind)
	require.Equal(t, "Priority", prio.Status.Reason)
	require.Contains(t, prio.Status.Message, "higher priority")
}

func TestJobsEndedFromSqueue(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "jobs-ended")
	ids := r.recordedIDs(t, "squeue")
	jobs, err := c.Jobs(context.Background(), ids)
	require.NoError(t, err)
	require.Len(t, jobs, len(ids))
	require.Equal(t, []string{"squeue"}, r.commands())
	checkOutcomes(t, jobs, false)
	got := byName(t, jobs)
	require.Contains(t, got["rec-failed-127"].Status.Message, "not found")
	require.Contains(t, got["rec-failed-139"].Status.Message, "SIGSEGV")
	require.Equal(t, time.Minute, got["rec-timeout"].TimeLimit)
}

func TestJobsGoneFromSlurmctldAreReadFromTheCompletionLog(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "jobs-history")
	ids := r.recordedIDs(t, "sacct")
	jobs, err := c.Jobs(context.Background(), ids)
	require.NoError(t, err)
	require.Equal(t, []string{"squeue", "sacct"}, r.commands(), "squeue first, then one sacct -c for the rest")
	require.Len(t, jobs, len(ids))
	checkOutcomes(t, jobs, true)
}

func TestJobsNodeFail(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "jobs-nodefail")
	jobs, err := c.Jobs(context.Background(), r.recordedIDs(t, "squeue"))
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	checkOutcomes(t, jobs, false)
}

func TestJobUnknown(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, "jobs-unknown")
	jobs, err := c.Jobs(context.Background(), []string{"999999"})
	require.NoError(t, err)
	require.Empty(t, jobs)
	_, err = c.Job(context.Background(), "999999")
	require.ErrorIs(t, err, ErrNoJob)
}

func TestJobsRefusesIDsThatAreNotNumbers(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "jobs-unknown")
	_, err := c.Jobs(context.Background(), []string{"1", "2;rm"})
	require.Error(t, err)
	require.Error(t, c.Cancel(context.Background(), "-u"))
	require.Empty(t, r.commands())
}

func TestOverMemoryKill(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "jobs-overmemorykill")
	j, err := c.Job(context.Background(), r.recordedIDs(t, "squeue")[0])
	require.NoError(t, err)
	require.Equal(t, Failed, j.Status.Kind, "without cgroups Slurm reports the kill as a failure")
	require.Equal(t, 9, j.Status.Signal)
	require.Equal(t, 137, j.Status.ExitCode)

	out, err := os.ReadFile(filepath.Join("testdata", "overmemorykill.out"))
	require.NoError(t, err)
	oom := j.Status.WithOutput(out)
	require.Equal(t, OutOfMemory, oom.Kind)
	require.Contains(t, oom.Message, "more memory")

	require.Equal(t, j.Status, j.Status.WithOutput([]byte("Killed\n")), "another SIGKILL stays a failure")
	failed3 := StatusOf("FAILED", "NonZeroExitCode", 3, 0)
	require.Equal(t, failed3, failed3.WithOutput(out), "only a SIGKILL is refined")
}

// submittedSpec rebuilds the spec testdata/record submitted as
// rec-running, from the recorded command line (its directory was a
// temporary one).
func submittedSpec(t *testing.T, argv []string) JobSpec {
	t.Helper()
	arg := func(prefix string) string {
		for _, a := range argv {
			if v, ok := strings.CutPrefix(a, prefix); ok {
				return v
			}
		}
		t.Fatalf("recorded sbatch has no %s", prefix)
		return ""
	}
	dir := arg("--chdir=")
	return JobSpec{Name: "rec-running", Comment: "mlw job | with spaces", Script: "#!/bin/bash\necho started; sleep 120\n",
		WorkDir: dir, Output: filepath.Join(dir, "rec-running.out"), TimeLimit: 10 * time.Minute,
		Resources: Resources{CPUsPerTask: 2, MemoryMB: 100},
		Env:       []string{"HOME=" + dir, "SLURM_CONF=/elsewhere", "SBATCH_PARTITION=other"}}
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "sbatch")
	spec := submittedSpec(t, r.recs[0].argv)
	id, err := c.Submit(context.Background(), spec)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(r.recs[0].stdout), id)
	require.Len(t, r.ran, 1)
	require.Equal(t, spec.Script, string(r.ran[0].Stdin), "the script goes on stdin")
	require.Equal(t, []string{"HOME=" + spec.WorkDir, "PATH=" + defaultPath}, r.ran[0].Env,
		"the job's environment only, without what sbatch would read as options, with a PATH")
}

func TestSubmitArgs(t *testing.T) {
	t.Parallel()
	args, err := sbatchArgs(JobSpec{Name: "n", Partition: "gpu", Script: "#!/bin/sh\n", TimeLimit: 61 * time.Second,
		Resources: Resources{Nodes: 2, TasksPerNode: 4, CPUsPerTask: 6, MemoryMB: 112 << 10, GPUsPerNode: 4},
		UID:       2000000001, GID: 2000000001, Requeue: true})
	require.NoError(t, err)
	require.Equal(t, []string{"--parsable", "--job-name=n", "--partition=gpu", "--nodes=2", "--ntasks-per-node=4",
		"--cpus-per-task=6", "--mem=114688M", "--gres=gpu:4", "--time=2", "--requeue",
		"--uid=2000000001", "--gid=2000000001", "--export=ALL"}, args, "the time limit is rounded up to whole minutes")

	for _, bad := range []JobSpec{
		{Script: "echo no interpreter line"},
		{Script: "#!/bin/sh\n", Name: "two\nlines"},
		{Script: "#!/bin/sh\n", Resources: Resources{CPUsPerTask: -1}},
		{Script: "#!/bin/sh\n", TimeLimit: -time.Second},
	} {
		_, err := sbatchArgs(bad)
		require.ErrorIs(t, err, ErrBadSpec, "%+v", bad)
	}
	_, err = jobEnv([]string{"NOEQUALS"})
	require.ErrorIs(t, err, ErrBadSpec)
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]error{
		"sbatch-gres":         ErrUnsatisfiable,
		"sbatch-no-partition": ErrNoPartition,
		"sbatch-unknown-uid":  ErrUnknownUser,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, r := newTestClient(t, name)
			argv := r.recs[0].argv
			spec := JobSpec{Script: "#!/bin/sh\ntrue\n"}
			for _, a := range argv {
				switch {
				case strings.HasPrefix(a, "--job-name="):
					spec.Name = strings.TrimPrefix(a, "--job-name=")
				case strings.HasPrefix(a, "--partition="):
					spec.Partition = strings.TrimPrefix(a, "--partition=")
				case a == "--gres=gpu:1":
					spec.Resources.GPUsPerNode = 1
				case a == "--uid=1999999999":
					spec.UID, spec.GID = 1999999999, 1999999999
				}
			}
			_, err := c.Submit(context.Background(), spec)
			require.ErrorIs(t, err, want)
			var ce *CommandError
			require.True(t, errors.As(err, &ce))
			require.NotEmpty(t, ce.Message, "Slurm's own message is kept for the log")
		})
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "show-running", "show-failed")
	running, err := c.Show(context.Background(), r.recs[0].argv[len(r.recs[0].argv)-1])
	require.NoError(t, err)
	require.Equal(t, "rec-running", running.Name)
	require.Equal(t, Running, running.Status.Kind)
	require.Equal(t, "mlw job | with spaces", running.Comment)
	require.True(t, strings.HasSuffix(running.StdOut, "/rec-running.out"), running.StdOut)
	require.Equal(t, running.StdOut, running.StdErr)
	require.Equal(t, filepath.Dir(running.StdOut), running.WorkDir)
	require.Equal(t, 10*time.Minute, running.TimeLimit)

	failed, err := c.Show(context.Background(), r.recs[1].argv[len(r.recs[1].argv)-1])
	require.NoError(t, err)
	require.Equal(t, "rec-failed-3", failed.Name)
	require.Equal(t, Failed, failed.Status.Kind)
	require.Equal(t, 3, failed.Status.ExitCode)
	require.Equal(t, "NonZeroExitCode", failed.Status.Reason)
	require.False(t, failed.Ended.IsZero())
}

func TestPartition(t *testing.T) {
	t.Parallel()
	for rec, want := range map[string]struct{ slurm, mlw string }{
		"partition-idle":     {"idle", NodeIdle},
		"partition-busy":     {"allocated", NodeRunning},
		"partition-down":     {"down", NodeUnusable},
		"partition-draining": {"draining", NodeLeaving},
		"partition-drained":  {"drained", NodeUnusable},
	} {
		t.Run(rec, func(t *testing.T) {
			t.Parallel()
			c, r := newTestClient(t, rec)
			name := r.recs[0].argv[len(r.recs[0].argv)-1]
			p, err := c.Partition(context.Background(), name)
			require.NoError(t, err)
			require.Equal(t, []string{"scontrol", "sinfo"}, r.commands())
			require.Equal(t, name, p.Name)
			require.True(t, p.Up)
			require.Zero(t, p.MaxTime, "UNLIMITED")
			require.Zero(t, p.MaxNodes, "UNLIMITED")
			require.Len(t, p.Nodes, 1)
			n := p.Nodes[0]
			require.Equal(t, want.slurm, n.SlurmState)
			require.Equal(t, want.mlw, n.State)
			require.True(t, n.Listed)
			require.Positive(t, n.CPUs)
			require.Positive(t, n.MemoryMB)
			require.Zero(t, n.GPUs)
			counts := p.StateCounts()
			require.Equal(t, 1, counts[want.mlw])
			require.Len(t, counts, 6)
			switch rec {
			case "partition-busy":
				require.Equal(t, n.CPUs, n.CPUsAlloc)
				require.Positive(t, n.AllocMemoryMB)
			case "partition-idle":
				require.Zero(t, n.CPUsAlloc)
				require.Empty(t, n.Reason)
			case "partition-down", "partition-draining", "partition-drained":
				require.Contains(t, n.Reason, "recorded", "the administrator's reason")
			}
		})
	}
}

func TestDefaultAndMissingPartition(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, "partition-default", "partition-missing")
	p, err := c.Partition(context.Background(), "")
	require.NoError(t, err)
	require.True(t, p.Default)
	require.NotEmpty(t, p.Nodes)
	_, err = c.Partition(context.Background(), "no-such-partition")
	require.ErrorIs(t, err, ErrNoPartition)
}

func TestFindByName(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "find-running", "find-history", "find-none")
	// The completion log holds an older rec-running, from an earlier
	// recording: a name is only unique if the caller makes it so.
	jobs, err := c.FindByName(context.Background(), "rec-running")
	require.NoError(t, err)
	require.NotEmpty(t, jobs)
	for _, j := range jobs {
		require.Equal(t, "rec-running", j.Name)
	}
	last := jobs[len(jobs)-1]
	require.Equal(t, Running, last.Status.Kind, "what slurmctld says wins over the log")
	require.False(t, last.FromHistory)
	require.Equal(t, []string{"sacct", "squeue"}, r.commands())

	jobs, err = c.FindByName(context.Background(), "rec-failed-3")
	require.NoError(t, err)
	require.NotEmpty(t, jobs)
	last = jobs[len(jobs)-1]
	require.Equal(t, Failed, last.Status.Kind)
	require.Equal(t, 3, last.Status.ExitCode)
	require.True(t, slices.IsSortedFunc(jobs, func(a, b Job) int { return compareIDs(a.ID, b.ID) }))

	jobs, err = c.FindByName(context.Background(), "rec-no-such-name")
	require.NoError(t, err)
	require.Empty(t, jobs, "sacct -c ignores --name: the client filters")

	_, err = c.FindByName(context.Background(), "a,b")
	require.Error(t, err)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	c, r := newTestClient(t, "cancel")
	require.NoError(t, c.Cancel(context.Background(), r.recs[0].argv[1:]...))
	require.NoError(t, c.Cancel(context.Background()), "nothing to cancel runs nothing")
	require.Equal(t, []string{"scancel"}, r.commands())
}

func TestCommandString(t *testing.T) {
	t.Parallel()
	c := Command{Name: "sbatch", Args: []string{"--comment=a b", "--parsable", "it's"}}
	require.Equal(t, `sbatch '--comment=a b' --parsable 'it'\''s'`, c.String())
}

package slurm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

// The tests below run the client against a real Slurm: the single-node
// cluster that scripts/setup-slurm.sh starts (as root), or any cluster
// whose commands are on PATH and whose default partition may run test
// jobs. Without sbatch they are skipped, unless MLW_REQUIRE_SLURM=1.

// requireSlurm returns a client of the real Slurm and its default
// partition, or skips the test.
func requireSlurm(t *testing.T) (*Client, Partition) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("MLW_REQUIRE_SLURM") == "1" {
			t.Fatalf("%s (MLW_REQUIRE_SLURM=1)", msg)
		}
		t.Skipf("%s; set MLW_REQUIRE_SLURM=1 to make this a failure", msg)
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		missing("sbatch is not installed: run scripts/setup-slurm.sh (as root) to test against a real single-node Slurm")
	}
	c := New(ExecRunner{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.Partition(ctx, "")
	if err != nil {
		missing("Slurm does not answer (%v): start it with scripts/setup-slurm.sh", err)
	}
	if !p.Up || len(p.Nodes) == 0 {
		missing("the default partition %s is %s with %d nodes", p.Name, p.State, len(p.Nodes))
	}
	return c, p
}

// countingRunner counts the commands run, by name.
type countingRunner struct {
	Runner
	mu     sync.Mutex
	counts map[string]int
}

func (r *countingRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	r.mu.Lock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[c.Name]++
	r.mu.Unlock()
	return r.Runner.Run(ctx, c)
}

type slurmTest struct {
	t    *testing.T
	c    *Client
	part Partition
	// dir is shared by the test and its jobs (and by every node of a
	// multi-node cluster, which this single-node one trivially is).
	dir string
	tag string
}

func newSlurmTest(t *testing.T) *slurmTest {
	c, p := requireSlurm(t)
	dir, err := os.MkdirTemp("", "mlw-slurm-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Jobs run as another user in one test.
	require.NoError(t, os.Chmod(dir, 0o777))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &slurmTest{t: t, c: c, part: p, dir: dir, tag: hex.EncodeToString(b)}
}

// spec is a small job: one CPU, 50 MiB, its output in the shared
// directory, named after the test.
func (s *slurmTest) spec(name, script string) JobSpec {
	return JobSpec{
		Name: "mlw-test-" + s.tag + "-" + name, Script: "#!/bin/bash\n" + script + "\n",
		WorkDir: s.dir, Output: filepath.Join(s.dir, name+".out"),
		Resources: Resources{CPUsPerTask: 1, MemoryMB: 50}, Env: []string{"HOME=" + s.dir},
	}
}

func (s *slurmTest) submit(t *testing.T, spec JobSpec) string {
	t.Helper()
	id, err := s.c.Submit(context.Background(), spec)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.c.Cancel(context.Background(), id) })
	return id
}

// awaitJob polls the job until ok holds; the deadline only bounds how
// long a broken Slurm can hang the test.
func (s *slurmTest) awaitJob(t *testing.T, id string, within time.Duration, what string, ok func(Job) bool) Job {
	t.Helper()
	deadline := time.Now().Add(within)
	var last Job
	for {
		j, err := s.c.Job(context.Background(), id)
		require.NoError(t, err)
		if ok(j) {
			return j
		}
		if j.Status.Kind.Ended() {
			// An ended job never changes again (these jobs do not requeue).
			t.Fatalf("job %s ended (%s) before %s: %+v; output dir %s", id, j.State, what, j.Status, s.dir)
		}
		last = j
		if time.Now().After(deadline) {
			t.Fatalf("job %s: no %s within %s; last: %s %+v", id, what, within, last.State, last.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *slurmTest) awaitEnd(t *testing.T, id string) Job {
	t.Helper()
	return s.awaitJob(t, id, 3*time.Minute, "any end", func(j Job) bool { return j.Status.Kind.Ended() })
}

func (s *slurmTest) release(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(s.dir, name), nil, 0o666))
}

func (s *slurmTest) output(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, name+".out"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

// waitFor is a job script fragment that waits until the test creates the
// file name in the shared directory.
func (s *slurmTest) waitFor(name string) string {
	return fmt.Sprintf("while [ ! -e %q ]; do sleep 0.05; done", filepath.Join(s.dir, name))
}

func TestSlurm(t *testing.T) {
	s := newSlurmTest(t)
	ctx := context.Background()

	// First, while the node is the test's: a job holding every CPU of it,
	// and one behind it that must wait for resources.
	t.Run("PendingThenRunning", func(t *testing.T) {
		p, err := s.c.Partition(ctx, s.part.Name)
		require.NoError(t, err)
		node := p.Nodes[0]
		if node.CPUsAlloc > 0 {
			t.Skipf("node %s of partition %s runs other jobs (%d CPUs given); this test needs it idle", node.Name, p.Name, node.CPUsAlloc)
		}
		blocker := s.spec("blocker", "echo started; "+s.waitFor("release-blocker"))
		blocker.Resources.CPUsPerTask = node.CPUs
		blocker.Resources.MemoryMB = 50
		bid := s.submit(t, blocker)
		s.awaitJob(t, bid, time.Minute, "Running", func(j Job) bool { return j.Status.Kind == Running })

		wid := s.submit(t, s.spec("behind", "echo behind ran"))
		waiting := s.awaitJob(t, wid, time.Minute, "a pending reason", func(j Job) bool {
			return j.Status.Kind == Pending && j.Status.Reason != ""
		})
		require.Contains(t, []string{"Resources", "Priority"}, waiting.Status.Reason)
		require.Contains(t, waiting.Status.Message, "Waiting")
		require.Contains(t, waiting.Status.Message, "(Slurm reason: "+waiting.Status.Reason+")")

		p, err = s.c.Partition(ctx, s.part.Name)
		require.NoError(t, err)
		require.Equal(t, NodeRunning, p.Nodes[0].State, "the node runs the blocker")
		require.Equal(t, 1, p.StateCounts()[NodeRunning])

		s.release(t, "release-blocker")
		require.Equal(t, Completed, s.awaitEnd(t, bid).Status.Kind)
		done := s.awaitEnd(t, wid)
		require.Equal(t, Completed, done.Status.Kind)
		require.Equal(t, "behind ran\n", s.output(t, "behind"))
	})

	// The time limit and slurmctld forgetting a job take a minute or
	// more: they start now and are checked last.
	timeLimited := s.spec("timeout", "echo started; sleep 600")
	timeLimited.TimeLimit = time.Minute
	timeoutID := s.submit(t, timeLimited)
	forgottenID := s.submit(t, s.spec("forgotten", "exit 3"))

	t.Run("OutputWhileRunning", func(t *testing.T) {
		id := s.submit(t, s.spec("log", "echo line 1; "+s.waitFor("release-log")+"; echo line 2"))
		s.awaitJob(t, id, 2*time.Minute, "Running", func(j Job) bool { return j.Status.Kind == Running })
		d, err := s.c.Show(ctx, id)
		require.NoError(t, err)
		require.Equal(t, filepath.Join(s.dir, "log.out"), d.StdOut)
		require.Equal(t, s.dir, d.WorkDir)
		deadline := time.Now().Add(time.Minute)
		for s.output(t, "log") != "line 1\n" {
			require.True(t, time.Now().Before(deadline), "the first line never reached the output file: %q", s.output(t, "log"))
			time.Sleep(50 * time.Millisecond)
		}
		j, err := s.c.Job(ctx, id)
		require.NoError(t, err)
		require.Equal(t, Running, j.Status.Kind, "the line was written while the job runs")
		s.release(t, "release-log")
		require.Equal(t, Completed, s.awaitEnd(t, id).Status.Kind)
		require.Equal(t, "line 1\nline 2\n", s.output(t, "log"))
	})

	t.Run("ExitCodes", func(t *testing.T) {
		ok := s.submit(t, s.spec("exit0", "exit 0"))
		three := s.submit(t, s.spec("exit3", "echo failing >&2; exit 3"))
		j := s.awaitEnd(t, ok)
		require.Equal(t, Completed, j.Status.Kind)
		require.Zero(t, j.Status.ExitCode)
		j = s.awaitEnd(t, three)
		require.Equal(t, Failed, j.Status.Kind)
		require.Equal(t, 3, j.Status.ExitCode)
		require.Equal(t, "NonZeroExitCode", j.Status.Reason)
		require.Equal(t, "The job's script exited with code 3.", j.Status.Message)
		require.Equal(t, "failing\n", s.output(t, "exit3"), "stderr goes to the output file too")
	})

	t.Run("Cancel", func(t *testing.T) {
		id := s.submit(t, s.spec("cancel", "echo started; "+s.waitFor("never")))
		s.awaitJob(t, id, 2*time.Minute, "Running", func(j Job) bool { return j.Status.Kind == Running })
		require.NoError(t, s.c.Cancel(ctx, id))
		j := s.awaitEnd(t, id)
		require.Equal(t, Cancelled, j.Status.Kind)
		require.NoError(t, s.c.Cancel(ctx, id), "cancelling an ended job succeeds")
	})

	t.Run("OutOfMemory", func(t *testing.T) {
		if _, err := os.Stat("/usr/bin/python3"); err != nil {
			t.Skip("the job allocates memory with /usr/bin/python3, which this host lacks")
		}
		spec := s.spec("oom", `/usr/bin/python3 -c 'import time; b = b"x" * (400 << 20); time.sleep(60)'`)
		spec.Resources.MemoryMB = 100
		j := s.awaitEnd(t, s.submit(t, spec))
		st := j.Status
		if st.Kind == Failed {
			// OverMemoryKill (no cgroups): Slurm reports a SIGKILL; the
			// output says why.
			st = st.WithOutput([]byte(s.output(t, "oom")))
			t.Logf("Slurm reported %s by signal %d; the output refines it to %s", j.State, j.Status.Signal, st.Kind)
		}
		require.Equal(t, OutOfMemory, st.Kind, "%s: %+v; output %q", j.State, j.Status, s.output(t, "oom"))
	})

	t.Run("TwentyJobsInOneSqueue", func(t *testing.T) {
		var ids []string
		for i := range 20 {
			ids = append(ids, s.submit(t, s.spec(fmt.Sprintf("many-%d", i), "true")))
		}
		counter := &countingRunner{Runner: ExecRunner{}}
		jobs, err := New(counter).Jobs(ctx, ids)
		require.NoError(t, err)
		require.Len(t, jobs, 20)
		require.Equal(t, map[string]int{"squeue": 1}, counter.counts, "one squeue for twenty jobs slurmctld holds")
		for _, id := range ids {
			require.Equal(t, Completed, s.awaitEnd(t, id).Status.Kind)
		}
	})

	t.Run("Environment", func(t *testing.T) {
		t.Setenv("MLW_SLURM_TEST_SERVER_ONLY", "secret")
		spec := s.spec("env", "env")
		spec.Env = append(spec.Env, "FOO=a,b c", "SLURM_CONF=/nowhere", "SBATCH_TIMELIMIT=1")
		j := s.awaitEnd(t, s.submit(t, spec))
		require.Equal(t, Completed, j.Status.Kind)
		env := s.output(t, "env")
		require.Contains(t, env, "\nFOO=a,b c\n", "values with commas and spaces pass unchanged")
		require.Contains(t, env, "\nHOME="+s.dir+"\n")
		require.Contains(t, env, "\nPATH="+defaultPath+"\n")
		require.Contains(t, env, "\nSLURM_JOB_ID="+j.ID+"\n")
		require.NotContains(t, env, "MLW_SLURM_TEST_SERVER_ONLY", "nothing of the server's environment")
		require.NotContains(t, env, "/nowhere")
		require.Equal(t, time.Duration(0), j.TimeLimit, "SBATCH_* variables are not read as options")
	})

	t.Run("AsAnotherUser", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("only root may submit jobs as another uid (sbatch --uid)")
		}
		spec := s.spec("nobody", "id -u; id -g; touch "+filepath.Join(s.dir, "written-by-job"))
		spec.UID, spec.GID = 65534, 65534
		j := s.awaitEnd(t, s.submit(t, spec))
		require.Equal(t, Completed, j.Status.Kind, s.output(t, "nobody"))
		require.Equal(t, "65534\n65534\n", s.output(t, "nobody"))
		fi, err := os.Stat(filepath.Join(s.dir, "nobody.out"))
		require.NoError(t, err)
		require.Equal(t, uint32(65534), fileUID(fi), "Slurm writes the output as the job's user")

		spec = s.spec("nouser", "true")
		spec.UID, spec.GID = 1999999999, 1999999999
		_, err = s.c.Submit(ctx, spec)
		require.ErrorIs(t, err, ErrUnknownUser, "a uid needs an account on the cluster")
	})

	t.Run("VMSize", func(t *testing.T) {
		small, ok := core.LookupVMSize("Standard_DS1_v2")
		require.True(t, ok)
		r, err := ForVMSize(small, 1, 1)
		require.NoError(t, err)
		require.NoError(t, r.Fits(s.part), "1 vCPU and 3.5 GiB fit partition %s", s.part.Name)
		spec := s.spec("vmsize", `echo "$SLURM_CPUS_PER_TASK $SLURM_MEM_PER_NODE $SLURM_JOB_NUM_NODES $SLURM_NTASKS"`)
		spec.Resources = r
		j := s.awaitEnd(t, s.submit(t, spec))
		require.Equal(t, Completed, j.Status.Kind)
		require.Equal(t, fmt.Sprintf("%d %d 1 1\n", small.VCPUs, small.MemoryMB()), s.output(t, "vmsize"))

		big, ok := core.LookupVMSize("Standard_NC24ads_A100_v4")
		require.True(t, ok)
		r, err = ForVMSize(big, 1, 1)
		require.NoError(t, err)
		if r.Fits(s.part) == nil {
			t.Skipf("partition %s can run %s; the refusal is not tested here", s.part.Name, big.Name)
		}
		require.ErrorIs(t, r.Fits(s.part), ErrUnsatisfiable)
		spec = s.spec("toobig", "true")
		spec.Resources = r
		_, err = s.c.Submit(ctx, spec)
		require.ErrorIs(t, err, ErrUnsatisfiable, "sbatch refuses what no node can hold")
	})

	t.Run("FindByName", func(t *testing.T) {
		spec := s.spec("findme", "true")
		found, err := s.c.FindByName(ctx, spec.Name)
		require.NoError(t, err)
		require.Empty(t, found, "not submitted yet")
		id := s.submit(t, spec)
		found, err = s.c.FindByName(ctx, spec.Name)
		require.NoError(t, err)
		require.Len(t, found, 1)
		require.Equal(t, id, found[0].ID)
		s.awaitEnd(t, id)
	})

	t.Run("Partition", func(t *testing.T) {
		p, err := s.c.Partition(ctx, s.part.Name)
		require.NoError(t, err)
		total := 0
		for _, n := range p.Nodes {
			require.NotEmpty(t, n.Name)
			require.Positive(t, n.CPUs, n.Name)
			require.Positive(t, n.MemoryMB, n.Name)
			require.Contains(t, []string{NodeIdle, NodeRunning, NodeLeaving, NodePreparing, NodeUnusable, ""}, n.State)
			if n.Listed {
				total++
			}
		}
		sum := 0
		for _, v := range p.StateCounts() {
			sum += v
		}
		require.Equal(t, total, sum)
		_, err = s.c.Partition(ctx, "mlw-no-such-partition")
		require.ErrorIs(t, err, ErrNoPartition)
	})

	t.Run("TimeLimit", func(t *testing.T) {
		j := s.awaitJob(t, timeoutID, 4*time.Minute, "any end", func(j Job) bool { return j.Status.Kind.Ended() })
		require.Equal(t, Timeout, j.Status.Kind, "%+v", j.Status)
		require.Equal(t, time.Minute, j.TimeLimit)
		require.Contains(t, s.output(t, "timeout"), "DUE TO TIME LIMIT", "slurmstepd says so in the output")
	})

	t.Run("AfterSlurmctldForgets", func(t *testing.T) {
		s.awaitEnd(t, forgottenID)
		// MinJobAge after it ended, slurmctld forgets the job; the
		// completion log still has it.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			_, err := s.c.Show(ctx, forgottenID)
			if errors.Is(err, ErrNoJob) {
				break
			}
			require.NoError(t, err)
			require.True(t, time.Now().Before(deadline), "slurmctld still holds job %s", forgottenID)
			time.Sleep(time.Second)
		}
		counter := &countingRunner{Runner: ExecRunner{}}
		j, err := New(counter).Job(ctx, forgottenID)
		require.NoError(t, err)
		require.True(t, j.FromHistory)
		require.Equal(t, Failed, j.Status.Kind)
		require.Equal(t, 3, j.Status.ExitCode)
		require.Equal(t, "mlw-test-"+s.tag+"-forgotten", j.Name)
		require.Equal(t, map[string]int{"squeue": 1, "sacct": 1}, counter.counts)
		found, err := s.c.FindByName(ctx, j.Name)
		require.NoError(t, err)
		require.Len(t, found, 1, "found by name in the completion log too")
		require.True(t, found[0].FromHistory)
	})
}

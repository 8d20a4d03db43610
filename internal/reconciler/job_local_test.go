package reconciler

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/envbuild"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Tests with real processes: the local backend, supervised processes,
// cgroups where the host allows. Time-dependent rules (timeouts) still use
// the virtual clock; process exits are awaited, never slept for.

func TestMain(m *testing.M) {
	local.MaybeRunShim()
	code := m.Run()
	printMoves()
	os.Exit(code)
}

// localBundle is a jobBundle on the local backend.
func localBundle(t *testing.T, dir string, env EnvPreparer) (*jobBundle, *local.Cluster) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	be := local.NewCluster(filepath.Join(dir, "cluster"), local.HostResources())
	insts := &local.Instances{Dir: filepath.Join(dir, "instances"), HideDirs: []string{dir}, Procs: be}
	b := setupJobs(t, bundleOpts{procs: be, nodes: be, env: env, dir: dir, insts: insts})
	t.Cleanup(func() {
		computes, _ := b.st.List(context.Background(), store.ListOptions{Kind: core.KindCompute})
		for _, c := range computes {
			if resource.ComputeTypeOf(c) == resource.ComputeInstance {
				_ = insts.Delete(context.Background(), c.UID, resource.InstanceStatusOf(c).Internal.Handle)
			}
		}
		nodes, _ := b.st.List(context.Background(), store.ListOptions{Kind: resource.KindNode})
		for _, n := range nodes {
			_ = be.StopNode(context.Background(), n.Name)
		}
		// Without cgroups, the job's processes are found by their tag.
		ents, _ := os.ReadDir(filepath.Join(dir, "cluster", "procs"))
		for _, e := range ents {
			local.KillTagged(filepath.Join(dir, "cluster", "procs", e.Name()))
		}
	})
	return b, be
}

// await drains the reconcilers until cond holds, waiting for the
// backend's exit notices (the Wait goroutines enqueue the job).
func (b *jobBundle) await(what string, cond func() bool) {
	b.t.Helper()
	b.awaitWithin(what, 60*time.Second, cond)
}

// awaitWithin is await with its own limit (Slurm's passes are slower).
func (b *jobBundle) awaitWithin(what string, limit time.Duration, cond func() bool) {
	b.t.Helper()
	deadline := time.After(limit)
	for {
		b.drain()
		if cond() {
			return
		}
		select {
		case <-b.q.added:
		case <-time.After(50 * time.Millisecond):
			// Files written by the job (awaited by some tests) send no notice.
		case <-deadline:
			b.t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func (b *jobBundle) awaitState(name, state string) *resource.JobStatus {
	b.t.Helper()
	b.await("job "+name+" to be "+state, func() bool {
		j := b.job(name)
		if resource.JobTerminal(j.State) && j.State != state {
			st := resource.JobStatusOf(j)
			b.t.Fatalf("job %s ended %s, want %s: %s %+v", name, j.State, state, st.Reason, st.Error)
		}
		return j.State == state
	})
	return b.status(name)
}

// workDir is the working directory of a job's current attempt on node 0.
func (b *jobBundle) workDir(name string) string {
	j := b.job(name)
	return b.jobs.workDir(&jobCtx{job: j, st: resource.JobStatusOf(j)}, 0)
}

func (b *jobBundle) userLog(name string) string {
	j := b.job(name)
	data, _ := os.ReadFile(filepath.Join(b.jobs.artifactDir(&jobCtx{job: j, ws: b.ws}), UserLog))
	return string(data)
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	pid, ok := pidIn(path)
	require.True(t, ok, "no pid in %s", path)
	return pid
}

// pidIn reads a pid file that a shell may still be writing: the file
// exists (`echo $! > f` creates it) before its number is in it.
func pidIn(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

const smallCluster = `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}`

// TestLocalJobRunsInSnapshotWithLogs: a real job completes; its output is
// in user_logs/std_log.txt; ./outputs become artifacts.
func TestLocalJobCompletes(t *testing.T) {
	t.Parallel()
	b, _ := localBundle(t, "", nil)
	b.putCluster("c1", smallCluster)
	b.submit("hello", command("c1", `echo "hello from $AZUREML_RUN_ID in $(basename $PWD)"; echo result > outputs/result.txt; echo oops >&2`))
	st := b.awaitState("hello", resource.JobCompleted)
	require.Equal(t, 0, *st.ExitCode)
	log := b.userLog("hello")
	require.Contains(t, log, "hello from hello in a1-n0")
	require.Contains(t, log, "oops", "stderr goes to the same log")
	j := b.job("hello")
	out, err := os.ReadFile(filepath.Join(b.jobs.artifactDir(&jobCtx{job: j, ws: b.ws}), "outputs", "result.txt"))
	require.NoError(t, err)
	require.Equal(t, "result\n", string(out))
	files, err := b.svc.JobLogFiles(b.ws, j)
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	require.Contains(t, names, UserLog)
	require.Contains(t, names, LifecycleLog)
}

// TestLocalCancelKillsProcessTree: cancel ends the job's whole process
// tree, including a process that left the process group.
func TestLocalCancelKillsProcessTree(t *testing.T) {
	t.Parallel()
	b, _ := localBundle(t, "", nil)
	b.putCluster("c1", smallCluster)
	b.submit("tree", command("c1", `sleep 300 & echo $! > bg.pid; setsid sleep 300 & echo $! > escaped.pid; echo started; wait`))
	b.awaitState("tree", resource.JobRunning)
	wd := b.workDir("tree")
	b.await("the job's processes to start", func() bool {
		_, ok1 := pidIn(filepath.Join(wd, "bg.pid"))
		_, ok2 := pidIn(filepath.Join(wd, "escaped.pid"))
		return ok1 && ok2
	})
	bg, escaped := readPID(t, filepath.Join(wd, "bg.pid")), readPID(t, filepath.Join(wd, "escaped.pid"))
	require.True(t, alive(bg) && alive(escaped))

	_, op, err := b.svc.CancelJob(b.ctx, b.ref, "tree")
	require.NoError(t, err)
	require.NotNil(t, op)
	st := b.awaitState("tree", resource.JobCanceled)
	require.Equal(t, "Canceled by admin.", st.Reason)
	// SIGKILL is delivered asynchronously: await the deaths.
	b.await("the background child to die", func() bool { return !alive(bg) })
	b.await("the child that left the process group to die", func() bool { return !alive(escaped) })
	require.Equal(t, "idle", b.nodeStates("c1"))
}

// TestLocalTimeout: limits.timeout stops a real process.
func TestLocalTimeout(t *testing.T) {
	t.Parallel()
	b, _ := localBundle(t, "", nil)
	b.putCluster("c1", smallCluster)
	b.submit("slow", command("c1", `echo $BASHPID > main.pid; sleep 300`, `"limits":{"jobLimitsType":"Command","timeout":"PT5S"}`))
	b.awaitState("slow", resource.JobRunning)
	wd := b.workDir("slow")
	b.await("the process to start", func() bool { _, ok := pidIn(filepath.Join(wd, "main.pid")); return ok })
	pid := readPID(t, filepath.Join(wd, "main.pid"))
	b.advance(5 * time.Second) // virtual time
	st := b.requireState("slow", resource.JobFailed)
	require.Equal(t, "JobTimeout", st.Error.Code)
	require.False(t, alive(pid))
}

// TestLocalFailingCommand: the exit code and the last lines of the log
// are in the error.
func TestLocalFailingCommand(t *testing.T) {
	t.Parallel()
	b, _ := localBundle(t, "", nil)
	b.putCluster("c1", smallCluster)
	b.submit("bad", command("c1", `echo working; echo "Traceback: something broke" >&2; exit 3`))
	st := b.awaitState("bad", resource.JobFailed)
	require.NotNil(t, st.ExitCode, "%+v %s", st.Error, st.Reason)
	require.Equal(t, 3, *st.ExitCode)
	require.Equal(t, "UserError", st.Error.Code)
	require.Contains(t, st.Error.Message, "exited with status code 3")
	require.Contains(t, st.Error.Message, "user_logs/std_log.txt")
	require.Contains(t, st.Error.Message, "Traceback: something broke")
}

// missingPackage is the real environment builder, asked for one more
// package than the curated environment has: one that no Python has.
type missingPackage struct{ EnvBuilder }

func (m missingPackage) Prepare(ctx context.Context, env *resource.ResolvedEnvironment, log io.Writer) (*PreparedEnv, error) {
	e := *env
	e.Packages = append(append([]resource.PythonPackage(nil), env.Packages...),
		resource.PythonPackage{Requirement: "mlw-missing", Import: "mlw_missing_module", Debian: "python3-mlw-missing"})
	return m.EnvBuilder.Prepare(ctx, &e, log)
}

// TestLocalMissingEnvironmentPackage: a curated environment whose packages
// do not import fails in Preparing, naming them and the apt-get line.
func TestLocalMissingEnvironmentPackage(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(envbuild.DefaultPython); err != nil {
		t.Skip("needs " + envbuild.DefaultPython)
	}
	dir := t.TempDir()
	env := missingPackage{EnvBuilder{Builder: envbuild.New(envbuild.Options{Dir: filepath.Join(dir, "envs")})}}
	b, _ := localBundle(t, dir, env)
	b.putCluster("c1", smallCluster)
	b.submit("train", command("c1", "python train.py"))
	st := b.awaitState("train", resource.JobFailed)
	require.Equal(t, "NotStarted,Queued,Preparing,Failed", phases(st))
	require.Equal(t, "EnvironmentPackagesMissing", st.Error.Code)
	require.Contains(t, st.Error.Message, "mlw-missing")
	require.Contains(t, st.Error.Message, "apt-get install python3-mlw-missing")
	require.Equal(t, "idle", b.nodeStates("c1"))
}

// TestLocalPreemptionKeepsCheckpoints: a preempted job runs again and
// finds what it saved in ./checkpoints.
func TestLocalPreemptionKeepsCheckpoints(t *testing.T) {
	t.Parallel()
	b, _ := localBundle(t, "", nil)
	b.putCluster("low", `{"vmSize":"STANDARD_DS1_V2","vmPriority":"LowPriority","scaleSettings":{"maxNodeCount":1}}`)
	script := `n=$(cat checkpoints/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > checkpoints/n; echo "attempt $MLW_ATTEMPT sees checkpoint $n"; ` +
		`if [ $n -lt 2 ]; then exec sleep 300; fi`
	b.submit("resume", command("low", script))
	b.awaitState("resume", resource.JobRunning)
	b.await("the first attempt to save a checkpoint", func() bool { return strings.Contains(b.userLog("resume"), "checkpoint 1") })

	_, err := b.svc.PreemptNode(b.ctx, b.ref, "low", "")
	require.NoError(t, err)
	st := b.awaitState("resume", resource.JobCompleted)
	require.Equal(t, 2, st.Attempt)
	require.Len(t, st.Attempts, 1)
	log := b.userLog("resume")
	require.Contains(t, log, "attempt 1 sees checkpoint 1")
	require.Contains(t, log, "previous one was preempted")
	require.Contains(t, log, "attempt 2 sees checkpoint 2")
}

// TestLocalRestartMidJob: a new reconciler (a restarted server, after a
// clean stop or a crash) finds the running job, which kept running, and
// finishes it with its whole log.
func TestLocalRestartMidJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _ := localBundle(t, dir, nil)
	b.putCluster("c1", smallCluster)
	b.submit("long", command("c1", `echo before; while [ ! -f go ]; do sleep 0.05; done; echo after`))
	b.awaitState("long", resource.JobRunning)
	b.await("the job to log", func() bool { return strings.Contains(b.userLog("long"), "before") })
	wd := b.workDir("long")

	// The old server goes away: its reconcilers stop, its processes stay.
	b2, _ := localBundle(t, dir, nil)
	require.NoError(t, os.WriteFile(filepath.Join(wd, "go"), nil, 0o644))
	// On start every unfinished job and every compute is enqueued.
	j := b2.job("long")
	b2.q.Enqueue(core.KindJob, resource.Key(j))
	b2.q.Enqueue(core.KindCompute, resource.Key(b2.compute("c1")))
	st := b2.awaitState("long", resource.JobCompleted)
	require.Equal(t, 1, st.Attempt, "not run twice")
	log := b2.userLog("long")
	require.Equal(t, 1, strings.Count(log, "before"))
	require.Contains(t, log, "after")
	require.Equal(t, "idle", b2.nodeStates("c1"))
}

// TestLocalQueuedJobRunsAfterRestart: a job queued before a restart runs
// after it.
func TestLocalQueuedJobRunsAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _ := localBundle(t, dir, nil)
	b.putCluster("c1", smallCluster)
	b.submit("first", command("c1", `while [ ! -f go ]; do sleep 0.05; done`))
	b.submit("second", command("c1", "echo second ran"))
	b.awaitState("first", resource.JobRunning)
	b.requireState("second", resource.JobQueued)
	wd := b.workDir("first")

	b2, _ := localBundle(t, dir, nil)
	for _, name := range []string{"first", "second"} {
		b2.q.Enqueue(core.KindJob, resource.Key(b2.job(name)))
	}
	b2.q.Enqueue(core.KindCompute, resource.Key(b2.compute("c1")))
	require.NoError(t, os.WriteFile(filepath.Join(wd, "go"), nil, 0o644))
	b2.awaitState("second", resource.JobCompleted)
	require.Contains(t, b2.userLog("second"), "second ran")
	b2.requireState("first", resource.JobCompleted)
}

// TestLocalNodeLimits: a node's processes run in its cgroup when the host
// allows it (root with cgroup v1 or v2).
func TestLocalNodeLimits(t *testing.T) {
	t.Parallel()
	if v, why := local.CgroupSupport(); v == 0 {
		t.Skip(why)
	}
	b, _ := localBundle(t, "", nil)
	b.putCluster("c1", smallCluster)
	b.submit("cg", command("c1", `cat /proc/self/cgroup > cg.tmp; mv cg.tmp cgroup.txt; while [ ! -f go ]; do sleep 0.05; done`))
	st := b.awaitState("cg", resource.JobRunning)
	wd := b.workDir("cg")
	b.await("the job to write its cgroup", func() bool { _, err := os.Stat(filepath.Join(wd, "cgroup.txt")); return err == nil })
	data, err := os.ReadFile(filepath.Join(wd, "cgroup.txt"))
	require.NoError(t, err)
	require.Contains(t, string(data), "mlw/node-"+st.Nodes[0])
	ns := resource.NodeStatusOf(b.nodes("c1")[0])
	require.True(t, ns.LimitsEnforced)
	require.NoError(t, os.WriteFile(filepath.Join(wd, "go"), nil, 0o644))
	b.awaitState("cg", resource.JobCompleted)
}

// TestLocalJobInsideInstance: a job on a compute instance runs inside it
// (its hostname, home, file share and environment), in its code snapshot,
// keeps running across a restart of the reconcilers (a server restart)
// and ends with its real status; its outputs are saved.
func TestLocalJobInsideInstance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _ := localBundle(t, dir, nil)
	b.putInstance("ci1", `{"vmSize":"STANDARD_DS1_V2"}`)
	require.Equal(t, resource.InstanceRunning, b.instanceState("ci1"))
	share := resource.WorkspaceSharePath(dir, b.ws)
	require.NoError(t, os.MkdirAll(share, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(share, "notes.txt"), nil, 0o644))
	b.submit("inside", command("ci1", `echo "ci=$CI_NAME host=$(hostname) home=$HOME run=$AZUREML_RUN_ID"; ls ~/cloudfiles/code; cat ~/config.json; echo; `+
		`echo result > outputs/result.txt; echo before; while [ ! -f go ]; do sleep 0.05; done; echo after`))
	b.awaitState("inside", resource.JobRunning)
	b.await("the job to log", func() bool { return strings.Contains(b.userLog("inside"), "before") })
	log := b.userLog("inside")
	host, _ := os.Hostname()
	home := filepath.Join(dir, "instances")
	if isolation := resource.InstanceStatusOf(b.compute("ci1")).Internal.Isolation; !strings.HasPrefix(isolation, "None") {
		host, home = "ci1", "/home/azureuser"
	}
	require.Contains(t, log, "ci=ci1 host="+host+" home="+home)
	require.Contains(t, log, "run=inside")
	require.Contains(t, log, "notes.txt")
	require.Contains(t, log, `"workspace_name": "ws1"`)
	wd := b.workDir("inside")
	require.True(t, strings.HasPrefix(wd, InstanceJobsDir(dir, b.compute("ci1").UID)), wd)

	// The old server goes away; the new one finds the job running.
	b2, _ := localBundle(t, dir, nil)
	require.NoError(t, os.WriteFile(filepath.Join(wd, "go"), nil, 0o644))
	b2.q.Enqueue(core.KindJob, resource.Key(b2.job("inside")))
	b2.q.Enqueue(core.KindCompute, resource.Key(b2.compute("ci1")))
	st := b2.awaitState("inside", resource.JobCompleted)
	require.Equal(t, 0, *st.ExitCode)
	log = b2.userLog("inside")
	require.Equal(t, 1, strings.Count(log, "before"), "not run twice")
	require.Contains(t, log, "after")
	out, err := os.ReadFile(filepath.Join(b2.jobs.artifactDir(&jobCtx{job: b2.job("inside"), ws: b2.ws}), "outputs", "result.txt"))
	require.NoError(t, err)
	require.Equal(t, "result\n", string(out))
	require.Equal(t, resource.InstanceRunning, b2.instanceState("ci1"))
}

// TestLocalInstanceJobCancelAndStop: canceling a job inside an instance
// ends its whole process tree there and leaves the instance running;
// stopping the instance ends the job running inside it, Canceled with the
// reason.
func TestLocalInstanceJobCancelAndStop(t *testing.T) {
	t.Parallel()
	b, _ := localBundle(t, "", nil)
	b.putInstance("ci1", `{"vmSize":"STANDARD_DS1_V2"}`)
	ci := b.compute("ci1")
	b.submit("canceled", command("ci1", `setsid sleep 300 & echo started; wait`))
	b.awaitState("canceled", resource.JobRunning)
	b.await("the job to start", func() bool { return strings.Contains(b.userLog("canceled"), "started") })
	runDir := b.status("canceled").Procs[0].RunDir
	require.NotEmpty(t, local.TaggedPIDs(runDir))
	_, _, err := b.svc.CancelJob(b.ctx, b.ref, "canceled")
	require.NoError(t, err)
	b.awaitState("canceled", resource.JobCanceled)
	// SIGKILL is delivered asynchronously: await the deaths.
	b.await("the job's processes, the one that left its session too, to die", func() bool { return len(local.TaggedPIDs(runDir)) == 0 })
	require.NotEmpty(t, local.InstancePIDs(ci.UID), "the instance still runs")

	b.submit("stopped", command("ci1", `echo started; sleep 300`))
	b.awaitState("stopped", resource.JobRunning)
	b.await("the job to start", func() bool { return strings.Contains(b.userLog("stopped"), "started") })
	runDir = b.status("stopped").Procs[0].RunDir
	b.act("ci1", "stop")
	st := b.awaitState("stopped", resource.JobCanceled)
	require.Equal(t, "The compute instance 'ci1' was stopped while the job ran.", st.Reason)
	require.Equal(t, resource.InstanceStopped, b.instanceState("ci1"))
	b.await("the job's processes to die", func() bool { return len(local.TaggedPIDs(runDir)) == 0 })
	require.Empty(t, local.InstancePIDs(ci.UID))
}

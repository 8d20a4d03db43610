package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

func newTestCluster(t *testing.T) (*Cluster, string) {
	t.Helper()
	dir := t.TempDir()
	c := NewCluster(filepath.Join(dir, "cluster"), backend.Resources{})
	t.Cleanup(func() {
		ents, _ := os.ReadDir(filepath.Join(dir, "cluster", "nodes"))
		for _, e := range ents {
			_ = c.StopNode(context.Background(), e.Name())
		}
		ents, _ = os.ReadDir(filepath.Join(dir, "cluster", "procs"))
		for _, e := range ents {
			KillTagged(filepath.Join(dir, "cluster", "procs", e.Name()))
		}
	})
	return c, dir
}

// nodeID is unique per test: node cgroups are host-wide.
func nodeID(t *testing.T) string {
	return "n-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
}

func startNode(t *testing.T, c *Cluster, id string) {
	t.Helper()
	_, err := c.StartNode(context.Background(), backend.NodeSpec{ID: id, Limits: backend.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}})
	require.NoError(t, err)
}

func run(t *testing.T, c *Cluster, dir, id, node, command string) (backend.ProcessHandle, backend.ProcessState, string) {
	t.Helper()
	ctx := context.Background()
	log := filepath.Join(dir, "logs", id+".txt")
	h, err := c.Start(ctx, backend.ProcessSpec{ID: id, Node: node, Command: command, Dir: dir, Env: []string{"PATH=/usr/bin:/bin", "GREETING=hi"}, Log: log})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, c.Wait(wctx, h))
	st, err := c.State(ctx, h)
	require.NoError(t, err)
	out, _ := os.ReadFile(log)
	return h, st, string(out)
}

// TestNodeAgentRunsJobs: a node's agent runs its jobs one after another,
// each with its own environment, directory, log and exit code; "exit" in a
// command ends only that job.
func TestNodeAgentRunsJobs(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	agent, _, ok := c.agentPID(n1)
	require.True(t, ok, "StartNode starts the agent")

	_, st, out := run(t, c, dir, "p1", n1, `echo "$GREETING from $(pwd)"; echo oops >&2; exit 3`)
	require.False(t, st.Running)
	require.Equal(t, 3, st.ExitCode)
	require.Equal(t, "hi from "+dir+"\noops\n", out)

	h, st, out := run(t, c, dir, "p2", n1, `[[ -n $MLW_RUN_DIR ]] && echo tagged`)
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "tagged\n", out, "bash syntax, and the tag every job process carries")
	again, _, _ := c.agentPID(n1)
	require.Equal(t, agent, again, "the same agent ran both")
	require.NoError(t, c.Release(context.Background(), h))
	_, err := os.Stat(h.RunDir)
	require.True(t, os.IsNotExist(err))
	_, _, ok = c.agentPID(n1)
	require.True(t, ok, "releasing a job leaves the agent")
}

// TestStartIsIdempotent: starting a process id again, by the same or a
// restarted server, never runs it twice.
func TestStartIsIdempotent(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	ledger := filepath.Join(dir, "ledger")
	cmd := `echo run >> ` + ledger
	run(t, c, dir, "once", n1, cmd)
	run(t, c, dir, "once", n1, cmd)
	c2 := NewCluster(c.Dir, backend.Resources{})
	_, st, _ := run(t, c2, dir, "once", n1, cmd)
	require.Equal(t, 0, st.ExitCode)
	b, err := os.ReadFile(ledger)
	require.NoError(t, err)
	require.Equal(t, "run\n", string(b))

	// A restarted server hands the next job to the agent that runs.
	_, st, out := run(t, c2, dir, "next", n1, "echo next")
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "next\n", out)
}

// TestStopAgentJob: stopping a job on an agent ends its process tree and
// records its exit; the agent goes on.
func TestStopAgentJob(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	ctx := context.Background()
	pidFile := filepath.Join(dir, "bg.pid")
	h, err := c.Start(ctx, backend.ProcessSpec{ID: "long", Node: n1, Dir: dir, Env: []string{"PATH=/usr/bin:/bin"},
		Command: "sleep 300 & echo $! > " + pidFile + "; wait", Log: filepath.Join(dir, "long.log")})
	require.NoError(t, err)
	var bg int
	for bg == 0 {
		b, _ := os.ReadFile(pidFile)
		bg, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, c.Stop(ctx, h, 5*time.Second))
	st, err := c.State(ctx, h)
	require.NoError(t, err)
	require.False(t, st.Running)
	require.Equal(t, "SIGTERM", st.Signal)
	deadline := time.Now().Add(30 * time.Second)
	for alive(bg) { // SIGKILL is delivered asynchronously
		require.True(t, time.Now().Before(deadline), "the job's child %d still runs", bg)
		time.Sleep(time.Millisecond)
	}
	_, _, ok := c.agentPID(n1)
	require.True(t, ok, "the agent survives its job's stop")
	_, st, _ = run(t, c, dir, "after", n1, "true")
	require.Equal(t, 0, st.ExitCode)
}

func alive(pid int) bool {
	_, state, err := procStat(pid)
	return err == nil && state != "Z" && state != "X"
}

// TestBusyAgentFallsBack: a second process on a node whose agent is busy
// (several processes per node) runs under its own supervisor, at the same
// time.
func TestBusyAgentFallsBack(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	ctx := context.Background()
	gate := filepath.Join(dir, "gate")
	h1, err := c.Start(ctx, backend.ProcessSpec{ID: "r0", Node: n1, Dir: dir, Env: []string{"PATH=/usr/bin:/bin"},
		Command: "while [ ! -f " + gate + " ]; do sleep 0.01; done", Log: filepath.Join(dir, "r0.log")})
	require.NoError(t, err)
	_, st, out := run(t, c, dir, "r1", n1, "echo second; touch "+gate)
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "second\n", out)
	require.NoError(t, c.Wait(ctx, h1))
	st, err = c.State(ctx, h1)
	require.NoError(t, err)
	require.Equal(t, 0, st.ExitCode)
}

// TestCommandSupervisorGrace: a process without a node (a job on an
// instance) runs under the command supervisor, which outlives a SIGTERM
// so that the job's own shutdown and exit code are kept.
func TestCommandSupervisorGrace(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	ctx := context.Background()
	ready := filepath.Join(dir, "ready")
	h, err := c.Start(ctx, backend.ProcessSpec{ID: "graceful", Dir: dir, Env: []string{"PATH=/usr/bin:/bin"},
		Command: "trap 'echo saving; exit 7' TERM; touch " + ready + "; while true; do sleep 0.01; done", Log: filepath.Join(dir, "g.log")})
	require.NoError(t, err)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, c.Stop(ctx, h, 10*time.Second))
	st, err := c.State(ctx, h)
	require.NoError(t, err)
	require.Equal(t, 7, st.ExitCode, "the job's own exit code after its graceful shutdown")
	out, _ := os.ReadFile(filepath.Join(dir, "g.log"))
	require.Contains(t, string(out), "saving")
}

// TestAgentReadsCurrentPastLeftovers: current is overwritten in place, so
// a shorter run directory leaves the end of a longer one behind it; the
// agent and agentBusy read only the first line.
func TestAgentReadsCurrentPastLeftovers(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	_, st, out := run(t, c, dir, "a-process-with-a-rather-long-identifier", n1, "echo long")
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "long\n", out)
	h, st, out := run(t, c, dir, "p", n1, "echo short")
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "short\n", out)
	b, err := os.ReadFile(filepath.Join(c.nodeDir(n1), agentCurrent))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), h.RunDir+"\n"), "%q", b)
	require.False(t, c.agentBusy(n1))
}

// TestAgentResendsAfterCrash: a process whose pid file was written by a
// server that stopped before waking the agent is woken by the next Start,
// and runs once.
func TestAgentResendsAfterCrash(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	ledger := filepath.Join(dir, "ledger")
	run(t, c, dir, "before", n1, "true") // current names another run
	// What startOnAgent writes before it wakes the agent.
	runDir := c.procDir("crashed")
	require.NoError(t, os.MkdirAll(runDir, 0o755))
	script, ok := jobScript(runDir, dir, filepath.Join(dir, "crashed.log"), []string{"PATH=/usr/bin:/bin"}, "echo run >> "+ledger)
	require.True(t, ok)
	require.NoError(t, os.WriteFile(filepath.Join(runDir, "job.sh"), []byte(script), 0o600))
	pid, ticks, alive := c.agentPID(n1)
	require.True(t, alive)
	require.NoError(t, os.WriteFile(filepath.Join(runDir, pidFile), []byte(fmt.Sprintf("%d %d", pid, ticks)), 0o644))

	c2 := NewCluster(c.Dir, backend.Resources{})
	_, st, _ := run(t, c2, dir, "crashed", n1, "echo run >> "+ledger)
	require.Equal(t, 0, st.ExitCode)
	b, err := os.ReadFile(ledger)
	require.NoError(t, err)
	require.Equal(t, "run\n", string(b))
}

// TestOldAgentIsReplaced: an idle agent of an earlier version (it reads
// run directories from cmd.fifo) is replaced by one that speaks the
// current protocol, which runs the job.
func TestOldAgentIsReplaced(t *testing.T) {
	t.Parallel()
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	nd := c.nodeDir(n1)
	require.NoError(t, os.MkdirAll(nd, 0o755))
	require.NoError(t, syscall.Mkfifo(filepath.Join(nd, oldAgentFIFO), 0o600))
	old := exec.Command("/bin/bash", "-c", `exec 3<>"$1"; while IFS= read -r -u 3 r; do :; done`, "old-agent", filepath.Join(nd, oldAgentFIFO))
	old.Env = []string{AgentEnv + "=" + nd}
	require.NoError(t, old.Start())
	t.Cleanup(func() { _ = old.Process.Kill(); _ = old.Wait() })
	ticks, err := procStartTicks(old.Process.Pid)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(nd, agentPIDFile), []byte(fmt.Sprintf("%d %d", old.Process.Pid, ticks)), 0o644))

	_, st, out := run(t, c, dir, "p1", n1, "echo new")
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "new\n", out)
	pid, _, ok := c.agentPID(n1)
	require.True(t, ok)
	require.NotEqual(t, old.Process.Pid, pid, "a new agent runs the node's jobs")
	_, err = os.Stat(filepath.Join(nd, oldAgentFIFO))
	require.True(t, os.IsNotExist(err))
}

// TestAgentLocale: an agent starts with the server's locale; a job whose
// environment has no such variable does not see the agent's.
func TestAgentLocale(t *testing.T) {
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("LC_ALL", "")
	os.Unsetenv("LC_ALL")
	c, dir := newTestCluster(t)
	n1 := nodeID(t)
	startNode(t, c, n1)
	_, st, out := run(t, c, dir, "nolang", n1, `echo "[${LANG-unset}]"`)
	require.Equal(t, 0, st.ExitCode)
	require.Equal(t, "[unset]\n", out)
	ctx := context.Background()
	log := filepath.Join(dir, "logs", "lang.txt")
	h, err := c.Start(ctx, backend.ProcessSpec{ID: "lang", Node: n1, Command: `echo "[$LANG]"`, Dir: dir,
		Env: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}, Log: log})
	require.NoError(t, err)
	require.NoError(t, c.Wait(ctx, h))
	out2, _ := os.ReadFile(log)
	require.Equal(t, "[C.UTF-8]\n", string(out2))
}

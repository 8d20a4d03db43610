package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A node agent is a node's long-lived bash: it runs the node's jobs, one
// at a time, each in a subshell of its own, and records their exit codes
// where a supervisor would (child.pid, exit.json in the process's run
// directory), so that OpenProc, Exit, Wait and Kill work as for any
// supervised process. Starting a program costs several milliseconds of CPU
// on a small virtual machine; a job run by the agent costs a fork, which
// is most of what separates a node from hundreds of jobs a second.
//
// The agent lives in the node's cgroup, in a session of its own, and
// survives restarts of mlw server like any supervisor. The server writes
// the run directory of the job to start to nodes/<id>/current and then a
// newline to the agent's FIFO (nodes/<id>/wake.fifo), which the agent
// holds open for reading and writing, so that writers never block and it
// never sees an end of file. On each newline, and once when it starts
// (a wake-up sent while it was starting may reach no one), the agent reads
// current; a job it already started (child.pid exists) is skipped, which
// makes waking it twice harmless. (Bash reads a FIFO one byte at a time, with a few
// system calls per byte: a newline costs far less than a path.)
//
// The job runs in a foreground subshell of its own process group (set -m),
// so that killing a job's group leaves the agent alone. The subshell
// records its own pid; the agent waits for it in the foreground, which
// keeps the agent from touching its memory while the job's copy of it is
// alive (each page either writes would be copied first: on a small
// virtual machine, a few milliseconds per job). The agent is started with
// the server's locale, which a job usually has too, so that the job's
// shell finds it loaded instead of reading the locale files again.
//
// The job itself is a script the server writes (job.sh): exports of its
// environment, its working directory, its log, then its command, sourced
// by the subshell. A job the agent cannot take (the agent runs another one:
// several processes per node; an environment variable whose name is not a
// shell identifier) runs under its own supervisor instead.
//
// An agent whose node directory is gone (the node was removed, or the whole
// data directory: a test's) notices within a minute and exits.
const agentScript = `d=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 1; shift; n=$((n-1)); done
echo $$ > "$d/agent.shell"
set -m
exec 3<>"$d/wake.fifo"
__mlw_w=
while :; do
  # The first time round, current is read at once: a job may have been
  # sent while this agent was starting.
  if [ -n "$__mlw_w" ] && ! IFS= read -r -t 60 -u 3 __mlw_r; then
    [ -p "$d/wake.fifo" ] || exit 0
    continue
  fi
  __mlw_w=1
  IFS= read -r __mlw_r < "$d/current" || continue
  [ -f "$__mlw_r/job.sh" ] || continue
  [ -e "$__mlw_r/child.pid" ] && continue
  ( echo $BASHPID > "$__mlw_r/child.pid" || exit 126; unset ` + AgentEnv + `; . "$__mlw_r/job.sh" )
  printf '{"code":%d}\n' $? > "$__mlw_r/exit.json"
done
`

// AgentEnv is in every node agent's environment, naming its node
// directory (under the server's data directory), so that agents can be
// found by the data directory they serve (tests clean up with it).
const AgentEnv = "MLW_NODE_AGENT"

const (
	agentFIFO    = "wake.fifo"
	agentPIDFile = "agent.pid"
	agentCurrent = "current" // the run directory of the last job sent
	// oldAgentFIFO is the FIFO of agents of earlier versions, which read
	// run directories from it: such an agent is replaced when idle.
	oldAgentFIFO = "cmd.fifo"
)

// agentLocale are the locale variables an agent takes from the server (see
// above); a job without one unsets it (jobScript).
var agentLocale = []string{"LANG", "LC_ALL", "LC_CTYPE"}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Cluster) nodeDir(id string) string { return filepath.Join(c.Dir, "nodes", id) }

// agentPID returns the node agent's pid if it runs.
func (c *Cluster) agentPID(node string) (int, uint64, bool) {
	b, err := os.ReadFile(filepath.Join(c.nodeDir(node), agentPIDFile))
	if err != nil {
		return 0, 0, false
	}
	var pid int
	var ticks uint64
	if _, err := fmt.Sscan(string(b), &pid, &ticks); err != nil {
		return 0, 0, false
	}
	t, state, err := procStat(pid)
	if err != nil || state == "Z" || state == "X" || t != ticks {
		return 0, 0, false
	}
	return pid, ticks, true
}

// agentKeyFile names the sandbox plan an agent runs (empty: none).
const agentKeyFile = "agent.key"

func planKey(plan *sandboxPlan) string {
	if plan == nil {
		return ""
	}
	return plan.key
}

// startAgent starts a node's agent (in the node's cgroup, when it has one),
// in plan's sandbox as its user when plan is set.
func (c *Cluster) startAgent(node string, plan *sandboxPlan) error {
	if _, err := os.Stat("/bin/bash"); err != nil {
		return err
	}
	dir := c.nodeDir(node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fifo := filepath.Join(dir, agentFIFO)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("node agent fifo: %w", err)
	}
	var procs []string
	if v, _ := CgroupSupport(); v != 0 {
		if cg := OpenCgroup(nodeCgroupName(node)); isDir(cg.dirs[0]) {
			procs = cg.ProcsFiles()
		}
	}
	// The new agent writes its shell's pid; an earlier agent's (perhaps
	// of another user) must not stand in for it.
	_ = os.Remove(filepath.Join(dir, "agent.shell"))
	args := append([]string{"-c", agentScript, "mlw-node-agent", dir, strconv.Itoa(len(procs))}, procs...)
	cmd := exec.Command("/bin/bash", args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", AgentEnv + "=" + dir}
	if plan != nil {
		// Root joins the node's cgroups, then the agent runs sandboxed as
		// the user: it can neither leave them nor change their limits.
		for _, f := range []string{dir, fifo} {
			if err := os.Chown(f, plan.uid, plan.uid); err != nil {
				return fmt.Errorf("node agent: %w", err)
			}
		}
		argv := []string{"-c", `for f in $MLW_CGROUP_PROCS; do echo $$ > "$f" || exit 1; done; exec "$@"`, "mlw-node-agent"}
		argv = append(append(argv, plan.prefix...), "/bin/bash", "-c", agentScript, "mlw-node-agent", dir, "0")
		env := cmd.Env
		cmd = exec.Command("/bin/sh", argv...)
		cmd.Env = append(env, "HOME=/tmp", "MLW_CGROUP_PROCS="+strings.Join(procs, " "))
	}
	cmd.Dir = dir
	for _, k := range agentLocale {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node agent: %w", err)
	}
	ticks, _ := procStartTicks(cmd.Process.Pid)
	if err := writeAtomic(filepath.Join(dir, agentKeyFile), []byte(planKey(plan))); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	if err := writeAtomic(filepath.Join(dir, agentPIDFile), []byte(fmt.Sprintf("%d %d", cmd.Process.Pid, ticks))); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	// This server reaps it while it lives; after a restart it is init's.
	logPath := logf.Name()
	go func() {
		err := cmd.Wait()
		// An agent ends when it is replaced or its node goes; say how,
		// for whoever wonders where a job went.
		if f, ferr := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
			fmt.Fprintf(f, "mlw: node agent %d ended: %v\n", cmd.Process.Pid, err)
			f.Close()
		}
	}()
	return nil
}

// agentProcs are the node agent's processes: the one started (its pid
// file), and the shell itself when the agent runs in a sandbox (bubblewrap
// keeps a parent process outside it).
func (c *Cluster) agentProcs(node string) []int {
	pid, _, alive := c.agentPID(node)
	if !alive {
		return nil
	}
	out := []int{pid}
	if b, err := os.ReadFile(filepath.Join(c.nodeDir(node), "agent.shell")); err == nil {
		// Only while it is this node's agent (a pid may be reused).
		sh, err := strconv.Atoi(strings.TrimSpace(string(b)))
		env, _ := os.ReadFile("/proc/" + strconv.Itoa(sh) + "/environ")
		if err == nil && sh != pid && strings.Contains("\x00"+string(env)+"\x00", "\x00"+AgentEnv+"="+c.nodeDir(node)+"\x00") {
			out = append(out, sh)
		}
	}
	return out
}

// agentBusy reports whether the node agent still runs a job.
func (c *Cluster) agentBusy(node string) bool {
	b, err := os.ReadFile(filepath.Join(c.nodeDir(node), agentCurrent))
	if err != nil {
		return false
	}
	run, _, _ := strings.Cut(string(b), "\n")
	if run == "" {
		return false
	}
	if _, err := os.Stat(filepath.Join(run, exitFile)); err == nil {
		return false
	}
	if _, err := os.Stat(run); errors.Is(err, os.ErrNotExist) {
		return false // released
	}
	return true
}

// jobScript is what the agent sources to run one job.
func jobScript(runDir, dir, log string, env []string, command string) (string, bool) {
	var b strings.Builder
	have := map[string]bool{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if !shellName.MatchString(k) {
			return "", false
		}
		have[k] = true
		b.WriteString("export " + k + "=" + shellQuote(v) + "\n")
	}
	for _, k := range agentLocale {
		if !have[k] {
			b.WriteString("unset " + k + "\n")
		}
	}
	b.WriteString("export " + TagEnv + "=" + shellQuote(runDir) + "\n")
	b.WriteString("cd " + shellQuote(dir) + " || exit 126\n")
	if log != "" {
		b.WriteString("exec >>" + shellQuote(log) + " 2>&1 || exit 126\n")
	}
	b.WriteString(command + "\n")
	return b.String(), true
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startOnAgent hands a job's command to its node's agent. ok is false when
// the agent cannot take it (the caller starts it under a supervisor).
func (c *Cluster) startOnAgent(node, runDir, dir, log string, env []string, command string, plan *sandboxPlan) (*Proc, bool, error) {
	script, ok := jobScript(runDir, dir, log, env, command)
	if !ok || c.agentBusy(node) {
		return nil, false, nil
	}
	pid, ticks, alive := c.ensureAgent(node, plan)
	if !alive {
		return nil, false, nil
	}
	if err := os.Mkdir(runDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			return nil, false, err
		}
	}
	if plan != nil {
		// The agent, as the user, records the job's pid and exit here.
		if err := os.Chmod(runDir, 0o700); err != nil {
			return nil, false, err
		}
		if err := os.Chown(runDir, plan.uid, plan.uid); err != nil {
			return nil, false, err
		}
	}
	if log != "" {
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			return nil, false, err
		}
	}
	if err := os.WriteFile(filepath.Join(runDir, "job.sh"), []byte(script), 0o600); err != nil {
		return nil, false, err
	}
	if plan != nil {
		if err := os.Chown(filepath.Join(runDir, "job.sh"), plan.uid, plan.uid); err != nil {
			return nil, false, err
		}
	}
	// The pid file first: once it exists the process counts as started,
	// and a restart sends the line again (the agent skips duplicates).
	// (Plain writes: a torn one reads as absent, which only means
	// starting again, which the agent turns into nothing.)
	if err := os.WriteFile(filepath.Join(runDir, pidFile), []byte(fmt.Sprintf("%d %d", pid, ticks)), 0o644); err != nil {
		return nil, false, err
	}
	if err := c.setCurrent(node, runDir); err != nil {
		return nil, false, err
	}
	if err := c.sendToAgent(node, runDir); err != nil {
		// The agent is gone: run the job under its own supervisor.
		_ = os.Remove(filepath.Join(runDir, pidFile))
		_ = os.Remove(filepath.Join(c.nodeDir(node), agentCurrent))
		return nil, false, nil
	}
	return &Proc{RunDir: runDir, PID: pid, startTicks: ticks}, true, nil
}

// setCurrent records the run directory of the job the agent is to start:
// the first line of nodes/<id>/current. The file is overwritten in place,
// not truncated (a file truncated and written again is flushed to disk when
// it is closed, which costs more than the rest of handing over a job);
// whatever follows the first line is left over from longer paths.
func (c *Cluster) setCurrent(node, runDir string) error {
	f, err := os.OpenFile(filepath.Join(c.nodeDir(node), agentCurrent), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(runDir+"\n"), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ensureAgent returns the node agent, starting it when it is not running.
// An agent of an earlier version (another protocol) is replaced when it is
// idle; while it runs a job, the node's jobs run under supervisors.
func (c *Cluster) ensureAgent(node string, plan *sandboxPlan) (int, uint64, bool) {
	pid, ticks, alive := c.agentPID(node)
	if alive {
		key, _ := os.ReadFile(filepath.Join(c.nodeDir(node), agentKeyFile))
		if _, err := os.Stat(filepath.Join(c.nodeDir(node), agentFIFO)); err == nil && string(key) == planKey(plan) {
			return pid, ticks, true
		}
		// An agent of another user (or sandbox, or version) is replaced
		// when it is idle.
		if c.agentBusy(node) {
			return 0, 0, false
		}
		c.killAgent(node)
		_ = os.Remove(filepath.Join(c.nodeDir(node), oldAgentFIFO))
	}
	if err := c.startAgent(node, plan); err != nil {
		return 0, 0, false
	}
	return c.agentPID(node)
}

// sendToAgent wakes the node agent to start the job in current. An agent
// that has just started may not have opened its FIFO yet (ENXIO): it is
// given a moment, as long as it lives.
func (c *Cluster) sendToAgent(node, runDir string) error {
	path := filepath.Join(c.nodeDir(node), agentFIFO)
	for i := 0; ; i++ {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if errors.Is(err, syscall.ENXIO) && i < 2000 {
			if _, _, alive := c.agentPID(node); alive {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("node agent of %s: %w", node, err)
		}
		_, err = f.WriteString("\n")
		f.Close()
		return err
	}
}

// resendToAgent sends again a job whose pid file exists but which the
// agent has not started (a crash between the two). When the agent was
// replaced meanwhile (an agent of an earlier version), the pid file is
// brought up to date first, so that the job is waited for on the agent
// that runs it.
func (c *Cluster) resendToAgent(node, runDir string, plan *sandboxPlan) {
	if _, err := os.Stat(filepath.Join(runDir, "job.sh")); err != nil {
		return
	}
	if _, err := os.Stat(filepath.Join(runDir, childFile)); err == nil {
		return
	}
	pid, ticks, alive := c.ensureAgent(node, plan)
	if !alive {
		return
	}
	if p, err := OpenProc(runDir); err == nil && (p.PID != pid || p.startTicks != ticks) {
		if err := writeAtomic(filepath.Join(runDir, pidFile), []byte(fmt.Sprintf("%d %d", pid, ticks))); err != nil {
			return
		}
	}
	if err := c.setCurrent(node, runDir); err == nil {
		_ = c.sendToAgent(node, runDir)
	}
}

// stopAgent ends a node's agent (its node is going away).
func (c *Cluster) stopAgent(node string) {
	c.killAgent(node)
	_ = os.RemoveAll(c.nodeDir(node))
}

// killAgent ends a node's agent: every one of its processes, so that no
// shell of a replaced agent goes on reading the node's FIFO.
func (c *Cluster) killAgent(node string) {
	procs := c.agentProcs(node)
	for _, pid := range procs {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// A sandboxed agent's shell is not the process started; whatever in
	// the node's cgroup carries the node's agent tag is an agent.
	if v, _ := CgroupSupport(); v != 0 {
		tag := "\x00" + AgentEnv + "=" + c.nodeDir(node) + "\x00"
		for _, pid := range OpenCgroup(nodeCgroupName(node)).PIDs() {
			if env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ"); err == nil && strings.Contains("\x00"+string(env)+"\x00", tag) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				procs = append(procs, pid)
			}
		}
	}
	// Until they are gone they hold the FIFO open, and a wake-up written
	// for the next agent would reach them (and be lost with them).
	for i := 0; i < 500; i++ {
		alive := false
		for _, pid := range procs {
			if _, state, err := procStat(pid); err == nil && state != "Z" && state != "X" {
				alive = true
			}
		}
		if !alive {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

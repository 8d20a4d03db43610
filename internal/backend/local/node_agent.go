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
// survives restarts of mlw server like any supervisor. It reads the run
// directories of jobs to start from a FIFO (nodes/<id>/cmd.fifo) that it
// holds open for reading and writing, so that writers never block and it
// never sees an end of file; a line it already started (child.pid exists)
// is skipped, which makes sending a job twice harmless. Jobs run in their
// own process group (set -m), so that killing a job's group leaves the
// agent alone.
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
set -m
exec 3<>"$d/cmd.fifo"
while :; do
  if ! IFS= read -r -t 60 -u 3 __mlw_r; then
    [ -p "$d/cmd.fifo" ] || exit 0
    continue
  fi
  [ -e "$__mlw_r/child.pid" ] && continue
  ( unset ` + AgentEnv + `; . "$__mlw_r/job.sh" ) &
  echo $! > "$__mlw_r/child.pid"
  wait $!
  printf '{"code":%d}\n' $? > "$__mlw_r/exit.json"
done
`

// AgentEnv is in every node agent's environment, naming its node
// directory (under the server's data directory), so that agents can be
// found by the data directory they serve (tests clean up with it).
const AgentEnv = "MLW_NODE_AGENT"

const (
	agentFIFO    = "cmd.fifo"
	agentPIDFile = "agent.pid"
	agentCurrent = "current" // the run directory of the last job sent
)

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

// startAgent starts a node's agent (in the node's cgroup, when it has one).
func (c *Cluster) startAgent(node string) error {
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
	args := append([]string{"-c", agentScript, "mlw-node-agent", dir, strconv.Itoa(len(procs))}, procs...)
	cmd := exec.Command("/bin/bash", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", AgentEnv + "=" + dir}
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
	if err := writeAtomic(filepath.Join(dir, agentPIDFile), []byte(fmt.Sprintf("%d %d", cmd.Process.Pid, ticks))); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	// This server reaps it while it lives; after a restart it is init's.
	go func() { _ = cmd.Wait() }()
	return nil
}

// agentBusy reports whether the node agent still runs a job.
func (c *Cluster) agentBusy(node string) bool {
	b, err := os.ReadFile(filepath.Join(c.nodeDir(node), agentCurrent))
	if err != nil {
		return false
	}
	run := strings.TrimSpace(string(b))
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
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if !shellName.MatchString(k) {
			return "", false
		}
		b.WriteString("export " + k + "=" + shellQuote(v) + "\n")
	}
	b.WriteString("export " + TagEnv + "=" + shellQuote(runDir) + "\n")
	b.WriteString("cd " + shellQuote(dir) + " || exit 126\n")
	if log != "" {
		b.WriteString("exec >>" + shellQuote(log) + " 2>&1\n")
	}
	b.WriteString(command + "\n")
	return b.String(), true
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startOnAgent hands a job's command to its node's agent. ok is false when
// the agent cannot take it (the caller starts it under a supervisor).
func (c *Cluster) startOnAgent(node, runDir, dir, log string, env []string, command string) (*Proc, bool, error) {
	script, ok := jobScript(runDir, dir, log, env, command)
	if !ok || c.agentBusy(node) {
		return nil, false, nil
	}
	pid, ticks, alive := c.agentPID(node)
	if !alive {
		if err := c.startAgent(node); err != nil {
			return nil, false, nil
		}
		if pid, ticks, alive = c.agentPID(node); !alive {
			return nil, false, nil
		}
	}
	if err := os.Mkdir(runDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if err := os.MkdirAll(runDir, 0o755); err != nil {
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
	// The pid file first: once it exists the process counts as started,
	// and a restart sends the line again (the agent skips duplicates).
	// (Plain writes: a torn one reads as absent, which only means
	// starting again, which the agent turns into nothing.)
	if err := os.WriteFile(filepath.Join(runDir, pidFile), []byte(fmt.Sprintf("%d %d", pid, ticks)), 0o644); err != nil {
		return nil, false, err
	}
	if err := os.WriteFile(filepath.Join(c.nodeDir(node), agentCurrent), []byte(runDir), 0o644); err != nil {
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

// sendToAgent writes a run directory to the node agent's FIFO. An agent
// that has just started may not have opened it yet (ENXIO): it is given a
// moment, as long as it lives.
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
		_, err = f.WriteString(runDir + "\n")
		f.Close()
		return err
	}
}

// resendToAgent sends again a job whose pid file exists but which the
// agent has not started (a crash between the two).
func (c *Cluster) resendToAgent(node, runDir string) {
	if _, err := os.Stat(filepath.Join(runDir, "job.sh")); err != nil {
		return
	}
	if _, err := os.Stat(filepath.Join(runDir, childFile)); err == nil {
		return
	}
	if _, _, alive := c.agentPID(node); alive {
		_ = c.sendToAgent(node, runDir)
	}
}

// stopAgent ends a node's agent (its node is going away).
func (c *Cluster) stopAgent(node string) {
	if pid, _, alive := c.agentPID(node); alive {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.RemoveAll(c.nodeDir(node))
}

// Package local is the embedded backend: compute instances, cluster nodes
// and jobs as processes on this machine. This file holds the supervised
// process, the unit everything else is built from: a process tree that
// outlives `mlw server` (so a restart loses no work), whose exit status is
// recorded on disk by a small supervisor, and which can be killed as a whole.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ShimArg is the hidden first argument that makes the mlw binary act as a
// process supervisor. main (and TestMain of packages that spawn) calls
// MaybeRunShim first thing.
const ShimArg = "__mlw-supervise"

// ProcSpec describes a supervised process.
type ProcSpec struct {
	// RunDir holds the supervisor's files (spec, pid, exit record). It must
	// be unique per process and survive restarts.
	RunDir string   `json:"runDir"`
	Argv   []string `json:"argv"`
	Dir    string   `json:"dir"`
	Env    []string `json:"env"`
	// Stdout and Stderr are files appended to; empty means /dev/null. The
	// same path for both interleaves them.
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// Cgroup, when set, is joined by the supervisor before the process
	// starts, so that every descendant is inside it.
	CgroupProcs []string `json:"cgroupProcs,omitempty"`
	// UID and GID, when non-zero, are the credentials of the process.
	UID uint32 `json:"uid,omitempty"`
	GID uint32 `json:"gid,omitempty"`
	// InnerSession says that the command starts the real process in a
	// session of its own (nsenter forking into a PID namespace, whose
	// child runs setsid): child.pid then names that session's leader, so
	// that signals reach the real process tree and not the command, which
	// must outlive it to pass its exit status on.
	InnerSession bool `json:"innerSession,omitempty"`
}

// ExitStatus is what the supervisor records when the process ends.
type ExitStatus struct {
	Code       int       `json:"code"`
	Signal     string    `json:"signal,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Error is set when the process could not be started at all.
	Error string `json:"error,omitempty"`
}

// Proc is a handle on a supervised process. It is reconstructed from its
// RunDir after a server restart (OpenProc).
type Proc struct {
	RunDir string
	// PID of the supervisor; the process itself is its child in its own
	// process group.
	PID        int
	startTicks uint64
	done       chan struct{}
}

const (
	specFile  = "spec.json"
	pidFile   = "supervisor.pid"
	childFile = "child.pid"
	exitFile  = "exit.json"
)

// Spawn starts a supervised process. The supervisor is the mlw binary
// itself (os.Executable) in a new session, detached from the server.
func Spawn(spec ProcSpec) (*Proc, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("spawn: empty command")
	}
	if err := os.MkdirAll(spec.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("spawn: %w", err)
	}
	_ = os.Remove(filepath.Join(spec.RunDir, exitFile))
	b, _ := json.Marshal(spec)
	if err := writeAtomic(filepath.Join(spec.RunDir, specFile), b); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn: find own binary: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(spec.RunDir, "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(self, ShimArg, spec.RunDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return runSupervisor(cmd, spec.RunDir)
}

// runSupervisor starts a supervisor process and records its pid (with
// its start time, which tells it from a later process of the same pid) in
// runDir.
func runSupervisor(cmd *exec.Cmd, runDir string) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("spawn supervisor: %w", err)
	}
	p := &Proc{RunDir: runDir, PID: cmd.Process.Pid, done: make(chan struct{})}
	p.startTicks, _ = procStartTicks(p.PID)
	if err := writeAtomic(filepath.Join(runDir, pidFile), []byte(fmt.Sprintf("%d %d", p.PID, p.startTicks))); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	// While this server lives it is the supervisor's parent: reap it and
	// learn of the exit at once. After a restart, Done polls instead.
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// OpenProc reattaches to a supervised process from its RunDir.
func OpenProc(runDir string) (*Proc, error) {
	b, err := os.ReadFile(filepath.Join(runDir, pidFile))
	if err != nil {
		return nil, fmt.Errorf("reattach %s: %w", runDir, err)
	}
	var p Proc
	if _, err := fmt.Sscan(string(b), &p.PID, &p.startTicks); err != nil {
		return nil, fmt.Errorf("reattach %s: bad pid file: %w", runDir, err)
	}
	p.RunDir = runDir
	return &p, nil
}

// Exit returns the exit record once the process has ended. When the
// supervisor is gone without a record (it was killed), it reports a lost
// process with code -1.
func (p *Proc) Exit() (*ExitStatus, bool) {
	if st, ok := readExit(p.RunDir); ok {
		return st, true
	}
	if p.supervisorAlive() {
		return nil, false
	}
	// The supervisor may have written the record between our two checks.
	if st, ok := readExit(p.RunDir); ok {
		return st, true
	}
	return &ExitStatus{Code: -1, Error: "the process supervisor ended without recording an exit status (it was killed)", FinishedAt: time.Now().UTC()}, true
}

func readExit(dir string) (*ExitStatus, bool) {
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil {
		return nil, false
	}
	var st ExitStatus
	if json.Unmarshal(b, &st) != nil {
		return nil, false
	}
	return &st, true
}

// Running reports whether the process has not ended yet.
func (p *Proc) Running() bool {
	_, done := p.Exit()
	return !done
}

// Wait blocks until the process ends or ctx is done.
func (p *Proc) Wait(ctx context.Context) (*ExitStatus, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, ok := p.Exit(); ok {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.doneChan():
		case <-tick.C:
		}
	}
}

func (p *Proc) doneChan() <-chan struct{} {
	if p.done == nil {
		return nil
	}
	return p.done
}

// ChildPID returns the pid of the supervised process (0 before it starts).
func (p *Proc) ChildPID() int {
	b, err := os.ReadFile(filepath.Join(p.RunDir, childFile))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// Signal sends sig to the process's whole process group.
func (p *Proc) Signal(sig syscall.Signal) {
	if c := p.ChildPID(); c > 0 {
		_ = syscall.Kill(-c, sig)
	}
}

// Kill ends the process tree: SIGTERM to its process group, then, after
// grace, SIGKILL to the group and to every process still carrying its run
// id (processes that left the group by starting their own session). cg,
// when not nil, is emptied too.
func (p *Proc) Kill(ctx context.Context, grace time.Duration, cg *Cgroup) *ExitStatus {
	p.Signal(syscall.SIGTERM)
	wctx, cancel := context.WithTimeout(ctx, grace)
	st, _ := p.Wait(wctx)
	cancel()
	p.Signal(syscall.SIGKILL)
	KillTagged(p.RunDir)
	if cg != nil {
		cg.Kill()
	}
	if st == nil {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, _ = p.Wait(wctx)
		cancel()
	}
	if st == nil {
		st = &ExitStatus{Code: -1, Signal: "SIGKILL", FinishedAt: time.Now().UTC()}
	}
	return st
}

func (p *Proc) supervisorAlive() bool {
	ticks, state, err := procStat(p.PID)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return p.startTicks == 0 || ticks == p.startTicks
}

// TagEnv is the variable every supervised process carries; its value is
// the run directory. Descendants inherit it, which lets Kill find
// processes that escaped the process group.
const TagEnv = "MLW_RUN_DIR"

// KillTagged sends SIGKILL to every process whose environment carries
// TagEnv=runDir. It reads /proc, so it needs to run as the same user as
// the processes or as root.
func KillTagged(runDir string) int {
	return forTagged(runDir, func(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// TaggedPIDs lists the live processes carrying TagEnv=runDir.
func TaggedPIDs(runDir string) []int {
	var out []int
	forTagged(runDir, func(pid int) { out = append(out, pid) })
	return out
}

func forTagged(runDir string, f func(pid int)) int {
	return forEnvTag(TagEnv+"="+runDir, f)
}

// forEnvTag calls f for every live process (not this one) whose
// environment holds the variable kv ("NAME=value").
func forEnvTag(kv string, f func(pid int)) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	tag := "\x00" + kv + "\x00"
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains("\x00"+string(env)+"\x00", tag) {
			continue
		}
		if _, state, err := procStat(pid); err == nil && state != "Z" {
			f(pid)
			n++
		}
	}
	return n
}

// procStat returns a process's start time (clock ticks since boot) and
// state letter from /proc/<pid>/stat.
func procStat(pid int) (uint64, string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, "", errors.New("bad stat")
	}
	ticks, _ := strconv.ParseUint(f[19], 10, 64)
	return ticks, f[0], nil
}

// procPgrp returns a process's process group from /proc/<pid>/stat.
func procPgrp(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, errors.New("bad stat")
	}
	return strconv.Atoi(f[2])
}

func procStartTicks(pid int) (uint64, error) {
	t, _, err := procStat(pid)
	return t, err
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

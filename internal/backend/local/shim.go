package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// MaybeRunShim turns this process into a supervisor when it was started
// as one (argv[1] == ShimArg); it then never returns.
func MaybeRunShim() {
	if len(os.Args) == 3 && os.Args[1] == ShimArg {
		os.Exit(runShim(os.Args[2]))
	}
}

// runShim starts the process described in runDir/spec.json, waits for it
// and records its exit status. It forwards SIGTERM and SIGINT to the
// process group and ignores SIGHUP, so that it outlives the server.
func runShim(runDir string) int {
	signal.Ignore(syscall.SIGHUP)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "mlw supervisor:", err)
		now := time.Now().UTC()
		writeExit(runDir, &ExitStatus{Code: 127, Error: err.Error(), StartedAt: now, FinishedAt: now})
		return 1
	}
	b, err := os.ReadFile(filepath.Join(runDir, specFile))
	if err != nil {
		return fail(err)
	}
	var spec ProcSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail(err)
	}
	if err := joinCgroup(spec.CgroupProcs, os.Getpid()); err != nil {
		return fail(err)
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = append(append([]string{}, spec.Env...), TagEnv+"="+runDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if spec.UID != 0 || spec.GID != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: spec.UID, Gid: spec.GID}
	}
	open := func(path string) (*os.File, error) {
		if path == "" {
			return nil, nil
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	stdout, err := open(spec.Stdout)
	if err != nil {
		return fail(err)
	}
	stderr := stdout
	if spec.Stderr != spec.Stdout {
		if stderr, err = open(spec.Stderr); err != nil {
			return fail(err)
		}
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	started := time.Now().UTC()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("command not found: %s", spec.Argv[0])
		}
		return fail(err)
	}
	group := cmd.Process.Pid
	if spec.InnerSession {
		if leader := sessionLeaderBelow(group); leader > 0 {
			group = leader
		}
	}
	_ = writeAtomic(filepath.Join(runDir, childFile), []byte(strconv.Itoa(group)))
	go func() {
		for s := range sigs {
			_ = syscall.Kill(-group, s.(syscall.Signal))
		}
	}()
	err = cmd.Wait()
	st := &ExitStatus{StartedAt: started, FinishedAt: time.Now().UTC()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Named as State names signals ("SIGTERM", not Go's
			// "terminated"): users read it in a job's error.
			st.Signal = signalName(int(ws.Signal()))
			st.Code = 128 + int(ws.Signal())
		} else {
			st.Code = ee.ExitCode()
		}
	default:
		st.Code = -1
		st.Error = err.Error()
	}
	writeExit(runDir, st)
	return 0
}

func writeExit(runDir string, st *ExitStatus) {
	b, _ := json.Marshal(st)
	_ = writeAtomic(filepath.Join(runDir, exitFile), b)
}

// sessionLeaderBelow waits for a descendant of pid that leads a process
// group of its own (see ProcSpec.InnerSession) and returns it, or 0 when
// pid ends first or none shows up within 10 seconds.
func sessionLeaderBelow(pid int) int {
	deadline := time.Now().Add(10 * time.Second)
	for delay := 100 * time.Microsecond; time.Now().Before(deadline); delay = min(2*delay, 10*time.Millisecond) {
		queue := children(pid)
		for len(queue) > 0 && len(queue) < 256 {
			d := queue[0]
			queue = queue[1:]
			if pgrp, err := procPgrp(d); err == nil && pgrp == d {
				return d
			}
			queue = append(queue, children(d)...)
		}
		if _, state, err := procStat(pid); err != nil || state == "Z" || state == "X" {
			return 0
		}
		time.Sleep(delay)
	}
	return 0
}

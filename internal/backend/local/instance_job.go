package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mlw-project/mlw/internal/backend"
)

// StartProcess implements backend.Instances: a job's process inside a
// running instance.
//
// With namespaces, the supervisor (the mlw shim, in the instance's cgroup)
// runs nsenter into the instance's namespaces; nsenter's child changes to
// the job's directory (bound into the sandbox at the same path when the
// instance booted, see backend.InstanceSpec.Binds), starts a session of its
// own (setsid) and runs the command with bash. The supervisor records that
// session's leader as the process group to signal, so that a cancel's
// SIGTERM reaches the job's process tree while nsenter waits for it and
// passes its exit status on. Without namespaces the command runs on the
// host, in the instance's cgroup, with its environment.
//
// The supervisor files live with the cluster's job processes (Procs), so
// that its State, Wait, Stop and Release work on the handle, also after a
// restart of mlw server; every process carries the instance's tag, so that
// stopping or deleting the instance ends it too.
func (l *Instances) StartProcess(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle, p backend.ProcessSpec) (backend.ProcessHandle, error) {
	c := l.Procs
	if c == nil {
		return backend.ProcessHandle{}, errors.New("this backend runs no job processes inside instances")
	}
	if err := checkProcID(p.ID); err != nil {
		return backend.ProcessHandle{}, err
	}
	ph := backend.ProcessHandle{ID: p.ID, RunDir: c.procDir(p.ID)}
	if c.known(p.ID) {
		return ph, nil
	}
	if _, err := os.Stat(filepath.Join(ph.RunDir, pidFile)); err == nil {
		// Started before (by a server that has since restarted).
		if proc, err := OpenProc(ph.RunDir); err == nil {
			c.remember(p.ID, proc)
			return ph, nil
		}
	}
	h, ok := decodeHandle(raw)
	if !ok || !l.initRunning(h) {
		return ph, backend.ErrNotRunning
	}
	if h.Sandbox && !underAny(p.Dir, h.Binds) {
		return ph, fmt.Errorf("the job's directory %s is not visible inside compute instance %s (it was started before it could run jobs there); restart the instance", p.Dir, spec.Name)
	}
	if h.UID > 0 && p.Sandbox != nil {
		// The job runs as the instance's user: what it writes is theirs.
		for _, w := range append([]string{p.Dir}, p.Sandbox.Writable...) {
			if err := os.MkdirAll(w, 0o755); err != nil {
				return ph, fmt.Errorf("start process %s: %w", p.ID, err)
			}
			if err := giveTree(w, h.UID); err != nil {
				return ph, fmt.Errorf("start process %s: %w", p.ID, err)
			}
		}
	}
	env := overlayEnv(l.env(spec, h, nil), p.Env)
	ps := ProcSpec{RunDir: ph.RunDir, Dir: p.Dir, Env: env, Stdout: p.Log, Stderr: p.Log, CgroupProcs: h.cgroup().ProcsFiles()}
	var proc *Proc
	var err error
	switch {
	case h.Sandbox:
		cmd := p.Argv
		if p.Command != "" {
			cmd = []string{"/bin/bash", "-c", p.Command}
		}
		setsid, lerr := exec.LookPath("setsid")
		if lerr != nil {
			return ph, fmt.Errorf("start process %s: %w", p.ID, lerr)
		}
		ps.Argv = l.enter(h, p.Dir, append([]string{setsid}, cmd...)...)
		ps.Dir = h.home() // nsenter's own directory on the host
		ps.InnerSession = true
		proc, err = Spawn(ps)
	case p.Command != "":
		proc, err = spawnCommand(ps, p.Command)
	default:
		ps.Argv = p.Argv
		proc, err = spawnLight(ps)
	}
	if err != nil {
		return ph, fmt.Errorf("start process %s: %w", p.ID, err)
	}
	c.remember(p.ID, proc)
	return ph, nil
}

// underAny reports whether path is one of dirs or below one.
func underAny(path string, dirs []string) bool {
	path = filepath.Clean(path)
	for _, d := range dirs {
		d = filepath.Clean(d)
		if path == d || strings.HasPrefix(path, d+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// overlayEnv returns base with the variables of over set (over wins).
func overlayEnv(base, over []string) []string {
	idx := make(map[string]int, len(base)+len(over))
	out := make([]string, 0, len(base)+len(over))
	for _, list := range [][]string{base, over} {
		for _, kv := range list {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

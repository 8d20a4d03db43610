package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
)

func jobCgroupName(id string) string { return "job-" + id }

// Start implements backend.Processes. A process whose supervisor
// directory already holds a pid file was started before (perhaps by a
// server that has since restarted): Start returns it instead of starting
// the command again.
func (c *Cluster) Start(ctx context.Context, spec backend.ProcessSpec) (backend.ProcessHandle, error) {
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/") || spec.ID == "." || spec.ID == ".." {
		return backend.ProcessHandle{}, fmt.Errorf("start process: bad id %q", spec.ID)
	}
	h := backend.ProcessHandle{ID: spec.ID, RunDir: c.procDir(spec.ID), Node: spec.Node}
	c.mu.Lock()
	_, known := c.procs[spec.ID]
	c.mu.Unlock()
	if known {
		return h, nil
	}
	if p, err := OpenProc(h.RunDir); err == nil {
		c.remember(spec.ID, p)
		return h, nil
	}
	var cgroupProcs []string
	switch {
	case spec.Node != "":
		if v, _ := CgroupSupport(); v != 0 {
			cg := OpenCgroup(nodeCgroupName(spec.Node))
			if isDir(cg.dirs[0]) {
				cgroupProcs = cg.ProcsFiles()
			}
		}
	case spec.Limits.MilliCPU > 0 || spec.Limits.MemoryBytes > 0:
		cg, _, err := NewCgroup(jobCgroupName(spec.ID), Limits{MilliCPU: spec.Limits.MilliCPU, MemoryBytes: spec.Limits.MemoryBytes})
		if err != nil {
			return h, fmt.Errorf("start process %s: %w", spec.ID, err)
		}
		cgroupProcs = cg.ProcsFiles()
	}
	p, err := Spawn(ProcSpec{RunDir: h.RunDir, Argv: spec.Argv, Dir: spec.Dir, Env: spec.Env,
		Stdout: spec.Log, Stderr: spec.Log, CgroupProcs: cgroupProcs})
	if err != nil {
		return h, fmt.Errorf("start process %s: %w", spec.ID, err)
	}
	c.remember(spec.ID, p)
	return h, nil
}

func (c *Cluster) remember(id string, p *Proc) {
	c.mu.Lock()
	c.procs[id] = p
	c.mu.Unlock()
}

// proc returns the handle of a process, reattaching from disk after a
// restart.
func (c *Cluster) proc(h backend.ProcessHandle) (*Proc, error) {
	c.mu.Lock()
	p := c.procs[h.ID]
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	dir := h.RunDir
	if dir == "" {
		dir = c.procDir(h.ID)
	}
	p, err := OpenProc(dir)
	if err != nil {
		return nil, err
	}
	c.remember(h.ID, p)
	return p, nil
}

// State implements backend.Processes. A process with no supervisor files
// at all was never started (or was released): it reports as lost.
func (c *Cluster) State(ctx context.Context, h backend.ProcessHandle) (backend.ProcessState, error) {
	p, err := c.proc(h)
	if errors.Is(err, os.ErrNotExist) {
		return backend.ProcessState{ExitCode: -1, Error: "the process is gone: its supervisor files were removed"}, nil
	}
	if err != nil {
		return backend.ProcessState{}, err
	}
	st, done := p.Exit()
	if !done {
		return backend.ProcessState{Running: true}, nil
	}
	return backend.ProcessState{ExitCode: st.Code, Signal: st.Signal, Error: st.Error, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt}, nil
}

// Wait implements backend.Processes.
func (c *Cluster) Wait(ctx context.Context, h backend.ProcessHandle) error {
	p, err := c.proc(h)
	if err != nil {
		return nil // nothing to wait for: State reports it lost
	}
	_, err = p.Wait(ctx)
	return err
}

// Stop implements backend.Processes: SIGTERM to the process group, SIGKILL
// after grace to the group and every process carrying its tag, and the
// process's own cgroup (jobs on instances) emptied.
func (c *Cluster) Stop(ctx context.Context, h backend.ProcessHandle, grace time.Duration) error {
	p, err := c.proc(h)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, done := p.Exit(); done {
		return nil // stragglers go in Release
	}
	var cg *Cgroup
	if v, _ := CgroupSupport(); v != 0 {
		if own := OpenCgroup(jobCgroupName(h.ID)); isDir(own.dirs[0]) {
			cg = own
		}
	}
	p.Kill(ctx, grace, cg)
	return nil
}

// Release implements backend.Processes. Processes the job left behind
// (started in the background, still running after the main process
// ended) are killed: with cgroups, everything left in the node's or the
// process's cgroup; without, every process carrying its tag.
func (c *Cluster) Release(ctx context.Context, h backend.ProcessHandle) error {
	c.mu.Lock()
	delete(c.procs, h.ID)
	c.mu.Unlock()
	dir := h.RunDir
	if dir == "" {
		dir = c.procDir(h.ID)
	}
	if v, _ := CgroupSupport(); v != 0 {
		if cg := OpenCgroup(jobCgroupName(h.ID)); isDir(cg.dirs[0]) {
			cg.Kill()
			_ = waitEmpty(ctx, cg)
			_ = cg.Remove()
		} else if h.Node != "" {
			if cg := OpenCgroup(nodeCgroupName(h.Node)); len(cg.PIDs()) > 0 {
				cg.Kill()
				_ = waitEmpty(ctx, cg)
			}
		}
	} else {
		KillTagged(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("release process %s: %w", h.ID, err)
	}
	return nil
}

// waitEmpty waits until a cgroup's processes are gone (after a kill, the
// kernel needs a moment to reap them).
func waitEmpty(ctx context.Context, cg *Cgroup) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(5 * time.Second)
	for len(cg.PIDs()) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("cgroup %s still has processes %v after SIGKILL", cg.Name, cg.PIDs())
		case <-t.C:
		}
	}
	return nil
}

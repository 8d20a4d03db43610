package fake

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
)

// Process is one fake process. It runs until the test calls Exit (or a
// Stop or StopNode ends it).
type Process struct {
	Spec     backend.ProcessSpec
	Starts   int // how many times Start was called for it
	running  bool
	stopped  bool
	code     int
	signal   string
	done     chan struct{}
	released bool
}

func (p *Process) finishLocked(code int, signal string) {
	if !p.running {
		return
	}
	p.running, p.code, p.signal = false, code, signal
	close(p.done)
}

// Start implements backend.Processes (idempotent by ID).
func (c *Cluster) Start(ctx context.Context, spec backend.ProcessSpec) (backend.ProcessHandle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.StartErr != nil {
		return backend.ProcessHandle{}, c.StartErr
	}
	if spec.Sandbox != nil && c.NoSandbox && !c.AllowUnsandboxed {
		return backend.ProcessHandle{}, fmt.Errorf("start process %s: %w", spec.ID, backend.ErrNoSandbox)
	}
	if p, ok := c.procs[spec.ID]; ok {
		p.Starts++
		return backend.ProcessHandle{ID: spec.ID, Node: spec.Node}, nil
	}
	c.procs[spec.ID] = &Process{Spec: spec, Starts: 1, running: true, done: make(chan struct{})}
	c.notifyLocked()
	return backend.ProcessHandle{ID: spec.ID, Node: spec.Node}, nil
}

// State implements backend.Processes.
func (c *Cluster) State(ctx context.Context, h backend.ProcessHandle) (backend.ProcessState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[h.ID]
	if !ok || p.released {
		// Released: forgotten, exit record included, as a real backend
		// forgets it (the test still finds it with Process).
		return backend.ProcessState{ExitCode: -1, Error: "the process is gone"}, nil
	}
	return backend.ProcessState{Running: p.running, ExitCode: p.code, Signal: p.signal}, nil
}

// Wait implements backend.Processes.
func (c *Cluster) Wait(ctx context.Context, h backend.ProcessHandle) error {
	c.mu.Lock()
	p, ok := c.procs[h.ID]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop implements backend.Processes.
func (c *Cluster) Stop(ctx context.Context, h backend.ProcessHandle, grace time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.procs[h.ID]; ok && p.running {
		p.stopped = true
		p.finishLocked(143, "SIGTERM")
		c.notifyLocked()
	}
	return nil
}

// Sweep implements backend.Processes (a fake process leaves nothing
// behind).
func (c *Cluster) Sweep(ctx context.Context, h backend.ProcessHandle) error { return nil }

// Release implements backend.Processes.
func (c *Cluster) Release(ctx context.Context, h backend.ProcessHandle) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.procs[h.ID]; ok {
		p.released = true
	}
	return nil
}

// Exit ends a running process with code; it reports whether it ran.
func (c *Cluster) Exit(id string, code int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[id]
	if !ok || !p.running {
		return false
	}
	p.finishLocked(code, "")
	c.notifyLocked()
	return true
}

// Kill ends a running process as SIGKILL would (exit code 137); it
// reports whether it ran.
func (c *Cluster) Kill(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[id]
	if !ok || !p.running {
		return false
	}
	p.finishLocked(137, "SIGKILL")
	c.notifyLocked()
	return true
}

// Process returns a copy of the process with this id, if it was started.
func (c *Cluster) Process(id string) (Process, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[id]
	if !ok {
		return Process{}, false
	}
	return *p, true
}

// Running lists the ids of running processes, sorted.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id, p := range c.procs {
		if p.running {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Stopped reports whether the process was ended by Stop.
func (p Process) Stopped() bool { return p.stopped }

// Released reports whether Release was called for the process.
func (p Process) Released() bool { return p.released }

// IsRunning reports whether the process runs.
func (p Process) IsRunning() bool { return p.running }

package backendtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// placement is where a process runs: on a node (whose budget applies) or
// on its own, with limits of its own (a job without a cluster node). A
// backend may run the two differently (the local backend: a node's agent,
// or a supervisor of the process's own), so most tests run in both.
type placement struct {
	name string
	node bool
}

var placements = []placement{{"OnNode", true}, {"OwnLimits", false}}

// forPlacements runs a test once per placement.
func forPlacements(t *testing.T, factory Factory, test func(t *testing.T, b *bundle, p placement)) {
	for _, p := range placements {
		t.Run(p.name, func(t *testing.T) {
			b := setup(t, factory, Options{})
			if b.h.Processes == nil {
				t.Skip("the backend runs no processes")
			}
			if p.node && b.h.Nodes == nil {
				t.Skip("the backend has no nodes")
			}
			test(t, b, p)
		})
	}
}

// startNode starts a node with a modest budget and stops it when the test
// ends.
func (b *bundle) startNode(limits backend.Resources) (backend.NodeSpec, backend.NodeInfo) {
	b.t.Helper()
	spec := backend.NodeSpec{ID: newID("bt-node"), Limits: limits}
	info, err := b.h.Nodes.StartNode(b.ctx, spec)
	require.NoError(b.t, err)
	b.t.Cleanup(func() { _ = b.h.Nodes.StopNode(context.Background(), spec.ID) })
	return spec, info
}

var nodeLimits = backend.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}

// procSpec is a process running command in a directory of its own, with
// a log of its own, placed as p says (a node is started for it).
func (b *bundle) procSpec(p placement, command string) backend.ProcessSpec {
	b.t.Helper()
	id := newID("bt-proc")
	spec := backend.ProcessSpec{ID: id, Command: command, Dir: filepath.Join(b.work, id),
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello"}, Log: filepath.Join(b.work, "logs", id, "std_log.txt")}
	require.NoError(b.t, os.MkdirAll(spec.Dir, 0o755))
	if p.node {
		node, _ := b.startNode(nodeLimits)
		spec.Node = node.ID
	} else {
		spec.Limits = nodeLimits
	}
	return spec
}

// start starts a process; it is stopped when the test ends.
func (b *bundle) start(spec backend.ProcessSpec) backend.ProcessHandle {
	b.t.Helper()
	h, err := b.h.Processes.Start(b.ctx, spec)
	require.NoError(b.t, err)
	require.Equal(b.t, spec.ID, h.ID)
	b.stopAtEnd(h)
	return h
}

// stopAtEnd ends and releases a process when the test ends, before its
// directories go, through the backend of the server running then (see
// restart), as a reconciler finishing a job does.
func (b *bundle) stopAtEnd(h backend.ProcessHandle) {
	b.t.Cleanup(func() {
		ctx := context.Background()
		_ = b.h.Processes.Stop(ctx, h, 0)
		_ = b.h.Processes.Sweep(ctx, h)
		_ = b.h.Processes.Release(ctx, h)
	})
}

// exit makes a started process end with code: on a backend that runs
// commands its command does that by itself; a simulated one is told to.
func (b *bundle) exit(h backend.ProcessHandle, code int) {
	b.t.Helper()
	if !b.h.Caps.RunsCommands {
		require.True(b.t, b.h.Sim.ExitFunc(h.ID, code), "the simulated process %s does not run", h.ID)
	}
}

// wait waits for a process to end and returns its state.
func (b *bundle) wait(ps backend.Processes, h backend.ProcessHandle) backend.ProcessState {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deadline)
	defer cancel()
	require.NoError(b.t, ps.Wait(ctx, h), "process %s did not end", h.ID)
	st, err := ps.State(b.ctx, h)
	require.NoError(b.t, err)
	require.False(b.t, st.Running, "Wait returned, but State says process %s runs", h.ID)
	return st
}

// requireRunning checks that a process runs.
func (b *bundle) requireRunning(ps backend.Processes, h backend.ProcessHandle) {
	b.t.Helper()
	st, err := ps.State(b.ctx, h)
	require.NoError(b.t, err)
	require.True(b.t, st.Running, "process %s should run: %+v", h.ID, st)
}

// gated is a command that runs until the file gate exists, then exits
// with code; it appends a line to the file ledger when it starts.
func gated(dir string, code int) string {
	return `echo run >> ` + filepath.Join(dir, "ledger") + `; while [ ! -f ` + filepath.Join(dir, "gate") + ` ]; do sleep 0.02; done; exit ` + itoa(code)
}

// awaitMark waits until a process's command has written the file mark
// (ledger, ready) in dir: it runs. A simulated process runs at once.
func (b *bundle) awaitMark(dir, mark string) {
	b.t.Helper()
	if b.h.Caps.RunsCommands {
		b.awaitFile(filepath.Join(dir, mark))
	}
}

// requireRanOnce checks that a gated command started once only.
func (b *bundle) requireRanOnce(dir string) {
	b.t.Helper()
	if b.h.Caps.RunsCommands {
		require.Equal(b.t, "run\n", readFile(filepath.Join(dir, "ledger")), "the command ran once")
	}
}

// openGate lets a gated process end (or ends a simulated one).
func (b *bundle) openGate(spec backend.ProcessSpec, h backend.ProcessHandle, code int) {
	b.t.Helper()
	if b.h.Caps.RunsCommands {
		require.NoError(b.t, os.WriteFile(filepath.Join(spec.Dir, "gate"), nil, 0o644))
		return
	}
	b.exit(h, code)
}

// RunProcesses checks backend.Processes: starting, inspecting, logs, exit
// codes, idempotent starts, waiting, stopping, sweeping and releasing.
func RunProcesses(t *testing.T, factory Factory) {
	runStart(t, factory)
	runIdempotence(t, factory)
	runStops(t, factory)
	runCleanups(t, factory)
	t.Run("Sandbox", func(t *testing.T) { runProcessSandbox(t, factory) })
	t.Run("Reattach", func(t *testing.T) { runProcessReattach(t, factory) })
}

// runStart checks starting and inspecting processes, their environment,
// directory and logs, and their exit codes.
func runStart(t *testing.T, factory Factory) {
	t.Run("StartAndInspect", func(t *testing.T) {
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			spec := b.procSpec(p, "")
			spec.Command = gated(spec.Dir, 0)
			h := b.start(spec)
			b.requireRunning(b.h.Processes, h)
			b.awaitMark(spec.Dir, "ledger")
			b.requireRunning(b.h.Processes, h)
			b.openGate(spec, h, 0)
			st := b.wait(b.h.Processes, h)
			require.Equal(t, 0, st.ExitCode)
			require.Empty(t, st.Error)
			require.Empty(t, st.Signal)
		})
	})

	t.Run("EnvironmentAndDirectory", func(t *testing.T) {
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needCommands()
			spec := b.procSpec(p, `echo "$GREETING from $PWD"; echo made > here.txt`)
			st := b.wait(b.h.Processes, b.start(spec))
			require.Equal(t, 0, st.ExitCode)
			require.Equal(t, "hello from "+spec.Dir+"\n", readFile(spec.Log))
			require.Equal(t, "made\n", readFile(filepath.Join(spec.Dir, "here.txt")))
		})
	})

	t.Run("Logs", func(t *testing.T) {
		// Stdout and stderr go to the log, whose directory is created;
		// a second process with the same log appends to it.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needCommands()
			spec := b.procSpec(p, `echo out; echo err >&2; echo out-again`)
			_, err := os.Stat(filepath.Dir(spec.Log))
			require.ErrorIs(t, err, os.ErrNotExist)
			require.Equal(t, 0, b.wait(b.h.Processes, b.start(spec)).ExitCode)
			require.Equal(t, "out\nerr\nout-again\n", readFile(spec.Log))
			next := spec
			next.ID, next.Command = newID("bt-proc"), "echo second"
			require.Equal(t, 0, b.wait(b.h.Processes, b.start(next)).ExitCode)
			require.Equal(t, "out\nerr\nout-again\nsecond\n", readFile(spec.Log))
		})
	})

	t.Run("ExitCodes", func(t *testing.T) {
		rows := []struct {
			name    string
			command string
			argv    []string
			code    int
			signal  string
		}{
			{name: "Zero", command: "true", code: 0},
			{name: "NonZero", command: "echo failing; exit 3", code: 3},
			{name: "CommandNotFound", command: "mlw-backendtest-no-such-command", code: 127},
			{name: "KilledBySignal", command: `sh -c 'kill -TERM $$'`, code: 128 + 15, signal: "SIGTERM"},
			{name: "Argv", argv: []string{"/bin/sh", "-c", "exit 5"}, code: 5},
			{name: "ArgvNotFound", argv: []string{"/mlw-backendtest/no/such/binary"}, code: 127},
		}
		for _, row := range rows {
			t.Run(row.name, func(t *testing.T) {
				forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
					spec := b.procSpec(p, row.command)
					spec.Argv = row.argv
					h := b.start(spec)
					b.exit(h, row.code)
					st := b.wait(b.h.Processes, h)
					require.Equal(t, row.code, st.ExitCode, "%+v\nlog: %s", st, readFile(spec.Log))
					if row.signal != "" && b.h.Caps.RunsCommands {
						require.Equal(t, row.signal, st.Signal)
					}
				})
			})
		}
	})
}

// runIdempotence checks that a process id runs once, and that waiting
// for a process is bounded by its context.
func runIdempotence(t *testing.T, factory Factory) {
	t.Run("IdempotentStart", func(t *testing.T) {
		// Starting the same id again, while it runs or after it ended,
		// returns the first process and never runs the command again.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			spec := b.procSpec(p, "")
			spec.Command = gated(spec.Dir, 4)
			h := b.start(spec)
			again, err := b.h.Processes.Start(b.ctx, spec)
			require.NoError(t, err)
			require.Equal(t, h, again)
			b.requireRunning(b.h.Processes, h)
			b.openGate(spec, h, 4)
			require.Equal(t, 4, b.wait(b.h.Processes, h).ExitCode)
			again, err = b.h.Processes.Start(b.ctx, spec)
			require.NoError(t, err)
			require.Equal(t, h, again)
			st := b.wait(b.h.Processes, h)
			require.Equal(t, 4, st.ExitCode, "the ended process, not a new run")
			b.requireRanOnce(spec.Dir)
		})
	})

	t.Run("WaitEndsWithItsContext", func(t *testing.T) {
		// A reconciler bounds its wait (a job's timeout): Wait returns
		// the context's error and the process goes on.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			spec := b.procSpec(p, "")
			spec.Command = gated(spec.Dir, 0)
			h := b.start(spec)
			ctx, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, b.h.Processes.Wait(ctx, h), context.DeadlineExceeded)
			b.requireRunning(b.h.Processes, h)
			b.openGate(spec, h, 0)
			require.Equal(t, 0, b.wait(b.h.Processes, h).ExitCode)
		})
	})
}

// runCleanups checks Sweep and Release, and processes never started.
func runCleanups(t *testing.T, factory Factory) {
	t.Run("SweepKeepsTheExitRecord", func(t *testing.T) {
		// What an ended process left running goes with Sweep; its exit
		// status stays until Release.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			spec := b.procSpec(p, "")
			bg := filepath.Join(spec.Dir, "bg.pid")
			spec.Command = `sh -c 'echo $$ > ` + bg + `.tmp; mv ` + bg + `.tmp ` + bg + `; exec sleep 300' &
while [ ! -f ` + bg + ` ]; do sleep 0.01; done; exit 2`
			h := b.start(spec)
			b.exit(h, 2)
			require.Equal(t, 2, b.wait(b.h.Processes, h).ExitCode)
			require.NoError(t, b.h.Processes.Sweep(b.ctx, h))
			if b.h.Caps.SameHost {
				pid := b.readPID(bg)
				b.await("the left-behind process "+itoa(pid)+" ends", func() bool { return !alive(pid) })
			}
			require.Equal(t, 2, b.wait(b.h.Processes, h).ExitCode)
		})
	})

	t.Run("ReleaseForgets", func(t *testing.T) {
		// After Release the process is unknown, as one never started.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			spec := b.procSpec(p, "exit 0")
			h := b.start(spec)
			b.exit(h, 0)
			require.Equal(t, 0, b.wait(b.h.Processes, h).ExitCode)
			require.NoError(t, b.h.Processes.Sweep(b.ctx, h))
			require.NoError(t, b.h.Processes.Release(b.ctx, h))
			b.requireUnknown(b.h.Processes, h)
			require.NoError(t, b.h.Processes.Release(b.ctx, h), "Release is idempotent")
		})
	})

	t.Run("UnknownProcess", func(t *testing.T) {
		b := setup(t, factory, Options{})
		if b.h.Processes == nil {
			t.Skip("the backend runs no processes")
		}
		h := backend.ProcessHandle{ID: newID("bt-never")}
		b.requireUnknown(b.h.Processes, h)
		require.NoError(t, b.h.Processes.Stop(b.ctx, h, time.Second))
		require.NoError(t, b.h.Processes.Release(b.ctx, h))
	})
}

// requireUnknown checks that a process is reported lost: not running,
// code -1, with an error saying why; Wait returns at once.
func (b *bundle) requireUnknown(ps backend.Processes, h backend.ProcessHandle) {
	b.t.Helper()
	st, err := ps.State(b.ctx, h)
	require.NoError(b.t, err)
	require.False(b.t, st.Running)
	require.Equal(b.t, -1, st.ExitCode, "%+v", st)
	require.NotEmpty(b.t, st.Error)
	ctx, cancel := context.WithTimeout(b.ctx, deadline)
	defer cancel()
	require.NoError(b.t, ps.Wait(ctx, h))
}

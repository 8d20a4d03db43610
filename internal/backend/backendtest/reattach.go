package backendtest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// needRestart skips a test of a backend that keeps nothing across a
// restart of the server.
func (b *bundle) needRestart() {
	b.t.Helper()
	if b.h.Restart == nil {
		b.t.Skip("the backend keeps nothing across a restart of mlw server")
	}
}

// restart replaces the bundle's backend by the one a restarted server
// builds over the same state, and returns it. The old one is not used
// again: its server is gone (what it cached in memory with it).
func (b *bundle) restart() *Harness {
	b.t.Helper()
	r := b.h.Restart(b.t)
	require.NotNil(b.t, r)
	b.h = r
	return r
}

// runProcessReattach checks that work survives a restart of the server:
// a new backend over the same state finds a running process, its exit
// status, and never starts it twice.
func runProcessReattach(t *testing.T, factory Factory) {
	t.Run("RunningProcess", func(t *testing.T) {
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needRestart()
			spec := b.procSpec(p, "")
			spec.Command = gated(spec.Dir, 6)
			h := b.start(spec)
			if b.h.Caps.RunsCommands {
				b.awaitFile(filepath.Join(spec.Dir, "ledger"))
			}
			r := b.restart()
			st, err := r.Processes.State(b.ctx, h)
			require.NoError(t, err)
			require.True(t, st.Running, "the restarted server finds the process running: %+v", st)
			if p.node {
				// A restarted cluster reconciler starts its nodes again.
				info, err := r.Nodes.StartNode(b.ctx, backend.NodeSpec{ID: spec.Node, Limits: nodeLimits})
				require.NoError(t, err)
				require.True(t, info.Enforced || info.Note != "")
			}
			again, err := r.Processes.Start(b.ctx, spec)
			require.NoError(t, err)
			require.Equal(t, h, again)
			b.openGate(spec, h, 6)
			require.Equal(t, 6, b.wait(r.Processes, h).ExitCode)
			if b.h.Caps.RunsCommands {
				require.Equal(t, "run\n", readFile(filepath.Join(spec.Dir, "ledger")), "the command ran once")
			}
		})
	})

	t.Run("EndedProcess", func(t *testing.T) {
		// A process that ended before the restart keeps its exit status
		// until it is released.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needRestart()
			spec := b.procSpec(p, "")
			spec.Command = "echo run >> " + filepath.Join(spec.Dir, "ledger") + "; exit 4"
			h := b.start(spec)
			b.exit(h, 4)
			require.Equal(t, 4, b.wait(b.h.Processes, h).ExitCode)
			r := b.restart()
			require.Equal(t, 4, b.wait(r.Processes, h).ExitCode)
			again, err := r.Processes.Start(b.ctx, spec)
			require.NoError(t, err)
			require.Equal(t, h, again)
			require.Equal(t, 4, b.wait(r.Processes, h).ExitCode)
			if b.h.Caps.RunsCommands {
				require.Equal(t, "run\n", readFile(filepath.Join(spec.Dir, "ledger")), "the command ran once")
			}
			require.NoError(t, r.Processes.Sweep(b.ctx, h))
			require.NoError(t, r.Processes.Release(b.ctx, h))
			b.requireUnknown(r.Processes, h)
		})
	})

	t.Run("Stop", func(t *testing.T) {
		// The restarted server can cancel what the old one started.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needRestart()
			spec := b.procSpec(p, "")
			spec.Command = "touch " + filepath.Join(spec.Dir, "ready") + "; sleep 300"
			h := b.start(spec)
			if b.h.Caps.RunsCommands {
				b.awaitFile(filepath.Join(spec.Dir, "ready"))
			}
			r := b.restart()
			require.NoError(t, r.Processes.Stop(b.ctx, h, deadline))
			st := b.wait(r.Processes, h)
			require.Equal(t, 128+15, st.ExitCode, "%+v", st)
			require.Equal(t, "SIGTERM", st.Signal)
		})
	})
}

// runInstanceReattach checks that an instance survives a restart of the
// server: the new backend finds it by its handle without booting it again
// (its jobs run on), and can stop it.
func runInstanceReattach(t *testing.T, factory Factory) {
	b := instances(t, factory, Options{})
	b.needRestart()
	spec := b.instanceSpec()
	h, _ := b.startInstance(spec)
	var p backend.ProcessSpec
	var ph backend.ProcessHandle
	if b.h.Processes != nil {
		p = b.instanceProc(spec, "")
		p.Command = gated(p.Dir, 0)
		ph = b.startInInstance(spec, h, p)
		if b.h.Caps.RunsCommands {
			b.awaitFile(filepath.Join(p.Dir, "ledger"))
		}
	}
	r := b.restart()
	require.True(t, r.Instances.Running(b.ctx, h))
	again, _, err := r.Instances.Start(b.ctx, spec, h)
	require.NoError(t, err)
	require.JSONEq(t, string(h), string(again), "the same instance, not a new boot")
	if r.Processes != nil {
		b.requireRunning(r.Processes, ph)
		same, err := r.Instances.StartProcess(b.ctx, spec, h, p)
		require.NoError(t, err)
		require.Equal(t, ph, same)
	}
	res, _ := b.runScript(spec, h, backend.ScriptSpec{Name: "startup", Inline: []byte("true")}, 0)
	require.Equal(t, 0, res.ExitCode, "the restarted server runs scripts in the instance")
	require.NoError(t, r.Instances.Stop(b.ctx, h))
	require.False(t, r.Instances.Running(b.ctx, h))
	if r.Processes != nil {
		st := b.wait(r.Processes, ph)
		require.True(t, st.ExitCode != 0 || st.Error != "", "%+v", st)
		if b.h.Caps.RunsCommands {
			require.Equal(t, "run\n", readFile(filepath.Join(p.Dir, "ledger")), "the job ran once")
		}
	}
}

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
	if b.h.RestartFunc == nil {
		b.t.Skip("the backend keeps nothing across a restart of mlw server")
	}
}

// restart replaces the bundle's backend by the one a restarted server
// builds over the same state, and returns it. The old one is not used
// again: its server is gone (what it cached in memory with it).
func (b *bundle) restart() *Harness {
	b.t.Helper()
	r := b.h.RestartFunc(b.t)
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
			b.checkReattachRunning(p, nil)
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
			b.requireRanOnce(spec.Dir)
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
			spec.Command = sleeper(spec.Dir)
			h := b.start(spec)
			b.awaitMark(spec.Dir, "ready")
			r := b.restart()
			b.stopWithTERM(r.Processes, h)
		})
	})
}

// checkReattachRunning checks that a restarted server finds a running
// process (sandboxed when sb is set), starts its node again, and neither
// runs it twice nor misses its exit.
func (b *bundle) checkReattachRunning(p placement, sb *backend.Sandbox) {
	b.t.Helper()
	spec := b.procSpec(p, "")
	spec.Command, spec.Sandbox = gated(spec.Dir, 6), sb
	h := b.start(spec)
	b.awaitMark(spec.Dir, "ledger")
	r := b.restart()
	b.requireRunning(r.Processes, h)
	if p.node {
		// A restarted cluster reconciler starts its nodes again.
		info, err := r.Nodes.StartNode(b.ctx, backend.NodeSpec{ID: spec.Node, Limits: nodeLimits})
		require.NoError(b.t, err)
		require.True(b.t, info.Enforced || info.Note != "")
		b.requireRunning(r.Processes, h)
	}
	again, err := r.Processes.Start(b.ctx, spec)
	require.NoError(b.t, err)
	require.Equal(b.t, h, again)
	b.openGate(spec, h, 6)
	require.Equal(b.t, 6, b.wait(r.Processes, h).ExitCode)
	b.requireRanOnce(spec.Dir)
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
		b.awaitMark(p.Dir, "ledger")
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
		b.requireRanOnce(p.Dir)
	}
}

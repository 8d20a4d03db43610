package backendtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// RunNodes checks backend.Nodes: capacity, idempotent starts and stops,
// limits reported truthfully (and enforced where claimed), and a node's
// stop ending its processes.
func RunNodes(t *testing.T, factory Factory) {
	nodes := func(t *testing.T) *bundle {
		b := setup(t, factory, Options{})
		if b.h.Nodes == nil {
			t.Skip("the backend has no nodes")
		}
		return b
	}

	t.Run("Capacity", func(t *testing.T) {
		b := nodes(t)
		c := b.h.Nodes.Capacity()
		require.Positive(t, c.MilliCPU)
		require.Positive(t, c.MemoryBytes)
		require.GreaterOrEqual(t, c.GPUs, 0)
	})

	t.Run("StartAndStopAreIdempotent", func(t *testing.T) {
		b := nodes(t)
		spec, info := b.startNode(nodeLimits)
		again, err := b.h.Nodes.StartNode(b.ctx, spec)
		require.NoError(t, err)
		require.Equal(t, info, again, "starting a started node returns its info again")
		require.NoError(t, b.h.Nodes.StopNode(b.ctx, spec.ID))
		require.NoError(t, b.h.Nodes.StopNode(b.ctx, spec.ID), "stopping a stopped node succeeds")
		require.NoError(t, b.h.Nodes.StopNode(b.ctx, newID("bt-never")), "stopping an unknown node succeeds")
		// A stopped node can be started again (a cluster scaling up).
		_, err = b.h.Nodes.StartNode(b.ctx, spec)
		require.NoError(t, err)
	})

	t.Run("LimitsReported", func(t *testing.T) {
		b := nodes(t)
		_, info := b.startNode(nodeLimits)
		if !info.Enforced {
			require.NotEmpty(t, info.Note, "a node whose budget is not enforced says why")
		}
		if b.h.Caps.LimitsEnforced {
			require.True(t, info.Enforced, "the backend can enforce budgets here, yet reports it does not: %s", info.Note)
		} else {
			require.False(t, info.Enforced, "the backend cannot enforce budgets here, yet reports it does")
		}
	})

	t.Run("StopEndsItsProcesses", func(t *testing.T) {
		b := nodes(t)
		if b.h.Processes == nil {
			t.Skip("the backend runs no processes")
		}
		spec := b.procSpec(placement{node: true}, "")
		spec.Command = gated(spec.Dir, 0)
		h := b.start(spec)
		b.awaitMark(spec.Dir, "ledger")
		require.NoError(t, b.h.Nodes.StopNode(b.ctx, spec.Node))
		st := b.wait(b.h.Processes, h)
		require.True(t, st.ExitCode != 0 || st.Error != "", "a process ended with its node is not a success: %+v", st)
	})

	t.Run("MemoryBudgetEnforced", func(t *testing.T) {
		// A process over its node's (or its own) memory budget does not
		// finish.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needCommands()
			if !b.h.Caps.LimitsEnforced {
				t.Skip("the backend cannot enforce budgets on this host")
			}
			limits := backend.Resources{MilliCPU: 1000, MemoryBytes: 64 << 20}
			spec := b.procSpec(placement{}, memoryHog)
			spec.Limits = limits
			if p.node {
				node, info := b.startNode(limits)
				require.True(t, info.Enforced, info.Note)
				spec.Node, spec.Limits = node.ID, backend.Resources{}
			}
			st := b.wait(b.h.Processes, b.start(spec))
			require.NotContains(t, readFile(spec.Log), "survived")
			require.True(t, st.ExitCode != 0 || st.Error != "", "%+v", st)
		})
	})
}

// memoryHog holds 400 MB in a shell variable.
const memoryHog = `x=$(head -c 400000000 /dev/zero | tr '\0' a); echo survived ${#x}`

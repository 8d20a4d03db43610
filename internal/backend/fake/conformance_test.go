package fake_test

import (
	"testing"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/backendtest"
	"github.com/mlw-project/mlw/internal/backend/fake"
)

// TestConformance runs the backend conformance suite against the fake:
// it runs no commands, so the suite checks its state machine (exit codes
// it is told to produce, idempotent starts, stops, releases, sandbox
// refusals) and skips what only real commands show.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T, opts backendtest.Options) *backendtest.Harness {
		c := fake.NewCluster(backend.Resources{MilliCPU: 8000, MemoryBytes: 32 << 30})
		c.NoSandbox, c.AllowUnsandboxed = opts.NoSandbox, opts.AllowUnsandboxed
		insts := fake.New()
		insts.Procs = c
		insts.NoSandbox, insts.AllowUnsandboxed = opts.NoSandbox, opts.AllowUnsandboxed
		return &backendtest.Harness{
			Nodes: c, Processes: c, Instances: insts,
			Caps: backendtest.Capabilities{Sandbox: !opts.NoSandbox, InstanceSandbox: !opts.NoSandbox, LimitsEnforced: true},
			Sim:  &backendtest.Simulator{ExitFunc: c.Exit, FinishScriptFunc: insts.Finish},
		}
	})
}

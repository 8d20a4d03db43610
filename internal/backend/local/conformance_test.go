package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/backendtest"
)

// TestConformance runs the backend conformance suite against the local
// backend as mlw server builds it: real processes, node agents, cgroups
// and bubblewrap wherever this host allows them.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T, opts backendtest.Options) *backendtest.Harness {
		data := t.TempDir()
		t.Cleanup(func() { cleanUp(filepath.Join(data, "cluster")) })
		return conformanceHarness(data, opts)
	})
}

// conformanceHarness is the local backend over the data directory data,
// configured as internal/server does; Restart builds it again over the
// same directory, as a restarted server would.
func conformanceHarness(data string, opts backendtest.Options) *backendtest.Harness {
	c := NewCluster(filepath.Join(data, "cluster"), backend.Resources{})
	c.HideDirs, c.SandboxedJobs, c.AllowUnsandboxed = []string{data}, true, opts.AllowUnsandboxed
	l := &Instances{Dir: filepath.Join(data, "instances"), HideDirs: []string{data}, Procs: c,
		NoSandbox: opts.NoSandbox, AllowUnsandboxed: opts.AllowUnsandboxed}
	jobs, _ := JobSandboxSupport()
	cgroups, _ := CgroupSupport()
	return &backendtest.Harness{
		Nodes: c, Processes: c, Instances: l,
		Caps: backendtest.Capabilities{RunsCommands: true, SameHost: true, Sandbox: jobs, InstanceSandbox: l.sandboxed(),
			LimitsEnforced: cgroups != 0, Shells: true},
		RestartFunc: func(t *testing.T) *backendtest.Harness { return conformanceHarness(data, opts) },
	}
}

// cleanUp ends whatever a test left on the cluster in dir: its nodes
// (agents and cgroups) and its processes.
func cleanUp(dir string) {
	c := NewCluster(dir, backend.Resources{})
	ents, _ := os.ReadDir(filepath.Join(dir, "nodes"))
	for _, e := range ents {
		_ = c.StopNode(context.Background(), e.Name())
	}
	ents, _ = os.ReadDir(filepath.Join(dir, "procs"))
	for _, e := range ents {
		KillTagged(filepath.Join(dir, "procs", e.Name()))
	}
}

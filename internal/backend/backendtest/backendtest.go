// Package backendtest is the conformance suite every compute backend
// passes (local, fake; Slurm and Kubernetes when they come), in the manner
// of River's riverdrivertest: one suite, split by topic, that a backend's
// own test calls with a Factory.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T, opts backendtest.Options) *backendtest.Harness { ... })
//	}
//
// The suite checks the contracts of the backend package (idempotent
// starts, exit codes, stops with a grace period, logs, reattaching after a
// restart of mlw server, limits and sandboxes reported truthfully) through
// the interfaces alone. A backend that simulates rather than runs commands
// (the fake) says so in its Capabilities and hands the suite a Simulator
// to end its processes and scripts; tests that need a real command are
// then skipped with the reason, never passed without checking anything.
//
// Only tests import this package (internal/deps_test.go).
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// Options are what a test asks of the backend a Factory makes.
type Options struct {
	// NoSandbox asks for a backend that cannot sandbox, as on a host
	// without root or bubblewrap, where the backend can be told so. The
	// factory reports what it made in Capabilities.Sandbox and
	// InstanceSandbox; a backend that cannot be told leaves them true and
	// the tests of the refusal are skipped.
	NoSandbox bool
	// AllowUnsandboxed is the server's --allow-unsandboxed-jobs: what asks
	// for a sandbox that cannot be had runs without one.
	AllowUnsandboxed bool
}

// Factory returns a fresh backend for one test, with its own state; it
// registers its own cleanup with t.
type Factory func(t *testing.T, opts Options) *Harness

// Harness is one backend under test.
type Harness struct {
	// Nodes, Processes and Instances are the backend's parts; a nil part
	// skips its tests. Processes also watches the processes that
	// Instances.StartProcess starts.
	Nodes     backend.Nodes
	Processes backend.Processes
	Instances backend.Instances
	Caps      Capabilities
	// Sim ends simulated processes and scripts; it is required when
	// Caps.RunsCommands is false.
	Sim *Simulator
	// RestartFunc returns the backend as a restarted mlw server builds it:
	// new values over the same state (directories, database) while what
	// runs keeps running. Nil: the backend keeps nothing across a restart,
	// and the reattach tests are skipped.
	RestartFunc func(t *testing.T) *Harness
	// TempDirFunc returns a directory that the backend's processes can
	// use for working directories, logs and file shares (t.TempDir when
	// nil; a cluster backend returns one on its shared file system).
	TempDirFunc func(t *testing.T) string
}

// Capabilities say what a backend does for real on this host.
type Capabilities struct {
	// RunsCommands: processes and scripts run the commands they are
	// given, so their output, exit codes, environment and files are real.
	// Without it the suite ends them through Harness.Sim.
	RunsCommands bool
	// SameHost: processes run on this machine, as this machine's
	// processes (the suite looks for descendants left after a stop by
	// their pids, and for the owner of files they wrote).
	SameHost bool
	// Sandbox: processes given a ProcessSpec.Sandbox run as its UID.
	// Without it, such a process is refused with backend.ErrNoSandbox,
	// or runs unsandboxed when Options.AllowUnsandboxed.
	Sandbox bool
	// InstanceSandbox: an instance's processes run as InstanceSpec.UID;
	// without it, Start refuses the instance with backend.ErrNoSandbox
	// unless Options.AllowUnsandboxed.
	InstanceSandbox bool
	// LimitsEnforced: the backend can enforce a node's memory budget here,
	// so NodeInfo.Enforced must say so (and, with RunsCommands, a process
	// over the budget must not finish).
	LimitsEnforced bool
	// Shells: Instances.Shell opens a terminal.
	Shells bool
}

// Simulator ends what a simulating backend runs, as the commands would.
type Simulator struct {
	// ExitFunc ends the running process id with code; it reports whether
	// the process ran.
	ExitFunc func(id string, code int) bool
	// FinishScriptFunc ends the latest run of an instance's script (by
	// ScriptSpec.Name) with code.
	FinishScriptFunc func(instanceID, name string, code int)
}

// Run runs the whole suite.
func Run(t *testing.T, factory Factory) {
	t.Run("Nodes", func(t *testing.T) { RunNodes(t, factory) })
	t.Run("Processes", func(t *testing.T) { RunProcesses(t, factory) })
	t.Run("Instances", func(t *testing.T) { RunInstances(t, factory) })
}

// bundle is what one test works with (River's test bundle).
type bundle struct {
	t   *testing.T
	ctx context.Context
	h   *Harness
	// work is a scratch directory the backend's processes see, mode 0755
	// so that sandboxed users may enter it.
	work string
}

// setup makes a parallel test's bundle over a fresh backend.
func setup(t *testing.T, factory Factory, opts Options) *bundle {
	t.Helper()
	t.Parallel()
	h := factory(t, opts)
	require.NotNil(t, h)
	if !h.Caps.RunsCommands {
		require.NotNil(t, h.Sim, "a backend that does not run commands needs a Simulator")
	}
	return &bundle{t: t, ctx: context.Background(), h: h, work: workDir(t, h)}
}

func workDir(t *testing.T, h *Harness) string {
	dir := ""
	if h.TempDirFunc != nil {
		dir = h.TempDirFunc(t)
	} else {
		dir = t.TempDir()
	}
	work := filepath.Join(dir, "work")
	require.NoError(t, os.MkdirAll(work, 0o755))
	require.NoError(t, os.Chmod(work, 0o755))
	return work
}

// needCommands skips a test that needs real commands.
func (b *bundle) needCommands() {
	b.t.Helper()
	if !b.h.Caps.RunsCommands {
		b.t.Skip("the backend simulates processes: no command runs, so nothing writes output, files or exit codes of its own")
	}
}

// needSameHost skips a test that looks at the backend's processes from
// this machine.
func (b *bundle) needSameHost() {
	b.t.Helper()
	b.needCommands()
	if !b.h.Caps.SameHost {
		b.t.Skip("the backend's processes do not run on this machine")
	}
}

// newID returns an id unique across tests and runs (cgroups and the like
// are host-wide), shaped like the ids reconcilers use.
func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// newGUID returns a random GUID (an instance's id).
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// newUID returns a sandbox uid of mlw's range, different per call.
func newUID() int {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return backend.UIDBase + 1000 + (int(b[0])<<16|int(b[1])<<8|int(b[2]))%1_000_000
}

// deadline is how long the suite waits for anything to happen: generous,
// since a loaded machine is slow, and never an assertion about speed.
const deadline = 60 * time.Second

// await waits until cond holds.
func (b *bundle) await(what string, cond func() bool) {
	b.t.Helper()
	end := time.Now().Add(deadline)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(end) {
			b.t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(delay)
	}
}

// awaitFile waits until path exists.
func (b *bundle) awaitFile(path string) {
	b.t.Helper()
	b.await(path+" appears", func() bool { _, err := os.Stat(path); return err == nil })
}

// readFile returns a file's contents ("" when it does not exist).
func readFile(path string) string {
	out, _ := os.ReadFile(path)
	return string(out)
}

// alive reports whether a process of this machine runs (a zombie does
// not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// readPID waits for a file holding a pid and returns the pid.
func (b *bundle) readPID(path string) int {
	b.t.Helper()
	var pid int
	b.await("a pid in "+path, func() bool {
		pid, _ = strconv.Atoi(strings.TrimSpace(readFile(path)))
		return pid > 0
	})
	return pid
}

func itoa(n int) string { return strconv.Itoa(n) }

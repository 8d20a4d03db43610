package backendtest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// instances makes the bundle of an instance test (skipped without
// Instances).
func instances(t *testing.T, factory Factory, opts Options) *bundle {
	t.Helper()
	b := setup(t, factory, opts)
	if b.h.Instances == nil {
		t.Skip("the backend runs no compute instances")
	}
	return b
}

// instanceSpec is a new instance with a file share, a jobs directory
// (bound inside), environment, files and a secret read from a file; it is
// deleted when the test ends.
func (b *bundle) instanceSpec() *backend.InstanceSpec {
	b.t.Helper()
	id := newGUID()
	name := "bt-" + id[:8]
	spec := &backend.InstanceSpec{ID: id, Key: "backendtest|" + name, Name: name, Workspace: "ws",
		MilliCPU: 1000, MemoryBytes: 1 << 30, SharePath: filepath.Join(b.work, "share-"+id[:8]),
		UID: newUID(), ShareGID: newUID(), Env: map[string]string{"CI_NAME": name},
		EnvFromFiles: map[string]string{"SECRET": ".mlw/secret"},
		Files:        map[string][]byte{"config.json": []byte(`{"workspace_name":"ws"}`), ".mlw/secret": []byte("s3cret\n")},
		Binds:        []backend.Bind{{Path: filepath.Join(b.work, "jobs-"+id[:8])}}}
	for _, d := range []string{spec.SharePath, spec.Binds[0].Path} {
		require.NoError(b.t, os.MkdirAll(d, 0o755))
	}
	require.NoError(b.t, os.WriteFile(filepath.Join(spec.SharePath, "shared.txt"), []byte("from-the-share"), 0o644))
	b.t.Cleanup(func() { _ = b.h.Instances.Delete(context.Background(), spec.ID, nil) })
	return spec
}

// startInstance starts an instance and checks what it reports.
func (b *bundle) startInstance(spec *backend.InstanceSpec) (backend.InstanceHandle, backend.InstanceInfo) {
	b.t.Helper()
	h, info, err := b.h.Instances.Start(b.ctx, spec, nil)
	require.NoError(b.t, err)
	require.NotEmpty(b.t, h)
	require.True(b.t, b.h.Instances.Running(b.ctx, h))
	return h, info
}

// instanceProc is a job's process in the instance's jobs directory, as
// its user when the instance is sandboxed.
func (b *bundle) instanceProc(spec *backend.InstanceSpec, command string) backend.ProcessSpec {
	b.t.Helper()
	id := newID("bt-job")
	dir := filepath.Join(spec.Binds[0].Path, id)
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	p := backend.ProcessSpec{ID: id, Command: command, Dir: dir, Log: filepath.Join(b.work, "logs", id, "std_log.txt"),
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "JOBVAR=from-the-job", "CI_NAME=overridden-by-the-job"}}
	if b.h.Caps.InstanceSandbox {
		p.Sandbox = &backend.Sandbox{UID: spec.UID, Writable: []string{dir}}
	}
	return p
}

// startInInstance starts a job's process inside an instance; it is
// stopped when the test ends.
func (b *bundle) startInInstance(spec *backend.InstanceSpec, h backend.InstanceHandle, p backend.ProcessSpec) backend.ProcessHandle {
	b.t.Helper()
	ph, err := b.h.Instances.StartProcess(b.ctx, spec, h, p)
	require.NoError(b.t, err)
	require.Equal(b.t, p.ID, ph.ID)
	b.stopAtEnd(ph)
	return ph
}

// RunInstances checks backend.Instances: the lifecycle (start, reattach
// by handle, stop, start again, delete), what an instance reports, its
// setup scripts' exit codes, output and timeouts, job processes inside
// it, shells, sandboxes and reattaching after a restart of the server.
func RunInstances(t *testing.T, factory Factory) {
	runInstanceLifecycle(t, factory)
	runScripts(t, factory)
	t.Run("Processes", func(t *testing.T) { runInstanceProcesses(t, factory) })
	runShell(t, factory)
	t.Run("Sandbox", func(t *testing.T) { runInstanceSandbox(t, factory) })
	t.Run("Reattach", func(t *testing.T) { runInstanceReattach(t, factory) })
}

// runInstanceLifecycle checks starting (again, by handle), stopping,
// deleting, what an instance reports and what its processes see.
func runInstanceLifecycle(t *testing.T, factory Factory) {
	t.Run("StartIsIdempotent", func(t *testing.T) {
		b := instances(t, factory, Options{})
		spec := b.instanceSpec()
		h, info := b.startInstance(spec)
		require.NotEmpty(t, info.Limits, "says how CPU and memory limits are applied, or why not")
		require.NotEmpty(t, info.Isolation, "says how the instance is isolated, or why not")
		require.NotEmpty(t, info.Network)
		again, _, err := b.h.Instances.Start(b.ctx, spec, h)
		require.NoError(t, err)
		require.JSONEq(t, string(h), string(again), "starting a running instance with its handle finds it again")
		require.True(t, b.h.Instances.Running(b.ctx, again))
		require.Equal(t, backend.Activity{}, b.h.Instances.Activity(b.ctx, spec, h), "no sessions yet")
	})

	t.Run("StopStartDelete", func(t *testing.T) {
		b := instances(t, factory, Options{})
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		res, _ := b.runScript(spec, h, backend.ScriptSpec{Name: "creation", Inline: []byte("echo kept > ~/kept.txt")}, 0)
		require.Equal(t, 0, res.ExitCode)
		require.NoError(t, b.h.Instances.Stop(b.ctx, h))
		require.False(t, b.h.Instances.Running(b.ctx, h))
		require.NoError(t, b.h.Instances.Stop(b.ctx, h), "stopping a stopped instance succeeds")
		h, _, err := b.h.Instances.Start(b.ctx, spec, h)
		require.NoError(t, err)
		require.True(t, b.h.Instances.Running(b.ctx, h))
		res, log := b.runScript(spec, h, backend.ScriptSpec{Name: "startup", Inline: []byte("cat ~/kept.txt")}, 0)
		require.Equal(t, 0, res.ExitCode)
		if b.h.Caps.RunsCommands {
			require.Equal(t, "kept\n", log, "the home outlives a stop")
		}
		require.NoError(t, b.h.Instances.Delete(b.ctx, spec.ID, h))
		require.False(t, b.h.Instances.Running(b.ctx, h))
		require.NoError(t, b.h.Instances.Delete(b.ctx, spec.ID, h), "deleting a deleted instance succeeds")
		require.False(t, b.h.Instances.Running(b.ctx, nil), "no handle, no instance")
	})

	t.Run("Environment", func(t *testing.T) {
		// The instance's processes see its environment, its secrets read
		// from files, the files written into its home and the file share.
		b := instances(t, factory, Options{})
		b.needCommands()
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		res, log := b.runScript(spec, h, backend.ScriptSpec{Name: "creation",
			Inline: []byte(`echo "ci=$CI_NAME secret=$SECRET"; cat ~/config.json; echo; cat ~/cloudfiles/code/shared.txt; echo; echo made > ~/cloudfiles/code/inside.txt`)}, 0)
		require.Equal(t, 0, res.ExitCode, log)
		require.Equal(t, "ci="+spec.Name+" secret=s3cret\n"+`{"workspace_name":"ws"}`+"\nfrom-the-share\n", log)
		require.Equal(t, "made\n", readFile(filepath.Join(spec.SharePath, "inside.txt")), "the share is the same files, not a copy")
	})

	t.Run("NotRunning", func(t *testing.T) {
		// A stopped instance runs nothing new.
		b := instances(t, factory, Options{})
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		require.NoError(t, b.h.Instances.Stop(b.ctx, h))
		_, err := b.h.Instances.StartScript(b.ctx, spec, h, backend.ScriptSpec{Name: "startup", Inline: []byte("true"),
			LogPath: filepath.Join(b.work, "logs", "startup.log")})
		require.ErrorIs(t, err, backend.ErrNotRunning)
		if b.h.Processes != nil {
			_, err = b.h.Instances.StartProcess(b.ctx, spec, h, b.instanceProc(spec, "true"))
			require.ErrorIs(t, err, backend.ErrNotRunning)
		}
		if b.h.Caps.Shells {
			_, err = b.h.Instances.Shell(b.ctx, spec, h, 80, 24)
			require.ErrorIs(t, err, backend.ErrNotRunning)
		}
	})

	t.Run("LimitsEnforced", func(t *testing.T) {
		// An instance's setup script over the instance's memory does not
		// finish.
		b := instances(t, factory, Options{})
		b.needCommands()
		if !b.h.Caps.LimitsEnforced {
			t.Skip("the backend cannot enforce limits on this host")
		}
		spec := b.instanceSpec()
		spec.MemoryBytes = 128 << 20
		h, _ := b.startInstance(spec)
		res, log := b.runScript(spec, h, backend.ScriptSpec{Name: "creation", Inline: []byte(memoryHog)}, 0)
		require.NotContains(t, log, "survived")
		require.NotEqual(t, 0, res.ExitCode)
	})
}

// runShell checks a terminal inside an instance and the activity it
// counts for.
func runShell(t *testing.T, factory Factory) {
	t.Run("Shell", func(t *testing.T) {
		b := instances(t, factory, Options{})
		if !b.h.Caps.Shells {
			t.Skip("the backend has no shells")
		}
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		sh, err := b.h.Instances.Shell(b.ctx, spec, h, 80, 24)
		require.NoError(t, err)
		out := collect(sh)
		_, err = sh.Write([]byte("echo \"$CI_NAME-$((6*7))\"\n"))
		require.NoError(t, err)
		b.await("the shell answers", func() bool { return strings.Contains(out.String(), spec.Name+"-42") })
		require.NoError(t, sh.Resize(100, 30))
		require.Equal(t, 1, b.h.Instances.Activity(b.ctx, spec, h).Terminals)
		require.NoError(t, sh.Close())
		b.await("the shell exits", func() bool {
			select {
			case <-sh.Done():
				return true
			default:
				return false
			}
		})
		b.await("the terminal is no longer counted", func() bool { return b.h.Instances.Activity(b.ctx, spec, h).Terminals == 0 })
	})
}

// runInstanceProcesses checks Instances.StartProcess and the job
// processes it starts, watched through the backend's Processes.
func runInstanceProcesses(t *testing.T, factory Factory) {
	procs := func(t *testing.T) (*bundle, *backend.InstanceSpec, backend.InstanceHandle) {
		b := instances(t, factory, Options{})
		if b.h.Processes == nil {
			t.Skip("the backend runs no job processes")
		}
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		return b, spec, h
	}

	t.Run("EnvironmentAndExitCode", func(t *testing.T) {
		// A job inside an instance sees the instance's environment
		// overlaid by its own, runs in its directory and logs from
		// outside the instance.
		b, spec, h := procs(t)
		p := b.instanceProc(spec, `echo "ci=$CI_NAME job=$JOBVAR secret=$SECRET pwd=$PWD"; cat ~/cloudfiles/code/shared.txt; echo; exit 3`)
		ph := b.startInInstance(spec, h, p)
		b.exit(ph, 3)
		require.Equal(t, 3, b.wait(b.h.Processes, ph).ExitCode)
		if b.h.Caps.RunsCommands {
			require.Equal(t, "ci=overridden-by-the-job job=from-the-job secret=s3cret pwd="+p.Dir+"\nfrom-the-share\n", readFile(p.Log))
		}
	})

	t.Run("IdempotentStart", func(t *testing.T) {
		b, spec, h := procs(t)
		p := b.instanceProc(spec, "")
		p.Command = gated(p.Dir, 0)
		ph := b.startInInstance(spec, h, p)
		again, err := b.h.Instances.StartProcess(b.ctx, spec, h, p)
		require.NoError(t, err)
		require.Equal(t, ph, again)
		b.openGate(p, ph, 0)
		require.Equal(t, 0, b.wait(b.h.Processes, ph).ExitCode)
		again, err = b.h.Instances.StartProcess(b.ctx, spec, h, p)
		require.NoError(t, err)
		require.Equal(t, ph, again)
		require.Equal(t, 0, b.wait(b.h.Processes, ph).ExitCode)
		b.requireRanOnce(p.Dir)
	})

	t.Run("Stop", func(t *testing.T) {
		// Stopping the job ends it with SIGTERM; the instance runs on.
		b, spec, h := procs(t)
		p := b.instanceProc(spec, "")
		p.Command = sleeper(p.Dir)
		ph := b.startInInstance(spec, h, p)
		b.awaitMark(p.Dir, "ready")
		b.stopWithTERM(b.h.Processes, ph)
		require.True(t, b.h.Instances.Running(b.ctx, h))
		require.NoError(t, b.h.Processes.Sweep(b.ctx, ph))
		require.NoError(t, b.h.Processes.Release(b.ctx, ph))
		b.requireUnknown(b.h.Processes, ph)
	})

	t.Run("EndWithTheInstance", func(t *testing.T) {
		// Stopping (or deleting) the instance ends its jobs.
		for _, del := range []bool{false, true} {
			t.Run(map[bool]string{false: "Stop", true: "Delete"}[del], func(t *testing.T) {
				b, spec, h := procs(t)
				p := b.instanceProc(spec, "")
				p.Command = gated(p.Dir, 0)
				ph := b.startInInstance(spec, h, p)
				b.awaitMark(p.Dir, "ledger")
				if del {
					require.NoError(t, b.h.Instances.Delete(b.ctx, spec.ID, h))
				} else {
					require.NoError(t, b.h.Instances.Stop(b.ctx, h))
				}
				st := b.wait(b.h.Processes, ph)
				require.True(t, st.ExitCode != 0 || st.Error != "", "a job ended with its instance is not a success: %+v", st)
			})
		}
	})
}

// output collects what a shell prints.
type output struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func collect(r io.Reader) *output {
	o := &output{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

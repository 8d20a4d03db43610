package backendtest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// runProcessSandbox checks ProcessSpec.Sandbox: a sandboxed process runs
// as its user where the backend says it can; elsewhere it is refused with
// ErrNoSandbox, unless the server allows unsandboxed processes.
func runProcessSandbox(t *testing.T, factory Factory) {
	t.Run("RunsAsItsUser", func(t *testing.T) {
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			if !b.h.Caps.Sandbox {
				t.Skip("the backend cannot sandbox processes on this host")
			}
			b.needCommands()
			uid := newUID()
			spec := b.procSpec(p, "")
			out := filepath.Join(b.work, "out-"+spec.ID)
			require.NoError(t, os.MkdirAll(out, 0o755))
			spec.Sandbox = &backend.Sandbox{UID: uid, Writable: []string{out}, Binds: []backend.Bind{{Path: b.work}}}
			spec.Command = `id -u; echo made > here.txt; echo out > ` + filepath.Join(out, "o.txt") + `
touch /etc/mlw-backendtest-` + spec.ID + ` 2>/dev/null && echo LEAK-etc
kill -0 ` + strconv.Itoa(os.Getpid()) + ` 2>/dev/null && echo LEAK-signal
true`
			st := b.wait(b.h.Processes, b.start(spec))
			require.Equal(t, 0, st.ExitCode, "%+v\n%s", st, readFile(spec.Log))
			require.Equal(t, strconv.Itoa(uid)+"\n", readFile(spec.Log), "runs as the sandbox's uid, and cannot write the host or signal the server")
			if b.h.Caps.SameHost {
				for _, f := range []string{filepath.Join(spec.Dir, "here.txt"), filepath.Join(out, "o.txt")} {
					fi, err := os.Stat(f)
					require.NoError(t, err)
					require.Equal(t, uint32(uid), fi.Sys().(*syscall.Stat_t).Uid, "%s is the user's", f)
				}
			}
		})
	})

	t.Run("SurvivesARestart", func(t *testing.T) {
		// A restarted server finds a sandboxed process (on a node: the
		// user's agent) and does not start it again.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			if !b.h.Caps.Sandbox {
				t.Skip("the backend cannot sandbox processes on this host")
			}
			b.needRestart()
			b.checkReattachRunning(p, &backend.Sandbox{UID: newUID(), Binds: []backend.Bind{{Path: b.work}}})
		})
	})

	t.Run("Stop", func(t *testing.T) {
		// A sandboxed process is stopped as any other: SIGTERM reaches
		// it inside its sandbox, and the signal is reported.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			if !b.h.Caps.Sandbox {
				t.Skip("the backend cannot sandbox processes on this host")
			}
			spec := b.procSpec(p, "")
			spec.Command = sleeper(spec.Dir)
			spec.Sandbox = &backend.Sandbox{UID: newUID(), Binds: []backend.Bind{{Path: b.work}}}
			h := b.start(spec)
			b.awaitMark(spec.Dir, "ready")
			b.stopWithTERM(b.h.Processes, h)
		})
	})

	t.Run("RefusedWithoutSandbox", func(t *testing.T) {
		b := setup(t, factory, Options{NoSandbox: true})
		if b.h.Processes == nil {
			t.Skip("the backend runs no processes")
		}
		if b.h.Caps.Sandbox {
			t.Skip("the backend sandboxes processes on this host and cannot be told otherwise")
		}
		spec := b.procSpec(placement{}, "")
		spec.Command = gated(spec.Dir, 0)
		spec.Sandbox = &backend.Sandbox{UID: newUID(), Binds: []backend.Bind{{Path: b.work}}}
		_, err := b.h.Processes.Start(b.ctx, spec)
		require.ErrorIs(t, err, backend.ErrNoSandbox)
		b.requireUnknown(b.h.Processes, backend.ProcessHandle{ID: spec.ID})
		require.NoFileExists(t, filepath.Join(spec.Dir, "ledger"), "the refused process never ran")
	})

	t.Run("AllowedUnsandboxed", func(t *testing.T) {
		b := setup(t, factory, Options{NoSandbox: true, AllowUnsandboxed: true})
		if b.h.Processes == nil {
			t.Skip("the backend runs no processes")
		}
		if b.h.Caps.Sandbox {
			t.Skip("the backend sandboxes processes on this host and cannot be told otherwise")
		}
		spec := b.procSpec(placement{}, "echo ran")
		spec.Sandbox = &backend.Sandbox{UID: newUID(), Binds: []backend.Bind{{Path: b.work}}}
		h := b.start(spec)
		b.exit(h, 0)
		require.Equal(t, 0, b.wait(b.h.Processes, h).ExitCode)
		if b.h.Caps.RunsCommands {
			require.Equal(t, "ran\n", readFile(spec.Log))
		}
	})
}

// runInstanceSandbox checks that an instance's processes run as its
// user where the backend says it can, and that elsewhere the instance is
// refused unless the server allows unsandboxed instances.
func runInstanceSandbox(t *testing.T, factory Factory) {
	t.Run("RunsAsItsUser", func(t *testing.T) {
		b := instances(t, factory, Options{})
		if !b.h.Caps.InstanceSandbox {
			t.Skip("the backend cannot sandbox instances on this host")
		}
		b.needCommands()
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		res, log := b.runScript(spec, h, backend.ScriptSpec{Name: "creation", Inline: []byte("id -u; id -un")}, 0)
		require.Equal(t, 0, res.ExitCode)
		require.Equal(t, strconv.Itoa(spec.UID)+"\nazureuser\n", log)
		if b.h.Processes == nil {
			return
		}
		p := b.instanceProc(spec, "id -u")
		ph := b.startInInstance(spec, h, p)
		require.Equal(t, 0, b.wait(b.h.Processes, ph).ExitCode)
		require.Equal(t, strconv.Itoa(spec.UID)+"\n", readFile(p.Log), "a job inside the instance runs as its user")
	})

	t.Run("RefusedWithoutSandbox", func(t *testing.T) {
		b := instances(t, factory, Options{NoSandbox: true})
		if b.h.Caps.InstanceSandbox {
			t.Skip("the backend sandboxes instances on this host and cannot be told otherwise")
		}
		spec := b.instanceSpec()
		_, _, err := b.h.Instances.Start(b.ctx, spec, nil)
		require.ErrorIs(t, err, backend.ErrNoSandbox)
	})

	t.Run("AllowedUnsandboxed", func(t *testing.T) {
		b := instances(t, factory, Options{NoSandbox: true, AllowUnsandboxed: true})
		if b.h.Caps.InstanceSandbox {
			t.Skip("the backend sandboxes instances on this host and cannot be told otherwise")
		}
		spec := b.instanceSpec()
		h, info := b.startInstance(spec)
		require.NotEmpty(t, info.Isolation, "says that the instance is not isolated")
		res, log := b.runScript(spec, h, backend.ScriptSpec{Name: "creation", Inline: []byte("echo ran")}, 0)
		require.Equal(t, 0, res.ExitCode)
		if b.h.Caps.RunsCommands {
			require.Equal(t, "ran\n", log)
		}
	})
}

package backendtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// runScript runs a setup script to its end (a simulated one ends with
// simCode) and returns its result and log.
func (b *bundle) runScript(spec *backend.InstanceSpec, h backend.InstanceHandle, s backend.ScriptSpec, simCode int) (*backend.ScriptResult, string) {
	b.t.Helper()
	if s.LogPath == "" {
		s.LogPath = filepath.Join(spec.SharePath, "Logs", spec.Name, newID(s.Name)+"-script.log")
	}
	sh, err := b.h.Instances.StartScript(b.ctx, spec, h, s)
	require.NoError(b.t, err)
	if !b.h.Caps.RunsCommands {
		b.h.Sim.FinishScriptFunc(spec.ID, s.Name, simCode)
	}
	return b.awaitScript(sh), readFile(s.LogPath)
}

func (b *bundle) awaitScript(sh json.RawMessage) *backend.ScriptResult {
	b.t.Helper()
	var res *backend.ScriptResult
	b.await("the script ends", func() bool {
		var done bool
		res, done = b.h.Instances.ScriptDone(b.ctx, sh)
		return done
	})
	require.NotNil(b.t, res)
	return res
}

// runScripts checks setup scripts: exit codes, output, timeouts.
func runScripts(t *testing.T, factory Factory) {
	t.Run("ScriptExitCodes", func(t *testing.T) {
		b := instances(t, factory, Options{})
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		require.NoError(t, os.MkdirAll(filepath.Join(spec.SharePath, "scripts"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(spec.SharePath, "scripts", "setup.sh"), []byte("echo from-the-share \"$@\"; exit 6\n"), 0o755))
		for _, row := range []struct {
			name   string
			script backend.ScriptSpec
			code   int
			log    string
		}{
			{"Zero", backend.ScriptSpec{Name: "creation", Inline: []byte("echo fine")}, 0, "fine\n"},
			{"NonZero", backend.ScriptSpec{Name: "startup", Inline: []byte("echo \"args=$*\"; echo err >&2; exit 4"), Args: "a b"}, 4, "args=a b\nerr\n"},
			{"CommandNotFound", backend.ScriptSpec{Name: "creation", Inline: []byte("mlw-backendtest-no-such-command")}, 127, ""},
			{"FromTheShare", backend.ScriptSpec{Name: "startup", SharePath: "scripts/setup.sh", Args: "x"}, 6, "from-the-share x\n"},
		} {
			res, log := b.runScript(spec, h, row.script, row.code)
			require.Equal(t, row.code, res.ExitCode, "%s: %+v\n%s", row.name, res, log)
			if b.h.Caps.RunsCommands && row.log != "" {
				require.Equal(t, row.log, log, row.name)
			}
		}
	})

	t.Run("ScriptTimeout", func(t *testing.T) {
		// A reconciler kills a script that ran past its timeout: it ends,
		// not successfully.
		b := instances(t, factory, Options{})
		spec := b.instanceSpec()
		h, _ := b.startInstance(spec)
		sh, err := b.h.Instances.StartScript(b.ctx, spec, h, backend.ScriptSpec{Name: "creation", Inline: []byte("sleep 300"),
			LogPath: filepath.Join(b.work, "logs", "creation.log")})
		require.NoError(t, err)
		_, done := b.h.Instances.ScriptDone(b.ctx, sh)
		require.False(t, done, "the script runs")
		b.h.Instances.KillScript(b.ctx, sh)
		require.NotEqual(t, 0, b.awaitScript(sh).ExitCode)
	})

	t.Run("LostScript", func(t *testing.T) {
		b := instances(t, factory, Options{})
		res, done := b.h.Instances.ScriptDone(b.ctx, json.RawMessage(`{"bogus":true}`))
		require.True(t, done, "a handle that names no script is done")
		require.Equal(t, -1, res.ExitCode)
		require.NotEmpty(t, res.Error)
	})
}

package backendtest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// runStops checks Stop: the signal reported, the grace period, the
// whole process tree.
func runStops(t *testing.T, factory Factory) {
	t.Run("StopReportsTheSignal", func(t *testing.T) {
		// A process that does not handle SIGTERM ends of it.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			spec := b.procSpec(p, "")
			spec.Command = sleeper(spec.Dir)
			h := b.start(spec)
			b.awaitMark(spec.Dir, "ready")
			st := b.stopWithTERM(b.h.Processes, h)
			// Stopping an ended process succeeds and changes nothing.
			require.NoError(t, b.h.Processes.Stop(b.ctx, h, deadline))
			require.Equal(t, st.ExitCode, b.wait(b.h.Processes, h).ExitCode)
		})
	})

	t.Run("StopAfterGrace", func(t *testing.T) {
		// A process that handles SIGTERM has its grace period, and its own
		// exit code is kept; one that ignores it is killed once the grace
		// period is over, and reported killed.
		for _, row := range []struct {
			name, trap string
			grace      time.Duration
			code       int
			signal     string
		}{
			{"Graceful", "trap 'echo saving; exit 7' TERM", deadline, 7, ""},
			{"IgnoresSIGTERM", "trap '' TERM", 100 * time.Millisecond, 128 + 9, "SIGKILL"},
		} {
			t.Run(row.name, func(t *testing.T) {
				forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
					b.needCommands()
					spec := b.procSpec(p, "")
					spec.Command = row.trap + "; touch " + filepath.Join(spec.Dir, "ready") + "; while :; do sleep 0.02; done"
					h := b.start(spec)
					b.awaitMark(spec.Dir, "ready")
					require.NoError(t, b.h.Processes.Stop(b.ctx, h, row.grace))
					st := b.wait(b.h.Processes, h)
					require.Equal(t, row.code, st.ExitCode, "%+v", st)
					require.Equal(t, row.signal, st.Signal)
					if row.code == 7 {
						require.Contains(t, readFile(spec.Log), "saving", "the TERM handler ran")
					}
				})
			})
		}
	})

	t.Run("StopEndsTheTree", func(t *testing.T) {
		// Stop ends the process's descendants, those that left its
		// process group included.
		forPlacements(t, factory, func(t *testing.T, b *bundle, p placement) {
			b.needSameHost()
			spec := b.procSpec(p, "")
			bg, esc := filepath.Join(spec.Dir, "bg.pid"), filepath.Join(spec.Dir, "esc.pid")
			spec.Command = `sh -c 'echo $$ > ` + bg + `; exec sleep 300' &
setsid sh -c 'echo $$ > ` + esc + `; exec sleep 300' &
touch ` + filepath.Join(spec.Dir, "ready") + `; wait`
			h := b.start(spec)
			b.awaitFile(filepath.Join(spec.Dir, "ready"))
			pids := []int{b.readPID(bg), b.readPID(esc)}
			require.NoError(t, b.h.Processes.Stop(b.ctx, h, deadline))
			b.wait(b.h.Processes, h)
			for _, pid := range pids {
				b.await("descendant "+itoa(pid)+" ends", func() bool { return !alive(pid) })
			}
		})
	})
}

// sleeper is a command that marks itself started (the file ready) and
// sleeps, not handling SIGTERM.
func sleeper(dir string) string {
	return "touch " + filepath.Join(dir, "ready") + "; sleep 300"
}

// stopWithTERM stops a process that does not handle SIGTERM and checks
// that it ended of it.
func (b *bundle) stopWithTERM(ps backend.Processes, h backend.ProcessHandle) backend.ProcessState {
	b.t.Helper()
	require.NoError(b.t, ps.Stop(b.ctx, h, deadline))
	st := b.wait(ps, h)
	require.Equal(b.t, 128+15, st.ExitCode, "%+v", st)
	require.Equal(b.t, "SIGTERM", st.Signal)
	return st
}

package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	MaybeRunShim()
	os.Exit(m.Run())
}

func TestSpawnRecordsExitAndOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	p, err := Spawn(ProcSpec{RunDir: filepath.Join(dir, "run"), Argv: []string{"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"},
		Dir: dir, Env: []string{"PATH=/usr/bin:/bin"}, Stdout: out, Stderr: out})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := p.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, st.Code)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "hello\noops\n", string(b))

	// A handle reopened from the run directory (as after a restart) sees
	// the same outcome.
	q, err := OpenProc(p.RunDir)
	require.NoError(t, err)
	st2, done := q.Exit()
	require.True(t, done)
	require.Equal(t, 3, st2.Code)
}

func TestSpawnMissingCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := Spawn(ProcSpec{RunDir: dir, Argv: []string{"/no/such/binary"}})
	require.NoError(t, err)
	st, err := p.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, 127, st.Code)
	require.Contains(t, st.Error, "/no/such/binary")
}

func TestKillEndsWholeTreeIncludingEscapees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	// The child starts a grandchild in a new session (leaving the process
	// group), as daemons do; Kill must still find it by its run tag.
	p, err := Spawn(ProcSpec{RunDir: run, Argv: []string{"/bin/sh", "-c", "setsid sleep 300 & sleep 300"},
		Env: []string{"PATH=/usr/bin:/bin"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(TaggedPIDs(run)) >= 3 }, 10*time.Second, 10*time.Millisecond)
	require.True(t, p.Running())
	st := p.Kill(context.Background(), 2*time.Second, nil)
	require.NotNil(t, st)
	require.NotEqual(t, 0, st.Code)
	require.Eventually(t, func() bool { return len(TaggedPIDs(run)) == 0 }, 10*time.Second, 10*time.Millisecond)
	require.False(t, p.Running())
}

func TestReattachToRunningProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// It must outlive the checks below (its stdin is /dev/null: "read"
	// would end it at once).
	p, err := Spawn(ProcSpec{RunDir: dir, Argv: []string{"/bin/sleep", "300"}})
	require.NoError(t, err)
	q, err := OpenProc(dir)
	require.NoError(t, err)
	require.Equal(t, p.PID, q.PID)
	require.True(t, q.Running())
	q.Kill(context.Background(), time.Second, nil)
	// The supervisor writes the exit record once its child is gone, which
	// may be a moment after Kill saw the process end on a loaded machine.
	require.Eventually(t, func() bool { _, done := q.Exit(); return done }, 10*time.Second, 10*time.Millisecond, "the exit is recorded")
}

func TestCgroupLimitsMemory(t *testing.T) {
	version, reason := CgroupSupport()
	if version == 0 {
		t.Skip(reason)
	}
	name := "test-" + strings.ReplaceAll(filepath.Base(t.TempDir()), "/", "")
	cg, _, err := NewCgroup(name, Limits{MilliCPU: 500, MemoryBytes: 64 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { cg.Kill(); _ = cg.Remove() })
	dir := t.TempDir()
	// python3 allocates 256 MiB inside a 64 MiB group: the kernel kills it.
	p, err := Spawn(ProcSpec{RunDir: dir, CgroupProcs: cg.ProcsFiles(),
		Argv: []string{"/usr/bin/python3", "-c", "x = bytearray(256 << 20); x[::4096] = b'1' * len(x[::4096])"}})
	require.NoError(t, err)
	st, err := p.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, 128+9, st.Code, "exit %+v", st)
}

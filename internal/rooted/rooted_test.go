package rooted

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// tree makes a directory from entries: "name" → "content" makes a file,
// "name/" a directory, "name@" a symbolic link whose target is the value.
func tree(t *testing.T, dir string, entries map[string]string) {
	t.Helper()
	for name, v := range entries {
		p := filepath.Join(dir, name)
		switch {
		case name[len(name)-1] == '/':
			require.NoError(t, os.MkdirAll(p, 0o755))
		case name[len(name)-1] == '@':
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink(v, p[:len(p)-1]))
		default:
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(v), 0o644))
		}
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestResolve(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	dir := t.TempDir()
	tree(t, dir, map[string]string{
		"a/b/f":     "x",
		"rel@":      "a/b",
		"chain@":    "rel",
		"a/up@":     "..",
		"a/dotup@":  "../a/./b/..",
		"abs@":      outside,
		"escape@":   "../../..",
		"a/deep@":   "../../x",
		"loop1@":    "loop2",
		"loop2@":    "loop1",
		"dangling@": "nothere/x",
		"self@":     ".",
	})
	r := openRoot(t, dir)
	for _, tc := range []struct {
		name, want string
		outside    bool
	}{
		{name: ".", want: "."},
		{name: "", want: "."},
		{name: "a/b/f", want: "a/b/f"},
		{name: "a//b/./f", want: "a/b/f"},
		{name: "rel/f", want: "a/b/f"},
		{name: "chain/f", want: "a/b/f"},
		{name: "a/up/rel", want: "a/b"},
		{name: "a/dotup", want: "a"},
		{name: "a/b/../..", want: "."},
		{name: "self/self/a", want: "a"},
		{name: "new/dir", want: "new/dir"},
		{name: "rel/new/../f", want: "a/b/f"},
		{name: "dangling", want: "nothere/x"},
		{name: "..", outside: true},
		{name: "a/../..", outside: true},
		{name: "/etc", outside: true},
		{name: "abs", outside: true},
		{name: "abs/x", outside: true},
		{name: "escape", outside: true},
		{name: "a/deep", outside: true},
		{name: "self/..", outside: true},
		{name: "new/../../x", outside: true},
	} {
		got, err := Resolve(r, tc.name)
		if tc.outside {
			require.ErrorIs(t, err, ErrOutside, "%q → %q", tc.name, got)
			require.True(t, IsOutside(err))
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
		require.True(t, got == "." || filepath.IsLocal(got), got)
	}
	_, err := Resolve(r, "loop1")
	require.ErrorContains(t, err, "too many levels")
}

func TestIsOutside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "abs")))
	r := openRoot(t, dir)
	_, err := r.Open("abs/passwd")
	require.True(t, IsOutside(err), "os.Root's refusal: %v", err)
	_, err = r.Open("missing")
	require.False(t, IsOutside(err))
	require.False(t, IsOutside(nil))
}

// TestCopy: a tree with links in and out, pipes and sockets; the copy has
// the files, the links that stay inside, and reports the others.
func TestCopy(t *testing.T) {
	t.Parallel()
	secret := t.TempDir()
	tree(t, secret, map[string]string{"token": "s3cret"})
	src := t.TempDir()
	tree(t, src, map[string]string{
		"code/train.py":       "print(1)",
		"code/pkg/m.py":       "x = 1",
		"code/main.py@":       "train.py",
		"code/pkgl@":          "pkg",
		"code/passwd@":        "/etc/passwd",
		"code/secret@":        secret,
		"code/up@":            "../other",
		"code/pkg/back@":      "../train.py",
		"code/pkg/sneaky@":    "../up/f",
		"code/empty/":         "",
		"other/f":             "not in the tree",
		"code/pkg/selfdir/x@": "..",
	})
	require.NoError(t, syscall.Mkfifo(filepath.Join(src, "code", "fifo"), 0o644))
	require.NoError(t, os.Chmod(filepath.Join(src, "code", "train.py"), 0o750))
	dst := t.TempDir()
	skipped, err := Copy(openRoot(t, src), "code", openRoot(t, dst), "wd")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"passwd", "secret", "up", "pkg/sneaky"}, skipped)

	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dst, "wd", p))
		require.NoError(t, err, p)
		return string(b)
	}
	require.Equal(t, "print(1)", read("train.py"))
	require.Equal(t, "print(1)", read("main.py"))
	require.Equal(t, "x = 1", read("pkgl/m.py"))
	require.Equal(t, "print(1)", read("pkg/back"))
	fi, err := os.Stat(filepath.Join(dst, "wd", "train.py"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o750), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(dst, "wd", "empty"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	for _, gone := range []string{"passwd", "secret", "up", "pkg/sneaky", "fifo"} {
		_, err := os.Lstat(filepath.Join(dst, "wd", gone))
		require.True(t, os.IsNotExist(err), gone)
	}
}

// TestCopyRefusesSourcesOutside: a source that is, or goes through, a link
// out of its root fails with ErrOutside and copies nothing.
func TestCopyRefusesSourcesOutside(t *testing.T) {
	t.Parallel()
	secret := t.TempDir()
	tree(t, secret, map[string]string{"token": "s3cret", "sub/key": "s3cret"})
	src := t.TempDir()
	tree(t, src, map[string]string{"evil@": secret, "rel@": "../" + filepath.Base(secret)})
	for _, name := range []string{"evil", "evil/token", "evil/sub", "rel/sub", "../x", "/etc"} {
		dst := t.TempDir()
		_, err := Copy(openRoot(t, src), name, openRoot(t, dst), "in")
		require.ErrorIs(t, err, ErrOutside, name)
		ents, err := os.ReadDir(dst)
		require.NoError(t, err)
		require.Empty(t, ents, name)
	}
}

// TestCopyNeverWritesThroughLinks: links already at the destination (to
// outside it, or to another file inside) are replaced, not written
// through, and a destination outside its root is refused.
func TestCopyNeverWritesThroughLinks(t *testing.T) {
	t.Parallel()
	victim := t.TempDir()
	tree(t, victim, map[string]string{"passwd": "root:x:0:0"})
	src := t.TempDir()
	tree(t, src, map[string]string{"outputs/passwd": "pwned", "outputs/model": "m", "outputs/keep": "new"})
	dst := t.TempDir()
	tree(t, dst, map[string]string{"arts/outputs/passwd@": filepath.Join(victim, "passwd"), "arts/outputs/model@": "keep", "arts/outputs/keep": "old"})

	_, err := Copy(openRoot(t, src), "outputs", openRoot(t, dst), "arts/outputs")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(victim, "passwd"))
	require.NoError(t, err)
	require.Equal(t, "root:x:0:0", string(b))
	for name, want := range map[string]string{"passwd": "pwned", "model": "m", "keep": "new"} {
		fi, err := os.Lstat(filepath.Join(dst, "arts", "outputs", name))
		require.NoError(t, err)
		require.True(t, fi.Mode().IsRegular(), name)
		b, err := os.ReadFile(filepath.Join(dst, "arts", "outputs", name))
		require.NoError(t, err)
		require.Equal(t, want, string(b), name)
	}

	// The destination directory itself a link out of its root.
	dst2 := t.TempDir()
	require.NoError(t, os.Symlink(victim, filepath.Join(dst2, "arts")))
	_, err = Copy(openRoot(t, src), "outputs", openRoot(t, dst2), "arts/outputs")
	require.True(t, IsOutside(err), "%v", err)
	_, err = os.Stat(filepath.Join(victim, "outputs"))
	require.True(t, os.IsNotExist(err))
}

// TestCopyFile: a single file is copied to the destination name.
func TestCopyFile(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tree(t, src, map[string]string{"d/data.csv": "a,b", "link@": "d/data.csv"})
	dst := t.TempDir()
	_, err := Copy(openRoot(t, src), "link", openRoot(t, dst), "inputs/x/data.csv")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dst, "inputs", "x", "data.csv"))
	require.NoError(t, err)
	require.Equal(t, "a,b", string(b))
}

// TestCopyAnyFileName: file names are bytes on Linux; one that is not
// UTF-8 (a Latin-1 name written from a compute instance) is copied like any
// other, not an error that fails the whole copy.
func TestCopyAnyFileName(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tree(t, src, map[string]string{"code/caf\xe9.py": "x", "code/d\xff/f": "y", "code/l\xfe@": "caf\xe9.py"})
	dst := t.TempDir()
	skipped, err := Copy(openRoot(t, src), "code", openRoot(t, dst), "wd")
	require.NoError(t, err)
	require.Empty(t, skipped)
	for name, want := range map[string]string{"caf\xe9.py": "x", "d\xff/f": "y", "l\xfe": "x"} {
		b, err := os.ReadFile(filepath.Join(dst, "wd", name))
		require.NoError(t, err, name)
		require.Equal(t, want, string(b))
	}
}

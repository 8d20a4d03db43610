package server

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecureDataDir: a data directory of an older version (0755, keys and
// database 0644) is made private at start; storage and job trees are left
// as they are.
func TestSecureDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mlw")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "storage", "acct"), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	for _, f := range []string{"ca.key", "token", "mlw.db", "mlw.db-wal", "ca.crt", "storage/acct/blob"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644))
		require.NoError(t, os.Chmod(filepath.Join(dir, f), 0o644))
	}
	require.NoError(t, secureDataDir(dir, true))
	mode := func(p string) fs.FileMode {
		fi, err := os.Stat(filepath.Join(dir, p))
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	require.Equal(t, fs.FileMode(0o700), mode("."))
	for _, f := range []string{"ca.key", "token", "mlw.db", "mlw.db-wal"} {
		require.Equal(t, fs.FileMode(0o600), mode(f), f)
	}
	require.Equal(t, fs.FileMode(0o644), mode("ca.crt"), "public")
	require.Equal(t, fs.FileMode(0o755), mode("storage/acct"), "storage is the sandbox's")
	require.Equal(t, fs.FileMode(0o644), mode("storage/acct/blob"))

	// A new data directory and database are created private.
	fresh := filepath.Join(t.TempDir(), "new")
	require.NoError(t, secureDataDir(fresh, true))
	fi, err := os.Stat(fresh)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(fresh, "mlw.db"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
}

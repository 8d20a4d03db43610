package server

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLockDataDir: a SQLite server has its data directory to itself;
// replicas on PostgreSQL share one with each other, never with a SQLite
// server.
func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	one, err := lockDataDir(dir, false)
	require.NoError(t, err)
	_, err = lockDataDir(dir, false)
	require.ErrorContains(t, err, "another mlw server is already using the data directory")
	_, err = lockDataDir(dir, true)
	require.ErrorContains(t, err, "an mlw server with SQLite is using the data directory")
	require.NoError(t, one.Close())

	r1, err := lockDataDir(dir, true)
	require.NoError(t, err)
	r2, err := lockDataDir(dir, true)
	require.NoError(t, err, "replicas share the directory")
	_, err = lockDataDir(dir, false)
	require.ErrorContains(t, err, "another mlw server is already using the data directory")
	require.NoError(t, r1.Close())
	require.NoError(t, r2.Close())
	_, err = lockDataDir(dir, false)
	require.NoError(t, err)
}

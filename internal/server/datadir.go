package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mlw-project/mlw/api"
)

// secretFiles are the data directory's files that only the server may
// read: keys, tokens, the database. Created 0600, and set so at each
// start for data directories made by older versions.
var secretFiles = []string{
	"ca.key", "server.key", "signing.key", "sas.key", api.LocalTokenFile,
	"mlw.db", "mlw.db-wal", "mlw.db-shm", "mlw.db-journal",
	"lock", api.LocalServerFile, api.ProfileFile,
}

// secureDataDir makes the data directory 0700 (no other local user may
// enter it) and its secret files 0600, creating the directory and an empty
// SQLite database file with those modes when they are missing, so that
// SQLite (which gives its -wal and -shm files the database file's mode)
// never creates them readable by others. What lies below storage/, jobs/,
// instances/ and envs/ is left alone: sandboxed jobs and instances run as
// other uids there, and the sandbox sets those modes.
func secureDataDir(dir string, sqlite bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", dir, err)
	}
	if err := chmodIf(dir, 0o700); err != nil {
		return fmt.Errorf("make the data directory %s private (mode 0700): %w", dir, err)
	}
	if sqlite {
		f, err := os.OpenFile(filepath.Join(dir, "mlw.db"), os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("create the database file: %w", err)
		}
		f.Close()
	}
	for _, name := range secretFiles {
		if err := chmodIf(filepath.Join(dir, name), 0o600); err != nil {
			return fmt.Errorf("make %s private (mode 0600): %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}

// chmodIf sets p's permission bits to mode when p exists with others;
// links are not followed (a link in the data directory is left as it is).
func chmodIf(p string, mode fs.FileMode) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && (fi.Mode()&fs.ModeSymlink != 0 || fi.Mode().Perm() == mode) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LocalLockFile is the file of a data directory on which a running server
// holds an exclusive flock for as long as it runs (the kernel drops it when
// the process ends, however it ends). It, not server.json, says whether a
// server runs: server.json is written once the server listens and is left
// behind by a crash.
const LocalLockFile = "lock"

// LocalServerState is what the data directory says of its server.
type LocalServerState struct {
	DataDir string `json:"dataDir"`
	// Running is true while a process holds the data directory's lock.
	Running bool `json:"running"`
	// PID is the process holding the lock (0 when none).
	PID int `json:"pid,omitempty"`
	// URL and Subscription come from server.json when it was written by
	// that process (a server still starting has not written it yet).
	URL          string `json:"url,omitempty"`
	Subscription string `json:"subscription,omitempty"`
}

// InspectLocalServer reports whether a server runs from the data
// directory home, and which process it is, from the lock the server holds
// on home/lock (read from /proc/locks, so that looking never takes the
// lock from a server that is starting).
func InspectLocalServer(home string) (*LocalServerState, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, err
	}
	st := &LocalServerState{DataDir: abs}
	pid, err := lockHolder(filepath.Join(abs, LocalLockFile))
	if err != nil || pid == 0 {
		return st, err
	}
	st.Running, st.PID = true, pid
	var local LocalServer
	if b, err := os.ReadFile(filepath.Join(abs, LocalServerFile)); err == nil && json.Unmarshal(b, &local) == nil && local.PID == pid {
		st.URL, st.Subscription = local.URL, local.Subscription
	}
	return st, nil
}

// lockHolder returns the pid of the process holding a flock on path, 0
// when none does (or path does not exist).
func lockHolder(path string) (int, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("cannot read the inode of %s on this system", path)
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return probeLock(path)
	}
	defer f.Close()
	// Lines look like "3: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF";
	// waiters have "->" after the number.
	want := fmt.Sprintf("%02x:%02x:%d", devMajor(uint64(sys.Dev)), devMinor(uint64(sys.Dev)), sys.Ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] == "->" || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil && pid > 0 {
			return pid, nil
		}
	}
	return 0, sc.Err()
}

// probeLock is the fallback without /proc/locks: a lock that can be taken
// is held by no one (and is released at once); the holder's pid is then
// server.json's.
func probeLock(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, nil
	}
	var local LocalServer
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), LocalServerFile))
	if err != nil || json.Unmarshal(b, &local) != nil || local.PID == 0 {
		return 0, errors.New("a server holds the data directory's lock, but its pid is unknown (no /proc/locks, no server.json)")
	}
	return local.PID, nil
}

// devMajor and devMinor split a Linux dev_t as glibc does.
func devMajor(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff) }
func devMinor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^uint64(0xff) }

package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/mlw-project/mlw/internal/backend"
)

// The job sandbox (docs/security.md). A user's job runs as the user's own
// unprivileged host uid (backend.Sandbox.UID), with no capabilities and no
// way to gain any (setpriv: no_new_privs, empty bounding set), inside
// bubblewrap's mount namespace: the host's file system read-only, a /dev of
// its own, its own /tmp, the server's data directory replaced by an empty
// tmpfs into which only the directories the job needs are bound again, and
// its own IPC and UTS namespaces. Its cgroup (the node's) is root's: the
// job cannot change its limits or leave it. Processes of other uids —
// the server, other users' jobs — cannot be signalled, traced or read, by
// the kernel's ordinary rules.
//
// Jobs share the host's PID namespace: the server keeps the host pids of
// job processes (to wait for and kill them), which a PID namespace would
// hide from the node agent that records them. Instances, whose processes
// the server tracks through their init, have PID namespaces of their own.

// jobSandboxSupport reports whether users' jobs can be sandboxed here, or
// why not.
var jobSandboxSupport = sync.OnceValues(func() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "mlw server is not running as root, so it cannot run jobs as other users"
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		return false, "bubblewrap (bwrap) is not installed; install the bubblewrap package"
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		return false, "setpriv (util-linux) is not installed"
	}
	if ok, reason := sandboxSupport(); !ok {
		return false, reason
	}
	return true, ""
})

// JobSandboxSupport reports whether this host can sandbox jobs, or why not.
func JobSandboxSupport() (bool, string) { return jobSandboxSupport() }

// sandboxPlan is how to run processes of one user with one set of binds.
type sandboxPlan struct {
	uid int
	// prefix runs the rest of an argv inside the sandbox, as uid.
	prefix []string
	// key identifies the plan (a node agent runs one).
	key string
}

// planSandbox builds the sandbox of sb, hiding the hide directories (the
// data directory) and showing binds (sb's and the backend's own).
func planSandbox(sb *backend.Sandbox, hide []string, extra ...backend.Bind) (*sandboxPlan, error) {
	if sb.UID < backend.UIDBase {
		return nil, fmt.Errorf("sandbox: uid %d is not one of mlw's (from %d)", sb.UID, backend.UIDBase)
	}
	bwrap, setpriv, err := sandboxTools()
	if err != nil {
		return nil, backend.ErrNoSandbox
	}
	args := []string{bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--perms", "01777", "--tmpfs", "/dev/shm", "--perms", "01777", "--tmpfs", "/tmp"}
	hidden := hiddenDirs(hide)
	for _, d := range hidden {
		args = append(args, "--tmpfs", d)
	}
	binds := append(append([]backend.Bind(nil), sb.Binds...), extra...)
	made := map[string]bool{}
	for _, b := range binds {
		if b.Path == "" {
			continue
		}
		if err := os.MkdirAll(b.Path, 0o711); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		// The directories leading to it inside a hiding tmpfs: bubblewrap
		// would make them 0700, closed to the job's user.
		for _, a := range tmpfsParents(b.Path, hidden) {
			if !made[a] {
				made[a] = true
				args = append(args, "--perms", "0711", "--dir", a)
			}
		}
		if b.ReadOnly {
			args = append(args, "--ro-bind", b.Path, b.Path)
		} else {
			args = append(args, "--bind", b.Path, b.Path)
		}
	}
	args = append(args, "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "mlw-job", "--")
	args = append(args, dropTo(setpriv, sb.UID, 0)...)
	sum := sha256.Sum256([]byte(strings.Join(args, "\x00")))
	return &sandboxPlan{uid: sb.UID, prefix: args, key: hex.EncodeToString(sum[:8])}, nil
}

// sandboxTools finds bubblewrap and setpriv, once.
func sandboxTools() (bwrap, setpriv string, err error) {
	t := sandboxToolPaths()
	return t.bwrap, t.setpriv, t.err
}

type toolPaths struct {
	bwrap, setpriv string
	err            error
}

var sandboxToolPaths = sync.OnceValue(func() toolPaths {
	var t toolPaths
	if t.bwrap, t.err = exec.LookPath("bwrap"); t.err == nil {
		t.setpriv, t.err = exec.LookPath("setpriv")
	}
	return t
})

// hiddenDirs are the tmpfs mounts that hide dirs: each dir itself, or the
// outermost ancestor that others may not traverse (a home directory of
// mode 0700, say), which would keep the job from reaching what is bound
// back inside it. Hiding that ancestor hides what is in it, too.
func hiddenDirs(dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" || d == "/" {
			continue
		}
		d = filepath.Clean(d)
		hide := d
		var chain []string
		for p := filepath.Dir(d); p != "/" && p != "."; p = filepath.Dir(p) {
			chain = append(chain, p)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if st, err := os.Stat(chain[i]); err == nil && st.Mode().Perm()&0o001 == 0 {
				hide = chain[i]
				break
			}
		}
		if !seen[hide] {
			seen[hide] = true
			out = append(out, hide)
		}
	}
	return out
}

// tmpfsParents are the ancestors of path below the hiding tmpfs that
// holds it, outermost first.
func tmpfsParents(path string, hidden []string) []string {
	for _, h := range hidden {
		if !strings.HasPrefix(path, h+"/") {
			continue
		}
		var out []string
		for p := filepath.Dir(path); p != h && strings.HasPrefix(p, h+"/"); p = filepath.Dir(p) {
			out = append([]string{p}, out...)
		}
		return out
	}
	return nil
}

// giveTree makes path (recursively) the uid's, with group uid; symbolic
// links are changed themselves, never followed.
func giveTree(path string, uid int) error {
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// giveFile creates path if needed (an empty file) and makes it the uid's.
func giveFile(path string, uid int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chown(uid, uid)
}

// sandboxEnv is env with what a sandboxed process must not inherit from
// the server replaced: its home is its private /tmp.
func sandboxEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME=/tmp")
}

// Isolation implements backend.Isolator.
func (c *Cluster) Isolation() string {
	ok, reason := jobSandboxSupport()
	switch {
	case ok && c.SandboxedJobs:
		return "Each job runs as its submitter's own unprivileged host uid, without capabilities, in a bubblewrap mount namespace: the host read-only, its own /tmp, the server's data directory hidden but for the job's own directories, the workspace's storage and the Python environments. The node's cgroup (CPU, memory, pids.max) is root's: jobs cannot change or leave it. Jobs share the host's PID namespace (docs/security.md)."
	case c.AllowUnsandboxed:
		return "None: " + reason + "; jobs run as the server's own user and can read its data directory (mlw server --allow-unsandboxed-jobs)."
	case !ok:
		return "None possible: " + reason + "; jobs fail with SandboxUnavailable (or start the server with --allow-unsandboxed-jobs)."
	}
	return "None: jobs are not sandboxed by this server."
}

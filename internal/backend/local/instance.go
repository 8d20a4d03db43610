package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
)

// InstanceTagEnv is set to the instance id in every process of an
// instance, so that Stop finds all of them (even daemons that left their
// process group) and tests can check that none is left.
const InstanceTagEnv = "MLW_INSTANCE"

// Instance home layout: the home directory is <root>/home, seen inside the
// sandbox as /home/azureuser; the file share is bound (or linked) at
// ~/cloudfiles/code.
const (
	sandboxHome = "/home/azureuser"
	// InstanceUser is the instance's user name, as on Azure.
	InstanceUser = "azureuser"
	jupyterSock  = ".mlw/jupyter.sock"
)

// Instances runs compute instances as process trees on this machine: a
// home directory, a cgroup with the size's limits where the host allows,
// and, where bubblewrap and root are available, namespaces of their own
// (PID, IPC, UTS, mount; network when isolated). Every process of an
// instance (Jupyter, terminals, SSH sessions, setup scripts) enters the
// namespaces of one long-lived init process with nsenter.
type Instances struct {
	// Dir holds one directory per instance (under the data directory).
	Dir string
	// EnvTemplates holds the templates of the instances' Python
	// environments (default: Dir/.env-templates).
	EnvTemplates string
	// HideDirs are host directories the instance must not see (the data
	// directory with its keys); the file share is bound back in.
	HideDirs []string
	Log      *slog.Logger
	// Notify is called with an instance's key when its activity changes
	// (a terminal or SSH session opened or closed).
	Notify func(key string)
	// NoSandbox runs instances without namespaces even where bubblewrap
	// works (tests of the fallback; hosts that forbid namespaces).
	NoSandbox bool
	// AllowUnsandboxed starts instances where they cannot be sandboxed
	// (NoSandbox, or the host cannot): their processes then run as the
	// server's own user, on the host (mlw server
	// --allow-unsandboxed-jobs). Otherwise Start fails with ErrNoSandbox.
	AllowUnsandboxed bool
	// Procs is the backend whose Processes watch, stop and release the job
	// processes started inside instances (StartProcess): they keep their
	// supervisor files with the cluster's.
	Procs *Cluster
	// SSH bounds the handshake and idle time of SSH connections.
	SSH SSHLimits

	mu   sync.Mutex
	live map[string]*liveInstance
}

var _ backend.Instances = (*Instances)(nil)

// liveInstance is what exists only in this server process: sessions, the
// SSH listener, the network bridge.
type liveInstance struct {
	key       string
	terminals int
	sshConns  int
	shells    map[*ptyShell]bool
	ssh       net.Listener
	bridge    net.Listener
	// homeGiven is the boot (its init's pid) whose home was last given to
	// the instance's user.
	homeGiven int
}

// instanceHandle is saved in the store.
type instanceHandle struct {
	ID       string `json:"id"`
	Root     string `json:"root"`
	Sandbox  bool   `json:"sandbox"`
	Isolated bool   `json:"isolated,omitempty"`
	NSPid    int    `json:"nsPid,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
	SSHPort  int    `json:"sshPort,omitempty"`
	Jupyter  bool   `json:"jupyter,omitempty"`
	// Binds are the host directories the sandbox shows at the same path
	// (backend.InstanceSpec.Binds as of the boot).
	Binds []string `json:"binds,omitempty"`
	// UID is the unprivileged uid the instance's processes run as and GID
	// the file share's group (0: the server's own user, unsandboxed).
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
}

func (h *instanceHandle) initRun() string    { return filepath.Join(h.Root, "run", "init") }
func (h *instanceHandle) jupyterRun() string { return filepath.Join(h.Root, "run", "jupyter") }
func (h *instanceHandle) home() string       { return filepath.Join(h.Root, "home") }

// homeInside is the home directory as processes of the instance see it.
func (h *instanceHandle) homeInside() string {
	if h.Sandbox {
		return sandboxHome
	}
	return h.home()
}

func (h *instanceHandle) cgroup() *Cgroup {
	if h.Cgroup == "" {
		return nil
	}
	return OpenCgroup(h.Cgroup)
}

func decodeHandle(raw backend.InstanceHandle) (*instanceHandle, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	var h instanceHandle
	if json.Unmarshal(raw, &h) != nil || h.Root == "" {
		return nil, false
	}
	return &h, true
}

func encodeHandle(h *instanceHandle) backend.InstanceHandle {
	b, _ := json.Marshal(h)
	return b
}

// sandboxSupport reports whether bubblewrap namespaces work here, or why not.
var sandboxSupport = sync.OnceValues(func() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "mlw server is not running as root, so instances run without namespaces of their own (they share the host's processes, network and file system)"
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return false, "bubblewrap (bwrap) is not installed, so instances run without namespaces of their own; install the bubblewrap package to isolate them"
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return false, "nsenter (util-linux) is not installed, so instances run without namespaces of their own"
	}
	out, err := exec.Command(bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--proc", "/proc", "--dev", "/dev", "true").CombinedOutput()
	if err != nil {
		return false, "bubblewrap cannot create namespaces on this host (" + strings.TrimSpace(string(out)) + "), so instances run without namespaces of their own"
	}
	return true, ""
})

func (l *Instances) sandboxed() bool {
	ok, _ := l.sandboxReason()
	return ok
}

// sandboxReason reports whether instances run sandboxed here, as their
// users' unprivileged uids, or why not.
func (l *Instances) sandboxReason() (bool, string) {
	if l.NoSandbox {
		return false, "namespaces are turned off for this server"
	}
	if ok, reason := sandboxSupport(); !ok {
		return false, reason
	}
	if _, _, err := sandboxTools(); err != nil {
		return false, "setpriv (util-linux) is not installed, so instance processes cannot run as their users"
	}
	return true, ""
}

// jupyterSupport reports whether Debian's notebook server is installed.
var jupyterSupport = sync.OnceValue(func() bool {
	return exec.Command("/usr/bin/python3", "-c", "import notebook, ipykernel").Run() == nil
})

// JupyterAvailable reports whether instances on this host get Jupyter.
func JupyterAvailable() bool { return jupyterSupport() }

func (l *Instances) liveFor(id, key string) *liveInstance {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live == nil {
		l.live = map[string]*liveInstance{}
	}
	li := l.live[id]
	if li == nil {
		li = &liveInstance{key: key, shells: map[*ptyShell]bool{}}
		l.live[id] = li
	}
	if key != "" {
		li.key = key
	}
	return li
}

func (l *Instances) notify(id string) {
	l.mu.Lock()
	li := l.live[id]
	l.mu.Unlock()
	if li != nil && l.Notify != nil && li.key != "" {
		l.Notify(li.key)
	}
}

func (l *Instances) log() *slog.Logger {
	if l.Log == nil {
		return slog.Default()
	}
	return l.Log
}

// rootFor is an instance's directory. It is short because the Jupyter
// socket lives below it and Unix socket paths are limited to 108 bytes.
func (l *Instances) rootFor(id string) string {
	short := strings.ReplaceAll(id, "-", "")
	if len(short) > 12 {
		short = short[:12]
	}
	return filepath.Join(l.Dir, short)
}

// Start implements backend.Instances.
func (l *Instances) Start(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle) (backend.InstanceHandle, backend.InstanceInfo, error) {
	h, ok := decodeHandle(raw)
	if ok && h.Sandbox && h.UID == 0 && spec.UID > 0 && l.initRunning(h) {
		// Booted by an older mlw, its processes run as root: boot it again,
		// as its user.
		l.log().Info("restarting compute instance to run it as its user", "instance", spec.Name)
		l.killAll(ctx, h)
	}
	if !ok || !l.initRunning(h) {
		var err error
		if h, err = l.boot(ctx, spec); err != nil {
			return nil, backend.InstanceInfo{}, err
		}
	}
	li := l.liveFor(spec.ID, spec.Key)
	info := l.info(spec, h)
	envs, err := l.ensureEnvs(ctx, spec, h)
	if err != nil {
		return encodeHandle(h), info, err
	}
	info.Environments = envs
	// What mlw wrote into the home is its user's: once per boot and server
	// process (mlw rewrites its files only when they change, which an
	// upgrade of mlw does, after a restart of the server).
	l.mu.Lock()
	given := li.homeGiven == h.NSPid
	l.mu.Unlock()
	if !given {
		if err := h.giveHome(); err != nil {
			return encodeHandle(h), info, err
		}
		l.mu.Lock()
		li.homeGiven = h.NSPid
		l.mu.Unlock()
	}
	if spec.Jupyter && jupyterSupport() {
		if p, err := OpenProc(h.jupyterRun()); err != nil || !p.Running() {
			if err := l.startJupyter(spec, h); err != nil {
				return encodeHandle(h), info, err
			}
		}
		h.Jupyter = true
		info.Jupyter = true
	}
	if h.Isolated {
		if err := l.ensureBridge(spec, h); err != nil {
			info.Network += fmt.Sprintf(" The bridge to the mlw server failed: %v.", err)
		}
	}
	if spec.SSH != nil {
		pub, err := l.ensureSSH(spec, h)
		if err != nil {
			return encodeHandle(h), info, fmt.Errorf("start the SSH endpoint: %w", err)
		}
		info.SSHPort, info.SSHHostKey = h.SSHPort, pub
	}
	return encodeHandle(h), info, nil
}

func (l *Instances) info(spec *backend.InstanceSpec, h *instanceHandle) backend.InstanceInfo {
	var info backend.InstanceInfo
	if v, reason := CgroupSupport(); v == 0 {
		info.Limits = "Not enforced: " + reason + "."
	} else {
		info.Limits = fmt.Sprintf("Enforced with cgroup v%d: %s, %s memory, at most %d processes.", v, cpuText(spec.MilliCPU), memText(spec.MemoryBytes), InstancePIDsMax(spec.MilliCPU))
	}
	ok, reason := l.sandboxReason()
	switch {
	case ok:
		info.Isolation = fmt.Sprintf("Runs as azureuser, the unprivileged host uid %d, without capabilities, in bubblewrap namespaces: own processes (PID), hostname (UTS), IPC and mounts; the host file system is read-only except the home directory, /tmp and the workspace file share; the server's data directory is hidden.", spec.UID)
	default:
		info.Isolation = "None: " + reason + "; processes run as the server's own user (allowed by --allow-unsandboxed-jobs)."
	}
	switch {
	case !spec.IsolateNetwork:
		info.Network = "Shares the host network."
	case ok:
		info.Network = "Isolated: a network namespace with loopback only; the mlw server is bridged in at " + spec.ServerAddr + "."
	default:
		info.Network = "Not isolated: the local backend cannot give this instance a network of its own on this host (" + reason + "); it shares the host network."
	}
	return info
}

// InstancePIDsMax is an instance's pids.max: twice a node's of the same size
// (Jupyter, its kernels and terminals run beside the user's programs),
// enough for any honest workload and a stop to a fork bomb.
func InstancePIDsMax(milliCPU int) int { return 2 * NodePIDs(milliCPU) }

func cpuText(milli int) string {
	if milli <= 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64) + " vCPU"
}

func memText(b int64) string {
	if b <= 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(b)/(1<<30), 'f', -1, 64) + " GiB"
}

func (l *Instances) initRunning(h *instanceHandle) bool {
	p, err := OpenProc(h.initRun())
	if err != nil || !p.Running() {
		return false
	}
	if h.Sandbox {
		return h.NSPid > 0 && syscall.Kill(h.NSPid, 0) == nil
	}
	return true
}

// boot prepares the home and starts the init process.
func (l *Instances) boot(ctx context.Context, spec *backend.InstanceSpec) (*instanceHandle, error) {
	sandbox, reason := l.sandboxReason()
	if !sandbox && !l.AllowUnsandboxed {
		return nil, fmt.Errorf("%w: %s. Make it possible (run mlw server as root with bubblewrap and util-linux installed), or start the server with --allow-unsandboxed-jobs to run instances as the server's own user (docs/security.md)", backend.ErrNoSandbox, reason)
	}
	if sandbox && spec.UID < backend.UIDBase {
		return nil, fmt.Errorf("start instance %s: uid %d is not one of mlw's (from %d)", spec.Name, spec.UID, backend.UIDBase)
	}
	h := &instanceHandle{ID: spec.ID, Root: l.rootFor(spec.ID), Sandbox: sandbox, Isolated: spec.IsolateNetwork && sandbox}
	if sandbox {
		h.UID, h.GID = spec.UID, spec.ShareGID
	}
	// A previous run may have left processes (a crash): end them first.
	l.killAll(ctx, h)
	if err := l.prepareHome(spec, h); err != nil {
		return nil, err
	}
	if err := l.prepareUser(spec, h); err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, err)
	}
	for _, b := range spec.Binds {
		if err := os.MkdirAll(b.Path, 0o755); err != nil {
			return nil, fmt.Errorf("start instance %s: %w", spec.Name, err)
		}
		h.Binds = append(h.Binds, b.Path)
	}
	cg, _, err := NewCgroup("ci-"+spec.ID, Limits{MilliCPU: spec.MilliCPU, MemoryBytes: spec.MemoryBytes, PIDs: InstancePIDsMax(spec.MilliCPU)})
	if err != nil {
		return nil, err
	}
	if cg != nil {
		h.Cgroup = cg.Name
	}
	argv := []string{"/bin/sleep", "infinity"}
	if sandbox {
		argv = append(l.bwrapArgs(spec, h), argv...)
	}
	p, err := Spawn(ProcSpec{RunDir: h.initRun(), Argv: argv, Dir: h.home(), Env: l.env(spec, h, nil),
		Stdout: filepath.Join(h.Root, "run", "init.log"), Stderr: filepath.Join(h.Root, "run", "init.log"), CgroupProcs: cg.ProcsFiles()})
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, err)
	}
	if !sandbox {
		return h, nil
	}
	// The namespaces belong to bwrap's children: find one.
	deadline := time.Now().Add(10 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
		if pid := nsChild(p); pid > 0 {
			h.NSPid = pid
			return h, nil
		}
		if st, done := p.Exit(); done {
			log, _ := os.ReadFile(filepath.Join(h.Root, "run", "init.log"))
			return nil, fmt.Errorf("start instance %s: the sandbox exited with code %d: %s", spec.Name, st.Code, strings.TrimSpace(string(log)))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("start instance %s: the sandbox did not come up within 10s", spec.Name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// nsChild finds a descendant of the init's supervised process that runs in
// other namespaces than mlw (bwrap's sandboxed child).
func nsChild(p *Proc) int {
	bw := p.ChildPID()
	if bw <= 0 {
		return 0
	}
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return 0
	}
	queue := []int{bw}
	for len(queue) > 0 && len(queue) < 64 {
		pid := queue[0]
		queue = queue[1:]
		if ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid"); err == nil && ns != self {
			// Its mount namespace must be set up too: bwrap pivots before
			// it execs the command, so wait until the child runs sleep.
			if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && !strings.HasSuffix(exe, "bwrap") {
				return pid
			}
		}
		queue = append(queue, children(pid)...)
	}
	return 0
}

func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func (l *Instances) prepareHome(spec *backend.InstanceSpec, h *instanceHandle) error {
	home := h.home()
	if err := os.MkdirAll(filepath.Join(home, ".mlw"), 0o755); err != nil {
		return fmt.Errorf("create instance home: %w", err)
	}
	_ = os.MkdirAll(filepath.Join(h.Root, "run"), 0o755)
	code := filepath.Join(home, "cloudfiles", "code")
	_ = os.MkdirAll(filepath.Dir(code), 0o755)
	fi, err := os.Lstat(code)
	if h.Sandbox {
		// A mount point: the share is bound here inside the sandbox.
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			_ = os.Remove(code)
		}
		if err := os.MkdirAll(code, 0o755); err != nil {
			return err
		}
	} else {
		// The same files through a symbolic link.
		if err == nil && fi.IsDir() {
			_ = os.Remove(code)
		}
		_ = os.Remove(code)
		if err := os.Symlink(spec.SharePath, code); err != nil {
			return fmt.Errorf("link the file share: %w", err)
		}
	}
	if err := os.MkdirAll(spec.SharePath, 0o755); err != nil {
		return fmt.Errorf("create the file share: %w", err)
	}
	for rel, b := range spec.Files {
		p := filepath.Join(home, filepath.Clean("/"+rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("write %s in the instance home: %w", rel, err)
		}
	}
	return nil
}

// bwrapArgs builds the sandbox of the init process.
func (l *Instances) bwrapArgs(spec *backend.InstanceSpec, h *instanceHandle) []string {
	// /tmp and /dev/shm are the instance's own and, as on any host,
	// writable by everyone (sticky): bubblewrap, run as root, would make
	// them root's 0755 and the instance's user could not use them.
	args := []string{"/usr/bin/bwrap", "--ro-bind", "/", "/", "--perms", "01777", "--tmpfs", "/tmp", "--tmpfs", "/home"}
	hidden := hiddenDirs(l.HideDirs)
	for _, d := range hidden {
		args = append(args, "--tmpfs", d)
	}
	if h.UID > 0 {
		args = append(args, "--ro-bind", h.passwdFile(), "/etc/passwd", "--ro-bind", h.groupFile(), "/etc/group")
	}
	args = append(args,
		"--bind", h.home(), sandboxHome,
		"--bind", spec.SharePath, sandboxHome+"/cloudfiles/code",
		"--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--tmpfs", "/dev/shm",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", spec.Name, "--chdir", sandboxHome, "--die-with-parent")
	// The directories of the instance's jobs, at the same paths as on the
	// host (after the data directory was hidden).
	made := map[string]bool{}
	for _, b := range spec.Binds {
		// The directories leading to it inside a hiding tmpfs, open to the
		// instance's user (bubblewrap would make them 0700).
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
	if h.Isolated {
		args = append(args, "--unshare-net")
	}
	if p, err := exec.LookPath("bwrap"); err == nil {
		args[0] = p
	}
	return append(args, "--")
}

// enter returns the argv that runs cmd inside the instance, in dir (an
// inside path; empty: the home).
func (l *Instances) enter(h *instanceHandle, dir string, cmd ...string) []string {
	if dir == "" {
		dir = h.homeInside()
	}
	if !h.Sandbox {
		return cmd
	}
	// nsenter resolves --wd=DIR on the host, so change directory inside.
	argv := []string{"nsenter", "--target", strconv.Itoa(h.NSPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--"}
	if h.UID > 0 {
		_, setpriv, _ := sandboxTools() // found at boot (sandboxReason)
		argv = append(argv, dropTo(setpriv, h.UID, h.GID)...)
	}
	// umask 002: what the user makes in the file share, the workspace's
	// other users may change (its directories are setgid, of its group).
	return append(append(argv, "/bin/sh", "-c", `umask 002; cd "$1" || exit 1; shift; exec "$@"`, "sh", dir), cmd...)
}

// env is the environment of the instance's processes.
func (l *Instances) env(spec *backend.InstanceSpec, h *instanceHandle, extra map[string]string) []string {
	home := h.homeInside()
	m := map[string]string{
		"PATH": h.defaultEnvInside() + "/bin:" + defaultPath, "VIRTUAL_ENV": h.defaultEnvInside(),
		"CONDA_DEFAULT_ENV": instanceEnvs[0].Name, "CONDA_PREFIX": h.defaultEnvInside(), "HOME": home, "USER": InstanceUser,
		"LOGNAME": InstanceUser, "SHELL": "/bin/bash", "LANG": "C.UTF-8", InstanceTagEnv: spec.ID,
	}
	for k, v := range spec.Env {
		m[k] = v
	}
	for k, rel := range spec.EnvFromFiles {
		if b, err := os.ReadFile(filepath.Join(h.home(), filepath.Clean("/"+rel))); err == nil {
			m[k] = strings.TrimSpace(string(b))
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		if strings.HasPrefix(v, "~/") {
			v = home + v[1:]
		}
		out = append(out, k+"="+v)
	}
	return out
}

func (l *Instances) startJupyter(spec *backend.InstanceSpec, h *instanceHandle) error {
	sock := filepath.Join(h.home(), jupyterSock)
	_ = os.Remove(sock)
	inside := h.homeInside()
	argv := l.enter(h, inside+"/cloudfiles/code", "/usr/bin/python3", "-m", "notebook", "--no-browser", "--allow-root",
		"--sock="+inside+"/"+jupyterSock, "--NotebookApp.token="+spec.JupyterToken, "--NotebookApp.base_url="+spec.JupyterBaseURL,
		"--NotebookApp.notebook_dir="+inside+"/cloudfiles/code", "--NotebookApp.allow_origin=*",
		"--NotebookApp.allow_remote_access=True", "--NotebookApp.quit_button=False", "--MappingKernelManager.default_kernel_name="+instanceEnvs[0].Kernel)
	_, err := Spawn(ProcSpec{RunDir: h.jupyterRun(), Argv: argv, Dir: h.home(), Env: l.env(spec, h, nil),
		Stdout: filepath.Join(h.Root, "run", "jupyter.log"), Stderr: filepath.Join(h.Root, "run", "jupyter.log"), CgroupProcs: h.cgroup().ProcsFiles()})
	if err != nil {
		return fmt.Errorf("start Jupyter: %w", err)
	}
	return nil
}

// Running implements backend.Instances.
func (l *Instances) Running(ctx context.Context, raw backend.InstanceHandle) bool {
	h, ok := decodeHandle(raw)
	return ok && l.initRunning(h)
}

// Stop implements backend.Instances.
func (l *Instances) Stop(ctx context.Context, raw backend.InstanceHandle) error {
	h, ok := decodeHandle(raw)
	if !ok {
		return nil
	}
	l.killAll(ctx, h)
	return nil
}

// killAll ends every process of an instance: sessions, SSH, Jupyter, init,
// whatever is left in its cgroup or carries its tag.
func (l *Instances) killAll(ctx context.Context, h *instanceHandle) {
	l.mu.Lock()
	li := l.live[h.ID]
	var shells []*ptyShell
	if li != nil {
		for s := range li.shells {
			shells = append(shells, s)
		}
		if li.ssh != nil {
			_ = li.ssh.Close()
			li.ssh = nil
		}
		if li.bridge != nil {
			_ = li.bridge.Close()
			li.bridge = nil
		}
	}
	l.mu.Unlock()
	for _, s := range shells {
		_ = s.Close()
	}
	cg := h.cgroup()
	for _, run := range []string{h.jupyterRun(), h.initRun()} {
		if p, err := OpenProc(run); err == nil && p.Running() {
			p.Kill(ctx, 2*time.Second, cg)
		}
	}
	// Whatever escaped (scripts' daemons, shells of a crashed server).
	for i := 0; i < 50; i++ {
		if n := killInstanceTagged(h.ID); n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if cg == nil {
		cg = OpenCgroup("ci-" + h.ID)
	}
	// A killed process leaves its cgroup only once the kernel has reaped
	// it: wait for that before removing the group.
	for i := 0; i < 200; i++ {
		cg.Kill()
		if len(cg.PIDs()) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cg.Remove(); err != nil {
		l.log().Warn("remove instance cgroup", "instance", h.ID, "err", err)
	}
}

// InstancePIDs lists the live processes of an instance (by its tag).
func InstancePIDs(id string) []int {
	var out []int
	forEnvTag(InstanceTagEnv+"="+id, func(pid int) { out = append(out, pid) })
	return out
}

func killInstanceTagged(id string) int {
	return forEnvTag(InstanceTagEnv+"="+id, func(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// Delete implements backend.Instances.
func (l *Instances) Delete(ctx context.Context, id string, raw backend.InstanceHandle) error {
	h, ok := decodeHandle(raw)
	if !ok {
		h = &instanceHandle{ID: id, Root: l.rootFor(id), Cgroup: "ci-" + id}
	}
	l.killAll(ctx, h)
	if cg := OpenCgroup("ci-" + id); cg != nil {
		_ = cg.Remove()
	}
	l.mu.Lock()
	delete(l.live, id)
	l.mu.Unlock()
	if err := os.RemoveAll(h.Root); err != nil {
		return fmt.Errorf("remove the instance's home: %w", err)
	}
	return nil
}

type scriptHandle struct {
	RunDir string `json:"runDir"`
}

// StartScript implements backend.Instances.
func (l *Instances) StartScript(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle, s backend.ScriptSpec) (json.RawMessage, error) {
	h, ok := decodeHandle(raw)
	if !ok || !l.initRunning(h) {
		return nil, backend.ErrNotRunning
	}
	inside := h.homeInside()
	var path, dir string
	if s.SharePath != "" {
		rel := filepath.Clean("/" + s.SharePath)
		path = inside + "/cloudfiles/code" + rel
		dir = filepath.Dir(path)
	} else {
		p := filepath.Join(h.home(), ".mlw", "scripts", s.Name+".sh")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, s.Inline, 0o755); err != nil {
			return nil, err
		}
		path = inside + "/.mlw/scripts/" + s.Name + ".sh"
		dir = inside
	}
	if err := os.MkdirAll(filepath.Dir(s.LogPath), 0o755); err != nil {
		return nil, fmt.Errorf("create the script log directory: %w", err)
	}
	// Each run starts a fresh log.
	_ = os.Remove(s.LogPath)
	argv := l.enter(h, dir, append([]string{"/bin/bash", path}, strings.Fields(s.Args)...)...)
	run := filepath.Join(h.Root, "run", fmt.Sprintf("script-%s-%d", s.Name, time.Now().UnixNano()))
	procDir := h.home()
	if !h.Sandbox {
		procDir = dir
	}
	if _, err := Spawn(ProcSpec{RunDir: run, Argv: argv, Dir: procDir, Env: l.env(spec, h, nil), Stdout: s.LogPath, Stderr: s.LogPath,
		CgroupProcs: h.cgroup().ProcsFiles()}); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(scriptHandle{RunDir: run})
	return b, nil
}

// ScriptDone implements backend.Instances.
func (l *Instances) ScriptDone(ctx context.Context, raw json.RawMessage) (*backend.ScriptResult, bool) {
	var sh scriptHandle
	if json.Unmarshal(raw, &sh) != nil || sh.RunDir == "" {
		return &backend.ScriptResult{ExitCode: -1, Error: "the script's handle is lost"}, true
	}
	p, err := OpenProc(sh.RunDir)
	if err != nil {
		return &backend.ScriptResult{ExitCode: -1, Error: err.Error()}, true
	}
	st, done := p.Exit()
	if !done {
		return nil, false
	}
	return &backend.ScriptResult{ExitCode: st.Code, Error: st.Error}, true
}

// KillScript implements backend.Instances.
func (l *Instances) KillScript(ctx context.Context, raw json.RawMessage) {
	var sh scriptHandle
	if json.Unmarshal(raw, &sh) != nil {
		return
	}
	if p, err := OpenProc(sh.RunDir); err == nil {
		p.Kill(ctx, time.Second, nil)
	}
}

// DialJupyter implements backend.Instances.
func (l *Instances) DialJupyter(ctx context.Context, raw backend.InstanceHandle) (net.Conn, error) {
	h, ok := decodeHandle(raw)
	if !ok || !h.Jupyter {
		return nil, backend.ErrNotRunning
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", filepath.Join(h.home(), jupyterSock))
}

// Activity implements backend.Instances.
func (l *Instances) Activity(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle) backend.Activity {
	var a backend.Activity
	h, ok := decodeHandle(raw)
	if !ok {
		return a
	}
	l.mu.Lock()
	if li := l.live[h.ID]; li != nil {
		a.Terminals, a.SSHSessions = li.terminals, li.sshConns
	}
	l.mu.Unlock()
	if h.Jupyter {
		a.BusyKernels = l.busyKernels(ctx, spec, raw)
	}
	return a
}

func (l *Instances) busyKernels(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return l.DialJupyter(ctx, raw)
	}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://jupyter"+spec.JupyterBaseURL+"api/kernels", nil)
	req.Header.Set("Authorization", "token "+spec.JupyterToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var ks []struct {
		State string `json:"execution_state"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ks) != nil {
		return 0
	}
	n := 0
	for _, k := range ks {
		if k.State == "busy" {
			n++
		}
	}
	return n
}

// errNoSandbox is returned by bridge operations on a host without namespaces.
var errNoSandbox = errors.New("no network namespace")

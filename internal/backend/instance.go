package backend

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"time"
)

// InstanceSpec is everything a backend needs to run one compute instance.
type InstanceSpec struct {
	// ID is the instance's stable GUID (the resource UID).
	ID string
	// Key is the reconcile key; backends pass it to Notify.
	Key       string
	Name      string
	Workspace string
	// MilliCPU and MemoryBytes are the size's limits (0: unlimited).
	MilliCPU    int
	MemoryBytes int64
	// SharePath is the host directory of the workspace file share, seen
	// inside the instance at ~/cloudfiles/code.
	SharePath string
	// UID is the unprivileged host uid (from UIDBase) that the instance's
	// processes run as: its assigned user's, the same as that user's jobs
	// (azureuser inside the instance). ShareGID is the group of the
	// workspace's file share, which every instance user of the workspace
	// may write. A backend that cannot run processes as another uid refuses
	// to start the instance unless its server allows unsandboxed instances.
	UID      int
	ShareGID int
	// Env is set for every process of the instance (terminals, kernels,
	// setup scripts, SSH sessions).
	Env map[string]string
	// EnvFromFiles are variables whose values are read from files in the
	// home directory (relative paths), for secrets that the store keeps
	// only hashed (the instance's API token).
	EnvFromFiles map[string]string
	// Files are written into the home directory (relative paths) before
	// anything starts: config.json, the CA bundle, ...
	Files map[string][]byte
	// IsolateNetwork gives the instance a network of its own (loopback
	// only, plus the mlw server at ServerAddr) when the backend can.
	IsolateNetwork bool
	ServerAddr     string
	// Jupyter asks for a notebook server under JupyterBaseURL (a path
	// ending in "/") that accepts JupyterToken.
	Jupyter        bool
	JupyterBaseURL string
	JupyterToken   string
	// SSH, when not nil, asks for an SSH endpoint.
	SSH *SSHSpec
	// Binds are host directories that the instance's processes see at the
	// same path, for the jobs that run inside it (see StartProcess): the
	// instance's job directories, the workspace's storage (inputs,
	// outputs, logs), the prepared Python environments. A backend that
	// gives instances a file system of their own makes them visible there.
	Binds []Bind
}

// Bind is a host directory an instance sees at the same path.
type Bind struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// SSHSpec is the SSH endpoint of an instance.
type SSHSpec struct {
	User      string
	PublicKey string
	// Port is the port to listen on; 0 picks one (reported in the handle).
	Port int
}

// InstanceHandle is what a backend needs to find a running instance again,
// saved in the store (plain JSON).
type InstanceHandle = json.RawMessage

// InstanceInfo describes how a backend runs an instance, for the resource.
type InstanceInfo struct {
	// Limits says how CPU and memory limits are applied, or why not.
	Limits string
	// Isolation says which namespaces the instance has, or why none.
	Isolation string
	// Network says how subnet isolation is applied, or why it cannot be.
	Network string
	// Jupyter is true when a notebook server runs.
	Jupyter bool
	// SSHPort is the port of the SSH endpoint (0: none) and SSHHostKey its
	// host key in authorized_keys form (for clients' known_hosts).
	SSHPort    int
	SSHHostKey string
	// Environments are the instance's Python environments and their
	// Jupyter kernels; the first is the default.
	Environments []PythonEnvironment
}

// PythonEnvironment is one Python environment of an instance (Azure ML's
// azureml_py38, ...) with its Jupyter kernel.
type PythonEnvironment struct {
	Name string `json:"name"`
	// Path is the environment's directory as the instance sees it.
	Path string `json:"path"`
	// Python is the interpreter's version.
	Python            string `json:"python,omitempty"`
	Kernel            string `json:"kernel,omitempty"`
	KernelDisplayName string `json:"kernelDisplayName,omitempty"`
	// Default: the terminal's python and pip, Jupyter's default kernel.
	Default bool `json:"default,omitempty"`
}

// Activity is what keeps an instance from idle shutdown.
type Activity struct {
	Terminals   int
	SSHSessions int
	BusyKernels int
}

// ScriptSpec is one setup script run.
type ScriptSpec struct {
	// Name is "creation" or "startup".
	Name string
	// SharePath is the script's path inside the file share (workspace
	// storage scripts); Inline is the script's text otherwise.
	SharePath string
	Inline    []byte
	Args      string
	// LogPath is the host file that receives the script's output.
	LogPath string
}

// ScriptResult is a script's outcome once it has ended.
type ScriptResult struct {
	ExitCode int
	Error    string
}

// Shell is an interactive shell on a PTY inside an instance.
type Shell interface {
	io.ReadWriteCloser
	// Resize changes the terminal size.
	Resize(cols, rows int) error
	// Done is closed when the shell has exited.
	Done() <-chan struct{}
}

// ErrNotRunning: the instance has no running processes.
var ErrNotRunning = errors.New("the instance is not running")

// Instances runs compute instances. Every method is idempotent and safe
// after a restart of mlw server, given the saved handle.
type Instances interface {
	// Start brings the instance up (home, limits, namespaces, Jupyter,
	// SSH) or, when handle says it already runs, reattaches to it. It
	// returns the handle to save and what the backend could apply.
	Start(ctx context.Context, spec *InstanceSpec, handle InstanceHandle) (InstanceHandle, InstanceInfo, error)
	// Running reports whether the instance's processes are up.
	Running(ctx context.Context, handle InstanceHandle) bool
	// Stop ends every process of the instance; its home stays.
	Stop(ctx context.Context, handle InstanceHandle) error
	// Delete stops the instance and removes its home and limits.
	Delete(ctx context.Context, id string, handle InstanceHandle) error
	// StartScript runs a setup script inside the instance and returns a
	// script handle.
	StartScript(ctx context.Context, spec *InstanceSpec, handle InstanceHandle, s ScriptSpec) (json.RawMessage, error)
	// ScriptDone reports a script's result once it has ended.
	ScriptDone(ctx context.Context, script json.RawMessage) (*ScriptResult, bool)
	// KillScript ends a script (timeout).
	KillScript(ctx context.Context, script json.RawMessage)
	// Shell opens a login shell on a PTY inside the instance.
	Shell(ctx context.Context, spec *InstanceSpec, handle InstanceHandle, cols, rows int) (Shell, error)
	// DialJupyter connects to the instance's notebook server.
	DialJupyter(ctx context.Context, handle InstanceHandle) (net.Conn, error)
	// Activity reports the sessions and busy kernels of an instance.
	Activity(ctx context.Context, spec *InstanceSpec, handle InstanceHandle) Activity
	// StartProcess starts a job's process inside a running instance, as
	// Azure runs a job on a compute instance: in the instance's namespaces
	// and cgroup (its size's limits are shared with the user's terminals
	// and kernels), with the instance's environment (spec.Env and
	// spec.EnvFromFiles) overlaid by p.Env, in p.Dir, which must be under
	// one of spec.Binds. p.Log is written from outside the instance. It is
	// idempotent by p.ID, like Processes.Start, and returns ErrNotRunning
	// when the instance has no running processes. The process is then
	// watched, stopped and released through the same backend's Processes
	// (State, Wait, Stop, Release), like any job process; Stop and Delete
	// of the instance end it.
	StartProcess(ctx context.Context, spec *InstanceSpec, handle InstanceHandle, p ProcessSpec) (ProcessHandle, error)
}

// DefaultScriptTimeout is how long a setup script may run by default.
const DefaultScriptTimeout = 15 * time.Minute

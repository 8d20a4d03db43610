package backend

import (
	"context"
	"errors"
	"time"
)

// ProcessSpec describes one process of a job: one rank on one node.
type ProcessSpec struct {
	// ID is unique and stable for this process of this attempt (for
	// example "<job uid>-a2-r0"): starting the same ID twice returns the
	// first process, so a reconciler that crashed after starting it never
	// starts it again.
	ID string
	// Node is the node it runs on (its budget applies), or "" for none.
	Node string
	// Limits apply when Node is "": a cgroup of the process's own. (A job
	// on a compute instance does not use them: it runs inside the instance,
	// see Instances.StartProcess, and shares its limits.)
	Limits Resources
	// Command is a bash command line to run (as `bash -c` would). Backends
	// may run it inside their own supervisor shell, which saves starting a
	// shell per process. Argv is used when Command is empty.
	Command string
	Argv    []string
	Dir     string
	Env     []string
	// Log receives stdout and stderr (appended); the directory is created.
	Log string
	// Sandbox, when set, runs the process as an unprivileged user, apart
	// from the server and from other users' processes (docs/security.md).
	// A backend that cannot do that here fails Start with ErrNoSandbox,
	// unless its server was started to allow unsandboxed processes.
	Sandbox *Sandbox
}

// UIDBase is the first host uid given to users' processes: the server
// allocates one per user, upwards from here, and never reuses one.
const UIDBase = 2_000_000_000

// Sandbox is how a user's process is confined.
type Sandbox struct {
	// UID is the unprivileged host uid (and gid) the process runs as.
	UID int
	// Writable are paths the process must be able to write (its working
	// directories, outputs): the backend gives them to UID, recursively.
	// Dir and Log always are.
	Writable []string
	// Binds are the host directories the process sees (at the same
	// paths) besides the host's read-only system; everything else of the
	// server's data directory is hidden. They must be the same for every
	// process of a node that the same user runs (the backend may keep one
	// sandbox per node and user).
	Binds []Bind
}

// ErrNoSandbox: the backend cannot sandbox processes on this host.
var ErrNoSandbox = errors.New("processes cannot be sandboxed on this host")

// ProcessHandle names a started process. It is plain data, saved in the
// store, from which a restarted server reattaches.
type ProcessHandle struct {
	ID     string `json:"id"`
	Node   string `json:"node,omitempty"`
	RunDir string `json:"runDir,omitempty"`
}

// ProcessState is what a process is doing.
type ProcessState struct {
	Running bool
	// Exit code once ended (128+n for signal n; -1 when the process was
	// lost: its supervisor was killed).
	ExitCode int
	Signal   string
	// Error is set when the process could not be started at all, or was lost.
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Processes runs job processes.
//
// Start is idempotent by ProcessSpec.ID. Stop ends the whole process tree
// (descendants that left the process group included), waiting at most
// grace before killing; stopping an ended process succeeds. Wait blocks
// until the process ends or ctx is done; reconcilers run it in a goroutine
// to learn of exits at once instead of polling.
type Processes interface {
	Start(ctx context.Context, spec ProcessSpec) (ProcessHandle, error)
	State(ctx context.Context, h ProcessHandle) (ProcessState, error)
	Wait(ctx context.Context, h ProcessHandle) error
	Stop(ctx context.Context, h ProcessHandle, grace time.Duration) error
	// Sweep kills what an ended process left behind (descendants still
	// running), keeping its exit record. Call it before the process's
	// node is given to another job.
	Sweep(ctx context.Context, h ProcessHandle) error
	// Release forgets an ended process and removes its bookkeeping (its
	// exit record included). It kills nothing that another job on the
	// same node could own, so it is safe after the node was handed on.
	Release(ctx context.Context, h ProcessHandle) error
}

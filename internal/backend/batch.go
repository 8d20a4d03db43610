package backend

import (
	"context"
	"errors"
	"time"
)

// Batch is a batch scheduler that owns its nodes (Slurm): mlw submits a
// whole job attempt, all its nodes and ranks, as one batch job, and the
// scheduler decides when and where it runs. A cluster backed by one does
// not use Nodes or Processes: the job reconciler submits, polls and
// cancels; the cluster reconciler mirrors the partition's nodes.
//
// Submit is idempotent by BatchSpec.Name only together with Find: the job
// reconciler looks a name up before it stages and submits, so an attempt
// is never submitted twice, even across a restart of mlw server. No method
// waits for a job.
type Batch interface {
	// Find returns the id of the newest job named name, "" when none
	// exists (in any state).
	Find(ctx context.Context, name string) (string, error)
	Submit(ctx context.Context, spec BatchSpec) (string, error)
	// Jobs returns the state of each job asked for that the scheduler
	// still knows, by id, in one query whatever their number.
	Jobs(ctx context.Context, refs []BatchRef) (map[string]BatchState, error)
	// Cancel ends jobs (SIGTERM, then SIGKILL after the scheduler's
	// grace). Cancelling an ended job succeeds.
	Cancel(ctx context.Context, ids ...string) error
	// Partition reads a partition and its nodes ("" is the default one).
	Partition(ctx context.Context, name string) (BatchPartition, error)
	// Fits says whether a job of spec could ever run in p: nil, or an
	// error wrapping ErrBatchUnsatisfiable that says what is missing.
	Fits(spec BatchSpec, p BatchPartition) error
}

// BatchSpec is one batch job.
type BatchSpec struct {
	// Name finds the job again after a restart (Find).
	Name, Comment, Partition string
	// Script is the batch script (starting with #!); it runs on the first
	// node and starts the ranks on every node.
	Script string
	// WorkDir is where the script starts, Output where its stdout and
	// stderr are appended.
	WorkDir, Output string
	// Env is the job's whole environment.
	Env []string
	// Nodes and TasksPerNode shape the allocation; PerNode is what each
	// node holds for the job (a VM size's vCPUs, memory and GPUs).
	Nodes, TasksPerNode int
	PerNode             Resources
	// TimeLimit stops the job (0: the partition's default).
	TimeLimit time.Duration
	// UID and GID run the job as this account (0: as mlw's own user).
	UID, GID int
}

// BatchRef names a submitted job; Output is its script's output file, read
// to explain a failure (a memory kill that the scheduler reports as a
// plain SIGKILL).
type BatchRef struct {
	ID, Output string
}

// Batch job kinds: what a batch job's state means to mlw.
const (
	BatchPending     = "Pending"
	BatchRunning     = "Running"
	BatchCompleted   = "Completed"
	BatchFailed      = "Failed"
	BatchCancelled   = "Cancelled"
	BatchTimeout     = "Timeout"
	BatchOutOfMemory = "OutOfMemory"
	BatchNodeFail    = "NodeFail"
	BatchPreempted   = "Preempted"
	BatchUnknown     = "Unknown"
)

// BatchState is what the scheduler reports of one job.
type BatchState struct {
	// Kind is one of the Batch* kinds; State is the scheduler's own word
	// (PENDING, RUNNING, OUT_OF_MEMORY, ...).
	Kind, State string
	// Ended is true once the job has ended for good.
	Ended bool
	// ExitCode of the batch script once ended (128+n for signal n, -1
	// when it never ran); Signal names the signal that ended it.
	ExitCode int
	Signal   string
	// Reason is the scheduler's reason code and Message says it in words.
	Reason, Message string
	// Nodes are the nodes it runs on, in the scheduler's notation.
	Nodes             string
	Started, Finished time.Time
}

// BatchPartition is a scheduler's partition and its nodes.
type BatchPartition struct {
	Name  string
	Up    bool
	State string
	Nodes []BatchNode
}

// BatchNode is one node of a partition, its state mapped to mlw's node
// states (resource.Node*); State is "" for a node that does not count
// (powered off in a cloud partition).
type BatchNode struct {
	Name, State, SchedulerState string
	CPUs                        int
	MemoryMB                    int64
	GPUs                        int
	Reason                      string
}

// Errors of a Batch.
var (
	// ErrBatchUnsatisfiable: no node of the partition can ever hold the job.
	ErrBatchUnsatisfiable = errors.New("the job does not fit on any node of the partition")
	// ErrBatchUnknownUser: the account to run as does not exist there.
	ErrBatchUnknownUser = errors.New("the account does not exist on the cluster")
	// ErrBatchNoPartition: no such partition.
	ErrBatchNoPartition = errors.New("no such partition")
)

package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mlw-project/mlw/internal/backend"
)

// Batch is the Client as a backend.Batch: what the reconcilers use to run
// the jobs of a Slurm-backed cluster.
type Batch struct {
	C *Client
}

var _ backend.Batch = Batch{}

// NewBatch returns the backend over the Slurm commands on PATH.
func NewBatch() Batch { return Batch{C: New(ExecRunner{})} }

// Find returns the newest job named name (squeue, then the completion log).
func (b Batch) Find(ctx context.Context, name string) (string, error) {
	jobs, err := b.C.FindByName(ctx, name)
	if err != nil {
		return "", batchErr(err)
	}
	if len(jobs) == 0 {
		return "", nil
	}
	return jobs[len(jobs)-1].ID, nil
}

// Submit runs sbatch.
func (b Batch) Submit(ctx context.Context, spec backend.BatchSpec) (string, error) {
	id, err := b.C.Submit(ctx, JobSpec{Name: spec.Name, Comment: spec.Comment, Partition: spec.Partition, Script: spec.Script,
		Resources: resourcesOf(spec), TimeLimit: spec.TimeLimit, WorkDir: spec.WorkDir, Output: spec.Output, Env: spec.Env,
		UID: spec.UID, GID: spec.GID})
	return id, batchErr(err)
}

// resourcesOf is what a batch spec asks of each node, in Slurm's terms:
// the node's CPUs shared evenly among its tasks.
func resourcesOf(spec backend.BatchSpec) Resources {
	tasks := max(spec.TasksPerNode, 1)
	return Resources{Nodes: max(spec.Nodes, 1), TasksPerNode: tasks, CPUsPerTask: max(spec.PerNode.MilliCPU/1000/tasks, 1),
		MemoryMB: spec.PerNode.MemoryBytes >> 20, GPUsPerNode: spec.PerNode.GPUs}
}

// Jobs queries every job in one squeue (and one sacct -c for the jobs
// slurmctld has forgotten). A job that Slurm reports killed by SIGKILL is
// checked against its output for a memory kill (Status.WithOutput).
func (b Batch) Jobs(ctx context.Context, refs []backend.BatchRef) (map[string]backend.BatchState, error) {
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	jobs, err := b.C.Jobs(ctx, ids)
	if err != nil {
		return nil, batchErr(err)
	}
	out := make(map[string]backend.BatchState, len(jobs))
	for _, r := range refs {
		j, ok := jobs[r.ID]
		if !ok {
			continue
		}
		st := j.Status
		if st.Kind == Failed && st.Signal != 0 && r.Output != "" {
			st = st.WithOutput(fileTail(r.Output, 4096))
		}
		bs := backend.BatchState{Kind: string(st.Kind), State: j.State, Ended: st.Kind.Ended(), ExitCode: st.ExitCode,
			Reason: st.Reason, Message: st.Message, Nodes: j.NodeList, Started: j.Started, Finished: j.Ended}
		if st.Signal != 0 {
			bs.Signal = signalName(st.Signal)
		}
		out[r.ID] = bs
	}
	return out, nil
}

// fileTail is the last n bytes of a file (nil when unreadable).
func fileTail(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return b
}

// Cancel runs scancel.
func (b Batch) Cancel(ctx context.Context, ids ...string) error {
	return batchErr(b.C.Cancel(ctx, ids...))
}

// Partition reads the partition and its nodes, in mlw's node states.
func (b Batch) Partition(ctx context.Context, name string) (backend.BatchPartition, error) {
	p, err := b.C.Partition(ctx, name)
	if err != nil {
		return backend.BatchPartition{}, batchErr(err)
	}
	out := backend.BatchPartition{Name: p.Name, Up: p.Up, State: p.State}
	for _, n := range p.Nodes {
		bn := backend.BatchNode{Name: n.Name, SchedulerState: n.SlurmState, CPUs: n.CPUs, MemoryMB: n.MemoryMB, GPUs: n.GPUs, Reason: n.Reason}
		if n.Listed {
			bn.State = n.State
		}
		out.Nodes = append(out.Nodes, bn)
	}
	return out, nil
}

// Fits checks the spec's resources against the partition's usable nodes.
func (b Batch) Fits(spec backend.BatchSpec, bp backend.BatchPartition) error {
	p := Partition{Name: bp.Name, Up: bp.Up, State: bp.State}
	for _, n := range bp.Nodes {
		p.Nodes = append(p.Nodes, Node{Name: n.Name, State: n.State, Listed: n.State != "", CPUs: n.CPUs, MemoryMB: n.MemoryMB, GPUs: n.GPUs})
	}
	return batchErr(resourcesOf(spec).Fits(p))
}

// batchErr adds the backend's sentinel to an error of the client.
func batchErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnsatisfiable):
		return fmt.Errorf("%w: %w", backend.ErrBatchUnsatisfiable, err)
	case errors.Is(err, ErrUnknownUser):
		return fmt.Errorf("%w: %w", backend.ErrBatchUnknownUser, err)
	case errors.Is(err, ErrNoPartition):
		return fmt.Errorf("%w: %w", backend.ErrBatchNoPartition, err)
	}
	return err
}

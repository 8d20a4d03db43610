package slurm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Client runs Slurm's commands through a Runner. Its methods are safe for
// concurrent use; each is one or two commands, and none waits for a job.
type Client struct {
	run Runner
	// Location is the time zone Slurm's commands print times in (the
	// Slurm host's local time; time.Local by default).
	Location *time.Location
}

// New returns a client that runs its commands through r (ExecRunner{} on
// a machine with the Slurm commands).
func New(r Runner) *Client {
	return &Client{run: r, Location: time.Local}
}

// Resources is what one job asks of Slurm.
type Resources struct {
	// Nodes is the number of nodes (--nodes); 0 means 1.
	Nodes int
	// TasksPerNode is the number of tasks (processes) per node
	// (--ntasks-per-node); 0 means 1.
	TasksPerNode int
	// CPUsPerTask (--cpus-per-task); 0 means Slurm's default, 1.
	CPUsPerTask int
	// MemoryMB is the memory per node in MiB (--mem); 0 means the
	// partition's default (DefMemPerCPU times the CPUs).
	MemoryMB int64
	// GPUsPerNode (--gres=gpu:N); 0 asks for none.
	GPUsPerNode int
}

// JobSpec is one batch job to submit.
type JobSpec struct {
	// Name is the job's name (--job-name). mlw puts its own job's UID and
	// attempt here, so that FindByName can find a job it submitted before
	// a restart instead of submitting it twice.
	Name string
	// Comment is free text shown by squeue and scontrol (--comment).
	Comment string
	// Partition to run in; "" means the cluster's default partition.
	Partition string
	// Script is the batch script, starting with "#!". It runs on the
	// first node of the allocation; it starts processes on every node
	// with srun.
	Script    string
	Resources Resources
	// TimeLimit stops the job (Timeout) when it has run this long. Slurm
	// counts whole minutes: it is rounded up. 0 means the partition's
	// default.
	TimeLimit time.Duration
	// WorkDir is where the script starts (--chdir); it must exist on the
	// nodes. "" means the submitting process's directory.
	WorkDir string
	// Output receives the script's stdout and stderr, appended (--output,
	// --error, --open-mode=append); Slurm creates it on the first node,
	// as the job's user, when the job starts. "" means Slurm's default,
	// slurm-<id>.out in WorkDir.
	Output string
	// Env is the job's whole environment (KEY=value), and nothing of the
	// server's: sbatch runs with it and exports it (--export=ALL). Slurm
	// adds its SLURM_* variables. Variables named SLURM_* or SBATCH_*
	// are dropped (sbatch would read them as options); PATH defaults to
	// /usr/local/bin:/usr/bin:/bin.
	Env []string
	// UID and GID run the job as this user (sbatch --uid/--gid, which
	// only root may use); 0 runs it as the submitting user. The uid needs
	// an account (a passwd entry) on the submit host and the nodes.
	UID, GID int
	// Requeue lets Slurm requeue the job when a node fails or it is
	// preempted (--requeue); otherwise it fails with NodeFail
	// (--no-requeue).
	Requeue bool
}

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// ErrBadSpec: the job spec cannot be submitted as it is.
var ErrBadSpec = errors.New("bad job spec")

// sbatchArgs is the sbatch command line for spec.
func sbatchArgs(spec JobSpec) ([]string, error) {
	if !strings.HasPrefix(spec.Script, "#!") {
		return nil, fmt.Errorf("%w: the script must start with #! (an interpreter line)", ErrBadSpec)
	}
	for _, v := range []string{spec.Name, spec.Comment, spec.Partition, spec.WorkDir, spec.Output} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("%w: %q holds a line break", ErrBadSpec, v)
		}
	}
	r := spec.Resources
	for _, n := range []int{r.Nodes, r.TasksPerNode, r.CPUsPerTask, r.GPUsPerNode} {
		if n < 0 {
			return nil, fmt.Errorf("%w: negative resource count %d", ErrBadSpec, n)
		}
	}
	if r.MemoryMB < 0 || spec.TimeLimit < 0 || spec.UID < 0 || spec.GID < 0 {
		return nil, fmt.Errorf("%w: negative memory, time limit or id", ErrBadSpec)
	}
	args := []string{"--parsable"}
	if spec.Name != "" {
		args = append(args, "--job-name="+spec.Name)
	}
	if spec.Comment != "" {
		args = append(args, "--comment="+spec.Comment)
	}
	if spec.Partition != "" {
		args = append(args, "--partition="+spec.Partition)
	}
	args = append(args,
		"--nodes="+strconv.Itoa(max(r.Nodes, 1)),
		"--ntasks-per-node="+strconv.Itoa(max(r.TasksPerNode, 1)))
	if r.CPUsPerTask > 0 {
		args = append(args, "--cpus-per-task="+strconv.Itoa(r.CPUsPerTask))
	}
	if r.MemoryMB > 0 {
		args = append(args, "--mem="+strconv.FormatInt(r.MemoryMB, 10)+"M")
	}
	if r.GPUsPerNode > 0 {
		args = append(args, "--gres=gpu:"+strconv.Itoa(r.GPUsPerNode))
	}
	if spec.TimeLimit > 0 {
		args = append(args, "--time="+strconv.FormatInt(int64((spec.TimeLimit+time.Minute-1)/time.Minute), 10))
	}
	if spec.WorkDir != "" {
		args = append(args, "--chdir="+spec.WorkDir)
	}
	if spec.Output != "" {
		args = append(args, "--output="+spec.Output, "--error="+spec.Output, "--open-mode=append")
	}
	if spec.Requeue {
		args = append(args, "--requeue")
	} else {
		args = append(args, "--no-requeue")
	}
	if spec.UID > 0 {
		args = append(args, "--uid="+strconv.Itoa(spec.UID))
		if spec.GID > 0 {
			args = append(args, "--gid="+strconv.Itoa(spec.GID))
		}
	}
	return append(args, "--export=ALL"), nil
}

// jobEnv is the environment sbatch runs with: spec.Env without the
// variables sbatch would read as options, with a PATH.
func jobEnv(env []string) ([]string, error) {
	out := make([]string, 0, len(env)+1)
	hasPath := false
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: environment entry %q is not KEY=value", ErrBadSpec, kv)
		}
		if strings.HasPrefix(k, "SLURM_") || strings.HasPrefix(k, "SBATCH_") {
			continue
		}
		hasPath = hasPath || k == "PATH"
		out = append(out, kv)
	}
	if !hasPath {
		out = append(out, "PATH="+defaultPath)
	}
	return out, nil
}

var jobIDRe = regexp.MustCompile(`^[0-9]+$`)

// Submit submits a batch job (sbatch --parsable, the script on stdin) and
// returns its job id. It is not idempotent: a caller that must not submit
// twice gives the job a unique Name and looks it up with FindByName first.
// Errors wrap ErrNoPartition, ErrUnsatisfiable, ErrUnknownUser or
// ErrUnavailable when Slurm says so.
func (c *Client) Submit(ctx context.Context, spec JobSpec) (string, error) {
	args, err := sbatchArgs(spec)
	if err != nil {
		return "", fmt.Errorf("submit %s: %w", spec.Name, err)
	}
	env, err := jobEnv(spec.Env)
	if err != nil {
		return "", fmt.Errorf("submit %s: %w", spec.Name, err)
	}
	out, err := c.run.Run(ctx, Command{Name: "sbatch", Args: args, Stdin: []byte(spec.Script), Env: env})
	if err != nil {
		return "", fmt.Errorf("submit %s: %w", spec.Name, err)
	}
	// --parsable prints "ID" or "ID;CLUSTER".
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if !jobIDRe.MatchString(id) {
		return "", fmt.Errorf("submit %s: sbatch printed %q, not a job id", spec.Name, out)
	}
	return id, nil
}

package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Command is one run of a Slurm command.
type Command struct {
	// Name is the command: "sbatch", "squeue", "scontrol", ...
	Name string
	Args []string
	// Stdin is fed to the command (sbatch reads the batch script here).
	Stdin []byte
	// Env, when not nil, is the command's whole environment. sbatch
	// passes its environment to the job (--export=ALL), so the client
	// gives it the job's environment and nothing of the server's.
	Env []string
}

// String is the command line, as recordings and error messages show it.
func (c Command) String() string {
	parts := append([]string{c.Name}, c.Args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t\n'\"\\|&;<>()$`*?[]#~") {
			parts[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return strings.Join(parts, " ")
}

// Runner runs Slurm commands. Run returns the command's standard output;
// a command that exits non-zero returns a *CommandError (which wraps one
// of the sentinel errors below when Slurm's message says which). Run
// blocks until the command ends or ctx is done.
type Runner interface {
	Run(ctx context.Context, c Command) ([]byte, error)
}

// ExecRunner runs the commands on this machine.
type ExecRunner struct {
	// Dir holds the commands; "" finds them on PATH.
	Dir string
	// Env is added to every command's environment (SLURM_CONF=... to use
	// a cluster other than /etc/slurm/slurm.conf's). For commands given
	// an Env of their own, only these variables are added.
	Env []string
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	path := c.Name
	if r.Dir != "" {
		path = filepath.Join(r.Dir, c.Name)
	}
	cmd := exec.CommandContext(ctx, path, c.Args...)
	switch {
	case c.Env != nil:
		cmd.Env = append(append([]string(nil), c.Env...), r.Env...)
	case r.Env != nil:
		cmd.Env = append(os.Environ(), r.Env...)
	}
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), newCommandError(c, ee.ExitCode(), stdout.String(), stderr.String())
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (install Slurm's client commands, or run scripts/setup-slurm.sh)", c.Name, ErrNotInstalled)
	}
	return nil, fmt.Errorf("%s: %w", c.Name, err)
}

// Errors that Slurm's messages are mapped to (errors.Is on the error a
// client method returns).
var (
	// ErrNotInstalled: the Slurm commands are not on this machine.
	ErrNotInstalled = errors.New("the Slurm commands are not installed")
	// ErrUnavailable: slurmctld does not answer.
	ErrUnavailable = errors.New("the Slurm controller does not answer")
	// ErrNoPartition: the partition does not exist.
	ErrNoPartition = errors.New("no such Slurm partition")
	// ErrUnsatisfiable: no node of the partition can ever run the job as
	// asked (too many CPUs, too much memory, GPUs it lacks, too many nodes,
	// a time limit over the partition's).
	ErrUnsatisfiable = errors.New("the partition cannot run a job of this size")
	// ErrUnknownUser: the uid to run the job as has no account on the
	// Slurm cluster (Slurm needs a passwd entry on the submit host and the
	// nodes).
	ErrUnknownUser = errors.New("the user has no account on the Slurm cluster")
	// ErrNoJob: Slurm knows no job with this id.
	ErrNoJob = errors.New("no such Slurm job")
)

// slurmMessages maps Slurm's error texts (slurm_strerror, stable across
// releases) to the sentinels. They are matched only here, at the edge
// where a command's stderr becomes a Go error.
var slurmMessages = []struct {
	text string
	err  error
}{
	{"Unable to contact slurm controller", ErrUnavailable},
	{"Socket timed out on send/recv operation", ErrUnavailable},
	{"Invalid partition name specified", ErrNoPartition},
	{"Requested node configuration is not available", ErrUnsatisfiable},
	{"Invalid generic resource (gres) specification", ErrUnsatisfiable},
	{"Node count specification invalid", ErrUnsatisfiable},
	{"More processors requested than permitted", ErrUnsatisfiable},
	{"Memory required by task is not available", ErrUnsatisfiable},
	{"Memory specification can not be satisfied", ErrUnsatisfiable},
	{"Requested time limit is invalid", ErrUnsatisfiable},
	{"Invalid --uid specification", ErrUnknownUser},
	{"Invalid user id", ErrUnknownUser},
	{"Invalid job id specified", ErrNoJob},
}

// CommandError is a Slurm command that exited non-zero.
type CommandError struct {
	Command  string
	ExitCode int
	// Message is Slurm's error text (stderr, or stdout when stderr is
	// empty; trimmed).
	Message string
	kind    error
}

func newCommandError(c Command, code int, stdout, stderr string) *CommandError {
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		// Some say it on stdout (scontrol: "Partition x not found").
		msg = strings.TrimSpace(stdout)
	}
	e := &CommandError{Command: c.Name, ExitCode: code, Message: msg}
	for _, m := range slurmMessages {
		if strings.Contains(e.Message, m.text) {
			e.kind = m.err
			break
		}
	}
	// scontrol show partition: "Partition NAME not found".
	if e.kind == nil && strings.HasPrefix(e.Message, "Partition ") && strings.HasSuffix(e.Message, " not found") {
		e.kind = ErrNoPartition
	}
	return e
}

func (e *CommandError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("%s exited with code %d: %s", e.Command, e.ExitCode, msg)
}

// Unwrap is the sentinel error Slurm's message maps to, if any.
func (e *CommandError) Unwrap() error { return e.kind }

package slurm

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		state, reason string
		exit, signal  int
		kind          Kind
		code, sig     int
		msg           string
	}{
		{"PENDING", "None", 0, 0, Pending, 0, 0, "Waiting to be scheduled."},
		{"PENDING", "Resources", 0, 0, Pending, 0, 0, "Waiting for resources: the nodes it needs are busy with other jobs. (Slurm reason: Resources)"},
		{"PENDING", "Priority", 0, 0, Pending, 0, 0, "Waiting behind jobs of higher priority in its partition. (Slurm reason: Priority)"},
		{"PENDING", "QOSMaxCpuPerUserLimit", 0, 0, Pending, 0, 0, "Held back by a limit of its Slurm account or QOS. (Slurm reason: QOSMaxCpuPerUserLimit)"},
		{"PENDING", "SomethingNew", 0, 0, Pending, 0, 0, "Waiting. (Slurm reason: SomethingNew)"},
		{"REQUEUED", "BeginTime", 0, 0, Pending, 0, 0, "Requeued by Slurm. Waiting for its start time. (Slurm reason: BeginTime)"},
		{"CONFIGURING", "None", 0, 0, Pending, 0, 0, "Its nodes are being started."},
		{"RUNNING", "None", 0, 0, Running, 0, 0, "Running."},
		{"COMPLETING", "None", 0, 0, Running, 0, 0, "The job's script has ended; Slurm is cleaning up its nodes."},
		{"SUSPENDED", "None", 0, 0, Running, 0, 0, "Suspended by Slurm; it resumes where it stopped."},
		{"COMPLETED", "None", 0, 0, Completed, 0, 0, "The job's script exited with code 0."},
		{"FAILED", "NonZeroExitCode", 3, 0, Failed, 3, 0, "The job's script exited with code 3."},
		{"FAILED", "NonZeroExitCode", 127, 0, Failed, 127, 0, "The job's script exited with code 127: a command was not found."},
		{"FAILED", "JobLaunchFailure", 0, 11, Failed, 139, 11, "The job's script was killed by SIGSEGV (exit code 139)."},
		{"FAILED", "Prolog", 0, 0, Failed, 0, 0, "Slurm failed the job (Slurm reason: Prolog)."},
		{"CANCELLED", "None", 0, 15, Cancelled, 143, 15, "Cancelled (scancel by its user, mlw or a Slurm administrator)."},
		{"CANCELLED by 0", "None", 0, 0, Cancelled, 0, 0, "Cancelled (scancel by its user, mlw or a Slurm administrator)."},
		{"TIMEOUT", "TimeLimit", 0, 0, Timeout, 0, 0, "Stopped by Slurm at its time limit; give it a longer limit or make it checkpoint."},
		{"DEADLINE", "None", 0, 0, Timeout, 0, 0, "Stopped by Slurm at its deadline."},
		{"OUT_OF_MEMORY", "OutOfMemory", 0, 125, OutOfMemory, 0, 0, "Killed for using more memory than it asked for; choose a larger VM size."},
		{"NODE_FAIL", "NodeDown", 0, 0, NodeFail, 0, 0, "A node it ran on failed or stopped answering."},
		{"BOOT_FAIL", "None", 0, 0, NodeFail, 0, 0, "A node allocated to it failed to boot."},
		{"PREEMPTED", "None", 0, 15, Preempted, 143, 15, "Preempted: Slurm took its nodes for a job of higher priority."},
		{"SOMETHING_NEW", "None", 0, 0, Unknown, 0, 0, `Slurm reports the state "SOMETHING_NEW", which mlw does not know.`},
	} {
		got := StatusOf(tc.state, tc.reason, tc.exit, tc.signal)
		require.Equal(t, tc.kind, got.Kind, "%s/%s", tc.state, tc.reason)
		require.Equal(t, tc.code, got.ExitCode, "%s/%s", tc.state, tc.reason)
		require.Equal(t, tc.sig, got.Signal, "%s/%s", tc.state, tc.reason)
		require.Equal(t, tc.msg, got.Message, "%s/%s", tc.state, tc.reason)
		if tc.reason == "None" {
			require.Empty(t, got.Reason)
		} else {
			require.Equal(t, tc.reason, got.Reason)
		}
	}
}

func TestKindEnded(t *testing.T) {
	t.Parallel()
	for k, ended := range map[Kind]bool{Pending: false, Running: false, Unknown: false, Completed: true, Failed: true,
		Cancelled: true, Timeout: true, OutOfMemory: true, NodeFail: true, Preempted: true} {
		require.Equal(t, ended, k.Ended(), k)
	}
}

func TestNeverRan(t *testing.T) {
	t.Parallel()
	// sbatch refused the job (--gres=gpu:1 without GPUs); Slurm still
	// records it, FAILED with ExitCode 0:1.
	s := neverRan(StatusOf("FAILED", "BadConstraints", 0, 1), "")
	require.Equal(t, Failed, s.Kind)
	require.Equal(t, -1, s.ExitCode)
	require.Zero(t, s.Signal)
	require.Equal(t, "Slurm could not start the job on any node (Slurm reason: BadConstraints).", s.Message)
	ran := StatusOf("FAILED", "NonZeroExitCode", 3, 0)
	require.Equal(t, ran, neverRan(ran, "vm"))
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for v, want := range map[string][3]int{"3:0": {3, 0, 1}, "0:15": {0, 15, 1}, "127:0": {127, 0, 1}, "x": {0, 0, 0}, "1:x": {0, 0, 0}} {
		e, s, ok := parseExitPair(v)
		require.Equal(t, want, [3]int{e, s, map[bool]int{true: 1}[ok]}, v)
	}
	// squeue's exit_code is a wait(2) status.
	for v, want := range map[string][2]int{"0": {0, 0}, "768": {3, 0}, "32512": {127, 0}, "9": {0, 9}, "15": {0, 15}} {
		e, s, ok := parseWaitStatus(v)
		require.True(t, ok)
		require.Equal(t, want, [2]int{e, s}, v)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{
		"UNLIMITED": 0, "INFINITE": 0, "NONE": 0, "N/A": 0, "": 0, "garbage": 0,
		"5": 5 * time.Minute, "10:00": 10 * time.Minute, "1:30": 90 * time.Second, "2:00:00": 2 * time.Hour,
		"1-00:00:00": 24 * time.Hour, "2-3": 51 * time.Hour, "1-2:30": 26*time.Hour + 30*time.Minute, "525600": 365 * 24 * time.Hour,
	} {
		require.Equal(t, want, parseDuration(v), v)
	}
}

func TestParseKV(t *testing.T) {
	t.Parallel()
	f := parseKV("JobId=7 JobName=a b AllocNode:Sid=localhost:7076 OS=Linux 6.1 #1 SMP  Comment=x=y Empty= TRES=cpu=1,mem=100M")
	require.Equal(t, map[string]string{"JobId": "7", "JobName": "a b", "AllocNode:Sid": "localhost:7076",
		"OS": "Linux 6.1 #1 SMP", "Comment": "x=y", "Empty": "", "TRES": "cpu=1,mem=100M"}, f)
}

func TestNodeState(t *testing.T) {
	t.Parallel()
	for slurm, want := range map[string]string{
		"idle": NodeIdle, "planned": NodeIdle, "idle-": NodeIdle,
		"allocated": NodeRunning, "mixed": NodeRunning, "completing": NodeRunning, "mixed@": NodeRunning,
		"draining": NodeLeaving, "mixed+drain": NodeLeaving, "idle%": NodeLeaving, "idle!": NodeLeaving, "powering_down": NodeLeaving,
		"drained": NodeUnusable, "idle+drain": NodeUnusable, "down": NodeUnusable, "down*": NodeUnusable, "idle*": NodeUnusable,
		"fail": NodeUnusable, "inval": NodeUnusable, "maint": NodeUnusable, "reserved": NodeUnusable, "something_new": NodeUnusable,
		"unknown": NodePreparing, "idle#": NodePreparing, "powering_up": NodePreparing, "reboot_issued": NodePreparing, "mixed^": NodePreparing,
		"idle~": "", "future": "", "powered_down": "",
	} {
		state, listed := NodeState(slurm)
		require.Equal(t, want, state, slurm)
		require.Equal(t, want != "", listed, slurm)
	}
}

// TestNodeStatesAreTheResourceModels: the node states are repeated here
// (backends do not import the resource model) and must not drift.
func TestNodeStatesAreTheResourceModels(t *testing.T) {
	t.Parallel()
	require.Equal(t, resource.NodeIdle, NodeIdle)
	require.Equal(t, resource.NodeRunning, NodeRunning)
	require.Equal(t, resource.NodeLeaving, NodeLeaving)
	require.Equal(t, resource.NodePreempted, NodePreempted)
	require.Equal(t, resource.NodePreparing, NodePreparing)
	require.Equal(t, resource.NodeUnusable, NodeUnusable)
}

func TestGPUCount(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int{"(null)": 0, "": 0, "gpu:0": 0, "gpu:2": 2, "gpu:a100:4(S:0-1)": 4,
		"gpu:a100:1(IDX:0,2),mps:100": 1, "gpu:a100:2,gpu:v100:1": 3, "mps:100": 0} {
		require.Equal(t, want, gpuCount(v), v)
	}
}

func TestForVMSize(t *testing.T) {
	t.Parallel()
	size := func(name string) core.VMSize {
		s, ok := core.LookupVMSize(name)
		require.True(t, ok, name)
		return s
	}
	r, err := ForVMSize(size("Standard_DS3_v2"), 1, 0)
	require.NoError(t, err)
	require.Equal(t, Resources{Nodes: 1, TasksPerNode: 1, CPUsPerTask: 4, MemoryMB: 14336}, r)

	r, err = ForVMSize(size("Standard_NC12s_v3"), 2, 2)
	require.NoError(t, err)
	require.Equal(t, Resources{Nodes: 2, TasksPerNode: 2, CPUsPerTask: 6, MemoryMB: 224 << 10, GPUsPerNode: 2}, r)

	r, err = ForVMSize(size("Standard_DS11_v2"), 0, 3)
	require.ErrorIs(t, err, ErrBadSpec, "3 processes on 2 vCPUs")
	require.Zero(t, r)
}

func TestFits(t *testing.T) {
	t.Parallel()
	node := func(name, state string, cpus int, mem int64, gpus int) Node {
		s, listed := NodeState(state)
		return Node{Name: name, SlurmState: state, State: s, Listed: listed, CPUs: cpus, MemoryMB: mem, GPUs: gpus}
	}
	p := Partition{Name: "p", Nodes: []Node{node("a", "idle", 2, 21695, 0), node("b", "mixed", 8, 60000, 2), node("c", "down", 64, 500000, 8), node("d", "idle~", 64, 500000, 8)}}
	require.NoError(t, Resources{CPUsPerTask: 2, MemoryMB: 14336}.Fits(p), "either node; busy ones count")
	require.NoError(t, Resources{Nodes: 2, CPUsPerTask: 2}.Fits(p))
	require.NoError(t, Resources{TasksPerNode: 2, CPUsPerTask: 4, GPUsPerNode: 2}.Fits(p))

	err := Resources{CPUsPerTask: 16}.Fits(p)
	require.ErrorIs(t, err, ErrUnsatisfiable, "the 64-CPU nodes are down or powered off")
	require.Contains(t, err.Error(), "its largest: 8 CPUs")
	require.ErrorIs(t, Resources{Nodes: 2, GPUsPerNode: 1}.Fits(p), ErrUnsatisfiable, "one node has GPUs")
	p.MaxNodes = 1
	require.ErrorIs(t, Resources{Nodes: 2}.Fits(p), ErrUnsatisfiable)
	require.ErrorIs(t, Resources{}.Fits(Partition{Name: "empty"}), ErrUnsatisfiable)
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]error{
		"squeue: error: slurm_load_jobs error: Unable to contact slurm controller (connect failure)": ErrUnavailable,
		"Partition nope not found":                                                             ErrNoPartition,
		"slurm_load_jobs error: Invalid job id specified":                                      ErrNoJob,
		"sbatch: error: Batch job submission failed: Memory required by task is not available": ErrUnsatisfiable,
	} {
		err := error(newCommandError(Command{Name: "x"}, 1, "", msg))
		require.ErrorIs(t, err, want, msg)
	}
	err := error(newCommandError(Command{Name: "x"}, 2, "", "something else"))
	for _, s := range []error{ErrUnavailable, ErrNoPartition, ErrNoJob, ErrUnsatisfiable, ErrUnknownUser} {
		require.False(t, errors.Is(err, s))
	}
	require.Equal(t, "x exited with code 2: something else", err.Error())
}

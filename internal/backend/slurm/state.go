package slurm

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is what a Slurm job is doing, in mlw's terms. Slurm moves every
// state; the client only reads them.
//
//	Pending      queued: waiting for resources, priority, a dependency, a hold
//	             (Slurm's PENDING, REQUEUED, CONFIGURING, ...); Status.Reason says why
//	Running      started (RUNNING, COMPLETING, SUSPENDED, ...)
//	Completed    the batch script exited 0 (COMPLETED)
//	Failed       it exited non-zero or was killed by a signal (FAILED)
//	Cancelled    scancel, by the user, mlw or an administrator (CANCELLED)
//	Timeout      stopped at its time limit or deadline (TIMEOUT, DEADLINE)
//	OutOfMemory  killed for using more memory than asked (OUT_OF_MEMORY)
//	NodeFail     a node it ran on failed (NODE_FAIL, BOOT_FAIL)
//	Preempted    taken off its nodes for a higher-priority job (PREEMPTED)
//	Unknown      a state this client does not know (a newer Slurm)
type Kind string

// Job kinds.
const (
	Pending     Kind = "Pending"
	Running     Kind = "Running"
	Completed   Kind = "Completed"
	Failed      Kind = "Failed"
	Cancelled   Kind = "Cancelled"
	Timeout     Kind = "Timeout"
	OutOfMemory Kind = "OutOfMemory"
	NodeFail    Kind = "NodeFail"
	Preempted   Kind = "Preempted"
	Unknown     Kind = "Unknown"
)

// Ended reports whether a job of this kind has ended for good (Slurm may
// still requeue a preempted or node-failed job, which then shows Pending
// again under the same id).
func (k Kind) Ended() bool {
	switch k {
	case Completed, Failed, Cancelled, Timeout, OutOfMemory, NodeFail, Preempted:
		return true
	}
	return false
}

// Status is a Slurm job's state in mlw's terms.
type Status struct {
	Kind Kind
	// ExitCode is the batch script's exit code once it has ended: 0 for
	// Completed, 128+n when signal n killed it, as mlw's local backend
	// reports it; -1 when it never ran (Slurm refused or could not launch
	// the job).
	ExitCode int
	// Signal is the signal that ended the script (0: none).
	Signal int
	// Reason is Slurm's reason code ("Priority", "Resources",
	// "NonZeroExitCode", ...; "" for Slurm's "None").
	Reason string
	// Message says what happened in words a user can act on.
	Message string
}

// StatusOf maps what Slurm reports of a job (its state, reason code, exit
// code and terminating signal) to a Status.
func StatusOf(state, reason string, exitCode, signal int) Status {
	if reason == "None" || reason == "(null)" {
		reason = ""
	}
	if signal < 0 || signal > 64 {
		// Not a signal: Slurm puts other codes there (0:125 for a job
		// its cgroup plugin saw hit the OOM killer).
		signal = 0
	}
	s := Status{Kind: kindOf(state), Reason: reason, Signal: signal, ExitCode: exitCode}
	if signal > 0 {
		s.ExitCode = 128 + signal
	}
	st := baseState(state)
	switch s.Kind {
	case Pending:
		s.ExitCode, s.Signal = 0, 0
		s.Message = pendingMessage(st, reason)
	case Running:
		s.ExitCode, s.Signal = 0, 0
		switch st {
		case "COMPLETING":
			s.Message = "The job's script has ended; Slurm is cleaning up its nodes."
		case "SUSPENDED", "STOPPED":
			s.Message = "Suspended by Slurm; it resumes where it stopped."
		default:
			s.Message = "Running."
		}
	case Completed:
		s.Message = "The job's script exited with code 0."
	case Failed:
		s.Message = failedMessage(s, reason)
	case Cancelled:
		s.Message = "Cancelled (scancel by its user, mlw or a Slurm administrator)."
	case Timeout:
		if st == "DEADLINE" {
			s.Message = "Stopped by Slurm at its deadline."
		} else {
			s.Message = "Stopped by Slurm at its time limit; give it a longer limit or make it checkpoint."
		}
	case OutOfMemory:
		s.Message = "Killed for using more memory than it asked for; choose a larger VM size."
	case NodeFail:
		if st == "BOOT_FAIL" {
			s.Message = "A node allocated to it failed to boot."
		} else {
			s.Message = "A node it ran on failed or stopped answering."
		}
	case Preempted:
		s.Message = "Preempted: Slurm took its nodes for a job of higher priority."
	default:
		s.Message = fmt.Sprintf("Slurm reports the state %q, which mlw does not know.", state)
	}
	return s
}

// baseState is Slurm's state word without what some commands add
// ("CANCELLED by 0" in sacct, "COMPLETING+" flags).
func baseState(state string) string {
	state = strings.TrimSpace(state)
	if i := strings.IndexAny(state, " +"); i >= 0 {
		state = state[:i]
	}
	return strings.ToUpper(state)
}

func kindOf(state string) Kind {
	switch baseState(state) {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESV_DEL_HOLD":
		return Pending
	case "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING", "POWER_UP_NODE", "UPDATE_DB":
		return Running
	case "COMPLETED":
		return Completed
	case "FAILED", "SPECIAL_EXIT":
		return Failed
	case "CANCELLED", "REVOKED":
		return Cancelled
	case "TIMEOUT", "DEADLINE":
		return Timeout
	case "OUT_OF_MEMORY":
		return OutOfMemory
	case "NODE_FAIL", "BOOT_FAIL":
		return NodeFail
	case "PREEMPTED":
		return Preempted
	}
	return Unknown
}

// pendingReasons are Slurm's reasons for a pending job (job_reason
// strings) in words.
var pendingReasons = map[string]string{
	"":                            "Waiting to be scheduled.",
	"Priority":                    "Waiting behind jobs of higher priority in its partition.",
	"Resources":                   "Waiting for resources: the nodes it needs are busy with other jobs.",
	"Dependency":                  "Waiting for the jobs it depends on to end.",
	"DependencyNeverSatisfied":    "Its dependencies can never be satisfied; cancel it.",
	"BeginTime":                   "Waiting for its start time.",
	"JobHeldUser":                 "Held by its user ('scontrol release' lets it start).",
	"JobHeldAdmin":                "Held by a Slurm administrator.",
	"PartitionDown":               "Its partition is down.",
	"PartitionInactive":           "Its partition is inactive.",
	"PartitionNodeLimit":          "It asks for more (or fewer) nodes than its partition allows.",
	"PartitionTimeLimit":          "Its time limit is longer than its partition allows.",
	"ReqNodeNotAvail":             "Nodes it needs are down, drained or reserved.",
	"NodeDown":                    "A node it needs is down.",
	"BadConstraints":              "No node of its partition can satisfy its request.",
	"PartitionConfig":             "It asks for more CPUs, memory or GPUs than the nodes of its partition have.",
	"Licenses":                    "Waiting for licenses.",
	"Reservation":                 "Waiting for its reservation to start.",
	"Prolog":                      "Its nodes are running their prolog.",
	"Cleaning":                    "Waiting for Slurm to clean up after its previous run.",
	"InvalidAccount":              "Its Slurm account is invalid.",
	"InvalidQOS":                  "Its Slurm QOS is invalid.",
	"JobArrayTaskLimit":           "Its job array has as many tasks running as it may.",
	"launch failed requeued held": "Its launch failed; Slurm requeued and held it (an administrator must release it).",
}

func pendingMessage(state, reason string) string {
	if state == "CONFIGURING" {
		return "Its nodes are being started."
	}
	msg, ok := pendingReasons[reason]
	switch {
	case ok:
	case strings.HasPrefix(reason, "Assoc"), strings.HasPrefix(reason, "QOS"):
		msg = "Held back by a limit of its Slurm account or QOS."
	default:
		msg = "Waiting."
	}
	if state == "REQUEUED" || state == "REQUEUE_HOLD" {
		msg = "Requeued by Slurm. " + msg
	}
	if reason != "" {
		msg += " (Slurm reason: " + reason + ")"
	}
	return msg
}

func failedMessage(s Status, reason string) string {
	switch {
	case s.Signal > 0:
		return fmt.Sprintf("The job's script was killed by %s (exit code %d).", signalName(s.Signal), s.ExitCode)
	case s.ExitCode == 127:
		return "The job's script exited with code 127: a command was not found."
	case s.ExitCode == 126:
		return "The job's script exited with code 126: a command could not be executed."
	case s.ExitCode != 0:
		return fmt.Sprintf("The job's script exited with code %d.", s.ExitCode)
	case reason != "":
		return "Slurm failed the job (Slurm reason: " + reason + ")."
	}
	return "Slurm failed the job."
}

func signalName(sig int) string {
	if name := unix.SignalName(unix.Signal(sig)); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(sig)
}

// memoryKillLine is what slurmstepd writes to a job's output when
// JobAcctGatherParams=OverMemoryKill kills it (src/common/
// slurm_jobacct_gather.c); that configuration has no cgroup to report an
// OOM, so Slurm itself records only FAILED by SIGKILL.
var memoryKillLine = []byte("Exceeded job memory limit")

// WithOutput refines s from the end of the job's output file: a job that
// Slurm reports killed by SIGKILL and whose output carries slurmstepd's
// "Exceeded job memory limit" line was killed by OverMemoryKill, and is
// reported OutOfMemory. Where Slurm confines jobs with cgroups it reports
// OUT_OF_MEMORY itself, and this changes nothing.
func (s Status) WithOutput(tail []byte) Status {
	if s.Kind != Failed || s.Signal != int(unix.SIGKILL) || !bytes.Contains(tail, memoryKillLine) {
		return s
	}
	return StatusOf("OUT_OF_MEMORY", s.Reason, 0, s.Signal)
}

// parseExitPair parses Slurm's "EXIT:SIGNAL" (scontrol, sacct).
func parseExitPair(v string) (exit, signal int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(v), ":")
	if !found {
		return 0, 0, false
	}
	e, err1 := strconv.Atoi(a)
	sg, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return e, sg, true
}

// parseWaitStatus parses squeue's exit_code, a raw wait(2) status.
func parseWaitStatus(v string) (exit, signal int, ok bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, 0, false
	}
	return (n >> 8) & 0xff, n & 0x7f, true
}

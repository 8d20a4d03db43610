package service

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/store"
)

// Job statuses are Azure's JobStatus values. A job row's indexed State
// column holds its status and its Owner column the operation key of its
// compute (ResourceOpKey), so that "the queued jobs of this cluster" and
// "is a job running on this instance" are index lookups.
//
// Who moves each status:
//
//	NotStarted       admission creates the job
//	Queued           job reconciler: waiting for a node (or the instance)
//	Preparing        scheduler (cluster reconciler; the job reconciler for
//	                 instances, and when an ending job hands its node to
//	                 the next queued one): node(s) assigned; the job
//	                 reconciler then copies the snapshot and prepares the
//	                 environment
//	Running          job reconciler: the user process(es) started
//	Finalizing       job reconciler: the processes ended; outputs and logs
//	                 are being saved as artifacts
//	Completed, Failed, Canceled
//	                 job reconciler (terminal)
//	CancelRequested  admission (cancel), cluster reconciler (cluster
//	                 deleted); the job reconciler stops it and moves it to
//	                 Canceled
//	Deleting         admission (DELETE): the job reconciler stops it and
//	                 removes it
const (
	JobNotStarted      = "NotStarted"
	JobQueued          = "Queued"
	JobPreparing       = "Preparing"
	JobRunning         = "Running"
	JobFinalizing      = "Finalizing"
	JobCompleted       = "Completed"
	JobFailed          = "Failed"
	JobCanceled        = "Canceled"
	JobCancelRequested = "CancelRequested"
)

// JobActiveStates are the statuses of a job that holds or waits for compute.
var JobActiveStates = []string{JobNotStarted, JobQueued, JobPreparing, JobRunning, JobFinalizing, JobCancelRequested}

// JobTerminal reports whether a status is final.
func JobTerminal(state string) bool {
	return state == JobCompleted || state == JobFailed || state == JobCanceled
}

// JobStatus is the server-owned part of a job (the row's Status), written
// by the reconcilers; admission writes only CancelRequest.
type JobStatus struct {
	// WorkspaceUID and ComputeUID are the UIDs of the job's workspace and
	// compute at admission: caches key on them, never on names, since a
	// workspace or compute deleted and created again has the same names.
	WorkspaceUID string `json:"workspaceUid,omitempty"`
	ComputeUID   string `json:"computeUid,omitempty"`
	// Reason says why the job is where it is, especially while it waits
	// ("Waiting for a node: aml-cluster at 2/2 nodes, all busy").
	Reason string `json:"reason,omitempty"`
	// Phases records when the job entered each status.
	Phases []JobPhase `json:"phases,omitempty"`
	// Attempt is the current attempt (1 once it was first assigned a
	// node); a job whose low-priority node is preempted runs again.
	Attempt int `json:"attempt,omitempty"`
	// Attempts are the attempts that ended early (preempted).
	Attempts []JobAttempt `json:"attempts,omitempty"`
	// Nodes are the nodes of the current attempt, rank order.
	Nodes []string `json:"nodes,omitempty"`
	// Procs are the processes of the current attempt.
	Procs []JobProc `json:"procs,omitempty"`
	// MasterPort is MASTER_PORT of a distributed attempt.
	MasterPort int `json:"masterPort,omitempty"`
	// Root is where the job's files (working directories, checkpoints)
	// are, relative to the data directory's jobs/, when not its UID: a job
	// on a compute instance keeps them in the instance's directory
	// ("ci-<instance id>/<job id>"), which the instance sees.
	Root string `json:"root,omitempty"`
	// Outcome is the terminal status decided when the processes ended
	// (set while Finalizing).
	Outcome  string    `json:"outcome,omitempty"`
	ExitCode *int      `json:"exitCode,omitempty"`
	Error    *JobError `json:"error,omitempty"`
	// StartTime is when the user process first started; EndTime when the
	// job reached a terminal status.
	StartTime *time.Time `json:"startTime,omitempty"`
	EndTime   *time.Time `json:"endTime,omitempty"`
	// Environment is the resolved environment (ARM id) and Python the
	// interpreter it ran with.
	Environment string `json:"environment,omitempty"`
	Python      string `json:"python,omitempty"`
	// CancelRequest is set by admission with the CancelRequested status.
	CancelRequest *JobCancel `json:"cancelRequest,omitempty"`
	// SubmitterID is the object id of the user who submitted the job (set
	// by admission): its processes run as that user's host uid.
	SubmitterID string `json:"submitterId,omitempty"`
}

// JobPhase is one status change. Reason is the job's reason when it left
// the phase (why it waited, for a Queued one); the current phase's is
// JobStatus.Reason.
type JobPhase struct {
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// JobAttempt is an attempt that ended before the job did.
type JobAttempt struct {
	Attempt int       `json:"attempt"`
	Nodes   []string  `json:"nodes,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
}

// JobProc is one process of an attempt: what a backend needs to find it
// again after a restart.
type JobProc struct {
	ID     string `json:"id"`
	Rank   int    `json:"rank"`
	Node   string `json:"node,omitempty"`
	RunDir string `json:"runDir,omitempty"`
	// Log is the log file's name under the job's artifacts
	// (user_logs/std_log.txt, user_logs/std_log_process_1.txt, ...).
	Log string `json:"log"`
}

// JobError is why a job failed, in run history's shape.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// JobCancel records who asked for a cancellation and why.
type JobCancel struct {
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// JobStatusOf decodes a job's status.
func JobStatusOf(r *store.Resource) *JobStatus {
	st := &JobStatus{}
	_ = json.Unmarshal(r.Status, st)
	return st
}

// Enter records a status change at now; it returns false when the job is
// already in that status. The phase it leaves keeps the job's reason of
// that moment, so that a finished job still says why it waited — unless
// the reason was given in the phase before (a phase passed through at
// once, such as Finalizing with nothing to save, has none of its own).
func (st *JobStatus) Enter(status string, now time.Time) bool {
	n := len(st.Phases)
	if n > 0 && st.Phases[n-1].Status == status {
		return false
	}
	if n > 0 && st.Phases[n-1].Reason == "" && (n < 2 || st.Phases[n-2].Reason != st.Reason) {
		st.Phases[n-1].Reason = st.Reason
	}
	st.Phases = append(st.Phases, JobPhase{Status: status, Time: now.UTC()})
	return true
}

// PhaseTime returns when the job last entered status (zero if never).
func (st *JobStatus) PhaseTime(status string) time.Time {
	for i := len(st.Phases) - 1; i >= 0; i-- {
		if st.Phases[i].Status == status {
			return st.Phases[i].Time
		}
	}
	return time.Time{}
}

// Node rows: each node of a cluster is a row of kind "node" whose parent is
// the cluster's operation key (ResourceOpKey), so that deleting the
// workspace's tree removes them. State is the node state as listNodes
// reports it (idle, running, preparing, leaving, preempted); Owner is the
// queue key of the job it runs ("" when idle). Spec holds what admission
// asks of the node (preemption); Status what the reconciler observed.
const KindNode = "node"

// NodeSpec is the desired state of a node.
type NodeSpec struct {
	// Preempt asks the cluster reconciler to preempt the node (low-priority
	// clusters only): its job is stopped and requeued, the node removed.
	Preempt     bool       `json:"preempt,omitempty"`
	PreemptedAt *time.Time `json:"preemptRequestedAt,omitempty"`
	PreemptBy   string     `json:"preemptRequestedBy,omitempty"`
}

// NodeStatus is the observed state of a node.
type NodeStatus struct {
	Index     int       `json:"index"`
	PrivateIP string    `json:"privateIpAddress"`
	PublicIP  string    `json:"publicIpAddress"`
	Port      int       `json:"port"`
	CreatedAt time.Time `json:"createdAt"`
	// IdleSince is when the node last became idle.
	IdleSince time.Time `json:"idleSince"`
	// Job is the name of the job the node runs (runId in listNodes).
	Job string `json:"job,omitempty"`
	// LimitsEnforced says whether the size's budget is enforced (cgroups);
	// Note says why not.
	LimitsEnforced bool   `json:"limitsEnforced"`
	Note           string `json:"note,omitempty"`
	// The size's budget, which the node holds of the host's capacity.
	MilliCPU    int   `json:"milliCpu"`
	MemoryBytes int64 `json:"memoryBytes"`
	GPUs        int   `json:"gpus,omitempty"`
}

// NodeSpecOf decodes a node's spec.
func NodeSpecOf(r *store.Resource) NodeSpec {
	var s NodeSpec
	_ = json.Unmarshal(r.Spec, &s)
	return s
}

// NodeStatusOf decodes a node's status.
func NodeStatusOf(r *store.Resource) NodeStatus {
	var s NodeStatus
	_ = json.Unmarshal(r.Status, &s)
	return s
}

// JobKeyName returns the job name of a node's Owner (a queue key).
func JobKeyName(owner string) string {
	_, name := ParseKey(owner)
	return name
}

// ClusterStatus is the server-owned part of a cluster that the cluster
// reconciler writes: properties.properties of the rendered compute, plus
// mlw's reasons. Live figures (currentNodeCount, nodeStateCounts) are
// computed from the node rows when the compute is rendered.
type ClusterStatus struct {
	AllocationState               string    `json:"allocationState"`
	AllocationStateTransitionTime time.Time `json:"allocationStateTransitionTime"`
	TargetNodeCount               int       `json:"targetNodeCount"`
	// Errors are Azure's errors[]: ARM error responses, e.g. nodes that do
	// not fit on the host.
	Errors []map[string]any `json:"errors"`
	// ScaleReason is the autoscaler's last decision in words.
	ScaleReason string `json:"scaleReason,omitempty"`
	// LastScaleTime is when that decision changed the node count.
	LastScaleTime *time.Time `json:"lastScaleTime,omitempty"`
	// QueueReason says why queued jobs wait ("aml-cluster at 2/2 nodes,
	// all busy"); a queued job's reason is rendered from it.
	QueueReason string `json:"queueReason,omitempty"`
	// NodeSeq numbers the nodes created so far (for node ids).
	NodeSeq int `json:"nodeSeq,omitempty"`
	// ObservedGeneration is the spec generation the status reflects.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Isolation says how the backend keeps jobs apart from the server and
	// from each other (rendered as properties.properties.mlw.isolation).
	Isolation string `json:"isolation,omitempty"`
}

// WaitingForNode is a queued cluster job's reason, from its cluster's
// QueueReason.
func WaitingForNode(queueReason string) string {
	return "Waiting for a node: " + queueReason + "."
}

// ClusterQueueReason reads a cluster's QueueReason ("" for anything else).
func ClusterQueueReason(c *store.Resource) string {
	if c == nil || ComputeTypeOf(c) != AmlCompute {
		return ""
	}
	var cs struct {
		Properties struct {
			Properties ClusterStatus `json:"properties"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(c.Status, &cs)
	return cs.Properties.Properties.QueueReason
}

// ClusterErrors are a cluster's errors[] as "Code: message" (nodes that
// do not fit on the host: HostCapacityExceeded); nil for anything else.
// A queued job's reason carries them, so that `job show` and `job stream`
// say why its nodes do not come.
func ClusterErrors(c *store.Resource) []string {
	if c == nil || ComputeTypeOf(c) != AmlCompute {
		return nil
	}
	var cs struct {
		Properties struct {
			Properties ClusterStatus `json:"properties"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(c.Status, &cs)
	var out []string
	for _, e := range cs.Properties.Properties.Errors {
		inner, _ := e["error"].(map[string]any)
		code, _ := inner["code"].(string)
		msg, _ := inner["message"].(string)
		if code != "" || msg != "" {
			out = append(out, strings.TrimPrefix(code+": "+msg, ": "))
		}
	}
	return out
}

// NodeStateCounts counts nodes by state in Azure's nodeStateCounts shape.
func NodeStateCounts(nodes []*store.Resource) map[string]any {
	counts := map[string]int{}
	for _, n := range nodes {
		counts[n.State]++
	}
	return map[string]any{
		"idleNodeCount": counts["idle"], "runningNodeCount": counts["running"], "preparingNodeCount": counts["preparing"],
		"unusableNodeCount": counts["unusable"], "leavingNodeCount": counts["leaving"], "preemptedNodeCount": counts["preempted"],
	}
}

// CurrentNodeCount is Azure's currentNodeCount: the nodes that exist and
// are not leaving or preempted.
func CurrentNodeCount(nodes []*store.Resource) int {
	n := 0
	for _, r := range nodes {
		if r.State != "leaving" && r.State != "preempted" {
			n++
		}
	}
	return n
}

// NodeInfo renders one node as listNodes does.
func NodeInfo(n *store.Resource) map[string]any {
	st := NodeStatusOf(n)
	var run any
	if st.Job != "" {
		run = st.Job
	}
	return map[string]any{"nodeId": n.Name, "privateIpAddress": st.PrivateIP, "publicIpAddress": st.PublicIP,
		"port": st.Port, "nodeState": strings.ToLower(n.State), "runId": run}
}

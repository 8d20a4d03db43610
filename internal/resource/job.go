package resource

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// JobSpec is the typed view of a job's properties that admission and the
// reconciler act on; the stored document keeps everything the client sent.
type JobSpec struct {
	JobType              string               `json:"jobType"`
	Command              string               `json:"command"`
	CodeID               string               `json:"codeId"`
	EnvironmentID        string               `json:"environmentId"`
	ComputeID            string               `json:"computeId"`
	DisplayName          string               `json:"displayName"`
	ExperimentName       string               `json:"experimentName"`
	Description          string               `json:"description"`
	IsArchived           bool                 `json:"isArchived"`
	Tags                 map[string]any       `json:"tags"`
	EnvironmentVariables map[string]any       `json:"environmentVariables"`
	Inputs               map[string]JobInput  `json:"inputs"`
	Outputs              map[string]JobOutput `json:"outputs"`
	Resources            *struct {
		InstanceCount *int   `json:"instanceCount"`
		InstanceType  string `json:"instanceType"`
		ShmSize       string `json:"shmSize"`
	} `json:"resources"`
	Distribution *struct {
		DistributionType        string `json:"distributionType"`
		ProcessCountPerInstance *int   `json:"processCountPerInstance"`
		WorkerCount             *int   `json:"workerCount"`
		ParameterServerCount    *int   `json:"parameterServerCount"`
	} `json:"distribution"`
	Limits *struct {
		JobLimitsType string          `json:"jobLimitsType"`
		Timeout       json.RawMessage `json:"timeout"`
	} `json:"limits"`
	// Intent is what a user asked of the job (the spec's IntentKey).
	Intent Intent `json:"-"`
}

// JobInput is one input: a literal or a URI.
type JobInput struct {
	JobInputType string          `json:"jobInputType"`
	Value        json.RawMessage `json:"value"`
	URI          string          `json:"uri"`
	Mode         string          `json:"mode"`
}

// JobOutput is one output: where the job writes it.
type JobOutput struct {
	JobOutputType string `json:"jobOutputType"`
	URI           string `json:"uri"`
	Mode          string `json:"mode"`
}

// InstanceCount is resources.instanceCount (default 1).
func (j *JobSpec) InstanceCount() int {
	if j.Resources == nil || j.Resources.InstanceCount == nil {
		return 1
	}
	return *j.Resources.InstanceCount
}

// InstanceType is resources.instanceType ("" when the job names none).
func (j *JobSpec) InstanceType() string {
	if j.Resources == nil {
		return ""
	}
	return j.Resources.InstanceType
}

// ProcessesPerInstance is distribution.processCountPerInstance (default 1).
func (j *JobSpec) ProcessesPerInstance() int {
	if j.Distribution == nil || j.Distribution.ProcessCountPerInstance == nil {
		return 1
	}
	return *j.Distribution.ProcessCountPerInstance
}

// Timeout is limits.timeout (0 when none).
func (j *JobSpec) Timeout() (time.Duration, error) {
	if j.Limits == nil || len(j.Limits.Timeout) == 0 || string(j.Limits.Timeout) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(j.Limits.Timeout, &s) != nil {
		s = string(j.Limits.Timeout) // a number of seconds
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return 0, core.Invalid("properties.limits.timeout", "limits.timeout must be positive, not %s.", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := core.ParseISODuration(s)
	if err != nil {
		return 0, core.Invalid("properties.limits.timeout", "limits.timeout: %v (or a number of seconds).", err)
	}
	if d <= 0 {
		return 0, core.Invalid("properties.limits.timeout", "limits.timeout must be positive, not %s.", s)
	}
	return d, nil
}

// JobSpecOf decodes a stored job's properties.
func JobSpecOf(r *Object) (*JobSpec, error) {
	var doc struct {
		Properties JobSpec `json:"properties"`
		Intent     Intent  `json:"intent"`
	}
	if err := json.Unmarshal(r.Spec, &doc); err != nil {
		return nil, fmt.Errorf("job %s: stored spec: %w", r.Name, err)
	}
	doc.Properties.Intent = doc.Intent
	return &doc.Properties, nil
}

// JobDefaultOutputURI is where a job's artifacts (outputs, logs) live:
// outputs.default of the job.
func JobDefaultOutputURI(name string) string {
	return "azureml://datastores/" + DatastoreArtifacts + "/ExperimentRun/dcid." + name
}

// JobArtifactPrefix is the blob prefix of a job's artifacts in the
// artifact store's container.
func JobArtifactPrefix(name string) string { return "ExperimentRun/dcid." + name + "/" }

// JobNamedOutputPath is the default path of a named output in the default
// datastore (where jobs.download looks for it).
func JobNamedOutputPath(job, output string) string { return "azureml/" + job + "/" + output + "/" }

// DataLocation is where a URI's data lives in the workspace's storage:
// a blob path of one container (the files are plain files on disk), or
// an external URL that a job downloads.
type DataLocation struct {
	Account, Container, Path string
	// URL is set for data outside mlw (http or https).
	URL string
}

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
//	CancelRequested  job reconciler, for a user's cancel (which admission
//	                 records in the spec: Intent.Cancel), and the cluster
//	                 reconciler (cluster deleted); the job reconciler stops
//	                 it and moves it to Canceled
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

// JobDeleting is the state of a job whose deletion was requested
// (admission, DELETE); the job reconciler stops it and removes the row.
const JobDeleting = StateDeleting

// Move is one allowed state change and who makes it.
type Move struct {
	To string
	By string
}

// JobMoves is the one table of a job's state changes: from each state,
// where it may go and who moves it. Nothing else moves a job; the
// reconcilers' tests check every change they make against it.
var JobMoves = map[string][]Move{
	JobNotStarted: {{JobQueued, "job reconciler"}, {JobFailed, "job reconciler (bad compute, code or environment)"},
		{JobCancelRequested, "job reconciler (a user's cancel: the spec's intent)"}, {JobCanceled, "job reconciler"}, {JobDeleting, "admission (delete)"}},
	JobQueued: {{JobPreparing, "scheduler (node assigned)"}, {JobFailed, "cluster reconciler (cannot fit), job reconciler"},
		{JobCancelRequested, "job reconciler (a user's cancel), cluster reconciler (cluster deleted)"}, {JobCanceled, "job reconciler"},
		{JobDeleting, "admission (delete)"}},
	JobPreparing: {{JobRunning, "job reconciler (processes started)"}, {JobFailed, "job reconciler"},
		{JobQueued, "job reconciler (node preempted: next attempt)"}, {JobFinalizing, "job reconciler"},
		{JobCancelRequested, "job reconciler (a user's cancel), cluster reconciler (cluster deleted)"}, {JobCanceled, "job reconciler"}, {JobDeleting, "admission (delete)"}},
	JobRunning: {{JobFinalizing, "job reconciler (processes ended)"}, {JobCompleted, "job reconciler"}, {JobFailed, "job reconciler"},
		{JobCanceled, "job reconciler"}, {JobQueued, "job reconciler (node preempted: next attempt)"},
		{JobCancelRequested, "job reconciler (a user's cancel), cluster reconciler (cluster deleted)"}, {JobDeleting, "admission (delete)"}},
	JobFinalizing: {{JobCompleted, "job reconciler (outputs saved)"}, {JobFailed, "job reconciler"}, {JobCanceled, "job reconciler"},
		{JobCancelRequested, "job reconciler (a user's cancel: the spec's intent)"}, {JobDeleting, "admission (delete)"}},
	JobCancelRequested: {{JobCanceled, "job reconciler (stopped)"}, {JobFinalizing, "job reconciler"},
		{JobCompleted, "job reconciler (ended before the stop)"}, {JobFailed, "job reconciler (ended before the stop)"},
		{JobDeleting, "admission (delete)"}},
	JobCompleted: {{JobDeleting, "admission (delete)"}},
	JobFailed:    {{JobDeleting, "admission (delete)"}},
	JobCanceled:  {{JobDeleting, "admission (delete)"}},
	JobDeleting:  {},
}

// JobMoveAllowed reports whether JobMoves lists from → to (staying is
// always allowed).
func JobMoveAllowed(from, to string) bool {
	if from == to {
		return true
	}
	for _, m := range JobMoves[from] {
		if m.To == to {
			return true
		}
	}
	return false
}

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
	// Slurm is the current attempt's Slurm job, on a Slurm-backed cluster.
	Slurm *SlurmRun `json:"slurm,omitempty"`
	// Kube is the current attempt's Job, on an attached Kubernetes
	// compute.
	Kube *KubeRun `json:"kube,omitempty"`
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
func JobStatusOf(r *Object) *JobStatus {
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

// JobKeyName returns the job name of a node's Owner (a queue key).
func JobKeyName(owner string) string {
	_, name := ParseKey(owner)
	return name
}

// Literal returns a literal input's value as a string.
func (in JobInput) Literal() string {
	var s string
	if json.Unmarshal(in.Value, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(in.Value))
}

// ArtifactContainer is the container of a workspace's artifact store.
const ArtifactContainer = "azureml"

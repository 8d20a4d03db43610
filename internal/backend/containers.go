package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Containers is a container orchestrator (Kubernetes) that runs a whole
// job attempt as one Job of pods, one pod per node, each in a container
// image; the orchestrator schedules them. A compute attached from one does
// not use Nodes, Processes or Batch: the job reconciler submits, polls,
// copies logs and cancels. Submit is idempotent by ContainerJob.Name (an
// attempt already created is left as it is), so a restart of mlw never
// creates one twice. No method waits for a job.
type Containers interface {
	// Check verifies the connection, the namespace and the right to
	// create Jobs there.
	Check(ctx context.Context) error
	Submit(ctx context.Context, job *ContainerJob) error
	// States reads every attempt mlw has in the namespace, by name, in
	// a fixed number of requests whatever their number.
	States(ctx context.Context) (map[string]ContainerState, error)
	// Cancel deletes an attempt and its pods (they get their grace
	// period). Cancelling what is gone succeeds.
	Cancel(ctx context.Context, name string) error
	// Logs streams the output of node index's pod (ErrNoPod before it
	// exists), following it while it runs when follow.
	Logs(ctx context.Context, name string, index int, follow bool) (io.ReadCloser, error)
	// Nodes lists the orchestrator's nodes (matching selector, "" for all).
	Nodes(ctx context.Context, selector string) ([]ContainerNode, error)
}

// ContainerConnector connects to an orchestrator with a kubeconfig and a
// namespace ("" for the kubeconfig's).
type ContainerConnector func(kubeconfig []byte, namespace string) (Containers, error)

// Where a pod has its inputs and named outputs.
const (
	ContainerInputs  = "/mlw/inputs"
	ContainerOutputs = "/mlw/outputs"
)

// ContainerCAPath is where the pods' scripts write ContainerJob.CAPEM, for
// curl and for the job's own clients (MLFLOW_TRACKING_SERVER_CERT_PATH).
const ContainerCAPath = "/tmp/mlw-ca.pem"

// ErrNoPod: the pod of that node has not been created (or is gone).
var ErrNoPod = errors.New("no pod for that node yet")

// ContainerJob is one attempt of a command job as pods.
type ContainerJob struct {
	// Name is the orchestrator's name for the attempt: a DNS label of at
	// most 52 characters (kubernetes.JobName).
	Name    string
	JobName string // the mlw job's name
	JobUID  string
	Attempt int
	Image   string
	Command string
	Env     map[string]string
	// Nodes is the number of pods, one per node (instance_count), and
	// ProcsPerNode the processes in each (process_count_per_instance).
	Nodes, ProcsPerNode int
	// PerNode is what each pod requests, and is limited to.
	PerNode Resources
	// Timeout ends the attempt (0: none).
	Timeout time.Duration
	// CodeURL is a SAS URL of the code snapshot, a tar archive ("" for
	// none); OutputsURL a SAS URL of the folder outputs/ is uploaded to.
	CodeURL, OutputsURL string
	// Inputs are the inputs fetched before the command runs, each the tar
	// archive <InputsURL's folder>/<name>.tar unpacked into
	// ContainerInputs/<name> (read-only to the command).
	Inputs    []string
	InputsURL string
	// NamedOutputs are the folders ContainerOutputs/<name> the command
	// writes, uploaded to <NamedOutputsURL's folder>/<name>/ at the end.
	NamedOutputs    []string
	NamedOutputsURL string
	// CheckpointURL is a SAS URL of the job's checkpoint: a tar archive
	// of node 0's ./checkpoints, which the run script saves there when its
	// pod is told to stop (SIGTERM: preempted, evicted, drained). With
	// Resume, the init container first unpacks the one an earlier attempt
	// saved into ./checkpoints.
	CheckpointURL string
	Resume        bool
	// CAPEM is the certificate the pods trust for mlw's URLs (CodeURL,
	// OutputsURL, the tracking URI): written to /mlw/ca.pem.
	CAPEM        string
	NodeSelector map[string]string
	// ServiceAccount the pods run as ("" for the namespace's default).
	ServiceAccount string
}

// Kinds of ContainerState: what an attempt's pods mean to mlw.
const (
	ContainerPending     = "Pending"   // a pod waits: for a node (Reason from the scheduler), or for its pods to be made
	ContainerPreparing   = "Preparing" // pods scheduled, the code being fetched or images pulled
	ContainerRunning     = "Running"
	ContainerCompleted   = "Completed"
	ContainerFailed      = "Failed"
	ContainerTimeout     = "Timeout"
	ContainerOutOfMemory = "OutOfMemory"
	ContainerImagePull   = "ImagePullFailed" // the image cannot be pulled: the attempt cannot go on
	// ContainerPreempted: a pod was preempted or evicted (a spot node
	// reclaimed, drained or shut down): the attempt ended through no
	// fault of the job's, and the job may run again as a new attempt.
	ContainerPreempted = "Preempted"
	ContainerGone      = "Gone" // no such attempt (deleted, or never created)
)

// ContainerState is an attempt as the orchestrator reports it.
type ContainerState struct {
	Kind string
	// Ended: the attempt will not change any more.
	Ended bool
	// ExitCode of the first failed container (-1 when none ran).
	ExitCode int
	// Reason is the orchestrator's reason (Unschedulable, ErrImagePull,
	// DeadlineExceeded, OOMKilled, ...); Message says it in words.
	Reason, Message string
	// Nodes the pods run on.
	Nodes []string
}

// ContainerNode is one node of an orchestrator.
type ContainerNode struct {
	Name        string
	Ready       bool
	Schedulable bool
	MilliCPU    int64
	MemoryBytes int64
	GPUs        int64
	// Message says why a node is not ready.
	Message string
}

// ContainerJobName is the orchestrator's name of attempt n of the mlw job
// with uid: a DNS label of at most 52 characters, so that its pods' names
// (the name and a suffix) stay within 63.
func ContainerJobName(uid string, attempt int) string {
	var b strings.Builder
	for _, c := range strings.ToLower(uid) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	return fmt.Sprintf("mlw-%s-a%d", s, attempt)
}

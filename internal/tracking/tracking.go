// Package tracking is the model of experiment tracking (docs/mlflow.md):
// MLflow's experiments, runs, metrics, params, tags and dataset inputs as
// mlw stores them, and the MLflow search grammar (filter and order_by)
// parsed into clauses the store turns into SQL. It imports only the
// standard library and core, so that the store, admission and the HTTP
// renderers share it.
package tracking

import (
	"fmt"
	"net/http"

	"github.com/mlw-project/mlw/internal/core"
)

// Lifecycle stages of experiments and runs (moved by the API: delete and
// restore).
const (
	Active  = "active"
	Deleted = "deleted"
)

// Run statuses (moved by the client through runs/update; for a job's run
// by the job reconciler when the job ends).
const (
	Running   = "RUNNING"
	Scheduled = "SCHEDULED"
	Finished  = "FINISHED"
	Failed    = "FAILED"
	Killed    = "KILLED"
)

// RunStatuses are the statuses MLflow knows.
var RunStatuses = []string{Running, Scheduled, Finished, Failed, Killed}

// MLflow error codes (databricks_pb2.ErrorCode) mlw answers with.
const (
	CodeInvalidParameter = "INVALID_PARAMETER_VALUE"
	CodeDoesNotExist     = "RESOURCE_DOES_NOT_EXIST"
	CodeAlreadyExists    = "RESOURCE_ALREADY_EXISTS"
	CodeBadRequest       = "BAD_REQUEST"
	CodeInternal         = "INTERNAL_ERROR"
	CodeUnauthenticated  = "UNAUTHENTICATED"
	CodePermissionDenied = "PERMISSION_DENIED"
	CodeNotImplemented   = "ENDPOINT_NOT_FOUND"
)

// Invalid is an INVALID_PARAMETER_VALUE error (400) naming the field.
func Invalid(field, format string, args ...any) *core.Error {
	return &core.Error{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Target: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound is a RESOURCE_DOES_NOT_EXIST error (404).
func NotFound(format string, args ...any) *core.Error {
	return &core.Error{Status: http.StatusNotFound, Code: CodeDoesNotExist, Message: fmt.Sprintf(format, args...)}
}

// Exists is a RESOURCE_ALREADY_EXISTS error (400, as MLflow answers).
func Exists(format string, args ...any) *core.Error {
	return &core.Error{Status: http.StatusBadRequest, Code: CodeAlreadyExists, Message: fmt.Sprintf(format, args...)}
}

// KV is a param or a tag.
type KV struct {
	Key, Value string
}

// Experiment is an MLflow experiment of one workspace. IDs are decimal
// strings, unique in the workspace; "0" is the Default experiment.
type Experiment struct {
	// Workspace is the UID of the workspace (a workspace created again
	// under an old name starts with no experiments).
	Workspace        string
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	// CreationTime and LastUpdateTime are Unix milliseconds.
	CreationTime   int64
	LastUpdateTime int64
	Tags           []KV
}

// Metric is one point of a metric. Timestamp is Unix milliseconds.
type Metric struct {
	Key       string
	Value     float64
	Timestamp int64
	Step      int64
	// RunID is set in answers that mix runs (bulk history).
	RunID string
}

// RunInfo is what a run is, apart from its data.
type RunInfo struct {
	Workspace    string
	RunID        string
	ExperimentID string
	RunName      string
	UserID       string
	Status       string
	// StartTime and EndTime are Unix milliseconds; EndTime 0 is unset.
	StartTime      int64
	EndTime        int64
	ArtifactURI    string
	LifecycleStage string
	// Job is the name of the mlw job this run is ("" for a run a client
	// created).
	Job string
}

// Dataset is an MLflow dataset as log-inputs sends it.
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput is a dataset a run used, with its tags (mlflow.data.context).
type DatasetInput struct {
	Tags    []KV    `json:"tags,omitempty"`
	Dataset Dataset `json:"dataset"`
}

// Run is a run with its data: the latest value of each metric, params,
// tags and dataset inputs.
type Run struct {
	Info    RunInfo
	Metrics []Metric
	Params  []KV
	Tags    []KV
	Inputs  []DatasetInput
}

// ParamChangedError is returned when a param is logged again with another
// value (MLflow params are immutable).
type ParamChangedError struct {
	Key, Old, New string
}

func (e *ParamChangedError) Error() string {
	return fmt.Sprintf("param %q already has the value %q; it cannot change to %q", e.Key, e.Old, e.New)
}

// Limits MLflow documents and mlw enforces.
const (
	MaxParamValue  = 6000
	MaxTagValue    = 8000
	MaxKey         = 250
	MaxBatchItems  = 1000
	MaxBatchParams = 100
	MaxBatchTags   = 100
	MaxResults     = 50000
)

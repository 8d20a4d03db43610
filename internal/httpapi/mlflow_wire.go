package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/tracking"
)

// MLflow's JSON (mlflow/protos/service.proto as the REST API documents
// it): field names in snake_case, int64 as JSON numbers (MLflow's client
// sends them so; strings are accepted too), doubles as numbers or "NaN",
// "Infinity", "-Infinity".

// jsonInt is an int64 sent as a number or a string; set says it was sent.
type jsonInt struct {
	v   int64
	set bool
}

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) {
			return tracking.Invalid("", "Invalid integer %s: send a whole number.", string(b))
		}
		v = int64(f)
	}
	n.v, n.set = v, true
	return nil
}

// jsonFloat is a double sent as a number, a numeric string or one of
// "NaN", "Infinity", "-Infinity".
type jsonFloat struct {
	v   float64
	set bool
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := strings.Trim(string(b), `"`)
	switch s {
	case "NaN", "nan":
		f.v = math.NaN()
	case "Infinity", "inf":
		f.v = math.Inf(1)
	case "-Infinity", "-inf":
		f.v = math.Inf(-1)
	default:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return tracking.Invalid("value", "Invalid metric value %s: send a number (or \"NaN\", \"Infinity\", \"-Infinity\").", string(b))
		}
		f.v = v
	}
	f.set = true
	return nil
}

// appendFloat writes a double as MLflow does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// wireFloat renders a double through encoding/json.
type wireFloat float64

func (f wireFloat) MarshalJSON() ([]byte, error) { return appendFloat(nil, float64(f)), nil }

type wireKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireMetric struct {
	Key       string    `json:"key"`
	Value     wireFloat `json:"value"`
	Timestamp int64     `json:"timestamp"`
	Step      int64     `json:"step"`
}

func kvs(in []tracking.KV) []wireKV {
	out := make([]wireKV, len(in))
	for i, kv := range in {
		out[i] = wireKV(kv)
	}
	return out
}

func fromKVs(in []wireKV) []tracking.KV {
	out := make([]tracking.KV, len(in))
	for i, kv := range in {
		out[i] = tracking.KV(kv)
	}
	return out
}

// renderExperiment is an Experiment.
func renderExperiment(e *tracking.Experiment) map[string]any {
	return map[string]any{
		"experiment_id": e.ID, "name": e.Name, "artifact_location": e.ArtifactLocation, "lifecycle_stage": e.LifecycleStage,
		"creation_time": e.CreationTime, "last_update_time": e.LastUpdateTime, "tags": kvs(e.Tags),
	}
}

// wireRunInfo is MLflow's RunInfo (run_uuid is its deprecated spelling of
// run_id, which old clients still read).
type wireRunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

// wireRun is MLflow's Run: info, data and inputs. Structs, not maps: a
// page of 1,000 runs encodes in a third of the time.
type wireRun struct {
	Info   wireRunInfo `json:"info"`
	Data   wireRunData `json:"data"`
	Inputs struct {
		DatasetInputs []wireDatasetInput `json:"dataset_inputs"`
	} `json:"inputs"`
}

type wireRunData struct {
	Metrics []wireMetric `json:"metrics"`
	Params  []wireKV     `json:"params"`
	Tags    []wireKV     `json:"tags"`
}

type wireDatasetInput struct {
	Tags    []wireKV         `json:"tags"`
	Dataset tracking.Dataset `json:"dataset"`
}

// renderRunInfo is a RunInfo.
func renderRunInfo(in *tracking.RunInfo) wireRunInfo {
	return wireRunInfo{RunID: in.RunID, RunUUID: in.RunID, RunName: in.RunName, ExperimentID: in.ExperimentID, UserID: in.UserID,
		Status: in.Status, StartTime: in.StartTime, EndTime: in.EndTime, ArtifactURI: in.ArtifactURI, LifecycleStage: in.LifecycleStage}
}

// renderRun is a Run.
func renderRun(r *tracking.Run) wireRun {
	w := wireRun{Info: renderRunInfo(&r.Info), Data: wireRunData{Metrics: make([]wireMetric, len(r.Metrics)), Params: kvs(r.Params), Tags: kvs(r.Tags)}}
	for i, m := range r.Metrics {
		w.Data.Metrics[i] = wireMetric{Key: m.Key, Value: wireFloat(m.Value), Timestamp: m.Timestamp, Step: m.Step}
	}
	w.Inputs.DatasetInputs = make([]wireDatasetInput, len(r.Inputs))
	for i, d := range r.Inputs {
		w.Inputs.DatasetInputs[i] = wireDatasetInput{Tags: kvs(d.Tags), Dataset: d.Dataset}
	}
	return w
}

// writeMetrics writes {"metrics":[…], "next_page_token": …} without
// encoding/json: a history of 100,000 points is most of the answer's cost.
func writeMetrics(r *Request, ms []tracking.Metric, next string) {
	b := make([]byte, 0, 64+len(ms)*(96+len(lastKeyHint(ms))))
	b = append(b, `{"metrics":[`...)
	var lastKey string
	var keyJSON []byte
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		if keyJSON == nil || m.Key != lastKey {
			keyJSON, _ = json.Marshal(m.Key)
			lastKey = m.Key
		}
		b = append(b, `{"key":`...)
		b = append(b, keyJSON...)
		b = append(b, `,"value":`...)
		b = appendFloat(b, m.Value)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, m.Timestamp, 10)
		b = append(b, `,"step":`...)
		b = strconv.AppendInt(b, m.Step, 10)
		if m.RunID != "" {
			b = append(b, `,"run_id":`...)
			b = strconv.AppendQuote(b, m.RunID)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if next != "" {
		b = append(b, `,"next_page_token":`...)
		b = strconv.AppendQuote(b, next)
	}
	b = append(b, '}')
	w := r.W
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// mlflowCode is the MLflow error code of an error.
func mlflowCode(e *core.Error) string {
	switch e.Code {
	case tracking.CodeInvalidParameter, tracking.CodeDoesNotExist, tracking.CodeAlreadyExists, tracking.CodeBadRequest,
		tracking.CodeInternal, tracking.CodeUnauthenticated, tracking.CodePermissionDenied, tracking.CodeNotImplemented:
		return e.Code
	}
	switch e.Status {
	case http.StatusBadRequest:
		return tracking.CodeInvalidParameter
	case http.StatusUnauthorized:
		return tracking.CodeUnauthenticated
	case http.StatusForbidden:
		return tracking.CodePermissionDenied
	case http.StatusNotFound:
		if e.Code == "NoRegisteredProviderFound" {
			return tracking.CodeNotImplemented
		}
		return tracking.CodeDoesNotExist
	case http.StatusConflict:
		return tracking.CodeAlreadyExists
	}
	if e.Status >= 500 {
		return tracking.CodeInternal
	}
	return tracking.CodeBadRequest
}

// isMLflowPath says that a path is served with MLflow's error shape.
func isMLflowPath(p string) bool {
	return len(p) > len(mlflowPrefix) && strings.EqualFold(p[:len(mlflowPrefix)], mlflowPrefix)
}

// writeMLflowError writes MLflow's error body: {"error_code", "message"}.
func writeMLflowError(w http.ResponseWriter, r *http.Request, e *core.Error) {
	msg := e.Message
	writeJSON(w, r, e.Status, map[string]string{"error_code": mlflowCode(e), "message": msg})
}

// lastKeyHint is a key of ms, to size the answer's buffer.
func lastKeyHint(ms []tracking.Metric) string {
	if len(ms) == 0 {
		return ""
	}
	return ms[0].Key
}

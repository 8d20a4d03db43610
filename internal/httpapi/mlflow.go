package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/tracking"
)

// The MLflow tracking server of each workspace (docs/mlflow.md): the
// REST API 2.0 under the workspace's tracking URI,
//
//	https://HOST/mlflow/v1.0/subscriptions/…/workspaces/{ws}
//
// to which MLflow clients append /api/2.0/mlflow/… (tracking) and
// /api/2.0/mlflow-artifacts/artifacts/… (the artifact proxy). Errors have
// MLflow's shape ({"error_code", "message"}), authentication and access
// are mlw's (a bearer token, as MLFLOW_TRACKING_TOKEN sends; Readers read,
// Data Scientists write).

const (
	mlflowPrefix = "/mlflow/"
	mlflowBase   = "/mlflow/v1.0" + wsPath
)

// mlflowRoute is one endpoint: write says that it changes something
// (AzureML Data Scientist), the others read (Reader).
type mlflowRoute struct {
	method, path string
	write        bool
	h            func(a *API, r *Request) (any, error)
}

// mlflowEndpoints are the endpoints under mlflowBase: tracking and the
// model registry (mlflow_registry.go).
var mlflowEndpoints = append(append([]mlflowRoute{}, trackingEndpoints...), registryEndpoints...)

// trackingEndpoints are the tracking API and the artifact proxy.
var trackingEndpoints = []mlflowRoute{
	{"POST", "/api/2.0/mlflow/experiments/create", true, (*API).mlCreateExperiment},
	{"GET", "/api/2.0/mlflow/experiments/get", false, (*API).mlGetExperiment},
	{"GET", "/api/2.0/mlflow/experiments/get-by-name", false, (*API).mlGetExperimentByName},
	{"POST", "/api/2.0/mlflow/experiments/search", false, (*API).mlSearchExperiments},
	{"GET", "/api/2.0/mlflow/experiments/search", false, (*API).mlSearchExperiments},
	{"POST", "/api/2.0/mlflow/experiments/update", true, (*API).mlUpdateExperiment},
	{"POST", "/api/2.0/mlflow/experiments/delete", true, (*API).mlDeleteExperiment},
	{"POST", "/api/2.0/mlflow/experiments/restore", true, (*API).mlRestoreExperiment},
	{"POST", "/api/2.0/mlflow/experiments/set-experiment-tag", true, (*API).mlSetExperimentTag},
	{"POST", "/api/2.0/mlflow/runs/create", true, (*API).mlCreateRun},
	{"GET", "/api/2.0/mlflow/runs/get", false, (*API).mlGetRun},
	{"POST", "/api/2.0/mlflow/runs/update", true, (*API).mlUpdateRun},
	{"POST", "/api/2.0/mlflow/runs/delete", true, (*API).mlDeleteRun},
	{"POST", "/api/2.0/mlflow/runs/restore", true, (*API).mlRestoreRun},
	{"POST", "/api/2.0/mlflow/runs/search", false, (*API).mlSearchRuns},
	{"POST", "/api/2.0/mlflow/runs/log-metric", true, (*API).mlLogMetric},
	{"POST", "/api/2.0/mlflow/runs/log-parameter", true, (*API).mlLogParam},
	{"POST", "/api/2.0/mlflow/runs/set-tag", true, (*API).mlSetTag},
	{"POST", "/api/2.0/mlflow/runs/delete-tag", true, (*API).mlDeleteTag},
	{"POST", "/api/2.0/mlflow/runs/log-batch", true, (*API).mlLogBatch},
	{"POST", "/api/2.0/mlflow/runs/log-model", true, (*API).mlLogModel},
	{"POST", "/api/2.0/mlflow/runs/log-inputs", true, (*API).mlLogInputs},
	{"GET", "/api/2.0/mlflow/metrics/get-history", false, (*API).mlMetricHistory},
	{"GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval", false, (*API).mlMetricHistoryInterval},
	{"GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", false, (*API).mlMetricHistoryInterval},
	{"GET", "/api/2.0/mlflow/artifacts/list", false, (*API).mlListRunArtifacts},
	{"GET", "/api/2.0/mlflow-artifacts/artifacts/{path...}", false, (*API).mlDownloadArtifact},
	{"PUT", "/api/2.0/mlflow-artifacts/artifacts/{path...}", true, (*API).mlUploadArtifact},
	{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/{path...}", true, (*API).mlDeleteArtifact},
}

func (a *API) mlflowRoutes() {
	for _, rt := range mlflowEndpoints {
		h := rt.h
		a.Handle(rt.method, mlflowBase+rt.path, func(r *Request) (any, error) { return h(a, r) })
	}
}

// mlDecode decodes a JSON body; a value of the wrong type is an
// INVALID_PARAMETER_VALUE naming the field. The body is decoded once into
// v (log-batch is the hot path); only a body that fails is read again by
// service.ReadBody, for its message.
func mlDecode(r *Request, v any) error {
	raw, err := io.ReadAll(io.LimitReader(r.Request.Body, maxBody+1))
	if err != nil {
		return tracking.Invalid("body", "The request body could not be read: %v", err)
	}
	if len(raw) > maxBody {
		return tracking.Invalid("body", "The request body is larger than %d bytes.", maxBody)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		if e, ok := core.AsError(err); ok {
			return e
		}
		b, berr := service.ReadBody(bytes.NewReader(raw), maxBody)
		if berr != nil {
			return berr
		}
		return b.Into(v)
	}
	return nil
}

// empty is MLflow's answer to a write without a result.
var empty = map[string]any{}

func (a *API) mlCreateExperiment(r *Request) (any, error) {
	var req struct {
		Name             string   `json:"name"`
		ArtifactLocation string   `json:"artifact_location"`
		Tags             []wireKV `json:"tags"`
	}
	if err := mlDecode(r, &req); err != nil {
		return nil, err
	}
	id, err := a.svc.CreateExperiment(r.Ctx(), r.Workspace(), req.Name, req.ArtifactLocation, fromKVs(req.Tags))
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment_id": id}, nil
}

func (a *API) mlGetExperiment(r *Request) (any, error) {
	e, err := a.svc.GetExperiment(r.Ctx(), r.Workspace(), r.URL.Query().Get("experiment_id"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": renderExperiment(e)}, nil
}

func (a *API) mlGetExperimentByName(r *Request) (any, error) {
	e, err := a.svc.GetExperimentByName(r.Ctx(), r.Workspace(), r.URL.Query().Get("experiment_name"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": renderExperiment(e)}, nil
}

// searchBody is what experiments/search and runs/search send.
type searchBody struct {
	ExperimentIDs []string `json:"experiment_ids"`
	MaxResults    jsonInt  `json:"max_results"`
	PageToken     string   `json:"page_token"`
	Filter        string   `json:"filter"`
	OrderBy       []string `json:"order_by"`
	ViewType      any      `json:"view_type"`
	RunViewType   any      `json:"run_view_type"`
}

// readSearch reads a search from a POST body or a GET query.
func readSearch(r *Request) (*searchBody, error) {
	var b searchBody
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		b.ExperimentIDs, b.PageToken, b.Filter, b.OrderBy = q["experiment_ids"], q.Get("page_token"), q.Get("filter"), q["order_by"]
		b.ViewType, b.RunViewType = q.Get("view_type"), q.Get("run_view_type")
		if v := q.Get("max_results"); v != "" {
			if err := b.MaxResults.UnmarshalJSON([]byte(v)); err != nil {
				return nil, tracking.Invalid("max_results", "Invalid value %q for parameter 'max_results': send a whole number.", v)
			}
		}
		return &b, nil
	}
	return &b, mlDecode(r, &b)
}

func viewString(v any) string {
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return strconv.Itoa(int(f))
	}
	s, _ := v.(string)
	return s
}

func (a *API) mlSearchExperiments(r *Request) (any, error) {
	b, err := readSearch(r)
	if err != nil {
		return nil, err
	}
	es, next, err := a.svc.SearchExperiments(r.Ctx(), r.Workspace(), service.SearchRequest{MaxResults: b.MaxResults.v, PageToken: b.PageToken,
		Filter: b.Filter, OrderBy: b.OrderBy, ViewType: viewString(b.ViewType)})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(es))
	for i, e := range es {
		out[i] = renderExperiment(e)
	}
	resp := map[string]any{"experiments": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

type experimentBody struct {
	ExperimentID string `json:"experiment_id"`
	NewName      string `json:"new_name"`
	Key          string `json:"key"`
	Value        string `json:"value"`
}

func (a *API) mlUpdateExperiment(r *Request) (any, error) {
	var b experimentBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.UpdateExperiment(r.Ctx(), r.Workspace(), b.ExperimentID, b.NewName)
}

func (a *API) mlDeleteExperiment(r *Request) (any, error) {
	var b experimentBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.SetExperimentLifecycle(r.Ctx(), r.Workspace(), b.ExperimentID, tracking.Deleted)
}

func (a *API) mlRestoreExperiment(r *Request) (any, error) {
	var b experimentBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.SetExperimentLifecycle(r.Ctx(), r.Workspace(), b.ExperimentID, tracking.Active)
}

func (a *API) mlSetExperimentTag(r *Request) (any, error) {
	var b experimentBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.SetExperimentTag(r.Ctx(), r.Workspace(), b.ExperimentID, tracking.KV{Key: b.Key, Value: b.Value})
}

func (a *API) mlCreateRun(r *Request) (any, error) {
	var b struct {
		ExperimentID string   `json:"experiment_id"`
		UserID       string   `json:"user_id"`
		RunName      string   `json:"run_name"`
		StartTime    jsonInt  `json:"start_time"`
		Tags         []wireKV `json:"tags"`
	}
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	run, err := a.svc.CreateRun(r.Ctx(), r.Workspace(), service.CreateRunRequest{ExperimentID: b.ExperimentID, UserID: b.UserID,
		RunName: b.RunName, StartTime: b.StartTime.v, Tags: fromKVs(b.Tags)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": renderRun(run)}, nil
}

// runIDOf is run_id, or the deprecated run_uuid.
func runIDOf(id, uuid string) string {
	if id != "" {
		return id
	}
	return uuid
}

func (a *API) mlGetRun(r *Request) (any, error) {
	q := r.URL.Query()
	run, err := a.svc.GetRun(r.Ctx(), r.Workspace(), runIDOf(q.Get("run_id"), q.Get("run_uuid")))
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": renderRun(run)}, nil
}

// runBody is what the run endpoints send.
type runBody struct {
	RunID     string       `json:"run_id"`
	RunUUID   string       `json:"run_uuid"`
	Status    string       `json:"status"`
	EndTime   jsonInt      `json:"end_time"`
	RunName   *string      `json:"run_name"`
	Key       string       `json:"key"`
	Value     jsonRawValue `json:"value"`
	Timestamp jsonInt      `json:"timestamp"`
	Step      jsonInt      `json:"step"`
	ModelJSON string       `json:"model_json"`
}

// jsonRawValue keeps a value that is a string for params and tags and a
// number for metrics.
type jsonRawValue []byte

func (v *jsonRawValue) UnmarshalJSON(b []byte) error {
	*v = append((*v)[:0], b...)
	return nil
}

// str is the value as a string (a param's or a tag's).
func (v jsonRawValue) str() (string, error) {
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		// MLflow clients send strings; a number is kept as written.
		if _, nerr := strconv.ParseFloat(string(v), 64); nerr == nil {
			return string(v), nil
		}
		return "", tracking.Invalid("value", "Invalid value %s for parameter 'value': send a string.", string(v))
	}
	return s, nil
}

func (b *runBody) id() string { return runIDOf(b.RunID, b.RunUUID) }

func (a *API) mlUpdateRun(r *Request) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	var end *int64
	if b.EndTime.set {
		end = &b.EndTime.v
	}
	info, err := a.svc.UpdateRun(r.Ctx(), r.Workspace(), b.id(), b.Status, end, b.RunName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": renderRunInfo(info)}, nil
}

func (a *API) mlDeleteRun(r *Request) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.SetRunLifecycle(r.Ctx(), r.Workspace(), b.id(), tracking.Deleted)
}

func (a *API) mlRestoreRun(r *Request) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.SetRunLifecycle(r.Ctx(), r.Workspace(), b.id(), tracking.Active)
}

func (a *API) mlSearchRuns(r *Request) (any, error) {
	b, err := readSearch(r)
	if err != nil {
		return nil, err
	}
	runs, next, err := a.svc.SearchRuns(r.Ctx(), r.Workspace(), service.SearchRunsRequest{ExperimentIDs: b.ExperimentIDs,
		SearchRequest: service.SearchRequest{MaxResults: b.MaxResults.v, PageToken: b.PageToken, Filter: b.Filter, OrderBy: b.OrderBy,
			ViewType: viewString(b.RunViewType)}})
	if err != nil {
		return nil, err
	}
	out := make([]wireRun, len(runs))
	for i, run := range runs {
		out[i] = renderRun(run)
	}
	resp := map[string]any{"runs": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

func (a *API) mlLogMetric(r *Request) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	var v jsonFloat
	if len(b.Value) == 0 {
		return nil, tracking.Invalid("value", "Missing value for required parameter 'value'.")
	}
	if err := v.UnmarshalJSON(b.Value); err != nil {
		return nil, err
	}
	m := tracking.Metric{Key: b.Key, Value: v.v, Timestamp: b.Timestamp.v, Step: b.Step.v}
	return empty, a.svc.LogBatch(r.Ctx(), r.Workspace(), b.id(), tracking.Batch{Metrics: []tracking.Metric{m}})
}

func (a *API) mlLogParam(r *Request) (any, error) {
	return a.mlLogKV(r, func(kv tracking.KV) tracking.Batch { return tracking.Batch{Params: []tracking.KV{kv}} })
}

func (a *API) mlSetTag(r *Request) (any, error) {
	return a.mlLogKV(r, func(kv tracking.KV) tracking.Batch { return tracking.Batch{Tags: []tracking.KV{kv}} })
}

// mlLogKV logs one key and value of a run's body as the batch batchOf
// makes of it (a param or a tag).
func (a *API) mlLogKV(r *Request, batchOf func(tracking.KV) tracking.Batch) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	v, err := b.Value.str()
	if err != nil {
		return nil, err
	}
	return empty, a.svc.LogBatch(r.Ctx(), r.Workspace(), b.id(), batchOf(tracking.KV{Key: b.Key, Value: v}))
}

func (a *API) mlDeleteTag(r *Request) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.DeleteRunTag(r.Ctx(), r.Workspace(), b.id(), b.Key)
}

func (a *API) mlLogBatch(r *Request) (any, error) {
	var b struct {
		RunID   string `json:"run_id"`
		Metrics []struct {
			Key       string    `json:"key"`
			Value     jsonFloat `json:"value"`
			Timestamp jsonInt   `json:"timestamp"`
			Step      jsonInt   `json:"step"`
		} `json:"metrics"`
		Params []wireKV `json:"params"`
		Tags   []wireKV `json:"tags"`
	}
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	batch := tracking.Batch{Params: fromKVs(b.Params), Tags: fromKVs(b.Tags), Metrics: make([]tracking.Metric, len(b.Metrics))}
	for i, m := range b.Metrics {
		if !m.Value.set {
			return nil, tracking.Invalid("metrics.value", "Missing value for required parameter 'metrics[%d].value'.", i)
		}
		batch.Metrics[i] = tracking.Metric{Key: m.Key, Value: m.Value.v, Timestamp: m.Timestamp.v, Step: m.Step.v}
	}
	return empty, a.svc.LogBatch(r.Ctx(), r.Workspace(), b.RunID, batch)
}

func (a *API) mlLogModel(r *Request) (any, error) {
	var b runBody
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	return empty, a.svc.LogModel(r.Ctx(), r.Workspace(), b.id(), b.ModelJSON)
}

func (a *API) mlLogInputs(r *Request) (any, error) {
	var b struct {
		RunID    string `json:"run_id"`
		Datasets []struct {
			Tags    []wireKV         `json:"tags"`
			Dataset tracking.Dataset `json:"dataset"`
		} `json:"datasets"`
	}
	if err := mlDecode(r, &b); err != nil {
		return nil, err
	}
	in := make([]tracking.DatasetInput, len(b.Datasets))
	for i, d := range b.Datasets {
		in[i] = tracking.DatasetInput{Tags: fromKVs(d.Tags), Dataset: d.Dataset}
	}
	return empty, a.svc.LogInputs(r.Ctx(), r.Workspace(), b.RunID, in)
}

// queryInt reads an optional integer query parameter.
func queryInt(r *Request, name string) (*int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, tracking.Invalid(name, "Invalid value %q for parameter '%s': send a whole number.", v, name)
	}
	return &n, nil
}

func (a *API) mlMetricHistory(r *Request) (any, error) {
	q := r.URL.Query()
	max, err := queryInt(r, "max_results")
	if err != nil {
		return nil, err
	}
	var limit int64
	if max != nil {
		limit = *max
	}
	ms, next, err := a.svc.MetricHistory(r.Ctx(), r.Workspace(), runIDOf(q.Get("run_id"), q.Get("run_uuid")), q.Get("metric_key"), q.Get("page_token"), limit)
	if err != nil {
		return nil, err
	}
	writeMetrics(r, ms, next)
	return handled, nil
}

func (a *API) mlMetricHistoryInterval(r *Request) (any, error) {
	q := r.URL.Query()
	var ints [3]*int64
	for i, name := range []string{"start_step", "end_step", "max_results"} {
		v, err := queryInt(r, name)
		if err != nil {
			return nil, err
		}
		ints[i] = v
	}
	var max int64
	if ints[2] != nil {
		max = *ints[2]
	}
	ms, err := a.svc.MetricHistoryInterval(r.Ctx(), r.Workspace(), q["run_ids"], q.Get("metric_key"), ints[0], ints[1], max)
	if err != nil {
		return nil, err
	}
	writeMetrics(r, ms, "")
	return handled, nil
}

// renderFiles is a listing of artifacts; prefix is put before each path
// (the tracking API's paths are relative to the run's root).
func renderFiles(files []service.ArtifactFile, prefix string) []map[string]any {
	out := make([]map[string]any, len(files))
	for i, f := range files {
		m := map[string]any{"path": prefix + f.Path, "is_dir": f.IsDir}
		if !f.IsDir {
			m["file_size"] = f.Size
		}
		out[i] = m
	}
	return out
}

func (a *API) mlListRunArtifacts(r *Request) (any, error) {
	q := r.URL.Query()
	run, err := a.svc.GetRun(r.Ctx(), r.Workspace(), runIDOf(q.Get("run_id"), q.Get("run_uuid")))
	if err != nil {
		return nil, err
	}
	root := service.RunArtifactPath(run)
	if root == "" {
		return map[string]any{"root_uri": run.Info.ArtifactURI, "files": []any{}}, nil
	}
	rel := strings.Trim(q.Get("path"), "/")
	p, prefix := root, ""
	if rel != "" {
		p, prefix = root+"/"+rel, rel+"/"
	}
	files, err := a.svc.ListArtifacts(r.Ctx(), r.Workspace(), p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"root_uri": run.Info.ArtifactURI, "files": renderFiles(files, prefix)}, nil
}

func (a *API) mlDownloadArtifact(r *Request) (any, error) {
	p := r.Param("path")
	if p == "" {
		// GET …/artifacts?path=dir lists a directory.
		files, err := a.svc.ListArtifacts(r.Ctx(), r.Workspace(), r.URL.Query().Get("path"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"files": renderFiles(files, "")}, nil
	}
	o, err := a.svc.OpenArtifact(r.Ctx(), r.Workspace(), p)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	r.W.Header().Set("Content-Type", "application/octet-stream")
	r.W.Header().Set("Content-Length", strconv.FormatInt(o.Props.Size, 10))
	r.W.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(r.W, o)
	}
	return handled, nil
}

func (a *API) mlUploadArtifact(r *Request) (any, error) {
	return empty, a.svc.PutArtifact(r.Ctx(), r.Workspace(), r.Param("path"), r.Request.Body)
}

func (a *API) mlDeleteArtifact(r *Request) (any, error) {
	return empty, a.svc.DeleteArtifact(r.Ctx(), r.Workspace(), r.Param("path"))
}

// TrackingScopePrefix marks a token that may only call the MLflow API of
// one workspace (Principal.Scope = prefix + the workspace's ARM id): the
// MLFLOW_TRACKING_TOKEN a job's processes get.
const TrackingScopePrefix = service.TrackingScopePrefix

// checkTrackingScope refuses a tracking token outside its workspace's
// MLflow API.
func checkTrackingScope(r *Request, scope string) error {
	ws, ok := strings.CutPrefix(r.Principal.Scope, TrackingScopePrefix)
	if !ok {
		return nil
	}
	if !isMLflowPath(r.URL.Path) || !strings.EqualFold(strings.TrimSuffix(ws, "/"), strings.TrimSuffix(scope, "/")) {
		return core.Forbidden("This token is the MLflow tracking token of workspace %s; it may call only that workspace's MLflow API (%s…).", ws, "/mlflow/v1.0"+ws)
	}
	return nil
}

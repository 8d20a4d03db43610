package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
	"github.com/mlw-project/mlw/protocol"
)

// Experiment tracking: the workspace is an MLflow tracking server
// (docs/mlflow.md). Admission here validates MLflow's requests, scopes them
// to the workspace (by its UID) and maps the store's errors to MLflow's
// codes; the handlers in httpapi decode and render MLflow's JSON.

// DefaultExperimentID and DefaultExperimentName name the experiment every
// workspace has (MLflow's experiment 0; Azure ML's "Default").
const (
	DefaultExperimentID   = "0"
	DefaultExperimentName = "Default"
)

// TrackingPath is the path of a workspace's tracking URI below the
// server's URL: MLflow clients append /api/2.0/mlflow/….
func TrackingPath(ref core.WorkspaceRef) string { return protocol.MLflowTrackingPath(ref.ID()) }

// TrackingScopePrefix marks a token that may only call the MLflow API of
// one workspace: its Scope is this prefix and the workspace's ARM id.
const TrackingScopePrefix = "mlflow:"

// RunArtifactPrefix is where a run's artifacts lie in the workspace's
// artifact store: beside a job's outputs and logs, as in Azure ML.
func RunArtifactPrefix(runID string) string { return resource.JobArtifactPrefix(runID) }

func nowMillis(s *Service) int64 { return s.Now().UnixMilli() }

// trackingWorkspace returns the workspace of a request, with its Default
// experiment made (once per workspace and process). Workspaces are kept
// for a second: a log-batch from each of many clients would otherwise
// read the same row each time. Access is checked on every request all the
// same (httpapi/access.go); a workspace deleted meanwhile can at worst
// gain rows under its old UID, which nothing shows.
func (s *Service) trackingWorkspace(ctx context.Context, ref core.WorkspaceRef) (*resource.Object, error) {
	key := strings.ToLower(ref.ID())
	if c, ok := s.trackedWorkspaces.Load(key); ok {
		if c := c.(cachedWorkspace); s.Now().Sub(c.at) < time.Second {
			return c.ws, nil
		}
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.GetExperiment(ctx, ws.UID, DefaultExperimentID); errors.Is(err, store.ErrNotFound) {
		now := nowMillis(s)
		err = s.Store.CreateExperiment(ctx, &tracking.Experiment{Workspace: ws.UID, ID: DefaultExperimentID, Name: DefaultExperimentName,
			ArtifactLocation: "mlflow-artifacts:/" + DefaultExperimentID, LifecycleStage: tracking.Active, CreationTime: now, LastUpdateTime: now})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return nil, core.Internal(err)
		}
	} else if err != nil {
		return nil, core.Internal(err)
	}
	s.trackedWorkspaces.Store(key, cachedWorkspace{ws: ws, at: s.Now()})
	return ws, nil
}

// cachedWorkspace is a workspace trackingWorkspace read, and when.
type cachedWorkspace struct {
	ws *resource.Object
	at time.Time
}

// trackingWrite is trackingWorkspace for a request that changes something:
// it needs AzureML Data Scientist or a stronger role.
func (s *Service) trackingWrite(ctx context.Context, ref core.WorkspaceRef) (*resource.Object, error) {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	return s.trackingWorkspace(ctx, ref)
}

// experimentErr maps a store error about an experiment to MLflow's.
func experimentErr(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tracking.NotFound("No Experiment with id=%s exists.", id)
	case errors.Is(err, store.ErrExists):
		return tracking.Exists("An experiment with that name already exists (it may be deleted: restore it or choose another name).")
	}
	return core.Internal(err)
}

// runErr maps a store error about a run to MLflow's.
func runErr(err error, runID string) error {
	var pc *tracking.ParamChangedError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tracking.NotFound("Run with id=%s not found.", runID)
	case errors.Is(err, store.ErrExists):
		return tracking.Exists("A run with id=%s already exists.", runID)
	case errors.Is(err, tracking.ErrNotActive):
		return tracking.Invalid("run_id", "The run %s must be in the 'active' state; it is deleted. Restore it (runs/restore) first.", runID)
	case errors.As(err, &pc):
		return tracking.Invalid("params", "Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
			pc.Key, pc.Old, runID, pc.New)
	}
	if _, ok := core.AsError(err); ok {
		return err
	}
	return core.Internal(err)
}

// required refuses an empty field.
func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return tracking.Invalid(field, "Missing value for required parameter '%s'.", field)
	}
	return nil
}

// checkKey validates a metric, param or tag key as MLflow does.
func checkKey(field, key string) error {
	if key == "" {
		return tracking.Invalid(field, "Missing value for required parameter '%s'.", field)
	}
	if len(key) > tracking.MaxKey {
		return tracking.Invalid(field, "'%s' exceeds the maximum length of %d characters.", field, tracking.MaxKey)
	}
	if strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\x00\\") {
		return tracking.Invalid(field, "Invalid value %q for parameter '%s': names may be up to %d characters of letters, digits, _ - . space : and /, without '..' or a leading /.", key, field, tracking.MaxKey)
	}
	return nil
}

// CreateExperiment makes an experiment and returns its id.
func (s *Service) CreateExperiment(ctx context.Context, ref core.WorkspaceRef, name, artifactLocation string, tags []tracking.KV) (string, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return "", err
	}
	if err := required("name", name); err != nil {
		return "", err
	}
	for _, t := range tags {
		if err := checkKey("tags.key", t.Key); err != nil {
			return "", err
		}
	}
	now := nowMillis(s)
	e := &tracking.Experiment{Workspace: ws.UID, Name: name, ArtifactLocation: artifactLocation, LifecycleStage: tracking.Active,
		CreationTime: now, LastUpdateTime: now, Tags: tags}
	if err := s.Store.CreateExperiment(ctx, e); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", tracking.Exists("Experiment '%s' already exists.", name)
		}
		return "", core.Internal(err)
	}
	if artifactLocation == "" {
		e.ArtifactLocation = "mlflow-artifacts:/" + e.ID
	}
	return e.ID, nil
}

// GetExperiment returns an experiment by id.
func (s *Service) GetExperiment(ctx context.Context, ref core.WorkspaceRef, id string) (*tracking.Experiment, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("experiment_id", id); err != nil {
		return nil, err
	}
	e, err := s.Store.GetExperiment(ctx, ws.UID, id)
	if err != nil {
		return nil, experimentErr(err, id)
	}
	return withLocation(e), nil
}

// withLocation fills in the artifact location of an experiment made
// without one.
func withLocation(e *tracking.Experiment) *tracking.Experiment {
	if e.ArtifactLocation == "" {
		e.ArtifactLocation = "mlflow-artifacts:/" + e.ID
	}
	return e
}

// GetExperimentByName returns an experiment by its name.
func (s *Service) GetExperimentByName(ctx context.Context, ref core.WorkspaceRef, name string) (*tracking.Experiment, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("experiment_name", name); err != nil {
		return nil, err
	}
	e, err := s.Store.GetExperimentByName(ctx, ws.UID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, tracking.NotFound("Could not find experiment with name '%s'.", name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return withLocation(e), nil
}

// SearchRequest is what experiments/search and runs/search share.
type SearchRequest struct {
	MaxResults int64
	PageToken  string
	Filter     string
	OrderBy    []string
	ViewType   string
}

// page validates paging: the offset a token stands for and the page size.
// parsedSearch is a search request read with its grammar.
type parsedSearch struct {
	offset, limit int
	view          string
	filter        []tracking.Clause
	order         []tracking.Order
}

// parse reads a search's page, view type (named viewField on the wire),
// filter and order with the grammar of what it searches.
func (q SearchRequest) parse(g tracking.Grammar, viewField string) (parsedSearch, error) {
	var p parsedSearch
	var err error
	if p.offset, p.limit, err = q.page(1000); err != nil {
		return p, err
	}
	if p.view, err = tracking.ParseViewType(viewField, q.ViewType); err != nil {
		return p, err
	}
	if p.filter, err = g.ParseFilter(q.Filter); err != nil {
		return p, err
	}
	p.order, err = g.ParseOrderBy(q.OrderBy)
	return p, err
}

func (q SearchRequest) page(defaultMax int) (offset, limit int, err error) {
	limit = defaultMax
	if q.MaxResults < 0 || q.MaxResults > tracking.MaxResults {
		return 0, 0, tracking.Invalid("max_results", "Invalid value %d for parameter 'max_results': use 1 to %d.", q.MaxResults, tracking.MaxResults)
	}
	if q.MaxResults > 0 {
		limit = int(q.MaxResults)
	}
	offset, err = tracking.ParsePageToken(q.PageToken)
	return offset, limit, err
}

// nextToken is the token of the page after one of limit results from
// offset, when the store found more.
func nextToken(got, offset, limit int) string {
	if got > limit {
		return tracking.PageToken(offset + limit)
	}
	return ""
}

// SearchExperiments answers experiments/search.
func (s *Service) SearchExperiments(ctx context.Context, ref core.WorkspaceRef, q SearchRequest) ([]*tracking.Experiment, string, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	p, err := q.parse(tracking.Experiments, "view_type")
	if err != nil {
		return nil, "", err
	}
	offset, limit := p.offset, p.limit
	es, err := s.Store.SearchExperiments(ctx, tracking.ExperimentQuery{Workspace: ws.UID, Filter: p.filter, OrderBy: p.order, ViewType: p.view, Offset: offset, Limit: limit})
	if err != nil {
		if _, ok := core.AsError(err); ok {
			return nil, "", err
		}
		return nil, "", core.Internal(err)
	}
	next := nextToken(len(es), offset, limit)
	if len(es) > limit {
		es = es[:limit]
	}
	for _, e := range es {
		withLocation(e)
	}
	return es, next, nil
}

// UpdateExperiment renames an experiment.
func (s *Service) UpdateExperiment(ctx context.Context, ref core.WorkspaceRef, id, newName string) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("experiment_id", id); err != nil {
		return err
	}
	if err := required("new_name", newName); err != nil {
		return err
	}
	if err := s.Store.UpdateExperiment(ctx, ws.UID, id, newName, "", nowMillis(s)); err != nil {
		if errors.Is(err, store.ErrExists) {
			return tracking.Exists("Experiment '%s' already exists.", newName)
		}
		return experimentErr(err, id)
	}
	return nil
}

// SetExperimentLifecycle deletes (deleted) or restores (active) an
// experiment. The Default experiment cannot be deleted.
func (s *Service) SetExperimentLifecycle(ctx context.Context, ref core.WorkspaceRef, id, stage string) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("experiment_id", id); err != nil {
		return err
	}
	if id == DefaultExperimentID && stage == tracking.Deleted {
		return tracking.Invalid("experiment_id", "Cannot delete the default experiment '0'. This is an internally reserved experiment.")
	}
	if err := s.Store.UpdateExperiment(ctx, ws.UID, id, "", stage, nowMillis(s)); err != nil {
		return experimentErr(err, id)
	}
	return nil
}

// SetExperimentTag sets one tag of an experiment.
func (s *Service) SetExperimentTag(ctx context.Context, ref core.WorkspaceRef, id string, tag tracking.KV) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("experiment_id", id); err != nil {
		return err
	}
	if err := checkKey("key", tag.Key); err != nil {
		return err
	}
	if err := s.Store.SetExperimentTag(ctx, ws.UID, id, tag, nowMillis(s)); err != nil {
		return experimentErr(err, id)
	}
	return nil
}

// CreateRunRequest is runs/create.
type CreateRunRequest struct {
	ExperimentID string
	UserID       string
	RunName      string
	StartTime    int64
	Tags         []tracking.KV
}

// CreateRun starts a run in an experiment (the Default one when none is
// named).
func (s *Service) CreateRun(ctx context.Context, ref core.WorkspaceRef, req CreateRunRequest) (*tracking.Run, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	if req.ExperimentID == "" {
		req.ExperimentID = DefaultExperimentID
	}
	if req.UserID == "" {
		req.UserID = principalName(PrincipalFrom(ctx))
	}
	if req.StartTime == 0 {
		req.StartTime = nowMillis(s)
	}
	exp, err := s.Store.GetExperiment(ctx, ws.UID, req.ExperimentID)
	if err != nil {
		return nil, experimentErr(err, req.ExperimentID)
	}
	return s.createRun(ctx, ws, exp, strings.ReplaceAll(uuid.New().String(), "-", ""), req, "")
}

// createRun makes a run with the given id (a job's name for a job's run)
// in experiment exp.
func (s *Service) createRun(ctx context.Context, ws *resource.Object, exp *tracking.Experiment, runID string, req CreateRunRequest, job string) (*tracking.Run, error) {
	if exp.LifecycleStage != tracking.Active {
		return nil, tracking.Invalid("experiment_id", "The experiment %s must be in the 'active' state to create runs in it; it is deleted.", exp.ID)
	}
	tags := req.Tags
	name := req.RunName
	for _, t := range tags {
		if err := checkKey("tags.key", t.Key); err != nil {
			return nil, err
		}
		if t.Key == "mlflow.runName" && name == "" {
			name = t.Value
		}
	}
	if name == "" {
		name = runID
	}
	if !hasTag(tags, "mlflow.runName") {
		tags = append(tags, tracking.KV{Key: "mlflow.runName", Value: name})
	}
	if !hasTag(tags, "mlflow.user") {
		tags = append(tags, tracking.KV{Key: "mlflow.user", Value: req.UserID})
	}
	uri := "mlflow-artifacts:/" + strings.TrimSuffix(RunArtifactPrefix(runID), "/")
	if exp.ArtifactLocation != "" && !strings.HasPrefix(exp.ArtifactLocation, "mlflow-artifacts:") {
		uri = strings.TrimSuffix(exp.ArtifactLocation, "/") + "/" + runID + "/artifacts"
	}
	r := &tracking.Run{Info: tracking.RunInfo{Workspace: ws.UID, RunID: runID, ExperimentID: exp.ID, RunName: name, UserID: req.UserID,
		Status: tracking.Running, StartTime: req.StartTime, ArtifactURI: uri, LifecycleStage: tracking.Active, Job: job}, Tags: tags}
	if err := s.Store.CreateRun(ctx, r); err != nil {
		return nil, runErr(err, runID)
	}
	return r, nil
}

func hasTag(tags []tracking.KV, key string) bool {
	for _, t := range tags {
		if t.Key == key {
			return true
		}
	}
	return false
}

// GetRun returns a run with its data.
func (s *Service) GetRun(ctx context.Context, ref core.WorkspaceRef, runID string) (*tracking.Run, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("run_id", runID); err != nil {
		return nil, err
	}
	r, err := s.Store.GetRun(ctx, ws.UID, runID)
	if err != nil {
		return nil, runErr(err, runID)
	}
	return r, nil
}

// UpdateRun changes a run's status, end time or name.
func (s *Service) UpdateRun(ctx context.Context, ref core.WorkspaceRef, runID, status string, endTime *int64, runName *string) (*tracking.RunInfo, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("run_id", runID); err != nil {
		return nil, err
	}
	if status != "" && !contains(tracking.RunStatuses, status) {
		return nil, tracking.Invalid("status", "Invalid value %q for parameter 'status': use %s.", status, strings.Join(tracking.RunStatuses, ", "))
	}
	info, err := s.Store.UpdateRun(ctx, ws.UID, runID, tracking.RunUpdate{Status: status, EndTime: endTime, RunName: runName})
	if err != nil {
		return nil, runErr(err, runID)
	}
	return info, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// SetRunLifecycle deletes (deleted) or restores (active) a run.
func (s *Service) SetRunLifecycle(ctx context.Context, ref core.WorkspaceRef, runID, stage string) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("run_id", runID); err != nil {
		return err
	}
	if _, err := s.Store.UpdateRun(ctx, ws.UID, runID, tracking.RunUpdate{LifecycleStage: stage}); err != nil {
		return runErr(err, runID)
	}
	return nil
}

// validBatch checks a batch as MLflow's server does.
func validBatch(b tracking.Batch) error {
	if len(b.Metrics)+len(b.Params)+len(b.Tags) > tracking.MaxBatchItems || len(b.Params) > tracking.MaxBatchParams || len(b.Tags) > tracking.MaxBatchTags {
		return tracking.Invalid("metrics", "A batch may hold at most %d metrics, params and tags in all, of which at most %d params and %d tags; this one has %d metrics, %d params and %d tags.",
			tracking.MaxBatchItems, tracking.MaxBatchParams, tracking.MaxBatchTags, len(b.Metrics), len(b.Params), len(b.Tags))
	}
	for _, m := range b.Metrics {
		if err := checkKey("metrics.key", m.Key); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	for _, p := range b.Params {
		if err := checkKey("params.key", p.Key); err != nil {
			return err
		}
		if len(p.Value) > tracking.MaxParamValue {
			return tracking.Invalid("params.value", "Param value for key '%s' exceeds the maximum length of %d characters.", p.Key, tracking.MaxParamValue)
		}
		if old, dup := seen[p.Key]; dup && old != p.Value {
			return tracking.Invalid("params", "Duplicate parameter keys with different values in the batch: '%s'.", p.Key)
		}
		seen[p.Key] = p.Value
	}
	for _, t := range b.Tags {
		if err := checkKey("tags.key", t.Key); err != nil {
			return err
		}
		if len(t.Value) > tracking.MaxTagValue {
			return tracking.Invalid("tags.value", "Tag value for key '%s' exceeds the maximum length of %d characters.", t.Key, tracking.MaxTagValue)
		}
	}
	return nil
}

// LogBatch writes metrics, params and tags to a run (log-batch and the
// single-item calls).
func (s *Service) LogBatch(ctx context.Context, ref core.WorkspaceRef, runID string, b tracking.Batch) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("run_id", runID); err != nil {
		return err
	}
	if err := validBatch(b); err != nil {
		return err
	}
	now := nowMillis(s)
	for i := range b.Metrics {
		if b.Metrics[i].Timestamp == 0 {
			b.Metrics[i].Timestamp = now
		}
	}
	if err := s.Store.LogBatch(ctx, ws.UID, runID, b); err != nil {
		return runErr(err, runID)
	}
	return nil
}

// DeleteRunTag removes a tag of a run.
func (s *Service) DeleteRunTag(ctx context.Context, ref core.WorkspaceRef, runID, key string) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("run_id", runID); err != nil {
		return err
	}
	if err := required("key", key); err != nil {
		return err
	}
	err = s.Store.DeleteRunTag(ctx, ws.UID, runID, key)
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.Store.GetRun(ctx, ws.UID, runID); gerr == nil {
			return tracking.NotFound("No tag with name: %s in run with id %s.", key, runID)
		}
	}
	if err != nil {
		return runErr(err, runID)
	}
	return nil
}

// LogInputs records the datasets a run used.
func (s *Service) LogInputs(ctx context.Context, ref core.WorkspaceRef, runID string, in []tracking.DatasetInput) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := required("run_id", runID); err != nil {
		return err
	}
	for _, d := range in {
		if d.Dataset.Name == "" || d.Dataset.Digest == "" {
			return tracking.Invalid("datasets", "Every dataset needs a name and a digest.")
		}
	}
	if err := s.Store.LogInputs(ctx, ws.UID, runID, in); err != nil {
		return runErr(err, runID)
	}
	return nil
}

// MetricHistory answers metrics/get-history: one page of a metric's
// points (all of them when max_results is 0).
func (s *Service) MetricHistory(ctx context.Context, ref core.WorkspaceRef, runID, key, pageToken string, maxResults int64) ([]tracking.Metric, string, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	if err := required("run_id", runID); err != nil {
		return nil, "", err
	}
	if err := required("metric_key", key); err != nil {
		return nil, "", err
	}
	offset, limit, err := SearchRequest{MaxResults: maxResults, PageToken: pageToken}.page(0)
	if err != nil {
		return nil, "", err
	}
	ask := 0
	if limit > 0 {
		ask = limit + 1
	}
	ms, err := s.Store.MetricHistory(ctx, ws.UID, runID, key, offset, ask)
	if err != nil {
		return nil, "", runErr(err, runID)
	}
	next := ""
	if limit > 0 {
		next = nextToken(len(ms), offset, limit)
		ms = ms[:min(len(ms), limit)]
	}
	return ms, next, nil
}

// MetricHistoryInterval answers metrics/get-history-bulk-interval: the
// points of up to 100 runs with steps in [start, end], at most
// maxResults per run (default 320, as MLflow's UI asks).
func (s *Service) MetricHistoryInterval(ctx context.Context, ref core.WorkspaceRef, runIDs []string, key string, start, end *int64, maxResults int64) ([]tracking.Metric, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if len(runIDs) == 0 || len(runIDs) > 100 {
		return nil, tracking.Invalid("run_ids", "GetMetricHistoryBulkInterval needs 1 to 100 run_ids; got %d.", len(runIDs))
	}
	if err := required("metric_key", key); err != nil {
		return nil, err
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if start != nil {
		lo = *start
	}
	if end != nil {
		hi = *end
	}
	if lo > hi {
		return nil, tracking.Invalid("start_step", "start_step %d is after end_step %d.", lo, hi)
	}
	if maxResults <= 0 {
		maxResults = 320
	}
	ms, err := s.Store.MetricHistoryInterval(ctx, ws.UID, runIDs, key, lo, hi, int(min(maxResults, tracking.MaxResults)))
	if err != nil {
		return nil, runErr(err, strings.Join(runIDs, ","))
	}
	return ms, nil
}

// SearchRunsRequest is runs/search.
type SearchRunsRequest struct {
	SearchRequest
	ExperimentIDs []string
}

// SearchRuns answers runs/search.
func (s *Service) SearchRuns(ctx context.Context, ref core.WorkspaceRef, q SearchRunsRequest) ([]*tracking.Run, string, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	p, err := q.parse(tracking.Runs, "run_view_type")
	if err != nil {
		return nil, "", err
	}
	offset, limit := p.offset, p.limit
	rs, err := s.Store.SearchRuns(ctx, tracking.RunQuery{Workspace: ws.UID, ExperimentIDs: q.ExperimentIDs, Filter: p.filter, OrderBy: p.order,
		ViewType: p.view, Offset: offset, Limit: limit})
	if err != nil {
		return nil, "", core.Internal(fmt.Errorf("search runs: %w", err))
	}
	next := nextToken(len(rs), offset, limit)
	if len(rs) > limit {
		rs = rs[:limit]
	}
	return rs, next, nil
}

// trackingTime is a time as MLflow's milliseconds.
func trackingTime(t time.Time) int64 { return t.UnixMilli() }

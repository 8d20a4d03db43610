package store

import (
	"context"

	"github.com/mlw-project/mlw/internal/tracking"
)

// Tracking stores MLflow experiments, runs and their data in tables of
// their own (metrics are one row per point, with the latest value of each
// key beside them), so that search and history stay fast at scale. ws is
// always a workspace UID.
//
// Errors: ErrNotFound for a missing experiment or run, ErrExists for a
// name or run id taken, tracking.ErrNotActive for a write to a deleted
// run, *tracking.ParamChangedError for a param logged with a new value.
type Tracking interface {
	// CreateExperiment inserts e, giving it the next free id when e.ID is
	// empty. ErrExists when the name is taken (deleted experiments too).
	CreateExperiment(ctx context.Context, e *tracking.Experiment) error
	GetExperiment(ctx context.Context, ws, id string) (*tracking.Experiment, error)
	GetExperimentByName(ctx context.Context, ws, name string) (*tracking.Experiment, error)
	// SearchExperiments returns up to q.Limit+1 experiments (the extra one
	// says another page follows).
	SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]*tracking.Experiment, error)
	// UpdateExperiment renames an experiment and/or moves its lifecycle
	// stage ("" leaves either). ErrExists when the new name is taken.
	UpdateExperiment(ctx context.Context, ws, id, name, stage string, now int64) error
	SetExperimentTag(ctx context.Context, ws, id string, tag tracking.KV, now int64) error
	// CreateRun inserts a run with its params and tags. ErrExists when
	// the run id is taken in the workspace.
	CreateRun(ctx context.Context, r *tracking.Run) error
	// GetRun returns a run with its data.
	GetRun(ctx context.Context, ws, runID string) (*tracking.Run, error)
	// UpdateRun changes a run's status, end time, name (and its
	// mlflow.runName tag) or lifecycle stage and returns what it is now.
	UpdateRun(ctx context.Context, ws, runID string, u tracking.RunUpdate) (*tracking.RunInfo, error)
	// LogBatch writes metrics, params and tags in one transaction. Points
	// already stored are not stored twice; a tag mlflow.runName renames
	// the run.
	LogBatch(ctx context.Context, ws, runID string, b tracking.Batch) error
	DeleteRunTag(ctx context.Context, ws, runID, key string) error
	// LogInputs adds dataset inputs (one per name and digest).
	LogInputs(ctx context.Context, ws, runID string, in []tracking.DatasetInput) error
	// MetricHistory returns a metric's points by step, then timestamp,
	// from offset, at most limit (0: all).
	MetricHistory(ctx context.Context, ws, runID, key string, offset, limit int) ([]tracking.Metric, error)
	// MetricHistoryInterval returns the points of several runs with a step
	// in [start, end], by run then step: at most limit per run, evenly
	// sampled (the first and the last kept) when there are more.
	MetricHistoryInterval(ctx context.Context, ws string, runIDs []string, key string, start, end int64, limit int) ([]tracking.Metric, error)
	// SearchRuns returns up to q.Limit+1 runs with their data.
	SearchRuns(ctx context.Context, q tracking.RunQuery) ([]*tracking.Run, error)
	// DeleteWorkspaceTracking removes everything a workspace tracked
	// (experiments, runs and their data, registered models and versions),
	// when the workspace is deleted. It returns the runs removed.
	DeleteWorkspaceTracking(ctx context.Context, ws string) (int, error)
}

// Registry stores MLflow's registered models and model versions, by
// workspace UID. Errors: ErrNotFound, ErrExists.
type Registry interface {
	CreateRegisteredModel(ctx context.Context, m *tracking.RegisteredModel) error
	GetRegisteredModel(ctx context.Context, ws, name string) (*tracking.RegisteredModel, error)
	// ListRegisteredModels returns a workspace's models by name.
	ListRegisteredModels(ctx context.Context, ws string) ([]*tracking.RegisteredModel, error)
	// UpdateRegisteredModel applies fn to a model and writes it (name and
	// creation time stay).
	UpdateRegisteredModel(ctx context.Context, ws, name string, fn func(*tracking.RegisteredModel) error) (*tracking.RegisteredModel, error)
	// RenameRegisteredModel renames a model and its versions.
	RenameRegisteredModel(ctx context.Context, ws, name, newName string, now int64) error
	// DeleteRegisteredModel removes a model and its versions.
	DeleteRegisteredModel(ctx context.Context, ws, name string) error
	// CreateModelVersion adds a version of a model: the next one (one
	// above the highest) when v.Version is 0, and v.Version is set; that
	// number otherwise (Azure ML's PUT of a version), ErrExists when it is
	// taken. ErrNotFound when there is no such model.
	CreateModelVersion(ctx context.Context, v *tracking.ModelVersion) error
	GetModelVersion(ctx context.Context, ws, name string, version int64) (*tracking.ModelVersion, error)
	// ListModelVersions returns the versions of a model ("" for all the
	// workspace's), by name and version.
	ListModelVersions(ctx context.Context, ws, name string) ([]*tracking.ModelVersion, error)
	UpdateModelVersion(ctx context.Context, ws, name string, version int64, fn func(*tracking.ModelVersion) error) (*tracking.ModelVersion, error)
	DeleteModelVersion(ctx context.Context, ws, name string, version int64) error
}

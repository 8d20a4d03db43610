package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// Every job is an MLflow run of its experiment, with the job's name as the
// run id (as in Azure ML). The job reconciler calls StartJobRun before it
// starts the job's processes and EndJobRun once the job has ended.

// JobTokenTTL is how long a job's tracking token is valid (it is revoked
// when the job ends).
const JobTokenTTL = 30 * 24 * time.Hour

// jobTokenLabel names the tracking tokens of one job.
func jobTokenLabel(ws *resource.Object, job string) string {
	return "mlflow tracking: job " + job + " (workspace " + ws.UID + ")"
}

// jobExperiment returns the id of the job's experiment, made when missing.
func (s *Service) jobExperiment(ctx context.Context, ws *resource.Object, name string) (string, error) {
	if name == "" || name == DefaultExperimentName {
		return DefaultExperimentID, nil
	}
	e, err := s.Store.GetExperimentByName(ctx, ws.UID, name)
	if err == nil {
		return e.ID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", core.Internal(err)
	}
	now := nowMillis(s)
	e = &tracking.Experiment{Workspace: ws.UID, Name: name, LifecycleStage: tracking.Active, CreationTime: now, LastUpdateTime: now}
	if err := s.Store.CreateExperiment(ctx, e); err != nil {
		if errors.Is(err, store.ErrExists) {
			if e, gerr := s.Store.GetExperimentByName(ctx, ws.UID, name); gerr == nil {
				return e.ID, nil
			}
		}
		return "", core.Internal(err)
	}
	return e.ID, nil
}

// jobRun returns the job's run, made when missing.
func (s *Service) jobRun(ctx context.Context, ws, job *resource.Object) (*tracking.Run, error) {
	if _, err := s.trackingWorkspace(ctx, resource.WorkspaceRefOf(ws)); err != nil {
		return nil, err
	}
	if r, err := s.Store.GetRun(ctx, ws.UID, job.Name); err == nil {
		return r, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, core.Internal(err)
	}
	spec, err := resource.JobSpecOf(job)
	if err != nil {
		return nil, err
	}
	exp, err := s.jobExperiment(ctx, ws, spec.ExperimentName)
	if err != nil {
		return nil, err
	}
	start := job.CreatedAt
	if st := resource.JobStatusOf(job); st.StartTime != nil {
		start = *st.StartTime
	}
	tags := []tracking.KV{{Key: "mlflow.source.type", Value: "JOB"}, {Key: "azureml.jobName", Value: job.Name}}
	r, err := s.createRun(ctx, ws, job.Name, CreateRunRequest{ExperimentID: exp, UserID: job.CreatedBy, RunName: spec.DisplayName,
		StartTime: trackingTime(start), Tags: tags}, job.Name)
	if e, ok := core.AsError(err); ok && e.Code == tracking.CodeAlreadyExists {
		return s.Store.GetRun(ctx, ws.UID, job.Name) // made meanwhile
	}
	return r, err
}

// StartJobRun makes the job's run (idempotent; RUNNING again on a new
// attempt), mints a tracking token for the job's submitter that works on
// the workspace's MLflow API only, and returns the variables the job's
// processes get.
func (s *Service) StartJobRun(ctx context.Context, ws, job *resource.Object) (*resource.JobTracking, error) {
	r, err := s.jobRun(ctx, ws, job)
	if err != nil {
		return nil, fmt.Errorf("the job's MLflow run: %w", err)
	}
	if r.Info.Status != tracking.Running {
		zero := int64(0)
		if _, err := s.Store.UpdateRun(ctx, ws.UID, job.Name, tracking.RunUpdate{Status: tracking.Running, EndTime: &zero}); err != nil {
			return nil, core.Internal(err)
		}
	}
	st := resource.JobStatusOf(job)
	plain, hash := identity.NewToken()
	ref := resource.WorkspaceRefOf(ws)
	if st.SubmitterID == "" {
		return nil, fmt.Errorf("the job %s has no submitter to issue its tracking token to", job.Name)
	}
	tok := &resource.Token{Hash: hash, UserID: st.SubmitterID, Label: jobTokenLabel(ws, job.Name),
		ExpiresAt: s.Now().Add(JobTokenTTL).UTC(), Scope: TrackingScopePrefix + ref.ID()}
	if err := s.Store.CreateToken(ctx, tok); err != nil {
		return nil, core.Internal(err)
	}
	env := map[string]string{
		"MLFLOW_RUN_ID": job.Name, "MLFLOW_EXPERIMENT_ID": r.Info.ExperimentID, "MLFLOW_TRACKING_TOKEN": plain,
	}
	if s.ServerURLFunc != nil {
		if u := s.ServerURLFunc(); u != "" {
			env["MLFLOW_TRACKING_URI"] = u + TrackingPath(ref)
		}
	}
	return &resource.JobTracking{Env: env, CAPEM: s.CAPEM}, nil
}

// jobRunStatus is the MLflow status of an ended job (a job deleted before
// it ended was killed).
func jobRunStatus(state string) string {
	switch {
	case state == resource.JobCompleted:
		return tracking.Finished
	case state == resource.JobCanceled, !resource.JobTerminal(state):
		return tracking.Killed
	}
	return tracking.Failed
}

// EndJobRun records an ended (or deleted) job's outcome on its run and
// revokes the job's tracking tokens. Idempotent.
func (s *Service) EndJobRun(ctx context.Context, ws, job *resource.Object) error {
	r, err := s.jobRun(ctx, ws, job)
	if err != nil {
		return err
	}
	status := jobRunStatus(job.State)
	end := trackingTime(job.UpdatedAt)
	if st := resource.JobStatusOf(job); st.EndTime != nil {
		end = trackingTime(*st.EndTime)
	}
	if r.Info.Status != status || r.Info.EndTime != end {
		if _, err := s.Store.UpdateRun(ctx, ws.UID, job.Name, tracking.RunUpdate{Status: status, EndTime: &end}); err != nil {
			return core.Internal(err)
		}
	}
	st := resource.JobStatusOf(job)
	if st.SubmitterID == "" {
		return nil
	}
	toks, err := s.Store.ListTokens(ctx, st.SubmitterID)
	if err != nil {
		return core.Internal(err)
	}
	label := jobTokenLabel(ws, job.Name)
	for _, t := range toks {
		if t.Label == label && strings.HasPrefix(t.Scope, TrackingScopePrefix) {
			if err := s.Store.DeleteToken(ctx, t.Hash); err != nil && !errors.Is(err, store.ErrNotFound) {
				return core.Internal(err)
			}
		}
	}
	return nil
}

// JobRunMetrics returns the latest value of each metric a job's run
// logged (none when it has no run yet).
func (s *Service) JobRunMetrics(ctx context.Context, ws *resource.Object, job string) ([]tracking.Metric, error) {
	r, err := s.Store.GetRun(ctx, ws.UID, job)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return r.Metrics, nil
}

package service

import (
	"context"
	"errors"
	"fmt"
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

// JobTokenTTL is how long a job's tracking token is valid.
const JobTokenTTL = 30 * 24 * time.Hour

// trackingSourceLabel names the API token each user's job tracking tokens
// derive from: revoking it (mlw token revoke) revokes them all.
const trackingSourceLabel = "mlflow tracking of jobs (revoke to revoke every job's tracking token)"

// trackingSource returns the hash of the API token a user's job tracking
// tokens derive from, made on first use. Its plain form is never kept:
// only signed tokens naming it are handed out.
func (s *Service) trackingSource(ctx context.Context, userID string) (string, error) {
	if h, ok := s.trackingSources.Load(userID); ok {
		if _, err := s.Store.LookupToken(ctx, h.(string)); err == nil {
			return h.(string), nil
		}
	}
	toks, err := s.Store.ListTokens(ctx, userID)
	if err != nil {
		return "", core.Internal(err)
	}
	for _, t := range toks {
		if t.Label == trackingSourceLabel && t.ExpiresAt.IsZero() {
			s.trackingSources.Store(userID, t.Hash)
			return t.Hash, nil
		}
	}
	_, hash := identity.NewToken()
	if err := s.Store.CreateToken(ctx, &resource.Token{Hash: hash, UserID: userID, Label: trackingSourceLabel}); err != nil {
		return "", core.Internal(err)
	}
	s.trackingSources.Store(userID, hash)
	return hash, nil
}

// jobToken signs a tracking token for a job's submitter that works on the
// workspace's MLflow API only ("" when this server signs no tokens).
func (s *Service) jobToken(ctx context.Context, ws, job *resource.Object) (string, error) {
	st := resource.JobStatusOf(job)
	if s.IssueTokenFunc == nil || st.SubmitterID == "" {
		return "", nil
	}
	u, err := s.Store.GetUser(ctx, st.SubmitterID)
	if err != nil {
		return "", fmt.Errorf("the submitter of job %s: %w", job.Name, err)
	}
	src, err := s.trackingSource(ctx, u.ID)
	if err != nil {
		return "", err
	}
	tok, _, err := s.IssueTokenFunc(u, JobTokenTTL, TrackingScopePrefix+resource.WorkspaceRefOf(ws).ID(), resource.TokenID(src))
	return tok, err
}

// jobExperiment returns the job's experiment, made when missing.
func (s *Service) jobExperiment(ctx context.Context, ws *resource.Object, name string) (*tracking.Experiment, error) {
	if name == "" {
		name = DefaultExperimentName
	}
	e, err := s.Store.GetExperimentByName(ctx, ws.UID, name)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, core.Internal(err)
	}
	now := nowMillis(s)
	e = &tracking.Experiment{Workspace: ws.UID, Name: name, LifecycleStage: tracking.Active, CreationTime: now, LastUpdateTime: now}
	if err := s.Store.CreateExperiment(ctx, e); err != nil {
		if errors.Is(err, store.ErrExists) {
			if e, gerr := s.Store.GetExperimentByName(ctx, ws.UID, name); gerr == nil {
				return e, nil
			}
		}
		return nil, core.Internal(err)
	}
	return e, nil
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
	r, err := s.createRun(ctx, ws, exp, job.Name, CreateRunRequest{UserID: job.CreatedBy, RunName: spec.DisplayName,
		StartTime: trackingTime(start), Tags: tags}, job.Name)
	if e, ok := core.AsError(err); ok && e.Code == tracking.CodeAlreadyExists {
		return s.Store.GetRun(ctx, ws.UID, job.Name) // made meanwhile
	}
	return r, err
}

// StartJobRun makes the job's run (idempotent; RUNNING again on a new
// attempt), signs a tracking token for the job's submitter that works on
// the workspace's MLflow API only, and returns the variables the job's
// processes get. Nothing is written for the token: a job costs the store
// no token rows, and its end no revocation (which would drop every
// replica's credential caches).
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
	tok, err := s.jobToken(ctx, ws, job)
	if err != nil {
		return nil, err
	}
	ref := resource.WorkspaceRefOf(ws)
	env := map[string]string{
		"MLFLOW_RUN_ID": job.Name, "MLFLOW_EXPERIMENT_ID": r.Info.ExperimentID,
	}
	if tok != "" {
		env["MLFLOW_TRACKING_TOKEN"] = tok
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

// EndJobRun records an ended (or deleted) job's outcome on its run.
// Idempotent.
func (s *Service) EndJobRun(ctx context.Context, ws, job *resource.Object) error {
	status := jobRunStatus(job.State)
	end := trackingTime(job.UpdatedAt)
	if st := resource.JobStatusOf(job); st.EndTime != nil {
		end = trackingTime(*st.EndTime)
	}
	// The run is there unless the job ended before it started.
	_, err := s.Store.UpdateRun(ctx, ws.UID, job.Name, tracking.RunUpdate{Status: status, EndTime: &end})
	if errors.Is(err, store.ErrNotFound) {
		if _, err = s.jobRun(ctx, ws, job); err == nil {
			_, err = s.Store.UpdateRun(ctx, ws.UID, job.Name, tracking.RunUpdate{Status: status, EndTime: &end})
		}
	}
	if err != nil {
		if _, ok := core.AsError(err); ok {
			return err
		}
		return core.Internal(err)
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

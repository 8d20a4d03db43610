package reconciler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlw-project/mlw/internal/resource"
)

// JobTracking makes every job an MLflow run of its workspace
// (docs/mlflow.md). *service.Service implements it.
type JobTracking interface {
	// StartJobRun makes the job's run exist (run id = job name; idempotent)
	// and returns what the job's processes need to track into it.
	StartJobRun(ctx context.Context, ws, job *resource.Object) (*resource.JobTracking, error)
	// EndJobRun records an ended or deleted job's outcome on its run and
	// revokes the job's tracking tokens (idempotent).
	EndJobRun(ctx context.Context, ws, job *resource.Object) error
}

// trackingCAFile is where a job finds the CA of the server's certificate
// (beside the jobs' directories: the data directory is hidden from
// sandboxed jobs).
const trackingCAFile = "mlflow-ca.crt"

// trackingEnv returns the MLFLOW_* variables of a job's processes, with
// the CA written into the job's directory; none without Tracking.
func (r *Jobs) trackingEnv(ctx context.Context, j *jobCtx) (map[string]string, error) {
	if r.Tracking == nil {
		return nil, nil
	}
	t, err := r.Tracking.StartJobRun(ctx, j.ws, j.job)
	if err != nil {
		return nil, fmt.Errorf("start the job's MLflow run: %w", err)
	}
	env := t.Env
	if len(t.CAPEM) > 0 {
		p, err := writeTrackingCA(filepath.Dir(r.jobRoot(j)), t.CAPEM)
		if err != nil {
			return nil, err
		}
		env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = p
	}
	return env, nil
}

// writeTrackingCA writes the CA beside the jobs' directories (jobs/, or an
// instance's jobs/ci-<id>/, which its jobs see), once: creating a file per
// job would cost more than the rest of the hook. Written to a temporary
// name and renamed, so a job never reads half of it.
func writeTrackingCA(dir string, pem []byte) (string, error) {
	p := filepath.Join(dir, trackingCAFile)
	if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, pem) {
		return p, nil
	}
	tmp, err := os.CreateTemp(dir, trackingCAFile+".*")
	if err != nil {
		return "", fmt.Errorf("write the tracking CA: %w", err)
	}
	_, werr := tmp.Write(pem)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644), os.Rename(tmp.Name(), p)); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("write the tracking CA: %w", err)
	}
	return p, nil
}

// endTracking records an ended or deleted job on its MLflow run. A failure is logged
// and does not hold the job back: the run's status is bookkeeping.
func (r *Jobs) endTracking(ctx context.Context, j *jobCtx) {
	if r.Tracking == nil || j.tracked {
		return
	}
	if err := r.Tracking.EndJobRun(ctx, j.ws, j.job); err != nil {
		r.Log.Warn("record the end of a job's MLflow run", "job", j.job.Name, "err", err)
	}
}

// endTrackingAs records the end a job is about to be written with (state,
// its status st), before it is: whoever sees the job ended then sees its
// run ended too. settled does not record it again.
func (r *Jobs) endTrackingAs(ctx context.Context, j *jobCtx, state string) {
	if r.Tracking == nil {
		return
	}
	ended := *j.job
	ended.State, ended.Status = state, resource.Encode(j.st)
	if err := r.Tracking.EndJobRun(ctx, j.ws, &ended); err != nil {
		r.Log.Warn("record the end of a job's MLflow run", "job", j.job.Name, "err", err)
		return
	}
	j.tracked = true
}

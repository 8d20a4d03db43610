package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// A job on an attached Kubernetes compute (docs/kubernetes.md) goes
// NotStarted → Queued (the attempt's Job created at once: Kubernetes
// queues it; the job stays Queued, with the scheduler's words, while its
// pods wait for a node) → Preparing (pods scheduled: images pulled, the
// code fetched) → Running (every pod runs) → an end, mapped from the pods
// and the Job's conditions. Each attempt is one Kubernetes Job named from
// the job's UID and the attempt, created once even across restarts of
// mlw. Its code archive and uploaded outputs live in a blob container of
// its own, the only one the attempt's SAS opens.

// kubeStep runs the Kubernetes-specific step of a job, if its state has
// one.
func (r *Jobs) kubeStep(ctx context.Context, j *jobCtx) (controller.Result, bool, error) {
	if r.Kube == nil || r.Kube.Connect == nil {
		if j.job.State == resource.JobNotStarted || j.job.State == resource.JobQueued {
			msg := fmt.Sprintf("The compute '%s' is a Kubernetes cluster, and this server cannot run jobs on Kubernetes.", j.info.Name)
			res, err := r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: "KubernetesUnavailable", Message: msg}, msg)
			return res, true, err
		}
		return controller.Result{}, false, nil
	}
	var res controller.Result
	var err error
	switch j.job.State {
	case resource.JobNotStarted, resource.JobQueued:
		res, err = r.kubeSubmit(ctx, j)
	case resource.JobPreparing, resource.JobRunning:
		res, err = r.kubePoll(ctx, j)
	case resource.JobCancelRequested:
		if resource.JobTerminal(j.st.Outcome) {
			return controller.Result{}, false, nil
		}
		reason := "Canceled."
		if j.st.CancelRequest != nil {
			reason = j.st.CancelRequest.Reason
		}
		res, err = r.finish(ctx, j, resource.JobCanceled, nil, reason)
	default:
		return controller.Result{}, false, nil
	}
	return res, true, err
}

// kubeFail ends a job that cannot be submitted.
func (r *Jobs) kubeFail(ctx context.Context, j *jobCtx, err error) (controller.Result, error) {
	var fail *prepError
	if errors.As(err, &fail) {
		return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: fail.code, Message: fail.msg}, fail.msg)
	}
	if e, ok := core.AsError(err); ok && e.Status < 500 {
		return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: e.Code, Message: e.Message}, e.Message)
	}
	return controller.Result{}, err
}

// kubeCluster is the client of the job's compute.
func (r *Jobs) kubeCluster(j *jobCtx) (*kubeCluster, *resource.KubernetesSpec, error) {
	if j.compute == nil {
		return nil, nil, fmt.Errorf("%w: the compute of job %s is gone", controller.ErrTerminal, j.job.Name)
	}
	spec, err := resource.ComputeSpecOf(j.compute)
	if err != nil || spec.Kubernetes == nil {
		return nil, nil, fmt.Errorf("%w: compute %s: stored spec: %v", controller.ErrTerminal, j.compute.Name, err)
	}
	cl, err := r.Kube.cluster(j.compute, spec.Kubernetes)
	if err != nil {
		return nil, nil, prepFail("KubernetesUnreachable", "mlw cannot connect to the Kubernetes compute '%s': %v", j.compute.Name, err)
	}
	return cl, spec.Kubernetes, nil
}

// kubeSubmit records the next attempt (its Job's name, instance type and
// image) and creates its Job, then goes on as kubePoll.
func (r *Jobs) kubeSubmit(ctx context.Context, j *jobCtx) (controller.Result, error) {
	cl, spec, err := r.kubeCluster(j)
	if err != nil {
		return r.kubeFail(ctx, j, err)
	}
	if j.st.Kube == nil {
		if err := r.kubeRecord(ctx, j, spec); err != nil {
			return r.kubeFail(ctx, j, err)
		}
	}
	if !j.st.Kube.Submitted {
		job, err := r.kubeJob(ctx, j, spec)
		if err != nil {
			return r.kubeFail(ctx, j, err)
		}
		if err := cl.client().Submit(ctx, job); err != nil {
			return controller.Result{}, fmt.Errorf("create the Kubernetes Job of %s: %w", j.job.Name, err)
		}
		j.st.Kube.Submitted = true
		j.st.Reason = fmt.Sprintf("Submitted to Kubernetes namespace %s as Job %s.", j.st.Kube.Namespace, j.st.Kube.Name)
		if err := r.write(ctx, j, resource.JobQueued); err != nil {
			return controller.Result{}, err
		}
		r.logf(j, "Submitted to Kubernetes namespace %s as Job %s: %d pod(s) of instance type %s, %d process(es) each, image %s.",
			j.st.Kube.Namespace, j.st.Kube.Name, job.Nodes, j.st.Kube.InstanceType, job.ProcsPerNode, job.Image)
	}
	return r.kubePoll(ctx, j)
}

// kubeRecord writes the attempt down before anything is created for it,
// so that a restart finds the same names.
func (r *Jobs) kubeRecord(ctx context.Context, j *jobCtx, spec *resource.KubernetesSpec) error {
	env, err := r.resolveEnv(ctx, j)
	if err != nil {
		if e, ok := core.AsError(err); ok && e.Status < 500 {
			return prepFail("EnvironmentNotFound", "%s", e.Message)
		}
		return err
	}
	image, err := r.Kube.kubeImage(spec, env)
	if err != nil {
		return err
	}
	itName, _, err := spec.InstanceType(j.spec.InstanceType())
	if err != nil {
		return err
	}
	now := r.Clock.Now()
	if j.job.State == resource.JobNotStarted {
		j.st.Enter(resource.JobQueued, now)
	}
	j.st.Attempt++
	name := backend.ContainerJobName(j.job.UID, j.st.Attempt)
	j.st.Kube = &resource.KubeRun{Name: name, Namespace: spec.Namespace, Container: "mlwjob-" + strings.TrimPrefix(name, "mlw-"),
		InstanceType: itName, Image: image}
	if j.st.Attempt > 1 {
		j.st.Kube.LogStart = r.kubeLogStart(j)
	}
	j.st.Environment = env.ID
	j.st.Reason = fmt.Sprintf("Submitting attempt %d to Kubernetes namespace %s.", j.st.Attempt, spec.Namespace)
	return r.write(ctx, j, resource.JobQueued)
}

// kubeJob stages an attempt (its code archive, SAS URLs) and returns the
// Job to create.
func (r *Jobs) kubeJob(ctx context.Context, j *jobCtx, spec *resource.KubernetesSpec) (*backend.ContainerJob, error) {
	_, it, err := spec.InstanceType(j.st.Kube.InstanceType)
	if err != nil {
		return nil, err
	}
	run := j.st.Kube
	account := resource.WorkspaceStatusOf(j.ws).StorageAccount
	dir := blob.ContainerDir(r.DataDir, account, run.Container)
	if err := os.MkdirAll(filepath.Join(dir, "outputs"), 0o700); err != nil {
		return nil, err
	}
	job := &backend.ContainerJob{Name: run.Name, JobName: j.job.Name, JobUID: j.job.UID, Attempt: j.st.Attempt, Image: run.Image,
		Nodes: j.spec.InstanceCount(), ProcsPerNode: j.spec.ProcessesPerInstance(), NodeSelector: it.NodeSelector,
		PerNode: backend.Resources{MilliCPU: it.MilliCPU, MemoryBytes: it.MemoryBytes, GPUs: it.GPUs}, CAPEM: string(r.Kube.CAPEM)}
	dio, err := r.kubeIO(ctx, j, dir, job)
	if err != nil {
		return nil, err
	}
	if job.Command, err = substitute(j.spec.Command, dio); err != nil {
		return nil, err
	}
	job.Timeout, _ = j.spec.Timeout()
	base := strings.TrimRight(r.Kube.ServerURL(), "/") + "/blob/" + account + "/" + run.Container
	sas := r.Kube.SignSAS(account, run.Container, "rcw", 7*24*time.Hour+job.Timeout, j.st.SubmitterID)
	if len(job.Inputs) > 0 {
		job.InputsURL = base + "/inputs?" + sas
	}
	if len(job.NamedOutputs) > 0 {
		job.NamedOutputsURL = base + "/named?" + sas
	}
	code, err := r.codeSnapshot(ctx, j)
	if err != nil {
		return nil, err
	}
	if code != nil {
		n, err := writeArchive(code, filepath.Join(dir, "code.tar"), "")
		code.root.Close()
		if err != nil {
			return nil, fmt.Errorf("archive the code snapshot: %w", err)
		}
		job.CodeURL = base + "/code.tar?" + sas
		r.logf(j, "Code snapshot archived for the pods (%d files).", n)
	}
	job.OutputsURL = base + "/outputs?" + sas
	job.CheckpointURL = base + "/" + kubeCheckpoint + "?" + sas
	if job.Resume, err = r.kubeResume(j, dir); err != nil {
		return nil, err
	}
	if job.Env, err = r.kubeEnv(ctx, j, dio.env); err != nil {
		return nil, err
	}
	return job, nil
}

// kubeCheckpoint is the blob of an attempt's container that its pods save
// node 0's ./checkpoints to (an archive) when they are told to stop.
const kubeCheckpoint = "checkpoint.tar"

// kubeKeepCheckpoint keeps the checkpoint a preempted attempt saved (if it
// saved one) in the job's directory, for the attempts after it.
func (r *Jobs) kubeKeepCheckpoint(j *jobCtx, run *resource.KubeRun) error {
	account := resource.WorkspaceStatusOf(j.ws).StorageAccount
	saved := filepath.Join(blob.ContainerDir(r.DataDir, account, run.Container), kubeCheckpoint)
	if err := os.MkdirAll(r.jobRoot(j), 0o700); err != nil {
		return err
	}
	err := os.Rename(saved, filepath.Join(r.jobRoot(j), kubeCheckpoint))
	if errors.Is(err, os.ErrNotExist) {
		return nil // none saved: an earlier one, if any, stays
	}
	return err
}

// kubeResume puts the checkpoint an earlier attempt saved into the new
// attempt's container dir, where its init container fetches it (a hard
// link: the store replaces a blob by renaming, never writes into it);
// false when there is none.
func (r *Jobs) kubeResume(j *jobCtx, dir string) (bool, error) {
	saved, dst := filepath.Join(r.jobRoot(j), kubeCheckpoint), filepath.Join(dir, kubeCheckpoint)
	if _, err := os.Stat(saved); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	_ = os.Remove(dst) // a resubmit after a restart finds it made
	if err := os.Link(saved, dst); err == nil {
		return true, nil
	}
	src, err := os.Open(saved)
	if err != nil {
		return false, err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return false, fmt.Errorf("copy the saved checkpoint: %w", err)
	}
	return true, out.Close()
}

// kubeIO is a job's inputs and named outputs as its pods see them:
// literals as they are, data outside mlw by its URL, inputs of the
// workspace's storage archived into the attempt's container (dir) for the
// init container to unpack under ContainerInputs, and named outputs as
// folders of ContainerOutputs that the pods upload and mlw copies to
// their datastores when the attempt ends (saveKubeNamedOutputs).
func (r *Jobs) kubeIO(ctx context.Context, j *jobCtx, dir string, job *backend.ContainerJob) (*jobIO, error) {
	dio := &jobIO{inputs: map[string]string{}, outputs: map[string]string{}, env: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(j.spec.Inputs)) {
		in := j.spec.Inputs[name]
		v := in.Literal()
		if !strings.EqualFold(in.JobInputType, "literal") {
			loc, err := r.Assets.ResolveDataURI(ctx, j.ws, in.URI)
			if err != nil {
				if e, ok := core.AsError(err); ok && e.Status < 500 {
					return nil, prepFail("InputNotFound", "Input %s: %s", name, e.Message)
				}
				return nil, err
			}
			v = loc.URL
			if v == "" {
				if v, err = r.kubeArchiveInput(j, name, in, loc, dir); err != nil {
					return nil, err
				}
				job.Inputs = append(job.Inputs, name)
			}
		}
		dio.inputs[name], dio.env["AZURE_ML_INPUT_"+name] = v, v
	}
	for _, name := range slices.Sorted(maps.Keys(j.spec.Outputs)) {
		out, err := r.resolveOutput(ctx, j, name, j.spec.Outputs[name])
		if err != nil {
			return nil, err
		}
		p := path.Join(backend.ContainerOutputs, name)
		if out.file {
			p = path.Join(p, path.Base(out.data.rel))
		}
		out.data.root.Close()
		dio.outputs[name], dio.env["AZURE_ML_OUTPUT_"+name] = p, p
		job.NamedOutputs = append(job.NamedOutputs, name)
	}
	return dio, nil
}

// kubeEnv is the pods' environment: what a local job's processes get
// that means something in a pod, the tracking variables pointing at mlw's
// URL for pods, the inputs and the job's own variables.
func (r *Jobs) kubeEnv(ctx context.Context, j *jobCtx, inputs map[string]string) (map[string]string, error) {
	ref := resource.WorkspaceRefOf(j.ws)
	env := map[string]string{
		"AZUREML_RUN_ID": j.job.Name, "AZUREML_ARM_SUBSCRIPTION": ref.Subscription, "AZUREML_ARM_RESOURCEGROUP": ref.ResourceGroup,
		"AZUREML_ARM_WORKSPACE_NAME": ref.Workspace, "AZUREML_ARM_PROJECT_NAME": j.spec.ExperimentName,
		"MLFLOW_RUN_ID": j.job.Name, "MLFLOW_EXPERIMENT_NAME": j.spec.ExperimentName,
		"MLW_JOB_NAME": j.job.Name, "MLW_ATTEMPT": strconv.Itoa(j.st.Attempt), "PYTHONUNBUFFERED": "1",
	}
	if r.Tracking != nil {
		t, err := r.Tracking.StartJobRun(ctx, j.ws, j.job)
		if err != nil {
			return nil, fmt.Errorf("start the job's MLflow run: %w", err)
		}
		for k, v := range t.Env {
			env[k] = v
		}
		if u, err := url.Parse(env["MLFLOW_TRACKING_URI"]); err == nil && u.Host != "" {
			if pod, err := url.Parse(r.Kube.ServerURL()); err == nil {
				u.Scheme, u.Host = pod.Scheme, pod.Host
				env["MLFLOW_TRACKING_URI"] = u.String()
			}
		}
		if len(r.Kube.CAPEM) > 0 {
			env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = backend.ContainerCAPath
		}
	}
	for k, v := range inputs {
		env[k] = v
	}
	for k, v := range j.spec.EnvironmentVariables {
		if v != nil {
			env[k] = fmt.Sprint(v)
		}
	}
	return env, nil
}

// kubePoll follows a created attempt through its poller's last answer.
func (r *Jobs) kubePoll(ctx context.Context, j *jobCtx) (controller.Result, error) {
	cl, _, err := r.kubeCluster(j)
	if err != nil {
		return r.kubeFail(ctx, j, err)
	}
	run := j.st.Kube
	cl.watch(ctx, j.key, run.Name)
	st, ok := cl.State(run.Name)
	if !ok {
		return controller.Result{RequeueAfter: 30 * time.Second}, nil // the poller enqueues the job when it sees it
	}
	if st.Ended {
		return r.kubeEnded(ctx, j, cl, st)
	}
	now := r.Clock.Now()
	state, reason := j.job.State, ""
	switch st.Kind {
	case backend.ContainerPending:
		state, reason = resource.JobQueued, fmt.Sprintf("Queued in Kubernetes namespace %s (Job %s): %s", run.Namespace, run.Name, st.Message)
	case backend.ContainerPreparing:
		state, reason = resource.JobPreparing, fmt.Sprintf("Preparing on node(s) %s: %s", strings.Join(st.Nodes, ", "), st.Message)
	case backend.ContainerRunning:
		state, reason = resource.JobRunning, fmt.Sprintf("Running on node(s) %s (Kubernetes Job %s).", strings.Join(st.Nodes, ", "), run.Name)
		cl.followLogs(run.Name, r.kubeLogs(j))
	}
	if state == j.job.State && reason == j.st.Reason {
		return controller.Result{}, nil
	}
	run.State, run.Message = st.Kind, st.Message
	if state == j.job.State {
		j.st.Reason = reason
		return controller.Result{}, r.write(ctx, j, state)
	}
	r.logf(j, "%s", reason)
	if state == resource.JobRunning {
		return controller.Result{}, r.kubeRunning(ctx, j, reason)
	}
	j.st.Enter(state, now)
	j.st.Reason = reason
	return controller.Result{}, r.write(ctx, j, state)
}

// kubeRunning moves the job to Running, through Preparing when a poll
// did not see its pods being prepared (each step its own write: the
// moves of resource.JobMoves).
func (r *Jobs) kubeRunning(ctx context.Context, j *jobCtx, reason string) error {
	if j.job.State == resource.JobRunning {
		return nil
	}
	now := r.Clock.Now()
	if j.job.State == resource.JobQueued {
		j.st.Enter(resource.JobPreparing, now)
		if err := r.write(ctx, j, resource.JobPreparing); err != nil {
			return err
		}
	}
	if j.st.StartTime == nil {
		j.st.StartTime = &now
	}
	j.st.Enter(resource.JobRunning, now)
	j.st.Reason = reason
	return r.write(ctx, j, resource.JobRunning)
}

// kubeLogs are the artifacts each node's pod log is copied to: the
// process's log when a pod runs one process, std_log_node_<i>.txt (its
// processes' output together) when it runs several; each process's own
// log is in the pod's ./logs. A later attempt's log follows the earlier
// ones' in the same files.
func (r *Jobs) kubeLogs(j *jobCtx) []podLog {
	nodes, ppn := j.spec.InstanceCount(), j.spec.ProcessesPerInstance()
	out := make([]podLog, nodes)
	for i := range nodes {
		name := UserLogName(i, nodes)
		if ppn > 1 {
			name = fmt.Sprintf("user_logs/std_log_node_%d.txt", i)
		}
		out[i].path = filepath.Join(r.artifactDir(j), name)
		if j.st.Kube != nil && i < len(j.st.Kube.LogStart) {
			out[i].start = j.st.Kube.LogStart[i]
		}
	}
	return out
}

// kubeLogStart marks in each log artifact where a later attempt's log
// begins, and returns those offsets (for KubeRun.LogStart).
func (r *Jobs) kubeLogStart(j *jobCtx) []int64 {
	var starts []int64
	for _, l := range r.kubeLogs(j) {
		appendLine(l.path, fmt.Sprintf("===== mlw: attempt %d of job %s (the previous one was preempted) =====", j.st.Attempt, j.job.Name))
		var n int64
		if fi, err := os.Stat(l.path); err == nil {
			n = fi.Size()
		}
		starts = append(starts, n)
	}
	return starts
}

// kubeEnded maps the end of an attempt to the job's end, after the last
// of its logs and its outputs are in the artifacts.
func (r *Jobs) kubeEnded(ctx context.Context, j *jobCtx, cl *kubeCluster, st backend.ContainerState) (controller.Result, error) {
	run := j.st.Kube
	cl.unwatch(run.Name)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	for i, dst := range r.kubeLogs(j) {
		copyPodLog(lctx, cl.client(), run.Name, i, dst, false) // it may have run between two polls
	}
	cancel()
	run.State, run.Message = st.Kind, st.Message
	r.logf(j, "Kubernetes Job %s ended: %s (%s).", run.Name, st.Kind, st.Message)
	if st.Kind == backend.ContainerPreempted {
		return r.kubeRequeue(ctx, j, st)
	}
	if st.Kind != backend.ContainerImagePull && st.Kind != backend.ContainerGone {
		// It ran, maybe between two polls: it was Running too.
		if err := r.kubeRunning(ctx, j, "Ran on node(s) "+strings.Join(st.Nodes, ", ")+"."); err != nil {
			return controller.Result{}, err
		}
	}
	if st.ExitCode >= 0 {
		code := st.ExitCode
		j.st.ExitCode = &code
	}
	fail := func(code, msg string) (controller.Result, error) {
		if tail := lastLines(r.kubeLogs(j)[0].path, 10, 2000); tail != "" {
			msg += " Last lines of the log: " + tail
		}
		return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: code, Message: msg}, msg)
	}
	switch st.Kind {
	case backend.ContainerCompleted:
		return r.finish(ctx, j, resource.JobCompleted, nil, "Completed.")
	case backend.ContainerOutOfMemory:
		return fail("OutOfMemory", st.Message+" Use an instance type with more memory.")
	case backend.ContainerTimeout:
		return fail("JobTimeout", st.Message)
	case backend.ContainerImagePull:
		return fail("ImagePullFailed", st.Message)
	case backend.ContainerGone:
		return fail("CancelledOutsideMlw", "The job's Kubernetes Job "+run.Name+" was deleted outside mlw.")
	}
	if st.ExitCode > 0 && strings.HasPrefix(st.Message, "The job's command") {
		return fail("UserError", "Execution failed. "+st.Message)
	}
	return fail("KubernetesJobFailed", st.Message)
}

// kubeRequeue runs an attempt whose pods were preempted or evicted again
// as a new Kubernetes Job (attempt n+1), up to MaxAttempts, as a
// low-priority node's preemption does on mlw's own clusters. The attempt
// is recorded (and its Job forgotten) before that Job is deleted, so a
// restart in between never takes the deletion for a cancellation.
func (r *Jobs) kubeRequeue(ctx context.Context, j *jobCtx, st backend.ContainerState) (controller.Result, error) {
	now := r.Clock.Now()
	run := j.st.Kube
	reason := fmt.Sprintf("Kubernetes Job %s: %s", run.Name, st.Message)
	j.st.Attempts = append(j.st.Attempts, resource.JobAttempt{Attempt: j.st.Attempt, Nodes: st.Nodes, Start: j.st.PhaseTime(resource.JobPreparing),
		End: now, Outcome: backend.ContainerPreempted, Reason: reason})
	limit := r.maxAttempts()
	if j.st.Attempt >= limit {
		msg := fmt.Sprintf("%s (attempt %d of %d; the job is not retried again).", reason, j.st.Attempt, limit)
		return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: "JobPreempted", Message: msg}, msg)
	}
	// Kept before the attempt is forgotten: its container is removed with it.
	if err := r.kubeKeepCheckpoint(j, run); err != nil {
		r.logf(j, "The checkpoint attempt %d saved was not kept: %v", j.st.Attempt, err)
	}
	j.st.Kube = nil
	j.st.Enter(resource.JobQueued, now)
	j.st.Reason = fmt.Sprintf("%s; attempt %d is submitted again.", reason, j.st.Attempt+1)
	if err := r.write(ctx, j, resource.JobQueued); err != nil {
		return controller.Result{}, err
	}
	r.logf(j, "%s: the job runs again as attempt %d.", reason, j.st.Attempt+1)
	if err := r.kubeCleanupRun(ctx, j, run); err != nil {
		r.logf(j, "Attempt %d's Kubernetes Job was not deleted: %v", j.st.Attempt, err)
	}
	return r.kubeSubmit(ctx, j)
}

// kubeCleanup deletes an ended (or ending) attempt's Job and pods, and
// moves its uploaded outputs into the job's artifacts. Called by finish
// for every ending; doing it twice is harmless.
func (r *Jobs) kubeCleanup(ctx context.Context, j *jobCtx) error {
	return r.kubeCleanupRun(ctx, j, j.st.Kube)
}

// kubeCleanupRun is kubeCleanup of the attempt run.
func (r *Jobs) kubeCleanupRun(ctx context.Context, j *jobCtx, run *resource.KubeRun) error {
	if run == nil || r.Kube == nil {
		return nil
	}
	if run.Submitted {
		cl := r.Kube.known(j.st.ComputeUID)
		if cl == nil && j.compute != nil {
			cl, _, _ = r.kubeCluster(j)
		}
		if cl != nil {
			cl.unwatch(run.Name)
			if err := cl.client().Cancel(ctx, run.Name); err != nil {
				return fmt.Errorf("delete Kubernetes Job %s: %w", run.Name, err)
			}
		}
	}
	account := resource.WorkspaceStatusOf(j.ws).StorageAccount
	dir := blob.ContainerDir(r.DataDir, account, run.Container)
	if hasFiles(filepath.Join(dir, "outputs")) {
		if err := r.saveKubeOutputs(j, run.Container); err != nil {
			return fmt.Errorf("save the outputs of %s: %w", run.Name, err)
		}
	}
	if hasFiles(filepath.Join(dir, "named")) {
		if err := r.saveKubeNamedOutputs(ctx, j, run.Container); err != nil {
			return fmt.Errorf("save the named outputs of %s: %w", run.Name, err)
		}
	}
	return blob.RemoveContainer(r.DataDir, account, run.Container)
}

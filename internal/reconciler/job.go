package reconciler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Log files of a job, as names under its artifacts
// (ExperimentRun/dcid.<job>/ in the workspace's artifact store).
const (
	// LifecycleLog is mlw's account of the job: queueing, node
	// assignment, snapshot, environment preparation, process starts and
	// exits. Preparation output (an environment build) goes here too.
	LifecycleLog = "system_logs/lifecycler/execution-wrapper.log"
	// UserLog is the log of a job with one process (stdout and stderr).
	UserLog = "user_logs/std_log.txt"
)

// UserLogName is the log of one process: user_logs/std_log.txt for a job
// with one process, user_logs/std_log_process_<rank>.txt otherwise (the
// names the Azure ML SDK streams: rank 0 only).
func UserLogName(rank, world int) string {
	if world <= 1 {
		return UserLog
	}
	return fmt.Sprintf("user_logs/std_log_process_%d.txt", rank)
}

// Jobs is the reconciler of command jobs. It moves a job through
// NotStarted → Queued → Preparing → Running → Finalizing → Completed |
// Failed | Canceled, with a timestamp for every phase and a reason
// whenever the job waits or fails. Assigning nodes is the cluster
// reconciler's (Clusters), except that a job ending on a cluster hands its
// node straight to the next queued job (releaseWith); on a compute
// instance the job reconciler assigns the instance itself.
type Jobs struct {
	Store  store.Store
	Queue  resource.Enqueuer
	Log    *slog.Logger
	Assets JobAssets
	Env    EnvPreparer
	Procs  backend.Processes
	Sched  *Scheduler
	// Tracking, when set, makes every job an MLflow run (job_mlflow.go).
	Tracking JobTracking
	// Instances is the instance reconciler: a job on a compute instance
	// runs inside it (Instances.StartJobProcess); its processes are then
	// watched and stopped through Procs like any other.
	Instances *Instances
	// DataDir is the server's data directory: job work directories live
	// in jobs/, blobs (snapshots, artifacts, outputs) in storage/.
	DataDir string
	// EnvDir holds the prepared Python environments (shown read-only to
	// sandboxed jobs).
	EnvDir string
	// Sandbox runs each cluster job's processes in a sandbox, as its
	// submitter's unprivileged host uid (backend.Sandbox).
	Sandbox bool
	// Now is the clock (tests inject one).
	Clock core.Clock
	// StopGrace is how long a stopped process gets between SIGTERM and
	// SIGKILL (default 10 s).
	StopGrace time.Duration
	// MaxAttempts bounds how often a preempted job runs again (default 10).
	MaxAttempts int
	// Slurm runs the jobs of Slurm-backed clusters (nil: this server
	// has no Slurm, and their jobs fail with the reason).
	Slurm *Slurm
	// Kube runs the jobs of attached Kubernetes computes.
	Kube *Kube
	// WorkDirRetention is how long an ended job's working directories and
	// checkpoints stay on disk, for a look at what it left (default an
	// hour; its ./outputs and ./logs are saved as artifacts when it ends).
	WorkDirRetention time.Duration

	watchMu  sync.Mutex
	watching map[string]bool // process ids with a Wait goroutine

	// Caches of what does not change for a job's life, so that a job
	// costs few reads: workspaces (by key) and computes (by Owner; their
	// type, size and tier are fixed at creation).
	cacheMu    sync.Mutex
	workspaces map[string]*resource.Object
	computes   map[string]*computeInfo
	envs       map[string]cachedEnv
	uids       map[string]int // host uids by user
	prepared   map[string]preparedEnv
	// prepFails counts a job's preparations in a row that failed with an
	// error that may pass (retried with backoff, up to maxPrepFailures).
	prepFails map[string]int
}

// maxPrepFailures is how many preparations in a row may fail with an
// unexpected error (the code snapshot could not be copied, an input not
// read) before the job fails with it: with the controller's backoff,
// about 13 s.
const maxPrepFailures = 8

// prepFailed counts a failed preparation of a job and reports whether it
// should be retried; prepDone forgets the count.
func (r *Jobs) prepFailed(key string) bool {
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	if r.prepFails == nil {
		r.prepFails = map[string]int{}
	}
	r.prepFails[key]++
	if r.prepFails[key] < maxPrepFailures {
		return true
	}
	delete(r.prepFails, key)
	return false
}

func (r *Jobs) prepDone(key string) {
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	delete(r.prepFails, key)
}

// cachedEnv is a resolved environment, reused for a few seconds: curated
// ones never change and versions are immutable, so only "@latest" may
// move meanwhile, which admission already resolved anyway.
type cachedEnv struct {
	env *resource.ResolvedEnvironment
	at  time.Time
}

// envTTL is how long a resolved environment is reused.
const envTTL = 10 * time.Second

func (r *Jobs) resolveEnv(ctx context.Context, j *jobCtx) (*resource.ResolvedEnvironment, error) {
	key := j.ws.UID + "\x00" + j.spec.EnvironmentID
	now := time.Now()
	r.cacheMu.Lock()
	c, ok := r.envs[key]
	r.cacheMu.Unlock()
	if ok && now.Sub(c.at) < envTTL {
		return c.env, nil
	}
	env, err := r.Assets.ResolveEnvironment(ctx, resource.WorkspaceRefOf(j.ws), j.spec.EnvironmentID)
	if err != nil {
		return nil, err
	}
	r.cacheMu.Lock()
	if r.envs == nil {
		r.envs = map[string]cachedEnv{}
	}
	r.envs[key] = cachedEnv{env: env, at: now}
	r.cacheMu.Unlock()
	return env, nil
}

// computeInfo is what the job reconciler needs of a compute.
type computeInfo struct {
	Name        string
	Cluster     bool
	LowPriority bool
	// Slurm is set for a Slurm-backed cluster; Size is the VM size.
	Slurm *resource.ClusterBackend
	// Kube is set for an attached Kubernetes compute.
	Kube bool
	Size core.VMSize
}

func (r *Jobs) retention() time.Duration {
	if r.WorkDirRetention > 0 {
		return r.WorkDirRetention
	}
	return time.Hour
}

func (r *Jobs) grace() time.Duration {
	if r.StopGrace > 0 {
		return r.StopGrace
	}
	return 10 * time.Second
}

// Reconcile implements controller.Reconciler. A lost race on a guarded
// write (the job was canceled meanwhile) re-reads and steps again at once.
func (r *Jobs) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	parent, name := resource.ParseKey(key)
	return stepAgainOnConflict(func(int) (controller.Result, error) {
		job, err := r.Store.Get(ctx, core.KindJob, parent, name)
		if errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, nil
		}
		if err != nil {
			return controller.Result{}, err
		}
		j := &jobCtx{job: job}
		res, err := r.step(ctx, j)
		r.flushLog(j)
		return res, err
	})
}

// stepAgainOnConflict runs a reconcile step (which reads its row afresh)
// again at once while a guarded write of it lost a race (store.ErrConflict:
// the row was changed meanwhile), up to store.MaxConflictRetries times.
func stepAgainOnConflict(step func(attempt int) (controller.Result, error)) (controller.Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := step(attempt)
		if errors.Is(err, store.ErrConflict) && attempt < store.MaxConflictRetries {
			continue
		}
		return res, err
	}
}

// jobCtx is what every step needs about one job.
type jobCtx struct {
	job  *resource.Object
	key  string
	st   *resource.JobStatus
	spec *resource.JobSpec
	ws   *resource.Object
	// compute is the job's compute row when this step read it (nil when
	// it is gone, or not read); info is what is known of it.
	compute *resource.Object
	info    *computeInfo
	// log collects this step's lifecycle log lines (one write per step).
	log bytes.Buffer
	// tracked says that this step recorded the job's end on its MLflow
	// run already (finish does, before it writes the end).
	tracked bool
	// errLogged says that the error the job fails with is in the
	// lifecycle log already (an environment build's), so that the log
	// says it once.
	errLogged bool
}

func (r *Jobs) step(ctx context.Context, j *jobCtx) (controller.Result, error) {
	job := j.job
	spec, err := resource.JobSpecOf(job)
	if err != nil {
		return controller.Result{}, fmt.Errorf("%w: %v", controller.ErrTerminal, err)
	}
	j.key, j.st, j.spec = resource.Key(job), resource.JobStatusOf(job), spec
	if j.ws, err = r.workspace(ctx, job.Parent, j.st.WorkspaceUID); err != nil {
		return controller.Result{}, err
	}
	if job.Deleting {
		return r.remove(ctx, j)
	}
	if JobTerminalState(job.State) {
		return r.settled(ctx, j)
	}
	if c := spec.Intent.Cancel; c != nil && job.State != resource.JobCancelRequested {
		// A user asked to cancel (admission wrote the intent): the job
		// is CancelRequested from now on, for its reason.
		j.st.CancelRequest = c
		if err := r.write(ctx, j, resource.JobCancelRequested); err != nil {
			return controller.Result{}, err
		}
	}
	// A job waiting for its compute reads it; one that runs on a cluster
	// does not need to (deleting a cluster cancels its jobs), one on an
	// instance does (deleting an instance does not).
	j.info = r.cachedCompute(j.st)
	if j.info == nil || job.State == resource.JobNotStarted || job.State == resource.JobQueued || !j.info.Cluster {
		if j.compute, err = r.computeOf(ctx, job.Owner); err != nil {
			return controller.Result{}, err
		}
		if j.compute != nil && j.st.ComputeUID != "" && j.compute.UID != j.st.ComputeUID {
			j.compute = nil // deleted, and another of the same name created since
		}
		if job.State != resource.JobCancelRequested && (j.compute == nil || j.compute.Deleting) {
			return r.finish(ctx, j, resource.JobCanceled, nil, fmt.Sprintf("The compute '%s' was deleted.", computeName(job.Owner)))
		}
		if j.compute != nil {
			j.info = r.rememberCompute(j.st, j.compute)
		}
	}
	if j.info == nil {
		j.info = &computeInfo{Name: computeName(job.Owner)}
	}
	if j.info.Slurm != nil {
		if res, ok, err := r.slurmStep(ctx, j); ok {
			return res, err
		}
	}
	if j.info.Kube {
		if res, ok, err := r.kubeStep(ctx, j); ok {
			return res, err
		}
	}
	switch job.State {
	case resource.JobNotStarted:
		return r.enqueue(ctx, j)
	case resource.JobQueued:
		if !j.info.Cluster {
			return r.scheduleInstance(ctx, j)
		}
		return controller.Result{}, nil
	case resource.JobPreparing:
		return r.prepare(ctx, j)
	case resource.JobRunning:
		return r.running(ctx, j)
	case resource.JobFinalizing:
		return r.finalizing(ctx, j)
	case resource.JobCancelRequested:
		if resource.JobTerminal(j.st.Outcome) {
			return r.finalizing(ctx, j) // it had ended already
		}
		reason := "Canceled."
		if j.st.CancelRequest != nil {
			reason = j.st.CancelRequest.Reason
		}
		return r.finish(ctx, j, resource.JobCanceled, nil, reason)
	}
	return controller.Result{}, nil
}

// JobTerminalState reports whether a job row's state is final.
func JobTerminalState(s string) bool { return resource.JobTerminal(s) }

// workspace loads a job's workspace from its parent key, cached by the
// workspace's UID (what jobs use of it, its names and storage account,
// never changes for its life): a workspace deleted and created again under
// the same names is another workspace. A job admitted before jobs recorded
// the UID reads it every time.
func (r *Jobs) workspace(ctx context.Context, wsKey, uid string) (*resource.Object, error) {
	if uid != "" {
		r.cacheMu.Lock()
		ws := r.workspaces[uid]
		r.cacheMu.Unlock()
		if ws != nil {
			return ws, nil
		}
	}
	ws, err := workspaceByKey(ctx, r.Store, wsKey)
	if err != nil {
		return nil, err
	}
	if uid != "" && ws.UID != uid {
		return nil, fmt.Errorf("%w: the job's workspace %s was deleted (it is now another workspace of the same name)", controller.ErrTerminal, wsKey)
	}
	if uid != "" {
		r.cacheMu.Lock()
		if r.workspaces == nil {
			r.workspaces = map[string]*resource.Object{}
		}
		r.workspaces[uid] = ws
		r.cacheMu.Unlock()
	}
	return ws, nil
}

// cachedCompute returns what is known of a job's compute, cached by the
// compute's UID (its type, size and tier are fixed at creation); nil for a
// job admitted before jobs recorded the UID, which reads it every step.
func (r *Jobs) cachedCompute(st *resource.JobStatus) *computeInfo {
	if st.ComputeUID == "" {
		return nil
	}
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	return r.computes[st.ComputeUID]
}

func (r *Jobs) rememberCompute(st *resource.JobStatus, c *resource.Object) *computeInfo {
	ci := &computeInfo{Name: c.Name}
	if spec, err := resource.ComputeSpecOf(c); err == nil && spec.Cluster != nil {
		ci.Cluster, ci.LowPriority, ci.Size = true, spec.Cluster.LowPriority, spec.Size
		if b := resource.ClusterBackendOfCompute(c); b.Slurm() {
			ci.Slurm = &b
		}
	}
	ci.Kube = resource.ComputeTypeOf(c) == resource.Kubernetes
	if st.ComputeUID == "" {
		return ci
	}
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	if r.computes == nil {
		r.computes = map[string]*computeInfo{}
	}
	r.computes[st.ComputeUID] = ci
	return ci
}

func workspaceByKey(ctx context.Context, st store.Store, wsKey string) (*resource.Object, error) {
	ref, ok := resource.ParentRef(core.KindWorkspace, wsKey)
	if !ok {
		return nil, fmt.Errorf("%w: bad workspace key %q", controller.ErrTerminal, wsKey)
	}
	ws, err := st.Get(ctx, ref.Kind, ref.Parent, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("workspace of %s: %w", wsKey, err)
	}
	return ws, nil
}

// computeOf loads the compute named by a job's Owner, nil when it is gone.
func (r *Jobs) computeOf(ctx context.Context, owner string) (*resource.Object, error) {
	wsKey, name := splitComputeOwner(owner)
	c, err := r.Store.Get(ctx, core.KindCompute, wsKey, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// splitComputeOwner splits a compute's operation key ("<ws key>/computes/<name>").
func splitComputeOwner(owner string) (wsKey, name string) {
	ref, ok := resource.ParseOpKey(core.KindCompute, owner)
	if !ok {
		return owner, ""
	}
	return ref.Parent, ref.Name
}

func computeName(owner string) string { _, n := splitComputeOwner(owner); return n }

// computeQueueKey is the compute controller's key of a job's compute.
func computeQueueKey(owner string) string {
	wsKey, name := splitComputeOwner(owner)
	return resource.ResourceKey(wsKey, name)
}

func isCluster(c *resource.Object) bool {
	return c != nil && resource.ComputeTypeOf(c) == resource.AmlCompute
}

// enqueue moves a new job to Queued and tells its compute.
func (r *Jobs) enqueue(ctx context.Context, j *jobCtx) (controller.Result, error) {
	now := r.Clock.Now()
	j.st.Enter(resource.JobQueued, now)
	j.st.Reason = "Queued on " + j.info.Name + "."
	if err := r.write(ctx, j, resource.JobQueued); err != nil {
		return controller.Result{}, err
	}
	r.logf(j, "Queued on %s (%s).", j.info.Name, resource.ComputeTypeOf(j.compute))
	r.queued(j)
	if !j.info.Cluster {
		return r.scheduleInstance(ctx, j)
	}
	return controller.Result{}, nil
}

// queued tells the scheduler of a job that waits for its compute.
func (r *Jobs) queued(j *jobCtx) {
	if r.Sched != nil {
		r.Sched.Push(j.job.Owner, QueuedJob{Key: j.key, Name: j.job.Name, Created: j.job.CreatedAt, Nodes: j.spec.InstanceCount()})
	}
	r.Queue.Enqueue(core.KindCompute, computeQueueKey(j.job.Owner))
}

// write stores the job's status and state (guarded by version).
func (r *Jobs) write(ctx context.Context, j *jobCtx, state string) error {
	j.job.Status = resource.Encode(j.st)
	j.job.State = state
	return r.Store.Update(ctx, j.job)
}

// artifactDir is where a job's artifacts (logs, outputs) live on disk: the
// artifact store's container, under ExperimentRun/dcid.<name>/.
func (r *Jobs) artifactDir(j *jobCtx) string {
	return filepath.Join(blob.ContainerDir(r.DataDir, resource.WorkspaceStatusOf(j.ws).StorageAccount, "azureml"), "ExperimentRun", "dcid."+j.job.Name)
}

// jobRoot holds a job's working directories and checkpoints: jobs/<job
// id>/ under the data directory, or, for a job on a compute instance,
// jobs/ci-<instance id>/<job id>/, which the instance sees (Root).
func (r *Jobs) jobRoot(j *jobCtx) string {
	if j.st != nil && j.st.Slurm != nil && j.st.Slurm.Root != "" {
		return j.st.Slurm.Root // on the shared directory
	}
	if j.st != nil && j.st.Root != "" && filepath.IsLocal(j.st.Root) {
		return filepath.Join(r.DataDir, "jobs", j.st.Root)
	}
	return filepath.Join(r.DataDir, "jobs", j.job.UID)
}

// logf adds a line to the job's lifecycle log (written when the step
// ends, or before a long preparation step).
func (r *Jobs) logf(j *jobCtx, format string, args ...any) {
	fmt.Fprintf(&j.log, "%s %s\n", r.Clock.Now().Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(format, args...))
}

// flushLog appends the step's lines to the lifecycle log.
func (r *Jobs) flushLog(j *jobCtx) {
	if j.log.Len() == 0 || j.ws == nil {
		return
	}
	f, err := openAppend(filepath.Join(r.artifactDir(j), LifecycleLog))
	if err != nil {
		r.Log.Warn("job lifecycle log", "job", j.job.Name, "err", err)
		return
	}
	defer f.Close()
	_, _ = j.log.WriteTo(f)
}

// openAppend opens a file for appending, creating it and its directory.
func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		}
	}
	return f, err
}

// procs are the processes of the job's current attempt, in rank order:
// derived from the job, so that they are known even before the status
// that records them was written (a crash between start and write).
func (r *Jobs) procs(j *jobCtx) []backend.ProcessHandle {
	if r.isSlurm(j) {
		return nil // one Slurm job, cancelled with scancel
	}
	if len(j.st.Procs) > 0 {
		out := make([]backend.ProcessHandle, len(j.st.Procs))
		for i, p := range j.st.Procs {
			out[i] = backend.ProcessHandle{ID: p.ID, Node: p.Node, RunDir: p.RunDir}
		}
		return out
	}
	if j.st.Attempt == 0 {
		return nil
	}
	nodes := max(len(j.st.Nodes), 1)
	ppn := j.spec.ProcessesPerInstance()
	var out []backend.ProcessHandle
	for rank := range nodes * ppn {
		h := backend.ProcessHandle{ID: procID(j.job, j.st.Attempt, rank)}
		if len(j.st.Nodes) > 0 {
			h.Node = j.st.Nodes[rank/ppn]
		}
		out = append(out, h)
	}
	return out
}

func procID(job *resource.Object, attempt, rank int) string {
	return fmt.Sprintf("%s-a%d-r%d", job.UID, attempt, rank)
}

// stopProcs ends every process of the current attempt and releases them.
func (r *Jobs) stopProcs(ctx context.Context, j *jobCtx) error {
	if err := r.endProcs(ctx, j); err != nil {
		return err
	}
	if err := r.sweepProcs(ctx, j); err != nil {
		return err
	}
	return r.releaseProcs(ctx, j)
}

// sweepProcs kills what the attempt's processes left behind; it must run
// before their nodes go to another job.
func (r *Jobs) sweepProcs(ctx context.Context, j *jobCtx) error {
	for _, h := range r.procs(j) {
		if err := r.Procs.Sweep(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// endProcs ends every process of the current attempt but keeps their
// bookkeeping (exit records), which a restart needs until the job's
// outcome is written.
func (r *Jobs) endProcs(ctx context.Context, j *jobCtx) error {
	hs := r.procs(j)
	var wg sync.WaitGroup
	errs := make([]error, len(hs))
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Procs.Stop(ctx, h, r.grace())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop job %s: %w", j.job.Name, err)
	}
	return nil
}

func (r *Jobs) releaseProcs(ctx context.Context, j *jobCtx) error {
	for _, h := range r.procs(j) {
		if err := r.Procs.Release(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// watch makes sure a goroutine waits for each process and enqueues the
// job when one ends, so that exits are seen at once rather than polled.
func (r *Jobs) watch(ctx context.Context, j *jobCtx, hs []backend.ProcessHandle) {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	if r.watching == nil {
		r.watching = map[string]bool{}
	}
	for _, h := range hs {
		if r.watching[h.ID] {
			continue
		}
		r.watching[h.ID] = true
		key := j.key
		go func() {
			err := r.Procs.Wait(ctx, h)
			r.watchMu.Lock()
			delete(r.watching, h.ID)
			r.watchMu.Unlock()
			if err == nil {
				r.Queue.Enqueue(core.KindJob, key)
			}
		}()
	}
}

// finish ends the job in a terminal state: processes stopped, artifacts
// saved, nodes released and the job written, all or nothing; then the
// compute hears of the free node and open operations are finished.
func (r *Jobs) finish(ctx context.Context, j *jobCtx, state string, jerr *resource.JobError, reason string) (controller.Result, error) {
	// The processes' exit records stay until the outcome is written: a
	// crash in between must find the job's processes ended, not lost.
	// What they left behind is killed now, before their nodes are handed
	// to the next job.
	if err := r.endProcs(ctx, j); err != nil {
		return controller.Result{}, err
	}
	if err := r.sweepProcs(ctx, j); err != nil {
		return controller.Result{}, err
	}
	if err := r.kubeCleanup(ctx, j); err != nil {
		return controller.Result{}, err
	}
	if j.st.StartTime != nil && j.job.State != resource.JobFinalizing && r.hasArtifacts(j) {
		// Saving outputs may take a while: show it.
		j.st.Enter(resource.JobFinalizing, r.Clock.Now())
		j.st.Outcome, j.st.Error = state, jerr
		j.st.Reason = "Finalizing: saving ./outputs and ./logs as artifacts."
		if err := r.write(ctx, j, resource.JobFinalizing); err != nil {
			return controller.Result{}, err
		}
	}
	r.saveArtifacts(j)
	now := r.Clock.Now()
	if j.st.StartTime != nil {
		j.st.Enter(resource.JobFinalizing, now)
	}
	j.st.Enter(state, now)
	j.st.Outcome = ""
	j.st.Error = jerr
	j.st.Reason = reason
	j.st.EndTime = &now
	r.endTrackingAs(ctx, j, state)
	if err := r.releaseWith(ctx, j, state); err != nil {
		return controller.Result{}, err
	}
	if j.info == nil || !j.info.Cluster {
		// The instance's idle shutdown sees the job gone.
		r.Queue.Enqueue(core.KindCompute, computeQueueKey(j.job.Owner))
	}
	if err := r.releaseProcs(ctx, j); err != nil {
		// Only bookkeeping files are left behind; the outcome is written.
		r.Log.Warn("remove the run files of an ended job", "job", j.job.Name, "err", err)
	}
	// The retention of its working directories counts from now (SweepWorkDirs).
	_ = os.Chtimes(r.jobRoot(j), now, now)
	switch {
	case jerr != nil && j.errLogged:
		r.logf(j, "%s: the error is above.", state)
	case jerr != nil:
		r.logf(j, "%s: %s", state, jerr.Message)
	case reason == "" || reason == state+".":
		r.logf(j, "%s.", state)
	default:
		r.logf(j, "%s. %s", state, reason)
	}
	r.forget(j)
	return r.settled(ctx, j)
}

// releaseWith writes the job in state and frees its nodes in one
// transaction, so that a node is never left held by an ended job.
//
// A freed cluster node goes straight to the job at the head of the
// cluster's queue, in the same transaction, when that job fits on the
// nodes this one frees: the next job does not wait for (and the server
// does not pay) a pass of the cluster reconciler per job. It is what that
// pass would do first (Clusters.assign): the oldest job first, a job that
// needs more nodes than are freed here waits, and so do the jobs behind
// it; nodes being preempted are not given. The assignment is guarded by
// the rows' versions like the cluster's, and the cluster's scheduling lock
// is held, so the two never race for a job.
func (r *Jobs) releaseWith(ctx context.Context, j *jobCtx, state string) error {
	now := r.Clock.Now()
	owner := j.job.Owner
	handoff := r.Sched != nil && len(j.st.Nodes) > 0 && j.info != nil && j.info.Cluster
	if handoff {
		unlock := r.Sched.Lock(owner)
		defer unlock()
	}
	var handed string
	var stale []string
	var idled bool
	err := r.Store.InTx(ctx, func(tx store.Resources) error {
		handed, stale, idled = "", nil, false
		held, err := heldNodes(ctx, tx, j)
		if err != nil {
			return err
		}
		j.job.Status = resource.Encode(j.st)
		j.job.State = state
		if err := tx.Update(ctx, j.job); err != nil {
			return err
		}
		if handoff {
			if handed, stale, held, err = r.handOff(ctx, tx, j, held, now); err != nil {
				return err
			}
		}
		idled = len(held) > 0
		return freeNodes(ctx, tx, held, now)
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		r.Sched.Remove(owner, k)
	}
	if handed != "" {
		r.Sched.Remove(owner, handed)
		r.Queue.Enqueue(core.KindJob, handed)
	}
	if idled || handed == "" && len(j.st.Nodes) > 0 {
		r.Queue.Enqueue(core.KindCompute, computeQueueKey(owner))
	}
	return nil
}

// handOffTries bounds how many stale queue entries (jobs canceled or
// deleted while queued) a hand-off skips before it leaves the node to the
// cluster reconciler.
const handOffTries = 8

// handOff gives nodes the ended job held to the next queued job of its
// cluster, if one fits (see releaseWith). It returns the job handed the
// nodes (or ""), the queue entries found no longer queued, and the nodes
// left to free.
func (r *Jobs) handOff(ctx context.Context, tx store.Resources, j *jobCtx, held []*resource.Object, now time.Time) (string, []string, []*resource.Object, error) {
	var usable []*resource.Object
	for _, n := range held {
		if n.State == resource.NodeRunning && !resource.NodeSpecOf(n).Preempt {
			usable = append(usable, n)
		}
	}
	if len(usable) == 0 {
		return "", nil, held, nil
	}
	ok, maxNodes := r.Sched.HandOffLimit(j.job.Owner)
	if !ok {
		return "", nil, held, nil // above maxNodeCount: the node goes
	}
	queue := r.Sched.Loaded(j.job.Owner)
	if len(queue) == 0 {
		return "", nil, held, nil
	}
	// Why the queue waited, for the Queued phase of the job handed the
	// nodes (a running cluster job does not read its cluster otherwise).
	cl := j.compute
	if cl == nil {
		wsKey, name := splitComputeOwner(j.job.Owner)
		cl, _ = tx.Get(ctx, core.KindCompute, wsKey, name) // nil when gone: no reason
	}
	waited := resource.ClusterQueueReason(cl)
	var stale []string
	for i, q := range queue {
		if i == handOffTries || q.Nodes > len(usable) || maxNodes > 0 && q.Nodes > maxNodes {
			// No overtaking: the head waits for the cluster reconciler
			// (which fails a job larger than the cluster).
			break
		}
		if q.Key == j.key {
			continue
		}
		take := usable[:q.Nodes]
		ok, err := assignJob(ctx, tx, j.job.Owner, q.Key, take, now, waited)
		if err != nil {
			return "", nil, nil, err
		}
		if !ok {
			stale = append(stale, q.Key)
			continue
		}
		var left []*resource.Object
		for _, n := range held {
			if !slices.Contains(take, n) {
				left = append(left, n)
			}
		}
		return q.Key, stale, left, nil
	}
	return "", stale, held, nil
}

// heldNodes reads the nodes a job holds (those whose row still names it).
func heldNodes(ctx context.Context, tx store.Resources, j *jobCtx) ([]*resource.Object, error) {
	var out []*resource.Object
	for _, id := range j.st.Nodes {
		n, err := tx.Get(ctx, resource.KindNode, j.job.Owner, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n.Owner == j.key {
			out = append(out, n)
		}
	}
	return out, nil
}

// freeNodes lets nodes go: idle again, or, for a node that was preempted,
// no longer held (the cluster reconciler removes it).
func freeNodes(ctx context.Context, tx store.Resources, nodes []*resource.Object, now time.Time) error {
	for _, n := range nodes {
		ns := resource.NodeStatusOf(n)
		ns.Job = ""
		n.Owner = ""
		if n.State != resource.NodePreempted {
			n.State = resource.NodeIdle
			ns.IdleSince = now
		}
		n.Status = resource.Encode(ns)
		if err := tx.Update(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// releaseNodes frees the nodes a job holds.
func releaseNodes(ctx context.Context, tx store.Resources, j *jobCtx, now time.Time) error {
	held, err := heldNodes(ctx, tx, j)
	if err != nil {
		return err
	}
	return freeNodes(ctx, tx, held, now)
}

// settled is a terminal job: its operations (cancel) are finished and, on
// an instance, the next queued job may start.
func (r *Jobs) settled(ctx context.Context, j *jobCtx) (controller.Result, error) {
	r.endTracking(ctx, j)
	// Only a cancel opens an operation on a job (deletion is handled in
	// remove); a job never asked to cancel has none to finish.
	if j.st.CancelRequest != nil {
		if err := finishOps(ctx, r.Store, resource.ResourceOpKey(j.job), resource.OpSucceeded, "", ""); err != nil {
			return controller.Result{}, err
		}
	}
	if ci := r.cachedCompute(j.st); ci == nil || !ci.Cluster {
		if c, _ := r.computeOf(ctx, j.job.Owner); c != nil && !isCluster(c) {
			r.kickInstance(ctx, j.job.Owner)
		}
	}
	return controller.Result{}, nil
}

// SweepWorkDirs removes the working directories and checkpoints of ended
// jobs once their retention has passed (finish sets a directory's time to
// the job's end). A directory of an unfinished job is never touched; one
// whose job is gone (deleted, or the row lost) goes by the same rule. It
// runs periodically while this server leads, and so after a restart too.
func (r *Jobs) SweepWorkDirs(ctx context.Context) error {
	keep := map[string]bool{}
	for _, state := range append([]string{resource.StateDeleting}, resource.JobActiveStates...) {
		rs, err := r.Store.List(ctx, store.ListOptions{Kind: core.KindJob, State: state})
		if err != nil {
			return err
		}
		for _, job := range rs {
			keep[r.jobRoot(&jobCtx{job: job, st: resource.JobStatusOf(job)})] = true
		}
	}
	top := filepath.Join(r.DataDir, "jobs")
	var dirs []string
	ents, _ := os.ReadDir(top)
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(top, e.Name())
		if !strings.HasPrefix(e.Name(), "ci-") {
			dirs = append(dirs, d)
			continue
		}
		// A compute instance's jobs: jobs/ci-<instance id>/<job id>.
		sub, _ := os.ReadDir(d)
		for _, x := range sub {
			if x.IsDir() {
				dirs = append(dirs, filepath.Join(d, x.Name()))
			}
		}
	}
	dirs = append(dirs, r.slurmWorkDirs()...)
	cutoff := r.Clock.Now().Add(-r.retention())
	for _, d := range dirs {
		if keep[d] {
			continue
		}
		fi, err := os.Stat(d)
		if err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			r.Log.Warn("remove an ended job's working directories", "dir", d, "err", err)
		}
	}
	return nil
}

// forget drops the job from the scheduler's queue (if it was there).
func (r *Jobs) forget(j *jobCtx) {
	if r.Sched != nil {
		r.Sched.Remove(j.job.Owner, j.key)
	}
}

// remove deletes a job: processes stopped, nodes released, files removed,
// row deleted.
func (r *Jobs) remove(ctx context.Context, j *jobCtx) (controller.Result, error) {
	// An ended job's processes were stopped and swept when it ended (its
	// EndTime was written with the release of its nodes), and its nodes
	// may run other jobs now: sweeping them again would kill those. Only
	// its process files may be left (a crash before their release).
	if err := r.slurmRemove(ctx, j); err != nil {
		return controller.Result{}, err
	}
	if j.st.EndTime == nil {
		if err := r.kubeCleanup(ctx, j); err != nil {
			return controller.Result{}, err
		}
	}
	stop := r.stopProcs
	if j.st.EndTime != nil {
		stop = r.releaseProcs
	}
	if err := stop(ctx, j); err != nil {
		return controller.Result{}, err
	}
	r.endTracking(ctx, j)
	now := r.Clock.Now()
	err := r.Store.InTx(ctx, func(tx store.Resources) error {
		if err := releaseNodes(ctx, tx, j, now); err != nil {
			return err
		}
		return tx.Delete(ctx, core.KindJob, j.job.Parent, j.job.Name)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return controller.Result{}, err
	}
	r.forget(j)
	if len(j.st.Nodes) > 0 {
		r.Queue.Enqueue(core.KindCompute, computeQueueKey(j.job.Owner))
	}
	for _, dir := range []string{r.jobRoot(j), r.artifactDir(j)} {
		if err := os.RemoveAll(dir); err != nil {
			r.Log.Warn("remove job files", "job", j.job.Name, "dir", dir, "err", err)
		}
	}
	r.Log.Info("job deleted", "job", j.job.Name)
	return controller.Result{}, finishOps(ctx, r.Store, resource.ResourceOpKey(j.job), resource.OpSucceeded, "", "")
}

// maxAttempts is MaxAttempts, or its default.
func (r *Jobs) maxAttempts() int {
	if r.MaxAttempts > 0 {
		return r.MaxAttempts
	}
	return 10
}

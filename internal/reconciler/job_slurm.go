package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// A job on a Slurm-backed cluster (docs/slurm.md) goes NotStarted →
// Queued (in mlw's queue, until the cluster reconciler lets it go under
// maxNodeCount) → Preparing (staged on the shared directory and submitted;
// it stays Preparing, with Slurm's pending reason, until Slurm starts it)
// → Running → Finalizing → an end, as a local job does. Each attempt is
// one Slurm batch job named mlw-<job uid>-a<attempt>: all its nodes and
// ranks. The steps below replace the local ones for such a job; the rest
// (NotStarted, Queued, Finalizing, finish, artifacts) is shared.

// slurmStep runs the Slurm-specific step of a job, if its state has one.
func (r *Jobs) slurmStep(ctx context.Context, j *jobCtx) (controller.Result, bool, error) {
	if r.Slurm == nil || r.Slurm.Batch == nil {
		if j.job.State == resource.JobPreparing {
			msg := fmt.Sprintf("The cluster '%s' runs on Slurm, and this server has no Slurm: install the Slurm commands and set MLW_SLURM_SHARED_DIR (docs/slurm.md).", j.info.Name)
			res, err := r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: "SlurmUnavailable", Message: msg}, msg)
			return res, true, err
		}
		return controller.Result{}, false, nil
	}
	var res controller.Result
	var err error
	switch j.job.State {
	case resource.JobPreparing:
		res, err = r.slurmPrepare(ctx, j)
	case resource.JobRunning:
		res, err = r.slurmPoll(ctx, j)
	case resource.JobCancelRequested:
		if resource.JobTerminal(j.st.Outcome) {
			return controller.Result{}, false, nil
		}
		res, err = r.slurmCancel(ctx, j)
	default:
		return controller.Result{}, false, nil
	}
	return res, true, err
}

// isSlurm reports whether the job runs (or is to run) on Slurm.
func (r *Jobs) isSlurm(j *jobCtx) bool {
	return j.st != nil && j.st.Slurm != nil || j.info != nil && j.info.Slurm != nil
}

// nodeCount is the number of nodes (working directories) of the current
// attempt: the nodes it was given, or, on Slurm, the instances it asks.
func (r *Jobs) nodeCount(j *jobCtx) int {
	if j.st != nil && j.st.Slurm != nil && j.spec != nil {
		return j.spec.InstanceCount()
	}
	return max(len(j.st.Nodes), 1)
}

// slurmName is the Slurm job name of an attempt.
func slurmName(job *resource.Object, attempt int) string {
	return fmt.Sprintf("mlw-%s-a%d", job.UID, attempt)
}

// slurmPrepare stages and submits the current attempt, unless Slurm has
// it already (found by name: a restart between sbatch and the write of its
// id), then goes on as slurmPoll.
func (r *Jobs) slurmPrepare(ctx context.Context, j *jobCtx) (controller.Result, error) {
	// An attempt recorded by an earlier step may have been submitted by
	// it (a crash before its id was written): Slurm is asked by name. One
	// recorded now cannot have been, which saves the two commands.
	resumed := true
	if j.st.Slurm == nil || j.st.Slurm.Name != slurmName(j.job, j.st.Attempt) {
		resumed = false
		acct, err := r.slurmAccount(ctx, j)
		if err != nil {
			var fail *prepError
			if errors.As(err, &fail) {
				return r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: fail.code, Message: fail.msg}, fail.msg)
			}
			return controller.Result{}, err
		}
		j.st.Slurm = &resource.SlurmRun{Name: slurmName(j.job, j.st.Attempt), Partition: j.info.Slurm.Partition,
			Root: filepath.Join(r.Slurm.jobsDir(), j.job.UID), UID: acct.uid, GID: acct.gid}
		j.st.Reason = fmt.Sprintf("Preparing attempt %d for Slurm partition %s.", j.st.Attempt, partitionName(j.st.Slurm.Partition))
		if err := r.write(ctx, j, resource.JobPreparing); err != nil {
			return controller.Result{}, err
		}
	}
	if j.st.Slurm.JobID == "" {
		id := ""
		if resumed {
			var err error
			if id, err = r.Slurm.Batch.Find(ctx, j.st.Slurm.Name); err != nil {
				return controller.Result{}, fmt.Errorf("find Slurm job %s: %w", j.st.Slurm.Name, err)
			}
		}
		if id != "" {
			r.logf(j, "Slurm job %s (%s) was submitted before a restart: mlw follows it.", id, j.st.Slurm.Name)
		} else if res, done, err := r.slurmSubmit(ctx, j); done || err != nil {
			return res, err
		} else {
			id = j.st.Slurm.JobID
		}
		now := r.Clock.Now()
		j.st.Slurm.JobID, j.st.Slurm.Submitted = id, now
		j.st.Reason = fmt.Sprintf("Submitted to Slurm partition %s as job %s.", partitionName(j.st.Slurm.Partition), id)
		if err := r.write(ctx, j, resource.JobPreparing); err != nil {
			return controller.Result{}, err
		}
	}
	return r.slurmPoll(ctx, j)
}

func partitionName(p string) string {
	if p == "" {
		return "(the default)"
	}
	return p
}

// slurmSubmit stages the attempt (working directories on the shared
// directory, environment, inputs, the batch script) and runs sbatch,
// setting j.st.Slurm.JobID. done is true when it ended the job instead (a
// preparation failure, or Slurm refusing the job).
func (r *Jobs) slurmSubmit(ctx context.Context, j *jobCtx) (controller.Result, bool, error) {
	if len(j.spec.Outputs) > 0 {
		msg := "Named outputs are not supported on Slurm-backed clusters yet: write to ./outputs, which is saved as the job's artifacts."
		res, err := r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: "OutputNotWritable", Message: msg}, msg)
		return res, true, err
	}
	if err := os.MkdirAll(r.Slurm.jobsDir(), 0o711); err != nil {
		return controller.Result{}, false, err
	}
	// Others may enter the jobs' directory, not list it; a job's own is
	// its account's alone (chowned below).
	if err := os.Chmod(r.Slurm.jobsDir(), 0o711); err != nil {
		return controller.Result{}, false, err
	}
	pctx, stop := r.cancelWatch(ctx, j)
	specs, err := r.build(pctx, j)
	if changed := stop(); changed && ctx.Err() == nil {
		return controller.Result{}, false, store.ErrConflict // canceled meanwhile: read the job again
	}
	var fail *prepError
	if errors.As(err, &fail) {
		r.prepDone(j.key)
		j.errLogged = fail.logged
		res, err := r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: fail.code, Message: fail.msg}, fail.msg)
		return res, true, err
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, store.ErrConflict) || r.prepFailed(j.key) {
			return controller.Result{}, false, err // retried with backoff
		}
		msg := fmt.Sprintf("Preparing the job failed %d times in a row: %v", maxPrepFailures, err)
		res, err := r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: "PreparationFailed", Message: msg}, msg)
		return res, true, err
	}
	r.prepDone(j.key)
	spec, err := r.slurmSpec(j, specs)
	if err != nil {
		return controller.Result{}, false, err
	}
	id, err := r.Slurm.Batch.Submit(ctx, spec)
	if err != nil {
		code := ""
		switch {
		case errors.Is(err, backend.ErrBatchUnsatisfiable):
			code = "ClusterTooSmall"
		case errors.Is(err, backend.ErrBatchUnknownUser):
			code = "SlurmAccountMissing"
		case errors.Is(err, backend.ErrBatchNoPartition):
			code = "SlurmPartitionNotFound"
		default:
			return controller.Result{}, false, fmt.Errorf("submit job %s to Slurm: %w", j.job.Name, err) // retried: Find first
		}
		msg := fmt.Sprintf("Slurm refused the job: %v", err)
		res, err := r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: code, Message: msg}, msg)
		return res, true, err
	}
	j.st.Slurm.JobID = id
	r.logf(j, "Submitted to Slurm partition %s as job %s (%s): %d node(s), %d process(es) per node, as uid %d.",
		partitionName(j.st.Slurm.Partition), id, j.st.Slurm.Name, spec.Nodes, spec.TasksPerNode, spec.UID)
	return controller.Result{}, false, nil
}

// slurmPoll follows a submitted attempt through the poller's last answer.
func (r *Jobs) slurmPoll(ctx context.Context, j *jobCtx) (controller.Result, error) {
	run := j.st.Slurm
	r.Slurm.watch(ctx, j.key, backend.BatchRef{ID: run.JobID, Output: r.slurmBatchLog(j)}, r.slurmLogs(j))
	st, ok := r.Slurm.State(run.JobID)
	if !ok {
		// The poller enqueues the job when it first sees it; this is a
		// backstop should Slurm not answer meanwhile.
		return controller.Result{RequeueAfter: 30 * time.Second}, nil
	}
	if st.Ended {
		r.Slurm.unwatch(run.JobID)
		return r.slurmEnded(ctx, j, st)
	}
	run.State, run.Message = st.State, st.Message
	switch {
	case st.Kind == backend.BatchRunning && j.job.State == resource.JobPreparing:
		now := r.Clock.Now()
		if j.st.StartTime == nil {
			j.st.StartTime = &now
		}
		j.st.Enter(resource.JobRunning, now)
		j.st.Reason = fmt.Sprintf("Running on Slurm node(s) %s (Slurm job %s).", st.Nodes, run.JobID)
		if err := r.write(ctx, j, resource.JobRunning); err != nil {
			return controller.Result{}, err
		}
		r.logf(j, "Running: Slurm job %s started on %s.", run.JobID, st.Nodes)
	case j.job.State == resource.JobPreparing:
		reason := fmt.Sprintf("Submitted to Slurm partition %s as job %s: %s", partitionName(run.Partition), run.JobID, st.Message)
		if reason != j.st.Reason {
			j.st.Reason = reason
			if err := r.write(ctx, j, resource.JobPreparing); err != nil {
				return controller.Result{}, err
			}
		}
		return controller.Result{}, nil
	}
	return r.slurmTimeout(ctx, j)
}

// slurmTimeout applies limits.timeout to a running attempt (Slurm's time
// limit, a minute longer, is the backstop).
func (r *Jobs) slurmTimeout(ctx context.Context, j *jobCtx) (controller.Result, error) {
	timeout, _ := j.spec.Timeout()
	if timeout <= 0 {
		return controller.Result{}, nil
	}
	left := j.st.PhaseTime(resource.JobRunning).Add(timeout).Sub(r.Clock.Now())
	if left > 0 {
		return controller.Result{RequeueAfter: left}, nil
	}
	if err := r.Slurm.Batch.Cancel(ctx, j.st.Slurm.JobID); err != nil {
		return controller.Result{}, fmt.Errorf("cancel Slurm job %s: %w", j.st.Slurm.JobID, err)
	}
	r.Slurm.unwatch(j.st.Slurm.JobID)
	msg := fmt.Sprintf("The job ran longer than its limits.timeout of %s and was stopped.", core.FormatISODuration(timeout))
	return r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: "JobTimeout", Message: msg}, msg)
}

// slurmCancel cancels the attempt's Slurm job (scancel: SIGTERM, then
// SIGKILL after Slurm's KillWait) and ends the job Canceled.
func (r *Jobs) slurmCancel(ctx context.Context, j *jobCtx) (controller.Result, error) {
	if err := r.slurmFindLost(ctx, j); err != nil {
		return controller.Result{}, err
	}
	if j.st.Slurm != nil && j.st.Slurm.JobID != "" {
		if err := r.Slurm.Batch.Cancel(ctx, j.st.Slurm.JobID); err != nil {
			return controller.Result{}, fmt.Errorf("cancel Slurm job %s: %w", j.st.Slurm.JobID, err)
		}
		r.Slurm.unwatch(j.st.Slurm.JobID)
		r.logf(j, "Slurm job %s cancelled (scancel).", j.st.Slurm.JobID)
	}
	reason := "Canceled."
	if j.st.CancelRequest != nil {
		reason = j.st.CancelRequest.Reason
	}
	return r.slurmFinish(ctx, j, resource.JobCanceled, nil, reason)
}

// slurmFinish ends the job and tells its cluster, whose queue may go on.
func (r *Jobs) slurmFinish(ctx context.Context, j *jobCtx, state string, jerr *resource.JobError, reason string) (controller.Result, error) {
	res, err := r.finish(ctx, j, state, jerr, reason)
	if err == nil {
		r.Queue.Enqueue(core.KindCompute, computeQueueKey(j.job.Owner))
	}
	return res, err
}

// slurmRemove cancels a deleted job's Slurm job, if it may still run.
func (r *Jobs) slurmRemove(ctx context.Context, j *jobCtx) error {
	if r.Slurm == nil || r.Slurm.Batch == nil || j.st.Slurm == nil || j.st.EndTime != nil {
		return nil
	}
	if err := r.slurmFindLost(ctx, j); err != nil || j.st.Slurm.JobID == "" {
		return err
	}
	r.Slurm.unwatch(j.st.Slurm.JobID)
	return r.Slurm.Batch.Cancel(ctx, j.st.Slurm.JobID)
}

// slurmFindLost finds, by name, the Slurm job of an attempt recorded
// without its id: sbatch may have run before the cancel or delete that is
// ending the job made writing the id lose its race.
func (r *Jobs) slurmFindLost(ctx context.Context, j *jobCtx) error {
	if j.st.Slurm == nil || j.st.Slurm.JobID != "" {
		return nil
	}
	id, err := r.Slurm.Batch.Find(ctx, j.st.Slurm.Name)
	if err != nil {
		return fmt.Errorf("find Slurm job %s: %w", j.st.Slurm.Name, err)
	}
	j.st.Slurm.JobID = id
	return nil
}

// slurmAccountInfo is the account a job runs as on Slurm.
type slurmAccountInfo struct {
	name     string
	uid, gid int
	home     string
}

// slurmAccount is the account the job's submitter runs as on Slurm: the
// one MLW_SLURM_ACCOUNTS maps the user (or "*") to; else the user's mlw
// host uid when it has an account; else the job is refused. Never root: a
// mapping to uid 0 is refused. A server that does not run as root submits
// as its own user (sbatch --uid needs root), as an unsandboxed local
// server runs jobs as itself.
func (r *Jobs) slurmAccount(ctx context.Context, j *jobCtx) (slurmAccountInfo, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return slurmAccountInfo{}, err
		}
		return slurmAccountInfo{name: u.Username, home: u.HomeDir}, nil
	}
	who := j.job.CreatedBy
	name := ""
	for _, k := range []string{j.st.SubmitterID, who, "*"} {
		if a, ok := r.Slurm.Accounts[k]; ok && k != "" {
			name = a
			break
		}
	}
	var u *user.User
	var err error
	if name != "" {
		if u, err = user.Lookup(name); err != nil {
			return slurmAccountInfo{}, prepFail("SlurmAccountMissing", "MLW_SLURM_ACCOUNTS maps mlw user %s to the account %s, which this host does not have; ask an administrator to fix the mapping.", who, name)
		}
	} else {
		sub := j.st.SubmitterID
		if sub == "" {
			sub = "name:" + who
		}
		uid, err := r.hostUID(ctx, sub)
		if err != nil {
			return slurmAccountInfo{}, err
		}
		if u, err = user.LookupId(strconv.Itoa(uid)); err != nil {
			return slurmAccountInfo{}, prepFail("SlurmAccountMissing", "Your mlw user %s has no account on the Slurm cluster '%s'; ask an administrator to map it (MLW_SLURM_ACCOUNTS=%s=<account>, docs/slurm.md).", who, j.info.Name, who)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 || gid == 0 {
		return slurmAccountInfo{}, prepFail("SlurmAccountMissing", "mlw runs no job as root: the account %s that mlw user %s maps to is root; ask an administrator to map it to an unprivileged account.", u.Username, who)
	}
	return slurmAccountInfo{name: u.Username, uid: uid, gid: gid, home: u.HomeDir}, nil
}

// chownTree gives a job's directory to its account.
func chownTree(root string, uid, gid int) error {
	if uid == 0 {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// slurmEnded maps the end of a Slurm job to the job's end.
func (r *Jobs) slurmEnded(ctx context.Context, j *jobCtx, st backend.BatchState) (controller.Result, error) {
	run := j.st.Slurm
	run.State, run.Message = st.State, st.Message
	r.logf(j, "Slurm job %s ended: %s (%s).", run.JobID, st.State, st.Message)
	if j.job.State == resource.JobPreparing && !st.Started.IsZero() {
		// It ran between two polls: it was Running too.
		now := r.Clock.Now()
		j.st.StartTime = &now
		j.st.Enter(resource.JobRunning, now)
		if err := r.write(ctx, j, resource.JobRunning); err != nil {
			return controller.Result{}, err
		}
	}
	fail := func(code, msg string) (controller.Result, error) {
		if st.ExitCode != 0 {
			code := st.ExitCode
			j.st.ExitCode = &code
		}
		if tail := lastLines(r.slurmUserLog(j, 0), 10, 2000); tail != "" && code != "UserError" {
			msg += " Last lines of the log: " + tail
		}
		return r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: code, Message: msg}, msg)
	}
	switch st.Kind {
	case backend.BatchCompleted:
		zero := 0
		j.st.ExitCode = &zero
		return r.slurmFinish(ctx, j, resource.JobCompleted, nil, "Completed.")
	case backend.BatchFailed:
		if st.ExitCode == -1 {
			return fail("SlurmLaunchFailed", "Slurm could not start the job: "+st.Message)
		}
		ps := &backend.ProcessState{ExitCode: st.ExitCode, Signal: st.Signal}
		jerr := r.failure(j, 0, j.spec.InstanceCount()*j.spec.ProcessesPerInstance(), ps)
		j.st.ExitCode = &ps.ExitCode
		return r.slurmFinish(ctx, j, resource.JobFailed, jerr, jerr.Message)
	case backend.BatchCancelled:
		return fail("CancelledOutsideMlw", "Slurm job "+run.JobID+" was cancelled outside mlw (scancel by its user or a Slurm administrator).")
	case backend.BatchTimeout:
		return fail("JobTimeout", "Slurm stopped the job at its time limit: "+st.Message)
	case backend.BatchOutOfMemory:
		return fail("OutOfMemory", "The job used more memory than its VM size gives each node and Slurm killed it; use a cluster with a larger VM size.")
	case backend.BatchNodeFail, backend.BatchPreempted:
		if j.info.LowPriority || st.Kind == backend.BatchPreempted {
			return r.slurmRequeue(ctx, j, st)
		}
		return fail("NodeFail", st.Message)
	}
	return fail("SlurmUnknownState", fmt.Sprintf("Slurm ended the job in state %s: %s", st.State, st.Message))
}

// slurmRequeue runs a preempted (or, on a low-priority cluster,
// node-failed) attempt again as a new Slurm job, keeping ./checkpoints.
func (r *Jobs) slurmRequeue(ctx context.Context, j *jobCtx, st backend.BatchState) (controller.Result, error) {
	now := r.Clock.Now()
	reason := fmt.Sprintf("Slurm job %s: %s", j.st.Slurm.JobID, st.Message)
	j.st.Attempts = append(j.st.Attempts, resource.JobAttempt{Attempt: j.st.Attempt, Start: j.st.PhaseTime(resource.JobPreparing), End: now,
		Outcome: st.Kind, Reason: reason})
	limit := r.maxAttempts()
	if j.st.Attempt >= limit {
		msg := fmt.Sprintf("%s (attempt %d of %d; the job is not retried again).", reason, j.st.Attempt, limit)
		return r.slurmFinish(ctx, j, resource.JobFailed, &resource.JobError{Code: "JobPreempted", Message: msg}, msg)
	}
	j.st.Slurm, j.st.Procs = nil, nil
	j.st.Enter(resource.JobQueued, now)
	j.st.Reason = fmt.Sprintf("%s; attempt %d waits in the queue.", reason, j.st.Attempt+1)
	if err := r.write(ctx, j, resource.JobQueued); err != nil {
		return controller.Result{}, err
	}
	r.logf(j, "%s: the job was requeued.", reason)
	r.queued(j)
	return controller.Result{}, nil
}

// slurmLogDir is where the attempt's ranks write their logs on the shared
// directory.
func (r *Jobs) slurmLogDir(j *jobCtx) string {
	return filepath.Join(j.st.Slurm.Root, "a"+strconv.Itoa(j.st.Attempt)+"-logs")
}

// slurmUserLog is rank's log on the shared directory.
func (r *Jobs) slurmUserLog(j *jobCtx, rank int) string {
	return filepath.Join(r.slurmLogDir(j), filepath.Base(UserLogName(rank, j.spec.InstanceCount()*j.spec.ProcessesPerInstance())))
}

// slurmBatchLog is the batch script's own output: the user log of a job
// with one process, a file of its own otherwise.
func (r *Jobs) slurmBatchLog(j *jobCtx) string {
	if j.spec.InstanceCount()*j.spec.ProcessesPerInstance() <= 1 {
		return r.slurmUserLog(j, 0)
	}
	return filepath.Join(r.slurmLogDir(j), "batch.txt")
}

// slurmLogs are the logs the poller copies into the job's artifacts.
func (r *Jobs) slurmLogs(j *jobCtx) []logCopy {
	world := j.spec.InstanceCount() * j.spec.ProcessesPerInstance()
	var out []logCopy
	for rank := range world {
		out = append(out, logCopy{src: r.slurmUserLog(j, rank), dst: filepath.Join(r.artifactDir(j), UserLogName(rank, world))})
	}
	if world > 1 {
		out = append(out, logCopy{src: r.slurmBatchLog(j), dst: filepath.Join(r.artifactDir(j), "system_logs", "slurm", "batch.txt")})
	}
	return out
}

// slurmEnv is the batch job's environment: rank 0's, its rank variables
// set by the rank wrapper on each node instead, and HOME the account's.
func slurmEnv(env []string, acct slurmAccountInfo, root string) []string {
	perRank := map[string]bool{"RANK": true, "LOCAL_RANK": true, "NODE_RANK": true, "AZUREML_PROCESS_NAME": true, "AZ_BATCH_NODE_ID": true}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !perRank[k] {
			out = append(out, kv)
		}
	}
	home := acct.home
	if fi, err := os.Stat(home); home == "" || err != nil || !fi.IsDir() {
		home = root
	}
	out = setEnv(out, "HOME", home)
	if acct.name != "" {
		out = setEnv(setEnv(out, "USER", acct.name), "LOGNAME", acct.name)
	}
	return out
}

// envPreparer is where the job's environment is prepared: on the shared
// directory for a Slurm job, in the server's environments otherwise.
func (r *Jobs) envPreparer(j *jobCtx) EnvPreparer {
	if r.isSlurm(j) && r.Slurm != nil && r.Slurm.Env != nil {
		return r.Slurm.Env
	}
	return r.Env
}

// slurmWorkDirs are the jobs' directories on the shared directory, for
// SweepWorkDirs (the same retention as local ones).
func (r *Jobs) slurmWorkDirs() []string {
	if r.Slurm == nil || r.Slurm.SharedDir == "" {
		return nil
	}
	ents, _ := os.ReadDir(r.Slurm.jobsDir())
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(r.Slurm.jobsDir(), e.Name()))
		}
	}
	return out
}

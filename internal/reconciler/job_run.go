package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/rooted"
	"github.com/mlw-project/mlw/internal/store"
)

// startedFile, in an attempt's directory, records the processes an
// attempt starts (their full specs) before the first one starts: after a
// crash the same processes are started again, which the backend answers
// with the ones already running.
const startedFile = "processes.json"

// workDir is the working directory of one node of the current attempt.
func (r *Jobs) workDir(j *jobCtx, node int) string {
	return filepath.Join(r.jobRoot(j), "a"+strconv.Itoa(j.st.Attempt)+"-n"+strconv.Itoa(node))
}

// attemptFile is a file of the current attempt (its process list, its
// downloaded inputs).
func (r *Jobs) attemptFile(j *jobCtx, name string) string {
	return filepath.Join(r.jobRoot(j), "a"+strconv.Itoa(j.st.Attempt)+"-"+name)
}

// prepare readies an attempt (working directories from the code snapshot,
// the environment, inputs and outputs) and starts its processes.
func (r *Jobs) prepare(ctx context.Context, j *jobCtx) (controller.Result, error) {
	if node := r.preemptedNode(ctx, j); node != "" {
		return r.requeue(ctx, j, node)
	}
	marker := r.attemptFile(j, startedFile)
	var specs []backend.ProcessSpec
	if b, err := os.ReadFile(marker); err == nil && json.Unmarshal(b, &specs) == nil && len(specs) > 0 {
		r.logf(j, "Resuming attempt %d: its processes were started before a restart.", j.st.Attempt)
	} else {
		pctx, stop := r.cancelWatch(ctx, j)
		specs, err = r.build(pctx, j)
		if changed := stop(); changed && ctx.Err() == nil {
			return controller.Result{}, store.ErrConflict // canceled meanwhile: read the job again
		}
		var fail *prepError
		if errors.As(err, &fail) {
			r.prepDone(j.key)
			j.errLogged = fail.logged
			return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: fail.code, Message: fail.msg}, fail.msg)
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, store.ErrConflict) || r.prepFailed(j.key) {
				return controller.Result{}, err // retried with backoff
			}
			msg := fmt.Sprintf("Preparing the job failed %d times in a row: %v", maxPrepFailures, err)
			return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: "PreparationFailed", Message: msg}, msg)
		}
		r.prepDone(j.key)
		b, _ := json.Marshal(specs)
		// A torn write reads as no list: the attempt is prepared again and
		// its processes started again, which the backend answers with the
		// ones already running.
		if err := os.WriteFile(marker, b, 0o644); err != nil {
			return controller.Result{}, fmt.Errorf("record processes of job %s: %w", j.job.Name, err)
		}
	}
	onInstance := len(j.st.Nodes) == 0 && !j.info.Cluster
	if onInstance && (j.compute == nil || !instanceReady(j.compute)) {
		reason := instanceGone(j.info.Name, j.compute)
		return r.finish(ctx, j, resource.JobCanceled, nil, reason)
	}
	procs := make([]resource.JobProc, len(specs))
	for i, spec := range specs {
		var h backend.ProcessHandle
		var err error
		if onInstance {
			h, err = r.startOnInstance(ctx, j, spec)
		} else {
			h, err = r.Procs.Start(ctx, spec)
		}
		if err != nil {
			if onInstance && errors.Is(err, backend.ErrNotRunning) {
				if c, _ := r.computeOf(ctx, j.job.Owner); c == nil || !instanceReady(c) {
					return r.finish(ctx, j, resource.JobCanceled, nil, instanceGone(j.info.Name, c))
				}
			}
			code, msg := "ProcessStartFailed", fmt.Sprintf("Could not start process %d of the job: %v", i, err)
			if errors.Is(err, backend.ErrNoSandbox) {
				code, msg = "SandboxUnavailable", fmt.Sprintf("This server cannot run jobs apart from itself: %v", err)
			}
			return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: code, Message: msg}, msg)
		}
		procs[i] = resource.JobProc{ID: h.ID, Rank: i, Node: h.Node, RunDir: h.RunDir, Log: UserLogName(i, len(specs))}
	}
	now := r.Clock.Now()
	j.st.Procs = procs
	if j.st.StartTime == nil {
		j.st.StartTime = &now
	}
	j.st.Enter(resource.JobRunning, now)
	where := "compute instance " + j.info.Name
	if len(j.st.Nodes) > 0 {
		where = "node " + strings.Join(j.st.Nodes, ", ")
	}
	j.st.Reason = "Running on " + where + "."
	if err := r.write(ctx, j, resource.JobRunning); err != nil {
		return controller.Result{}, err
	}
	if onInstance {
		r.logf(j, "Running: %d process(es) started inside %s, in %s.", len(specs), where, specs[0].Dir)
		// The instance's idle shutdown sees the running job at once.
		r.Queue.Enqueue(core.KindCompute, computeQueueKey(j.job.Owner))
	} else {
		r.logf(j, "Running: %d process(es) started on %s.", len(specs), where)
	}
	return r.running(ctx, j)
}

// startOnInstance starts a process of a job inside its compute instance.
func (r *Jobs) startOnInstance(ctx context.Context, j *jobCtx, spec backend.ProcessSpec) (backend.ProcessHandle, error) {
	if r.Instances == nil {
		return backend.ProcessHandle{}, errors.New("this server runs no jobs on compute instances")
	}
	return r.Instances.StartJobProcess(ctx, j.ws, j.compute, spec)
}

// instanceGone is why a job on an instance that is no longer running
// ends: the instance was stopped or deleted under it.
func instanceGone(name string, c *resource.Object) string {
	switch {
	case c == nil || c.Deleting:
		return fmt.Sprintf("The compute instance '%s' was deleted while the job ran.", name)
	case c.State == resource.InstanceRestarting:
		return fmt.Sprintf("The compute instance '%s' was restarted while the job ran.", name)
	default:
		return fmt.Sprintf("The compute instance '%s' was stopped while the job ran (it is %s).", name, c.State)
	}
}

// prepError is a preparation failure that fails the job; logged says
// that its message is in the lifecycle log already (an environment
// build's error).
type prepError struct {
	code, msg string
	logged    bool
}

func (e *prepError) Error() string { return e.msg }

func prepFail(code, format string, args ...any) error {
	return &prepError{code: code, msg: fmt.Sprintf(format, args...)}
}

// cancelWatch returns a context that ends when the job is asked to stop
// (cancel, delete) while a long preparation step (an environment build)
// runs.
func (r *Jobs) cancelWatch(ctx context.Context, j *jobCtx) (context.Context, func() (changed bool)) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	stopped := make(chan struct{})
	var changed bool
	go func() {
		defer close(stopped)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-pctx.Done():
				return
			case <-t.C:
				cur, err := r.Store.Get(ctx, j.job.Kind, j.job.Parent, j.job.Name)
				if errors.Is(err, store.ErrNotFound) || err == nil && (cur.Deleting || cur.State != j.job.State) {
					changed = true
					cancel()
					return
				}
			}
		}
	}()
	return pctx, func() bool {
		close(done)
		<-stopped
		cancel()
		return changed
	}
}

// build prepares an attempt and returns the specs of its processes.
func (r *Jobs) build(ctx context.Context, j *jobCtx) ([]backend.ProcessSpec, error) {
	where := "compute instance " + j.info.Name
	if len(j.st.Nodes) > 0 {
		where = "node(s) " + strings.Join(j.st.Nodes, ", ")
	} else if j.st.Slurm != nil {
		where = "the shared directory, for Slurm partition " + partitionName(j.st.Slurm.Partition)
	}
	r.logf(j, "Preparing attempt %d on %s.", j.st.Attempt, where)

	penv, err := r.prepareEnv(ctx, j)
	if err != nil {
		return nil, err
	}
	wds, err := r.prepareWorkDirs(ctx, j)
	if err != nil {
		return nil, err
	}
	dio, err := r.materialize(ctx, j, r.attemptFile(j, "inputs"))
	if err != nil {
		return nil, err
	}
	command, err := substitute(j.spec.Command, dio)
	if err != nil {
		return nil, err
	}
	return r.processSpecs(ctx, j, penv, wds, command, dio)
}

// prepareEnv resolves the job's environment and prepares it: a curated one
// is checked, any other built, with the build's output in the lifecycle
// log. It records the environment and its Python in the job's status. A
// missing environment or a failed build is a prepError.
func (r *Jobs) prepareEnv(ctx context.Context, j *jobCtx) (*PreparedEnv, error) {
	env, err := r.resolveEnv(ctx, j)
	if err != nil {
		if e, ok := core.AsError(err); ok && e.Status < 500 {
			return nil, prepFail("EnvironmentNotFound", "%s", e.Message)
		}
		return nil, err
	}
	var penv *PreparedEnv
	if env.Curated {
		// A check of the system's packages: quick, and usually cached.
		penv, err = r.prepareCurated(ctx, r.envPreparer(j), env, &j.log)
	} else {
		// A build may take minutes: its output goes to the log as it comes.
		r.flushLog(j)
		logw := r.lifecycleWriter(j)
		penv, err = r.envPreparer(j).Prepare(ctx, env, logw)
		logw.Close()
	}
	if err != nil {
		var ee *EnvError
		if errors.As(err, &ee) {
			return nil, &prepError{code: ee.Code, msg: ee.Message, logged: ee.Logged}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, prepFail("EnvironmentPreparationFailed", "The environment %s:%s could not be prepared: %v", env.Name, env.Version, err)
	}
	j.st.Environment, j.st.Python = env.ID, penv.Python
	r.logf(j, "Environment %s:%s ready (Python %s).", env.Name, env.Version, penv.Python)
	return penv, nil
}

// prepareWorkDirs makes the working directories: one per node, each a
// fresh copy of the code snapshot, with ./outputs, ./logs and
// ./checkpoints (a link to the job's one checkpoints folder, kept across
// attempts). Copies go through os.Root on both sides: nothing outside the
// storage account is read, nothing outside the job's directory written.
func (r *Jobs) prepareWorkDirs(ctx context.Context, j *jobCtx) ([]string, error) {
	nodes := r.nodeCount(j)
	root := r.jobRoot(j)
	ckpt := filepath.Join(root, "checkpoints")
	if err := os.Mkdir(ckpt, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if err := os.MkdirAll(ckpt, 0o755); err != nil {
			return nil, err
		}
	}
	code, err := r.codeSnapshot(ctx, j)
	if err != nil {
		return nil, err
	}
	if code != nil {
		defer code.root.Close()
	}
	jr, err := r.openJobRoot(j)
	if err != nil {
		return nil, err
	}
	defer jr.Close()
	wds := make([]string, nodes)
	for n := range nodes {
		if wds[n], err = r.makeWorkDir(j, n, code, jr, ckpt); err != nil {
			return nil, err
		}
	}
	if code != nil {
		r.logf(j, "Code snapshot copied to %d working director%s.", nodes, map[bool]string{true: "y", false: "ies"}[nodes == 1])
	}
	return wds, nil
}

// codeSnapshot opens the job's code snapshot in the workspace's storage
// (nil when the job has no code; the caller closes its root). A code asset
// that is not found, whose snapshot is missing, or whose path leads out of
// storage through a link is a prepError.
func (r *Jobs) codeSnapshot(ctx context.Context, j *jobCtx) (*storageData, error) {
	if j.spec.CodeID == "" {
		return nil, nil
	}
	loc, err := r.Assets.JobCode(ctx, j.ws, j.spec.CodeID)
	if err != nil {
		if e, ok := core.AsError(err); ok && e.Status < 500 {
			return nil, prepFail("CodeNotFound", "%s", e.Message)
		}
		return nil, err
	}
	what := fmt.Sprintf("The code snapshot of this job (%s in container %s)", loc.Path, loc.Container)
	code, err := r.openData(loc)
	if rooted.IsOutside(err) {
		return nil, linkOutside("CodeNotFound", what, j.spec.CodeID, err)
	} else if err != nil {
		return nil, err
	}
	if fi, err := code.root.Stat(code.rel); err != nil || !fi.IsDir() {
		code.root.Close()
		return nil, prepFail("CodeNotFound", "%s is missing from the workspace's storage; submit the job again to upload it.", what)
	}
	return code, nil
}

// makeWorkDir makes node n's working directory afresh in the job's
// directory jr: a copy of code (or empty when code is nil), with outputs,
// logs and a checkpoints link to ckpt. A checkpoints folder in the snapshot
// seeds ckpt on the first attempt's first node.
func (r *Jobs) makeWorkDir(j *jobCtx, n int, code *storageData, jr *os.Root, ckpt string) (string, error) {
	wd := r.workDir(j, n)
	if err := os.RemoveAll(wd); err != nil {
		return "", err
	}
	rel := filepath.Base(wd) // workDir is a directory of jobRoot
	if code != nil {
		skipped, err := rooted.Copy(code.root, code.rel, jr, rel)
		if rooted.IsOutside(err) {
			return "", linkOutside("CodeNotFound", "The code snapshot of this job", j.spec.CodeID, err)
		} else if err != nil {
			return "", fmt.Errorf("copy the code snapshot: %w", err)
		}
		if n == 0 {
			r.logSkipped(j, "Code snapshot", skipped)
		}
	} else if err := jr.Mkdir(rel, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{"outputs", "logs"} {
		if err := jr.Mkdir(path.Join(rel, d), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	link := path.Join(rel, "checkpoints")
	if fi, err := jr.Lstat(link); err == nil && fi.IsDir() {
		// The snapshot has a checkpoints folder: seed the kept one.
		if j.st.Attempt == 1 && n == 0 {
			if _, err := rooted.Copy(jr, link, jr, "checkpoints"); err != nil {
				return "", err
			}
		}
		if err := jr.RemoveAll(link); err != nil {
			return "", err
		}
	} else if err == nil {
		// A link or a file of the snapshot's: the kept folder wins.
		if err := jr.Remove(link); err != nil {
			return "", err
		}
	}
	if err := os.Symlink(ckpt, filepath.Join(wd, "checkpoints")); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	return wd, nil
}

// lifecycleWriter appends to the job's lifecycle log (for environment
// preparation output).
func (r *Jobs) lifecycleWriter(j *jobCtx) io.WriteCloser {
	f, err := openAppend(filepath.Join(r.artifactDir(j), LifecycleLog))
	if err != nil {
		return nopCloser{io.Discard}
	}
	return f
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// processSpecs builds one process per rank: the command under bash in its
// node's working directory, with the environment Azure ML jobs see.
func (r *Jobs) processSpecs(ctx context.Context, j *jobCtx, penv *PreparedEnv, wds []string, command string, dio *jobIO) ([]backend.ProcessSpec, error) {
	nodes, ppn := len(wds), j.spec.ProcessesPerInstance()
	world := nodes * ppn
	distributed := world > 1 || j.spec.Distribution != nil
	masterAddr := "127.0.0.1"
	if distributed && len(j.st.Nodes) > 0 {
		if n, err := r.Store.Get(ctx, resource.KindNode, j.job.Owner, j.st.Nodes[0]); err == nil {
			if ip := resource.NodeStatusOf(n).PrivateIP; ip != "" {
				masterAddr = ip
			}
		}
	}
	if distributed {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("pick MASTER_PORT: %w", err)
		}
		j.st.MasterPort = port
	}
	ref := resource.WorkspaceRefOf(j.ws)
	// A job on a compute instance gets the instance's environment (its
	// home, user, config and credentials) under its own: none of the
	// server's.
	var base func() []string = baseEnv
	onInstance := len(j.st.Nodes) == 0 && !j.info.Cluster
	if onInstance {
		base = func() []string { return nil }
	}
	sandbox, err := r.sandbox(ctx, j, onInstance, dio)
	if err != nil {
		return nil, err
	}
	tracking, err := r.trackingEnv(ctx, j)
	if err != nil {
		return nil, err
	}
	var specs []backend.ProcessSpec
	for rank := range world {
		node := rank / ppn
		vars := map[string]string{
			"AZUREML_RUN_ID": j.job.Name, "AZUREML_ARM_SUBSCRIPTION": ref.Subscription, "AZUREML_ARM_RESOURCEGROUP": ref.ResourceGroup,
			"AZUREML_ARM_WORKSPACE_NAME": ref.Workspace, "AZUREML_ARM_PROJECT_NAME": j.spec.ExperimentName,
			"MLFLOW_RUN_ID": j.job.Name, "MLFLOW_EXPERIMENT_NAME": j.spec.ExperimentName,
			"MLW_JOB_NAME": j.job.Name, "MLW_ATTEMPT": strconv.Itoa(j.st.Attempt),
			"MLW_CHECKPOINT_DIR":    filepath.Join(r.jobRoot(j), "checkpoints"),
			"AZUREML_CR_NODE_COUNT": strconv.Itoa(nodes), "PYTHONUNBUFFERED": "1",
		}
		if len(j.st.Nodes) > 0 {
			vars["AZ_BATCH_NODE_ID"] = j.st.Nodes[node]
		}
		if distributed {
			vars["MASTER_ADDR"] = masterAddr
			vars["MASTER_PORT"] = strconv.Itoa(j.st.MasterPort)
			vars["WORLD_SIZE"] = strconv.Itoa(world)
			vars["RANK"] = strconv.Itoa(rank)
			vars["NODE_RANK"] = strconv.Itoa(node)
			vars["LOCAL_RANK"] = strconv.Itoa(rank % ppn)
			vars["LOCAL_WORLD_SIZE"] = strconv.Itoa(ppn)
			vars["AZUREML_PROCESS_NAME"] = "rank_" + strconv.Itoa(rank)
		}
		for k, v := range tracking {
			vars[k] = v
		}
		for k, v := range dio.env {
			vars[k] = v
		}
		for k, v := range j.spec.EnvironmentVariables {
			if v == nil {
				continue
			}
			vars[k] = fmt.Sprint(v)
		}
		env := penv.Environ(base())
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = setEnv(env, k, vars[k])
		}
		spec := backend.ProcessSpec{
			ID: procID(j.job, j.st.Attempt, rank), Command: command, Dir: wds[node], Env: env,
			Log: filepath.Join(r.artifactDir(j), UserLogName(rank, world)), Sandbox: sandbox,
		}
		if len(j.st.Nodes) > 0 {
			spec.Node = j.st.Nodes[node]
		}
		specs = append(specs, spec)
	}
	if j.st.Attempt > 1 {
		for _, s := range specs {
			appendLine(s.Log, fmt.Sprintf("===== mlw: attempt %d of job %s (the previous one was preempted) =====", j.st.Attempt, j.job.Name))
		}
	}
	return specs, nil
}

// sandbox is how a cluster job's processes are confined (nil: not at all):
// as its submitter's host uid, seeing of the data directory only the jobs'
// directories (each job's its user's alone), the workspace's storage and
// the prepared Python environments, and writing its own directories and
// outputs.
//
// A job on a compute instance runs inside the instance, as the instance's
// user (who alone may submit to it): its sandbox names only what the job
// writes, which the instance's backend gives to that user.
func (r *Jobs) sandbox(ctx context.Context, j *jobCtx, onInstance bool, dio *jobIO) (*backend.Sandbox, error) {
	if !r.Sandbox && !onInstance || r.isSlurm(j) {
		return nil, nil // on Slurm: its account and cgroups (slurmSpec)
	}
	who := j.st.SubmitterID
	if who == "" {
		who = "name:" + j.job.CreatedBy // jobs submitted before submitters were recorded
	}
	uid, err := r.hostUID(ctx, who)
	if err != nil {
		return nil, err
	}
	if onInstance {
		return &backend.Sandbox{UID: uid, Writable: append([]string{r.jobRoot(j)}, dio.writable()...)}, nil
	}
	jobs := filepath.Join(r.DataDir, "jobs")
	// Others may enter the jobs' directory, not list it; a job's own is
	// its user's alone.
	if err := os.Chmod(jobs, 0o711); err != nil {
		return nil, err
	}
	root := r.jobRoot(j)
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, err
	}
	sb := &backend.Sandbox{UID: uid, Writable: []string{root},
		Binds: []backend.Bind{{Path: jobs}, {Path: filepath.Dir(blob.ContainerDir(r.DataDir, resource.WorkspaceStatusOf(j.ws).StorageAccount, "x"))}}}
	if r.EnvDir != "" {
		sb.Binds = append(sb.Binds, backend.Bind{Path: r.EnvDir, ReadOnly: true})
	}
	sb.Writable = append(sb.Writable, dio.writable()...)
	return sb, nil
}

// hostUID is a user's host uid, read once per server process (a user's
// uid never changes).
func (r *Jobs) hostUID(ctx context.Context, who string) (int, error) {
	r.cacheMu.Lock()
	uid, ok := r.uids[who]
	r.cacheMu.Unlock()
	if ok {
		return uid, nil
	}
	uid, err := r.Store.HostUID(ctx, who, backend.UIDBase)
	if err != nil {
		return 0, err
	}
	r.cacheMu.Lock()
	if r.uids == nil {
		r.uids = map[string]int{}
	}
	r.uids[who] = uid
	r.cacheMu.Unlock()
	return uid, nil
}

// writable are the paths a job writes its outputs to: each output's
// directory (an output that names a file: the directory it is in).
func (d *jobIO) writable() []string {
	var out []string
	for _, p := range d.outputs {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			out = append(out, p)
		} else {
			out = append(out, filepath.Dir(p))
		}
	}
	return out
}

// baseEnv is the part of the server's environment a job inherits: what
// programs need to run, not the server's own settings or credentials.
func baseEnv() []string {
	keep := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "LANG": true,
		"LC_ALL": true, "LC_CTYPE": true, "TZ": true, "TMPDIR": true, "TERM": true,
		"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "http_proxy": true, "https_proxy": true, "no_proxy": true,
		"PIP_INDEX_URL": true, "PIP_EXTRA_INDEX_URL": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "REQUESTS_CA_BUNDLE": true}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] {
			out = append(out, kv)
		}
	}
	return out
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// preemptedNode returns a node of the current attempt that was preempted
// (or vanished), or "". Only low-priority nodes are preempted.
func (r *Jobs) preemptedNode(ctx context.Context, j *jobCtx) string {
	if j.info == nil || !j.info.LowPriority {
		return ""
	}
	for _, id := range j.st.Nodes {
		n, err := r.Store.Get(ctx, resource.KindNode, j.job.Owner, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && n.State == resource.NodePreempted {
			return id
		}
	}
	return ""
}

// running checks on a running attempt: preemption, the processes' exits,
// the timeout.
func (r *Jobs) running(ctx context.Context, j *jobCtx) (controller.Result, error) {
	preempted := r.preemptedNode(ctx, j)
	hs := r.procs(j)
	var failed *backend.ProcessState
	failedRank, done := -1, 0
	var live []backend.ProcessHandle // only these are watched: an ended rank's Wait returns at once
	for i, h := range hs {
		ps, err := r.Procs.State(ctx, h)
		if err != nil {
			return controller.Result{}, err
		}
		if ps.Running {
			live = append(live, h)
			continue
		}
		done++
		if (ps.ExitCode != 0 || ps.Error != "") && failed == nil {
			failed, failedRank = &ps, i
		}
	}
	if preempted != "" && (failed != nil || done < len(hs)) {
		// Preempted before every process ended well: run it again. (A job
		// whose processes all completed before the preemption completes.)
		return r.requeue(ctx, j, preempted)
	}
	if failed != nil && len(j.st.Nodes) == 0 && !j.info.Cluster && (j.compute == nil || !instanceReady(j.compute)) {
		// Killed with its instance (stopped or deleted under it).
		return r.finish(ctx, j, resource.JobCanceled, nil, instanceGone(j.info.Name, j.compute))
	}
	switch {
	case failed != nil:
		jerr := r.failure(j, failedRank, len(hs), failed)
		j.st.ExitCode = &failed.ExitCode
		return r.finish(ctx, j, resource.JobFailed, jerr, jerr.Message)
	case done == len(hs):
		zero := 0
		j.st.ExitCode = &zero
		return r.finish(ctx, j, resource.JobCompleted, nil, "Completed.")
	}
	timeout, _ := j.spec.Timeout()
	if timeout > 0 {
		deadline := j.st.PhaseTime(resource.JobRunning).Add(timeout)
		if left := deadline.Sub(r.Clock.Now()); left <= 0 {
			msg := fmt.Sprintf("The job ran longer than its limits.timeout of %s and was stopped.", core.FormatISODuration(timeout))
			return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: "JobTimeout", Message: msg}, msg)
		} else {
			r.watch(ctx, j, live)
			return controller.Result{RequeueAfter: left}, nil
		}
	}
	r.watch(ctx, j, live)
	return controller.Result{}, nil
}

// failure describes a failed process the way Azure ML does, with the last
// lines of its log.
func (r *Jobs) failure(j *jobCtx, rank, world int, ps *backend.ProcessState) *resource.JobError {
	logName := UserLogName(rank, world)
	prog := strings.Fields(j.spec.Command)
	name := "command"
	if len(prog) > 0 {
		name = filepath.Base(prog[0])
	}
	var msg string
	switch {
	case ps.Error != "" && ps.ExitCode == -1:
		msg = fmt.Sprintf("Execution failed. User process '%s' was lost: %s.", name, ps.Error)
	case ps.Error != "":
		msg = fmt.Sprintf("Execution failed. User process '%s' could not start: %s.", name, ps.Error)
	case ps.Signal != "":
		msg = fmt.Sprintf("Execution failed. User process '%s' was killed by %s (exit code %d). Please check log file '%s' for error details.", name, ps.Signal, ps.ExitCode, logName)
		if ps.ExitCode == 137 {
			msg += " If it ran out of memory, use a cluster with a larger VM size."
		}
	default:
		msg = fmt.Sprintf("Execution failed. User process '%s' exited with status code %d. Please check log file '%s' for error details.", name, ps.ExitCode, logName)
	}
	if world > 1 {
		msg = strings.Replace(msg, "User process", fmt.Sprintf("User process of rank %d", rank), 1)
	}
	if tail := lastLines(filepath.Join(r.artifactDir(j), logName), 10, 2000); tail != "" {
		msg += " Error: " + tail
	}
	return &resource.JobError{Code: "UserError", Message: msg}
}

// finalizing resumes a job whose processes had ended (after a restart, or
// a cancel that came too late).
func (r *Jobs) finalizing(ctx context.Context, j *jobCtx) (controller.Result, error) {
	state := j.st.Outcome
	if !resource.JobTerminal(state) {
		state = resource.JobCompleted
	}
	reason := "Completed."
	switch {
	case j.st.Error != nil:
		reason = j.st.Error.Message
	case state == resource.JobCanceled && j.st.CancelRequest != nil:
		reason = j.st.CancelRequest.Reason
	}
	return r.finish(ctx, j, state, j.st.Error, reason)
}

// hasArtifacts reports whether finishing will copy outputs or logs.
func (r *Jobs) hasArtifacts(j *jobCtx) bool {
	if j.st.Attempt == 0 {
		return false
	}
	for n := range r.nodeCount(j) {
		wd := r.workDir(j, n)
		if hasFiles(filepath.Join(wd, "outputs")) || hasFiles(filepath.Join(wd, "logs")) {
			return true
		}
	}
	return false
}

// requeue handles a preempted attempt: its processes stop, its nodes are
// released, and the job waits in the queue again for its next attempt.
// ./checkpoints is kept, so a script that saves and reloads its state
// there resumes where it was.
func (r *Jobs) requeue(ctx context.Context, j *jobCtx, node string) (controller.Result, error) {
	if err := r.stopProcs(ctx, j); err != nil {
		return controller.Result{}, err
	}
	now := r.Clock.Now()
	reason := fmt.Sprintf("Node %s was preempted", node)
	j.st.Attempts = append(j.st.Attempts, resource.JobAttempt{Attempt: j.st.Attempt, Nodes: j.st.Nodes,
		Start: j.st.PhaseTime(resource.JobPreparing), End: now, Outcome: "Preempted", Reason: reason + "."})
	max := r.maxAttempts()
	if j.st.Attempt >= max {
		msg := fmt.Sprintf("%s during attempt %d of %d; the job is not retried again.", reason, j.st.Attempt, max)
		return r.finish(ctx, j, resource.JobFailed, &resource.JobError{Code: "JobPreempted", Message: msg}, msg)
	}
	err := r.Store.InTx(ctx, func(tx store.Resources) error {
		if err := releaseNodes(ctx, tx, j, now); err != nil {
			return err
		}
		j.st.Nodes, j.st.Procs, j.st.MasterPort = nil, nil, 0
		j.st.Reason = reason + "."
		j.st.Enter(resource.JobQueued, now)
		j.st.Reason = fmt.Sprintf("%s; attempt %d waits for a node.", reason, j.st.Attempt+1)
		j.job.Status = resource.Encode(j.st)
		j.job.State = resource.JobQueued
		return tx.Update(ctx, j.job)
	})
	if err != nil {
		return controller.Result{}, err
	}
	r.logf(j, "%s during attempt %d: the job was requeued.", reason, j.st.Attempt)
	r.Log.Info("job requeued after preemption", "job", j.job.Name, "node", node, "attempt", j.st.Attempt)
	r.queued(j)
	return controller.Result{}, nil
}

// instanceReady reports whether a compute instance can run a job.
func instanceReady(c *resource.Object) bool {
	return c.State == resource.InstanceRunning || c.State == "JobRunning"
}

// scheduleInstance starts a queued job on its compute instance when the
// instance runs and no other job does (one job at a time, oldest first).
func (r *Jobs) scheduleInstance(ctx context.Context, j *jobCtx) (controller.Result, error) {
	unlock := r.Sched.Lock(j.job.Owner)
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	wait := func(reason string, again time.Duration) (controller.Result, error) {
		if j.st.Reason != reason {
			j.st.Reason = reason
			if err := r.write(ctx, j, resource.JobQueued); err != nil {
				return controller.Result{}, err
			}
		}
		return controller.Result{RequeueAfter: again}, nil
	}
	if !instanceReady(j.compute) {
		// The instance reconciler enqueues its queued jobs whenever its
		// state changes: no polling.
		return wait(fmt.Sprintf("Waiting for compute instance %s to run (it is %s); start it with `mlw compute start --name %s`.",
			j.compute.Name, j.compute.State, j.compute.Name), 0)
	}
	for _, state := range []string{resource.JobPreparing, resource.JobRunning, resource.JobFinalizing, resource.JobCancelRequested} {
		busy, err := r.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: j.job.Owner, State: state, Limit: 1})
		if err != nil {
			return controller.Result{}, err
		}
		if len(busy) > 0 {
			return wait(fmt.Sprintf("Waiting for compute instance %s: it runs job %s.", j.compute.Name, busy[0].Name), 0)
		}
	}
	head, ahead, err := r.oldestQueued(ctx, j.job.Owner)
	if err != nil {
		return controller.Result{}, err
	}
	if head != nil && head.Name != j.job.Name {
		r.Queue.Enqueue(core.KindJob, resource.Key(head))
		return wait(fmt.Sprintf("Waiting for compute instance %s: %d job(s) ahead.", j.compute.Name, ahead), 0)
	}
	now := r.Clock.Now()
	j.st.Attempt++
	j.st.Root = instanceJobsPrefix + j.compute.UID + "/" + j.job.UID
	j.st.Enter(resource.JobPreparing, now)
	j.st.Reason = "Preparing on compute instance " + j.compute.Name + "."
	if err := r.write(ctx, j, resource.JobPreparing); err != nil {
		return controller.Result{}, err
	}
	unlock()
	locked = false
	return r.prepare(ctx, j)
}

// oldestQueued returns the first job in line for a compute and how many
// queued jobs there are.
func (r *Jobs) oldestQueued(ctx context.Context, owner string) (*resource.Object, int, error) {
	qs, err := r.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: owner, State: resource.JobQueued})
	if err != nil {
		return nil, 0, err
	}
	if len(qs) == 0 {
		return nil, 0, nil
	}
	sort.SliceStable(qs, func(a, b int) bool { return queuedBefore(qs[a].CreatedAt, qs[a].Name, qs[b].CreatedAt, qs[b].Name) })
	return qs[0], len(qs) - 1, nil
}

// kickInstance wakes the next job queued on an instance.
func (r *Jobs) kickInstance(ctx context.Context, owner string) {
	head, _, err := r.oldestQueued(ctx, owner)
	if err == nil && head != nil {
		r.Queue.Enqueue(core.KindJob, resource.Key(head))
	}
}

// saveArtifacts copies each working directory's ./outputs and ./logs to
// the job's artifacts (where jobs.download finds them). Both ends are
// os.Roots (the job's directory, the storage account): the job made
// everything in its directory, links included, and nothing it made may
// lead the copy elsewhere.
func (r *Jobs) saveArtifacts(j *jobCtx) {
	if j.st.Attempt == 0 {
		return
	}
	jr, err := os.OpenRoot(r.jobRoot(j))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.logf(j, "Could not save the job's artifacts: %v", err)
		}
		return
	}
	defer jr.Close()
	acct, err := r.openData(&resource.DataLocation{Account: resource.WorkspaceStatusOf(j.ws).StorageAccount, Container: resource.ArtifactContainer})
	if err != nil {
		r.logf(j, "Could not save the job's artifacts: %v", err)
		return
	}
	defer acct.root.Close()
	arts, err := filepath.Rel(acct.dir, r.artifactDir(j))
	if err != nil || !filepath.IsLocal(arts) {
		r.logf(j, "Could not save the job's artifacts: %s is not in the storage account", r.artifactDir(j))
		return
	}
	for n := range r.nodeCount(j) {
		for _, d := range []string{"outputs", "logs"} {
			src := path.Join(filepath.Base(r.workDir(j, n)), d)
			if ents, err := fs.ReadDir(jr.FS(), src); err != nil || len(ents) == 0 {
				continue
			}
			skipped, err := rooted.Copy(jr, src, acct.root, path.Join(filepath.ToSlash(arts), d))
			if err != nil {
				r.logf(j, "Could not save ./%s as artifacts: %v", d, err)
			}
			r.logSkipped(j, "./"+d, skipped)
		}
	}
}

// hasFiles reports whether dir has entries (a decision only: nothing is
// read through it).
func hasFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) > 0
}

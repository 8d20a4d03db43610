package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/rooted"
	"github.com/mlw-project/mlw/internal/schedule"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/protocol"
)

// Instances reconciles compute instances: it drives the state machine
// (Creating → SettingUp → UserSettingUp → Running; Stopping → Stopped;
// Starting; Restarting; deletion), runs setup scripts, applies schedules
// and idle shutdown, and finishes the operations clients poll.
type Instances struct {
	Store   store.Store
	Backend backend.Instances
	// Queue wakes the jobs of an instance: those queued on it when its
	// state changes (they start once it is Running), those running on it
	// when it stops or goes.
	Queue   resource.Enqueuer
	Log     *slog.Logger
	DataDir string
	// EnvDir is where prepared Python environments are (the job
	// reconciler's environment builder's directory): instances show it,
	// read-only, to the jobs that run inside them.
	EnvDir string
	// Now is the clock (tests inject a virtual one).
	Clock core.Clock
	// ServerURL returns the URL instances use to reach this server.
	ServerURL func() string
	// CAPEM is the server's CA certificate (trusted inside instances).
	CAPEM []byte
	// IdlePoll is how often a Running instance with idle shutdown is
	// checked for activity (sessions also notify at once).
	IdlePoll time.Duration
	// ScriptPoll is how often a running setup script is checked.
	ScriptPoll time.Duration
}

func (r *Instances) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// instanceCtx is one reconcile's view of an instance.
type instanceCtx struct {
	key string
	ws  *resource.Object
	c   *resource.Object
	st  *resource.InstanceStatus
	// spec is the instance's decoded spec; size its VM size.
	spec  *resource.InstanceSpec
	size  core.VMSize
	dirty bool
	// from is the state the reconcile found.
	from string
}

// Reconcile implements controller.Reconciler.
func (r *Instances) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	parent, name := resource.ParseKey(key)
	c, err := r.Store.Get(ctx, core.KindCompute, parent, name)
	if errors.Is(err, store.ErrNotFound) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	ws, err := r.workspaceOf(ctx, c)
	if err != nil {
		return controller.Result{}, err
	}
	x, err := newInstanceCtx(key, ws, c)
	if err != nil {
		return controller.Result{}, err
	}
	x.from = x.st.State()
	if c.Deleting {
		return controller.Result{}, r.delete(ctx, x)
	}
	r.actOnIntent(x)
	var res controller.Result
	// Take steps until the state settles (a create with no script goes
	// Creating → SettingUp → Running in one call).
	for i := 0; i < 8; i++ {
		before := x.st.State()
		res, err = r.step(ctx, x)
		if err != nil {
			break
		}
		if x.st.State() == before {
			break
		}
	}
	if x.dirty {
		x.st.Encode(x.c)
		if uerr := r.Store.Update(ctx, x.c); uerr != nil {
			return controller.Result{}, uerr
		}
		if err == nil {
			err = r.finishIfSettled(ctx, x)
		}
		if x.st.State() != x.from {
			// The jobs queued on the instance start once it runs, and say
			// what they wait for otherwise.
			r.wakeJobs(ctx, x, resource.JobQueued)
		}
	}
	return res, err
}

// actOnIntent makes the move a user asked for (start, stop, restart:
// admission records it in the spec, having checked it against the state
// it saw). A request the instance has moved past meanwhile — a schedule
// stopped it first — is only marked as seen; its operation finishes with
// the state the instance settles in.
func (r *Instances) actOnIntent(x *instanceCtx) {
	a, applies := x.st.PendingAction(x.c.Spec)
	if a == nil {
		return
	}
	x.st.Internal.ActedIntent = a.Seq
	x.dirty = true
	if !applies {
		r.log().Info("instance action moved past", "instance", x.c.Name, "action", a.Name, "state", x.st.State())
		return
	}
	act := resource.InstanceActions[a.Name]
	x.st.SetState(act.To)
	x.st.SetErrors("", "")
	x.st.SetLastOperation(act.Op, "InProgress", resource.TriggerUser, a.At)
}

// workspaceOf finds the workspace of a compute from its parent key.
func (r *Instances) workspaceOf(ctx context.Context, c *resource.Object) (*resource.Object, error) {
	ws, ok := resource.ParentRef(core.KindWorkspace, c.Parent)
	if !ok {
		return nil, fmt.Errorf("compute %s: bad parent %q", c.Name, c.Parent)
	}
	return r.Store.Get(ctx, ws.Kind, ws.Parent, ws.Name)
}

// move changes the state and marks the status for writing.
func (x *instanceCtx) move(state string) {
	x.st.SetState(state)
	x.dirty = true
}

func (r *Instances) step(ctx context.Context, x *instanceCtx) (controller.Result, error) {
	switch x.st.State() {
	case resource.InstanceCreating:
		creation, startup := x.spec.Creation, x.spec.Startup
		var scripts []string
		if creation != nil {
			scripts = append(scripts, "creation")
		}
		if startup != nil {
			scripts = append(scripts, "startup")
		}
		x.st.Internal.Scripts = scripts
		if x.st.Internal.JupyterToken == "" {
			x.st.Internal.JupyterToken = randomHex(24)
		}
		x.move(resource.InstanceSettingUp)
		return controller.Result{}, nil
	case resource.InstanceSettingUp, resource.InstanceStarting:
		if x.st.State() == resource.InstanceStarting {
			startup := x.spec.Startup
			x.st.Internal.Scripts = nil
			if startup != nil {
				x.st.Internal.Scripts = []string{"startup"}
			}
		}
		return r.bootAndSetUp(ctx, x)
	case resource.InstanceRestarting:
		if err := r.endJobs(ctx, x, "restarted"); err != nil {
			return controller.Result{}, err
		}
		if err := r.Backend.Stop(ctx, x.st.Internal.Handle); err != nil {
			return controller.Result{}, err
		}
		startup := x.spec.Startup
		x.st.Internal.Scripts = nil
		if startup != nil {
			x.st.Internal.Scripts = []string{"startup"}
		}
		return r.bootAndSetUp(ctx, x)
	case resource.InstanceUserSettingUp:
		return r.runScripts(ctx, x)
	case resource.InstanceStopping:
		what := "stopped"
		switch _, trigger := x.st.LastOperation(); trigger {
		case resource.TriggerSchedule:
			what = "stopped by its schedule"
		case resource.TriggerIdleShutdown:
			what = "stopped by idle shutdown"
		}
		if err := r.endJobs(ctx, x, what); err != nil {
			return controller.Result{}, err
		}
		if err := r.Backend.Stop(ctx, x.st.Internal.Handle); err != nil {
			return controller.Result{}, err
		}
		name, trigger := x.st.LastOperation()
		x.st.SetLastOperation(orDefault(name, "Stop"), "Succeeded", orDefault(trigger, resource.TriggerUser), r.Clock.Now())
		x.st.Internal.IdleSince = time.Time{}
		delete(x.st.Props, "idleShutdown")
		x.move(resource.InstanceStopped)
		return controller.Result{}, nil
	case resource.InstanceRunning:
		return r.running(ctx, x)
	case resource.InstanceStopped:
		return r.evaluateSchedules(ctx, x)
	}
	return controller.Result{}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// spec builds what the backend needs to run the instance.
func (r *Instances) spec(x *instanceCtx, files map[string][]byte) *backend.InstanceSpec {
	size := x.size
	ref := resource.WorkspaceRefOf(x.ws)
	serverURL := ""
	if r.ServerURL != nil {
		serverURL = r.ServerURL()
	}
	s := &backend.InstanceSpec{
		ID: x.c.UID, Key: x.key, Name: x.c.Name, Workspace: x.ws.Name,
		MilliCPU: size.VCPUs * 1000, MemoryBytes: size.MemoryMB() << 20,
		SharePath: resource.WorkspaceSharePath(r.DataDir, x.ws),
		UID:       x.st.Internal.HostUID, ShareGID: x.st.Internal.ShareGID,
		Env: map[string]string{
			"CI_NAME": x.c.Name, "CI_WORKSPACE": x.ws.Name, "CI_RESOURCE_GROUP": ref.ResourceGroup,
			"CI_LOCAL_UBUNTU_USER": "azureuser", "AZUREML_ARM_SUBSCRIPTION": ref.Subscription,
			"AZUREML_ARM_RESOURCEGROUP": ref.ResourceGroup, "AZUREML_ARM_WORKSPACE_NAME": ref.Workspace,
			"REQUESTS_CA_BUNDLE": "~/.mlw/" + protocol.CABundleFile, "SSL_CERT_FILE": "~/.mlw/" + protocol.CABundleFile,
			"MLW_CA_FILE": "~/.mlw/ca.crt",
		},
		EnvFromFiles:   map[string]string{"IDENTITY_HEADER": ".mlw/token", "MLW_TOKEN": ".mlw/token"},
		Files:          files,
		IsolateNetwork: x.spec.Subnet != "",
		Jupyter:        true,
		JupyterToken:   x.st.Internal.JupyterToken,
		JupyterBaseURL: JupyterBasePath(ref, x.c.Name),
	}
	if serverURL != "" {
		s.Env["AZUREML_DEV_URL_MFE"] = serverURL
		s.Env["ARM_CLOUD_METADATA_URL"] = protocol.CloudMetadataURL(serverURL)
		s.Env["IDENTITY_ENDPOINT"] = serverURL + protocol.IdentityTokenPath
		s.Env["MLW_SERVER"] = serverURL
		if u, err := url.Parse(serverURL); err == nil {
			s.ServerAddr = u.Host
		}
	}
	if key, on := x.spec.SSHKey, x.spec.SSH; on {
		s.SSH = &backend.SSHSpec{User: "azureuser", PublicKey: key, Port: x.st.Internal.SSHPort}
	}
	// What jobs run inside the instance use, at the same paths as on the
	// host: their directories, the workspace's storage (inputs, outputs,
	// logs, artifacts), the prepared environments.
	s.Binds = []backend.Bind{
		{Path: InstanceJobsDir(r.DataDir, x.c.UID)},
		{Path: blob.AccountDir(r.DataDir, resource.WorkspaceStatusOf(x.ws).StorageAccount)},
	}
	if r.EnvDir != "" {
		s.Binds = append(s.Binds, backend.Bind{Path: r.EnvDir, ReadOnly: true})
	}
	return s
}

// InstanceJobsDir holds the directories of the jobs that run inside a
// compute instance (jobs/ci-<instance id>/<job id>/ under the data
// directory): the instance sees it at the same path, and no other job's.
func InstanceJobsDir(dataDir, instanceUID string) string {
	return filepath.Join(dataDir, "jobs", instanceJobsPrefix+instanceUID)
}

const instanceJobsPrefix = "ci-"

// endJobs asks the jobs running inside the instance to stop before the
// instance does (what = "stopped", "restarted", "deleted"): they end
// Canceled with a reason that says so. Queued jobs wait for the instance.
func (r *Instances) endJobs(ctx context.Context, x *instanceCtx, what string) error {
	reason := fmt.Sprintf("The compute instance '%s' was %s while the job ran.", x.c.Name, what)
	for _, state := range []string{resource.JobPreparing, resource.JobRunning} {
		jobs, err := r.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: resource.ResourceOpKey(x.c), State: state})
		if err != nil {
			return err
		}
		for _, j := range jobs {
			r.log().Info("instance ends its job", "instance", x.c.Name, "job", j.Name, "why", what)
			if err := requestCancel(ctx, r.Store, r.queue(), j, reason, r.Clock.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// wakeJobs enqueues the instance's jobs in these states.
func (r *Instances) wakeJobs(ctx context.Context, x *instanceCtx, states ...string) {
	if r.Queue == nil {
		return
	}
	for _, state := range states {
		jobs, err := r.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: resource.ResourceOpKey(x.c), State: state})
		if err != nil {
			r.log().Warn("wake the jobs of an instance", "instance", x.c.Name, "err", err)
			continue
		}
		for _, j := range jobs {
			r.Queue.Enqueue(core.KindJob, resource.Key(j))
		}
	}
}

func (r *Instances) queue() resource.Enqueuer {
	if r.Queue == nil {
		return resource.EnqueueFunc(func(string, string) {})
	}
	return r.Queue
}

// StartJobProcess starts a job's process inside a Running instance (the
// job reconciler's call): the instance's spec and saved handle say where.
func (r *Instances) StartJobProcess(ctx context.Context, ws, c *resource.Object, p backend.ProcessSpec) (backend.ProcessHandle, error) {
	x, err := r.view(ctx, ws, c)
	if err != nil {
		return backend.ProcessHandle{}, err
	}
	return r.Backend.StartProcess(ctx, r.spec(x, nil), x.st.Internal.Handle, p)
}

// JupyterBasePath is the path under which an instance's Jupyter is served
// (through mlw's proxy); it ends with "/".
func JupyterBasePath(ref core.WorkspaceRef, name string) string {
	return "/" + strings.TrimPrefix(ref.ID(), "/") + "/computes/" + name + "/jupyter/"
}

// hostIDs allocates (once) the host uid the instance's processes run as,
// its assigned user's (the same as that user's cluster jobs), and the
// group of the workspace's file share, which all of the workspace's
// instance users write.
func (r *Instances) hostIDs(ctx context.Context, x *instanceCtx) error {
	in := &x.st.Internal
	if in.HostUID != 0 && in.ShareGID != 0 {
		return nil
	}
	who := in.AssignedUserID
	if who == "" {
		who = "name:" + x.c.CreatedBy
	}
	uid, err := r.Store.HostUID(ctx, who, backend.UIDBase)
	if err != nil {
		return err
	}
	gid, err := r.Store.HostUID(ctx, "share:"+x.ws.UID, backend.UIDBase)
	if err != nil {
		return err
	}
	in.HostUID, in.ShareGID = uid, gid
	x.dirty = true
	return nil
}

// bootFiles mints the instance's API token (a fresh one at every boot, the
// old one deleted) and returns the files of the home directory.
func (r *Instances) bootFiles(ctx context.Context, x *instanceCtx) (map[string][]byte, error) {
	ref := resource.WorkspaceRefOf(x.ws)
	cfg, _ := json.MarshalIndent(map[string]string{"subscription_id": ref.Subscription, "resource_group": ref.ResourceGroup, "workspace_name": ref.Workspace}, "", "  ")
	files := map[string][]byte{"config.json": cfg, ".azureml/config.json": cfg, ".mlw/ca.crt": r.CAPEM}
	var bundle []byte
	if roots := protocol.SystemRootsPEM(); roots != nil {
		bundle = append(append(bundle, roots...), '\n')
	}
	files[".mlw/"+protocol.CABundleFile] = append(append(bundle, "# mlw server CA\n"...), r.CAPEM...)
	if uid := x.st.Internal.AssignedUserID; uid != "" {
		if old := x.st.Internal.TokenHash; old != "" {
			if err := r.Store.DeleteToken(ctx, old); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		plain, hash := identity.NewToken()
		if err := r.Store.CreateToken(ctx, &resource.Token{Hash: hash, UserID: uid, Label: "compute instance " + x.c.Name}); err != nil {
			return nil, fmt.Errorf("mint the instance's token: %w", err)
		}
		x.st.Internal.TokenHash = hash
		x.dirty = true
		files[".mlw/token"] = []byte(plain + "\n")
	}
	return files, nil
}

// start starts the instance's processes, or reattaches to them when they
// run (the boot files are made only for a start), and records the handle.
// startErr is the backend's failure to start; err a failure to make the
// boot files (retried).
func (r *Instances) start(ctx context.Context, x *instanceCtx) (info backend.InstanceInfo, startErr, err error) {
	var files map[string][]byte
	if !r.Backend.Running(ctx, x.st.Internal.Handle) {
		if err = r.hostIDs(ctx, x); err != nil {
			return info, nil, err
		}
		if files, err = r.bootFiles(ctx, x); err != nil {
			return info, nil, err
		}
	}
	h, info, startErr := r.Backend.Start(ctx, r.spec(x, files), x.st.Internal.Handle)
	if h != nil && string(h) != string(x.st.Internal.Handle) {
		x.st.Internal.Handle = h
		x.dirty = true
	}
	return info, startErr, nil
}

// bootAndSetUp starts the instance's processes, then its scripts.
func (r *Instances) bootAndSetUp(ctx context.Context, x *instanceCtx) (controller.Result, error) {
	info, err, ferr := r.start(ctx, x)
	if ferr != nil {
		return controller.Result{}, ferr
	}
	if err != nil {
		r.log().Warn("instance failed to start", "instance", x.c.Name, "err", err)
		_ = r.Backend.Stop(ctx, x.st.Internal.Handle)
		r.fail(x, resource.InstanceSetupFailed, "SetupFailed", "The compute instance could not be started: "+err.Error())
		return controller.Result{}, nil
	}
	r.applyInfo(x, info)
	x.st.Internal.IdleSince = time.Time{}
	if len(x.st.Internal.Scripts) > 0 {
		x.move(resource.InstanceUserSettingUp)
		return controller.Result{}, nil
	}
	r.becomeRunning(x)
	return controller.Result{}, nil
}

func (r *Instances) applyInfo(x *instanceCtx, info backend.InstanceInfo) {
	in := &x.st.Internal
	envs, _ := json.Marshal(info.Environments)
	if len(info.Environments) == 0 {
		envs = nil
	}
	if !in.Observed || in.Limits != info.Limits || in.Isolation != info.Isolation || in.Network != info.Network || in.Jupyter != info.Jupyter ||
		in.SSHPort != info.SSHPort || in.SSHHostKey != info.SSHHostKey || string(in.Environments) != string(envs) {
		in.Limits, in.Isolation, in.Network, in.Jupyter, in.SSHPort = info.Limits, info.Isolation, info.Network, info.Jupyter, info.SSHPort
		in.SSHHostKey, in.Environments, in.Observed = info.SSHHostKey, envs, true
		x.dirty = true
	}
	// Azure's shapes of these (sshSettings, osImageMetadata, ...) are the
	// renderer's to make; rows of older servers kept them here.
	for _, k := range []string{"mlw", "sshSettings", "connectivityEndpoints", "osImageMetadata", "_failure"} {
		if _, ok := x.st.Props[k]; ok {
			delete(x.st.Props, k)
			x.dirty = true
		}
	}
}

// becomeRunning settles a start: Running, lastOperation Succeeded.
func (r *Instances) becomeRunning(x *instanceCtx) {
	name, trigger := x.st.LastOperation()
	x.st.SetLastOperation(orDefault(name, "Start"), "Succeeded", orDefault(trigger, resource.TriggerUser), r.Clock.Now())
	x.st.SetErrors("", "")
	x.st.Internal.Scripts = nil
	x.st.Internal.IdleSince = r.Clock.Now()
	x.move(resource.InstanceRunning)
}

// fail moves the instance to a failed state with an error on the resource.
func (r *Instances) fail(x *instanceCtx, state, code, msg string) {
	name, trigger := x.st.LastOperation()
	name = orDefault(name, "Create")
	x.st.SetLastOperation(name, name+"Failed", orDefault(trigger, resource.TriggerUser), r.Clock.Now())
	x.st.SetErrors(code, msg)
	x.st.Internal.Scripts = nil
	x.st.Internal.Script = nil
	x.st.Internal.ScriptName = ""
	x.move(state)
	x.st.Internal.Failure = &resource.JobError{Code: code, Message: msg}
}

// runScripts starts the next setup script or watches the running one.
func (r *Instances) runScripts(ctx context.Context, x *instanceCtx) (controller.Result, error) {
	in := &x.st.Internal
	creation, startup := x.spec.Creation, x.spec.Startup
	refOf := func(name string) *resource.ScriptRef {
		if name == "creation" {
			return creation
		}
		return startup
	}
	poll := r.ScriptPoll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	if in.Script == nil {
		if len(in.Scripts) == 0 {
			r.becomeRunning(x)
			return controller.Result{}, nil
		}
		name := in.Scripts[0]
		ref := refOf(name)
		if ref == nil {
			in.Scripts = in.Scripts[1:]
			x.dirty = true
			return controller.Result{RequeueAfter: time.Millisecond}, nil
		}
		logPath, err := r.scriptLog(x, name)
		if rooted.IsOutside(err) {
			_ = r.Backend.Stop(ctx, in.Handle)
			r.fail(x, resource.InstanceUserSetupFailed, "UserSetupFailed",
				fmt.Sprintf("The %s script's log goes to Logs/%s in the workspace file share, which is (or goes through) a symbolic link that leads outside the share (%v). Remove the link, then delete and create the instance again.", name, x.c.Name, err))
			return controller.Result{}, nil
		} else if err != nil {
			return controller.Result{}, fmt.Errorf("prepare the %s script's log: %w", name, err)
		}
		ss := backend.ScriptSpec{Name: name, SharePath: ref.Path, Inline: ref.Inline, Args: ref.Args, LogPath: logPath}
		if ref.Path != "" {
			if _, err := os.Stat(filepath.Join(resource.WorkspaceSharePath(r.DataDir, x.ws), filepath.FromSlash(ref.Path))); err != nil {
				_ = r.Backend.Stop(ctx, in.Handle)
				r.fail(x, resource.InstanceUserSetupFailed, "UserSetupFailed",
					fmt.Sprintf("The %s script %s is not in the workspace file share. Upload it with `mlw file upload`, then delete and create the instance again.", name, ref.Path))
				return controller.Result{}, nil
			}
		}
		h, err := r.Backend.StartScript(ctx, r.spec(x, nil), in.Handle, ss)
		if err != nil {
			return controller.Result{}, fmt.Errorf("start the %s script: %w", name, err)
		}
		in.Script, in.ScriptName, in.ScriptStartedAt = h, name, r.Clock.Now()
		x.dirty = true
		return controller.Result{RequeueAfter: poll}, nil
	}
	name := in.ScriptName
	ref := refOf(name)
	what := name + " script"
	if ref != nil && ref.Path != "" {
		what += " " + ref.Path
	}
	logRef := fmt.Sprintf("Logs/%s/%s-script.log in the workspace file share (`mlw compute show --name %s --logs`)", x.c.Name, name, x.c.Name)
	res, done := r.Backend.ScriptDone(ctx, in.Script)
	if !done {
		timeout := backend.DefaultScriptTimeout
		if ref != nil {
			timeout = ref.Timeout
		}
		elapsed := r.Clock.Now().Sub(in.ScriptStartedAt)
		if elapsed < timeout {
			return controller.Result{RequeueAfter: min(poll, timeout-elapsed)}, nil
		}
		r.Backend.KillScript(ctx, in.Script)
		_ = r.Backend.Stop(ctx, in.Handle)
		r.fail(x, resource.InstanceUserSetupFailed, "UserSetupFailed",
			fmt.Sprintf("The %s did not finish within its timeout of %s and was stopped. Its output is in %s.", what, timeout, logRef))
		return controller.Result{}, nil
	}
	if res.ExitCode != 0 {
		_ = r.Backend.Stop(ctx, in.Handle)
		detail := ""
		if res.Error != "" {
			detail = " (" + res.Error + ")"
		}
		r.fail(x, resource.InstanceUserSetupFailed, "UserSetupFailed",
			fmt.Sprintf("The %s exited with code %d%s. Its output is in %s.", what, res.ExitCode, detail, logRef))
		return controller.Result{}, nil
	}
	in.Script, in.ScriptName = nil, ""
	if len(in.Scripts) > 0 {
		in.Scripts = in.Scripts[1:]
	}
	x.dirty = true
	if len(in.Scripts) == 0 {
		r.becomeRunning(x)
		return controller.Result{}, nil
	}
	return controller.Result{RequeueAfter: time.Millisecond}, nil
}

// running keeps a Running instance up (reattaching after a server restart)
// and applies schedules and idle shutdown.
func (r *Instances) running(ctx context.Context, x *instanceCtx) (controller.Result, error) {
	// Processes gone (the host rebooted) are brought back.
	info, err, ferr := r.start(ctx, x)
	if err = errors.Join(ferr, err); err != nil {
		return controller.Result{}, fmt.Errorf("reattach to instance %s: %w", x.c.Name, err)
	}
	r.applyInfo(x, info)
	res, err := r.evaluateSchedules(ctx, x)
	if err != nil || x.st.State() != resource.InstanceRunning {
		return res, err
	}
	idle := r.evaluateIdle(ctx, x)
	if idle > 0 && (res.RequeueAfter == 0 || idle < res.RequeueAfter) {
		res.RequeueAfter = idle
	}
	return res, nil
}

// evaluateSchedules applies the latest schedule firing since the last
// check (see docs/instances.md, "Missed schedules") and returns when to
// look again.
func (r *Instances) evaluateSchedules(ctx context.Context, x *instanceCtx) (controller.Result, error) {
	scheds := x.spec.Schedules
	if len(scheds) == 0 {
		return controller.Result{}, nil
	}
	now := r.Clock.Now()
	in := &x.st.Internal
	from := in.ScheduleCheckedAt
	if from.IsZero() {
		from = x.c.CreatedAt
	}
	var due *schedule.Schedule
	var dueAt time.Time
	for i := range scheds {
		s := scheds[i]
		if !s.Enabled {
			continue
		}
		id := strconv.Itoa(s.Index)
		start := from
		if lf := in.LastFired[id]; lf.After(start) {
			start = lf
		}
		at, ok := s.Latest(start, now)
		if !ok {
			continue
		}
		if in.LastFired == nil {
			in.LastFired = map[string]time.Time{}
		}
		in.LastFired[id] = at
		x.dirty = true
		if due == nil || at.After(dueAt) {
			due, dueAt = &scheds[i], at
		}
	}
	if due != nil {
		in.ScheduleCheckedAt = now
		state := x.st.State()
		switch {
		case due.Action == schedule.ActionStop && state == resource.InstanceRunning:
			r.log().Info("schedule stops instance", "instance", x.c.Name, "schedule", due.Index+1, "fired", dueAt)
			x.st.SetLastOperation("Stop", "InProgress", resource.TriggerSchedule, now)
			x.move(resource.InstanceStopping)
			return controller.Result{}, nil
		case due.Action == schedule.ActionStart && state == resource.InstanceStopped:
			r.log().Info("schedule starts instance", "instance", x.c.Name, "schedule", due.Index+1, "fired", dueAt)
			x.st.SetLastOperation("Start", "InProgress", resource.TriggerSchedule, now)
			x.move(resource.InstanceStarting)
			return controller.Result{}, nil
		}
	}
	if _, next, ok := schedule.NextAny(scheds, now); ok {
		return controller.Result{RequeueAfter: max(next.Sub(now), time.Millisecond)}, nil
	}
	return controller.Result{}, nil
}

// evaluateIdle updates the idle shutdown status of a Running instance,
// stops it when it has been idle long enough, and returns when to look
// again (0: no idle shutdown).
func (r *Instances) evaluateIdle(ctx context.Context, x *instanceCtx) time.Duration {
	limit := x.spec.IdleShutdown
	in := &x.st.Internal
	if limit == 0 {
		if _, ok := x.st.Props["idleShutdown"]; ok {
			delete(x.st.Props, "idleShutdown")
			x.dirty = true
		}
		return 0
	}
	now := r.Clock.Now()
	act := r.Backend.Activity(ctx, r.spec(x, nil), in.Handle)
	var busy []string
	plural := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	if act.Terminals > 0 {
		busy = append(busy, plural(act.Terminals, "terminal session"))
	}
	if act.SSHSessions > 0 {
		busy = append(busy, plural(act.SSHSessions, "SSH session"))
	}
	if act.BusyKernels > 0 {
		busy = append(busy, plural(act.BusyKernels, "busy Jupyter kernel"))
	}
	// A job holds the instance from Preparing (its environment may take
	// minutes to build) until its outputs are saved.
	jobs := 0
	for _, state := range []string{resource.JobPreparing, resource.JobRunning, resource.JobFinalizing, resource.JobCancelRequested} {
		if js, err := r.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: resource.ResourceOpKey(x.c), State: state, Limit: 1}); err == nil {
			jobs += len(js)
		}
	}
	if jobs > 0 {
		busy = append(busy, plural(jobs, "running job"))
	}
	status := map[string]any{"idleTimeBeforeShutdown": core.FormatISODuration(limit)}
	poll := r.IdlePoll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	var next time.Duration
	if len(busy) > 0 {
		if !in.IdleSince.IsZero() {
			in.IdleSince = time.Time{}
			x.dirty = true
		}
		status["status"] = "busy: " + strings.Join(busy, ", ")
		status["busy"] = busy
		next = poll
	} else {
		if in.IdleSince.IsZero() {
			in.IdleSince = now
			x.dirty = true
		}
		stopAt := in.IdleSince.Add(limit)
		if !now.Before(stopAt) {
			r.log().Info("idle shutdown", "instance", x.c.Name, "idle_since", in.IdleSince)
			x.st.SetLastOperation("Stop", "InProgress", resource.TriggerIdleShutdown, now)
			x.move(resource.InstanceStopping)
			delete(x.st.Props, "idleShutdown")
			return time.Millisecond
		}
		status["idleSince"] = in.IdleSince.Format(time.RFC3339)
		status["stopsAt"] = stopAt.Format(time.RFC3339)
		status["status"] = fmt.Sprintf("idle since %s, stops at %s", in.IdleSince.Format(time.RFC3339), stopAt.Format(time.RFC3339))
		next = min(poll, stopAt.Sub(now))
	}
	old, _ := json.Marshal(x.st.Props["idleShutdown"])
	nw, _ := json.Marshal(status)
	if string(old) != string(nw) {
		x.st.Props["idleShutdown"] = status
		x.dirty = true
	}
	return next
}

// finishIfSettled finishes the operations clients poll once the instance
// reaches a settled state.
func (r *Instances) finishIfSettled(ctx context.Context, x *instanceCtx) error {
	status, code, msg := "", "", ""
	switch x.st.State() {
	case resource.InstanceRunning, resource.InstanceStopped:
		status = resource.OpSucceeded
	case resource.InstanceUserSetupFailed, resource.InstanceSetupFailed, resource.InstanceCreateFailed:
		status = resource.OpFailed
		if f := x.st.Internal.Failure; f != nil {
			code, msg = f.Code, f.Message
		}
	default:
		return nil
	}
	ops, err := r.Store.ListOperations(ctx, resource.ResourceOpKey(x.c))
	if err != nil {
		return err
	}
	for _, op := range ops {
		if op.Name == "Delete" {
			continue
		}
		if err := r.Store.FinishOperation(ctx, op.ID, status, code, msg); err != nil {
			return err
		}
	}
	return nil
}

// delete removes every process and file of the instance, its token and
// its row, then finishes the operations: the delete succeeds and anything
// else in progress (a create) is canceled.
func (r *Instances) delete(ctx context.Context, x *instanceCtx) error {
	if x.st.Internal.Script != nil {
		r.Backend.KillScript(ctx, x.st.Internal.Script)
	}
	if err := r.endJobs(ctx, x, "deleted"); err != nil {
		return err
	}
	if err := r.Backend.Delete(ctx, x.c.UID, x.st.Internal.Handle); err != nil {
		return err
	}
	if h := x.st.Internal.TokenHash; h != "" {
		if err := r.Store.DeleteToken(ctx, h); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if err := r.Store.Delete(ctx, core.KindCompute, x.c.Parent, x.c.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r.log().Info("compute instance deleted", "instance", x.c.Name)
	// Jobs still waiting for it learn that it is gone (they are canceled).
	r.wakeJobs(ctx, x, resource.JobNotStarted, resource.JobQueued, resource.JobCancelRequested)
	_ = os.Remove(InstanceJobsDir(r.DataDir, x.c.UID)) // only when no job's files are left
	ops, err := r.Store.ListOperations(ctx, resource.ResourceOpKey(x.c))
	if err != nil {
		return err
	}
	for _, op := range ops {
		status, code, msg := resource.OpSucceeded, "", ""
		if op.Name != "Delete" {
			status, code, msg = resource.OpCanceled, "Canceled", "The compute instance '"+x.c.Name+"' was deleted before the "+strings.ToLower(op.Name)+" finished."
		}
		if err := r.Store.FinishOperation(ctx, op.ID, status, code, msg); err != nil {
			return err
		}
	}
	return nil
}

// Shell opens a login shell inside a Running instance (the terminal
// endpoint); callers have checked the user and the state.
func (r *Instances) Shell(ctx context.Context, ws, c *resource.Object, cols, rows int) (backend.Shell, error) {
	x, err := r.view(ctx, ws, c)
	if err != nil {
		return nil, err
	}
	sh, err := r.Backend.Shell(ctx, r.spec(x, nil), x.st.Internal.Handle, cols, rows)
	if errors.Is(err, backend.ErrNotRunning) {
		return nil, core.Conflict("ComputeNotRunning", "The compute instance '%s' has no running processes; restart it with `mlw compute restart --name %s`.", c.Name, c.Name)
	}
	return sh, err
}

// DialJupyter connects to a Running instance's notebook server.
func (r *Instances) DialJupyter(ctx context.Context, ws, c *resource.Object) (net.Conn, error) {
	st := resource.InstanceStatusOf(c)
	return r.Backend.DialJupyter(ctx, st.Internal.Handle)
}

func (r *Instances) view(ctx context.Context, ws, c *resource.Object) (*instanceCtx, error) {
	return newInstanceCtx(resource.Key(c), ws, c)
}

// newInstanceCtx decodes an instance for a reconcile. A spec that no
// longer parses is a terminal error, except while the instance is being
// deleted, which needs none of it.
func newInstanceCtx(key string, ws, c *resource.Object) (*instanceCtx, error) {
	x := &instanceCtx{key: key, ws: ws, c: c, st: resource.InstanceStatusOf(c), spec: &resource.InstanceSpec{}}
	spec, err := resource.ComputeSpecOf(c)
	if err == nil && spec.Instance == nil {
		err = fmt.Errorf("a %s, not an instance", spec.Type)
	}
	switch {
	case err == nil:
		x.spec, x.size = spec.Instance, spec.Size
	case !c.Deleting:
		return nil, fmt.Errorf("%w: instance %s: %v", controller.ErrTerminal, c.Name, err)
	}
	return x, nil
}

// scriptLog makes the (empty) log file of a setup script in the workspace
// file share, Logs/<instance>/<name>-script.log, through an os.Root on the
// share, and returns its real path. Users write the share from their
// instances and may have planted links there; the server runs as root, so
// a log path that leads outside the share fails (rooted.IsOutside) rather
// than creating or removing a file elsewhere.
func (r *Instances) scriptLog(x *instanceCtx, name string) (string, error) {
	share := resource.WorkspaceSharePath(r.DataDir, x.ws)
	if err := os.MkdirAll(share, 0o755); err != nil {
		return "", err
	}
	root, err := os.OpenRoot(share)
	if err != nil {
		return "", err
	}
	defer root.Close()
	rel, err := rooted.Resolve(root, path.Join("Logs", x.c.Name, name+"-script.log"))
	if err != nil {
		return "", err
	}
	if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return "", err
	}
	if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	f, err := root.OpenFile(rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return filepath.Join(share, filepath.FromSlash(rel)), nil
}

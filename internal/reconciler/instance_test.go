package reconciler

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/fake"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// instanceBundle is a real service and store, the instance reconciler, a
// fake backend and a virtual clock: tests call Reconcile themselves and
// move the clock, so schedules and idle shutdown run in virtual time.
type instanceBundle struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	svc   *service.Service
	be    *fake.Instances
	rec   *Instances
	now   time.Time
	ref   core.WorkspaceRef
	ws    *resource.Object
	admin *resource.User
}

func setupInstances(t *testing.T, start time.Time) *instanceBundle {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	b := &instanceBundle{t: t, st: st, be: fake.New(), now: start}
	b.svc = service.New(st, nil, nil)
	b.svc.DataDir = dir
	b.svc.Now = func() time.Time { return b.now }
	b.rec = &Instances{Store: st, Backend: b.be, DataDir: dir, Clock: func() time.Time { return b.now },
		ServerURL: func() string { return "https://127.0.0.1:7443" }, CAPEM: []byte("ca")}
	b.admin = &resource.User{ID: "00000000-0000-0000-0000-00000000000a", Name: "admin", Role: identity.RoleOwner}
	require.NoError(t, st.CreateUser(context.Background(), b.admin))
	b.ctx = b.as(b.admin)
	require.NoError(t, b.svc.EnsureSubscription(b.ctx, "sub1", "test"))
	_, _, err = b.svc.PutGroup(b.ctx, "sub1", "rg1", body(t, `{"location":"eastus"}`))
	require.NoError(t, err)
	b.ref = core.WorkspaceRef{Subscription: "sub1", ResourceGroup: "rg1", Workspace: "ws1"}
	b.ws, _, err = b.svc.PutWorkspace(b.ctx, b.ref, body(t, `{}`))
	require.NoError(t, err)
	return b
}

func body(t *testing.T, s string) *service.Body {
	t.Helper()
	b, err := service.ReadBody(strings.NewReader(s), 1<<20)
	require.NoError(t, err)
	return b
}

func (b *instanceBundle) as(u *resource.User) context.Context {
	return service.WithPrincipal(context.Background(), &identity.Principal{UserID: u.ID, Name: u.Name, Role: u.Role})
}

// create PUTs an instance with these properties.properties.
func (b *instanceBundle) create(name, props string) (*resource.Object, *resource.Operation) {
	b.t.Helper()
	c, isNew, op, err := b.svc.PutCompute(b.ctx, b.ref, name, body(b.t, `{"properties":{"computeType":"ComputeInstance","properties":`+props+`}}`))
	require.NoError(b.t, err)
	require.True(b.t, isNew)
	return c, op
}

func (b *instanceBundle) reconcile(name string) time.Duration {
	b.t.Helper()
	res, err := b.rec.Reconcile(context.Background(), resource.ResourceKey(resource.WorkspaceKey(b.ws), name))
	require.NoError(b.t, err)
	return res.RequeueAfter
}

func (b *instanceBundle) get(name string) (*resource.Object, *resource.InstanceStatus) {
	b.t.Helper()
	c, err := b.st.Get(context.Background(), core.KindCompute, resource.WorkspaceKey(b.ws), name)
	require.NoError(b.t, err)
	return c, resource.InstanceStatusOf(c)
}

func (b *instanceBundle) state(name string) string {
	_, st := b.get(name)
	return st.State()
}

func (b *instanceBundle) op(id string) *resource.Operation {
	b.t.Helper()
	op, err := b.st.GetOperation(context.Background(), id)
	require.NoError(b.t, err)
	return op
}

func (b *instanceBundle) act(name, action string) *resource.Operation {
	b.t.Helper()
	_, res, err := b.svc.ActOnCompute(b.ctx, b.ref, name, action, body(b.t, ""))
	require.NoError(b.t, err)
	return res.Op
}

func (b *instanceBundle) writeShare(rel, content string) {
	p := filepath.Join(resource.WorkspaceSharePath(b.svc.DataDir, b.ws), rel)
	require.NoError(b.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(b.t, os.WriteFile(p, []byte(content), 0o755))
}

func lastOp(st *resource.InstanceStatus) map[string]any {
	m, _ := st.Props["lastOperation"].(map[string]any)
	return m
}

var monday = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestInstanceCreateWithoutScriptRuns(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	c, op := b.create("ci1", `{"vmSize":"STANDARD_DS11_V2"}`)
	require.Equal(t, resource.InstanceCreating, b.state("ci1"))
	b.reconcile("ci1")
	c, st := b.get("ci1")
	require.Equal(t, resource.InstanceRunning, st.State())
	require.Equal(t, resource.InstanceRunning, c.State)
	require.Equal(t, resource.OpSucceeded, b.op(op.ID).Status)
	require.True(t, b.be.IsRunning(c.UID))
	require.Equal(t, "Succeeded", lastOp(st)["operationStatus"])
	// The instance has an API token of its user, stored hashed.
	tok, err := b.st.LookupToken(context.Background(), st.Internal.TokenHash)
	require.NoError(t, err)
	require.Equal(t, b.admin.ID, tok.UserID)
	spec := b.be.Specs[c.UID]
	require.Equal(t, "ci1", spec.Env["CI_NAME"])
	require.Equal(t, "ws1", spec.Env["CI_WORKSPACE"])
	require.Equal(t, "rg1", spec.Env["CI_RESOURCE_GROUP"])
	require.Equal(t, "azureuser", spec.Env["CI_LOCAL_UBUNTU_USER"])
	require.Equal(t, "https://127.0.0.1:7443", spec.Env["AZUREML_DEV_URL_MFE"])
	require.Equal(t, 2000, spec.MilliCPU)
	require.Contains(t, string(b.be.Files[c.UID][".mlw/token"]), "mlw_")
	require.Contains(t, string(b.be.Files[c.UID]["config.json"]), `"workspace_name": "ws1"`)
}

func TestInstanceCreationScript(t *testing.T) {
	t.Parallel()
	scripts := `{"vmSize":"STANDARD_DS11_V2","setupScripts":{"scripts":{"creationScript":{"scriptSource":"workspaceStorage","scriptData":"Users/admin/setup.sh","timeout":"10m"}}}}`
	t.Run("succeeds", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, monday)
		b.writeShare("Users/admin/setup.sh", "echo hi")
		c, op := b.create("ci1", scripts)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceUserSettingUp, b.state("ci1"))
		s := b.be.Script(c.UID, "creation")
		require.NotNil(t, s)
		require.Equal(t, "Users/admin/setup.sh", s.Spec.SharePath)
		require.True(t, strings.HasSuffix(s.Spec.LogPath, filepath.Join("Logs", "ci1", "creation-script.log")), s.Spec.LogPath)
		require.Positive(t, b.reconcile("ci1"), "a running script is polled")
		require.Equal(t, resource.OpInProgress, b.op(op.ID).Status)
		b.be.Finish(c.UID, "creation", 0)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceRunning, b.state("ci1"))
		require.Equal(t, resource.OpSucceeded, b.op(op.ID).Status)
	})
	t.Run("fails", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, monday)
		b.writeShare("Users/admin/setup.sh", "exit 3")
		c, op := b.create("ci1", scripts)
		b.reconcile("ci1")
		b.be.Finish(c.UID, "creation", 3)
		b.reconcile("ci1")
		c, st := b.get("ci1")
		require.Equal(t, resource.InstanceUserSetupFailed, st.State())
		o := b.op(op.ID)
		require.Equal(t, resource.OpFailed, o.Status)
		require.Equal(t, "UserSetupFailed", o.ErrorCode)
		require.Contains(t, o.ErrorMsg, "exited with code 3")
		require.Contains(t, o.ErrorMsg, "Logs/ci1/creation-script.log")
		require.False(t, b.be.IsRunning(c.UID), "a failed instance keeps nothing running")
		require.Equal(t, "CreateFailed", lastOp(st)["operationStatus"])
		require.NotNil(t, st.Props["errors"])
	})
	t.Run("times out", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, monday)
		b.writeShare("Users/admin/setup.sh", "sleep 100000")
		c, op := b.create("ci1", scripts)
		b.reconcile("ci1")
		b.now = b.now.Add(9 * time.Minute)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceUserSettingUp, b.state("ci1"))
		b.now = b.now.Add(time.Minute)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceUserSetupFailed, b.state("ci1"))
		require.True(t, b.be.Script(c.UID, "creation").Killed)
		require.Contains(t, b.op(op.ID).ErrorMsg, "timeout of 10m0s")
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, monday)
		_, op := b.create("ci1", scripts)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceUserSetupFailed, b.state("ci1"))
		require.Contains(t, b.op(op.ID).ErrorMsg, "not in the workspace file share")
	})
}

func TestInstanceStopStartRestartRunsStartupScript(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	b.writeShare("Users/admin/startup.sh", "date")
	c, _ := b.create("ci1", `{"setupScripts":{"scripts":{"startupScript":{"scriptData":"Users/admin/startup.sh"}}}}`)
	b.reconcile("ci1")
	b.be.Finish(c.UID, "startup", 0)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))

	op := b.act("ci1", "stop")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"), "admission records the stop; the reconciler makes it")
	c, _ = b.get("ci1")
	require.Equal(t, resource.InstanceStopping, resource.InstanceStatusOf(c).EffectiveState(c.Spec), "what clients are shown")
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceStopped, b.state("ci1"))
	require.Equal(t, resource.OpSucceeded, b.op(op.ID).Status)
	require.False(t, b.be.IsRunning(c.UID))

	_, _, err := b.svc.ActOnCompute(b.ctx, b.ref, "ci1", "stop", body(t, ""))
	e, _ := core.AsError(err)
	require.Equal(t, 409, e.Status, "%v", err)

	b.be.Finish(c.UID, "startup", 99) // the old run's result must not count
	op = b.act("ci1", "start")
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceUserSettingUp, b.state("ci1"), "the startup script runs at every start")
	b.be.Finish(c.UID, "startup", 0)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	require.Equal(t, resource.OpSucceeded, b.op(op.ID).Status)

	op = b.act("ci1", "restart")
	b.reconcile("ci1")
	b.be.Finish(c.UID, "startup", 0)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	require.Equal(t, resource.OpSucceeded, b.op(op.ID).Status)
	require.Equal(t, 3, b.be.Starts[c.UID])
}

func TestInstanceScheduleStopsAtSixInVirtualTime(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC))
	b.create("ci1", `{"schedules":{"computeStartStop":[{"status":"Enabled","action":"Stop","triggerType":"Cron","cron":{"expression":"0 18 * * *","timeZone":"UTC"}}]}}`)
	next := b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	require.Equal(t, time.Hour, next, "the reconciler wakes up when the schedule fires")
	b.now = b.now.Add(next - time.Second)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	b.now = b.now.Add(time.Second)
	b.reconcile("ci1")
	_, st := b.get("ci1")
	require.Equal(t, resource.InstanceStopped, st.State())
	require.Equal(t, "Schedule", lastOp(st)["operationTrigger"])
	require.Equal(t, "Stop", lastOp(st)["operationName"])

	// Started by hand after the stop: the schedule does not stop it again
	// until the next day, even after a server restart (state in the store).
	b.now = b.now.Add(time.Hour)
	b.act("ci1", "start")
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	b.rec = &Instances{Store: b.st, Backend: b.be, DataDir: b.rec.DataDir, Clock: b.rec.Clock, ServerURL: b.rec.ServerURL}
	next = b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	require.Equal(t, 23*time.Hour, next)
}

func TestInstanceMissedScheduleRule(t *testing.T) {
	t.Parallel()
	both := `{"schedules":{"computeStartStop":[
		{"action":"Stop","triggerType":"Cron","cron":{"expression":"0 18 * * *","timeZone":"Pacific Standard Time"}},
		{"action":"Start","triggerType":"Recurrence","recurrence":{"frequency":"Day","interval":1,"timeZone":"Pacific Standard Time","schedule":{"hours":[8],"minutes":[0]}}}]}}`
	pst, _ := time.LoadLocation("America/Los_Angeles")
	t.Run("latest missed stop applies", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, time.Date(2026, 3, 2, 9, 0, 0, 0, pst))
		b.create("ci1", both)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceRunning, b.state("ci1"))
		// The server is down from 09:00 to 20:00: the 18:00 stop was missed.
		b.now = time.Date(2026, 3, 2, 20, 0, 0, 0, pst)
		b.reconcile("ci1")
		_, st := b.get("ci1")
		require.Equal(t, resource.InstanceStopped, st.State())
		require.Equal(t, "Schedule", lastOp(st)["operationTrigger"])
	})
	t.Run("a later start wins over an earlier stop", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, time.Date(2026, 3, 2, 9, 0, 0, 0, pst))
		b.create("ci1", both)
		b.reconcile("ci1")
		// Down from 09:00 to 09:00 the next day: stop at 18:00, start at
		// 08:00; the start is the latest, and the instance runs already.
		b.now = time.Date(2026, 3, 3, 9, 0, 0, 0, pst)
		next := b.reconcile("ci1")
		require.Equal(t, resource.InstanceRunning, b.state("ci1"))
		require.Equal(t, 9*time.Hour, next)
	})
}

func TestInstanceIdleShutdownInVirtualTime(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	c, _ := b.create("ci1", `{"idleTimeBeforeShutdown":"PT15M"}`)
	b.be.SetActivity(c.UID, backend.Activity{Terminals: 1})
	b.reconcile("ci1")
	_, st := b.get("ci1")
	require.Equal(t, resource.InstanceRunning, st.State())
	idle := st.Props["idleShutdown"].(map[string]any)
	require.Equal(t, "busy: 1 terminal session", idle["status"])

	b.now = b.now.Add(time.Hour)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"), "a terminal session keeps it running")

	// A running job on the instance keeps it busy too.
	b.be.SetActivity(c.UID, backend.Activity{})
	job := &resource.Object{Kind: core.KindJob, Parent: resource.WorkspaceKey(b.ws), Name: "job1", UID: "j1", Spec: []byte(`{}`), Status: []byte(`{}`),
		State: "Running", Owner: resource.ResourceOpKey(c)}
	require.NoError(t, b.st.Create(context.Background(), job))
	b.reconcile("ci1")
	_, st = b.get("ci1")
	require.Equal(t, "busy: 1 running job", st.Props["idleShutdown"].(map[string]any)["status"])
	require.NoError(t, b.st.Delete(context.Background(), core.KindJob, job.Parent, job.Name))

	idleFrom := b.now
	next := b.reconcile("ci1")
	_, st = b.get("ci1")
	idle = st.Props["idleShutdown"].(map[string]any)
	require.Equal(t, "idle since "+idleFrom.Format(time.RFC3339)+", stops at "+idleFrom.Add(15*time.Minute).Format(time.RFC3339), idle["status"])
	require.LessOrEqual(t, next, 15*time.Minute)
	b.now = idleFrom.Add(14 * time.Minute)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	b.now = idleFrom.Add(15 * time.Minute)
	b.reconcile("ci1")
	_, st = b.get("ci1")
	require.Equal(t, resource.InstanceStopped, st.State())
	require.Equal(t, "IdleShutdown", lastOp(st)["operationTrigger"])
	require.False(t, b.be.IsRunning(c.UID))
}

func TestInstanceDeleteDuringCreation(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	b.writeShare("Users/admin/setup.sh", "sleep 1000")
	c, createOp := b.create("ci1", `{"setupScripts":{"scripts":{"creationScript":{"scriptData":"Users/admin/setup.sh"}}}}`)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceUserSettingUp, b.state("ci1"))
	_, st := b.get("ci1")
	delOp, err := b.svc.DeleteCompute(b.ctx, b.ref, "ci1")
	require.NoError(t, err)
	b.reconcile("ci1")
	_, err = b.st.Get(context.Background(), core.KindCompute, resource.WorkspaceKey(b.ws), "ci1")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.True(t, b.be.IsDeleted(c.UID))
	require.True(t, b.be.Script(c.UID, "creation").Killed)
	require.Equal(t, resource.OpSucceeded, b.op(delOp.ID).Status)
	require.Equal(t, resource.OpCanceled, b.op(createOp.ID).Status)
	_, err = b.st.LookupToken(context.Background(), st.Internal.TokenHash)
	require.ErrorIs(t, err, store.ErrNotFound, "the instance's token goes with it")
}

func TestInstanceReattachesAfterCrash(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	c, _ := b.create("ci1", `{}`)
	b.reconcile("ci1")
	b.be.Crash(c.UID)
	b.reconcile("ci1")
	require.Equal(t, resource.InstanceRunning, b.state("ci1"))
	require.True(t, b.be.IsRunning(c.UID))
}

func TestInstanceAdmission(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	put := func(ctx context.Context, name, props string) error {
		_, _, _, err := b.svc.PutCompute(ctx, b.ref, name, body(t, `{"properties":{"computeType":"ComputeInstance","properties":`+props+`}}`))
		return err
	}
	for _, tc := range []struct {
		name, props, target, code string
	}{
		{"unknown size", `{"vmSize":"STANDARD_XYZ"}`, "properties.properties.vmSize", "BadRequest"},
		{"bad cron", `{"schedules":{"computeStartStop":[{"action":"Stop","triggerType":"Cron","cron":{"expression":"61 18 * * *"}}]}}`,
			"properties.properties.schedules.computeStartStop[0].cron.expression", "BadRequest"},
		{"unknown zone", `{"schedules":{"computeStartStop":[{"action":"Stop","triggerType":"Cron","cron":{"expression":"0 18 * * *","timeZone":"Moon Time"}}]}}`,
			"properties.properties.schedules.computeStartStop[0].cron.timeZone", "BadRequest"},
		{"idle too short", `{"idleTimeBeforeShutdown":"PT5M"}`, "properties.properties.idleTimeBeforeShutdown", "BadRequest"},
		{"idle too long", `{"idleTimeBeforeShutdown":"P4D"}`, "properties.properties.idleTimeBeforeShutdown", "BadRequest"},
		{"ssh without key", `{"sshSettings":{"sshPublicAccess":"Enabled"}}`, "properties.properties.sshSettings.adminPublicKey", "BadRequest"},
		{"bad script source", `{"setupScripts":{"scripts":{"creationScript":{"scriptSource":"http","scriptData":"x"}}}}`,
			"properties.properties.setupScripts.scripts.creationScript.scriptSource", "BadRequest"},
		{"script escapes share", `{"setupScripts":{"scripts":{"creationScript":{"scriptData":"../x.sh"}}}}`,
			"properties.properties.setupScripts.scripts.creationScript.scriptData", "BadRequest"},
		{"unknown assigned user", `{"personalComputeInstanceSettings":{"assignedUser":{"objectId":"nobody","tenantId":"t"}}}`,
			"properties.properties.personalComputeInstanceSettings.assignedUser.objectId", "BadRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := put(b.ctx, "ci-bad", tc.props)
			e, ok := core.AsError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, 400, e.Status, "%v", err)
			require.Equal(t, tc.target, e.Target, "%v", err)
		})
	}
	_, err := b.st.Get(context.Background(), core.KindCompute, resource.WorkspaceKey(b.ws), "ci-bad")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused create leaves nothing behind")

	// Duplicate name.
	require.NoError(t, put(b.ctx, "ci1", `{}`))
	e, _ := core.AsError(put(b.ctx, "CI1", `{}`))
	require.Equal(t, 409, e.Status)

	// Quota: 48 vCPUs of DSv2 by default; ci1 holds 4 (DS3_v2), 11 more DS3_v2 fit.
	for i := 0; i < 11; i++ {
		require.NoError(t, put(b.ctx, "ci-q"+string(rune('a'+i)), `{"vmSize":"STANDARD_DS3_V2"}`))
	}
	e, _ = core.AsError(put(b.ctx, "ci-over", `{"vmSize":"STANDARD_DS3_V2"}`))
	require.Equal(t, "QuotaExceeded", e.Code)
	require.Contains(t, e.Message, "standardDSv2Family")

	// On behalf of another user: Owners only.
	bob := &resource.User{ID: "00000000-0000-0000-0000-0000000000b0", Name: "bob", Role: identity.RoleContributor}
	carol := &resource.User{ID: "00000000-0000-0000-0000-0000000000c0", Name: "carol", Role: identity.RoleContributor}
	require.NoError(t, b.st.CreateUser(context.Background(), bob))
	require.NoError(t, b.st.CreateUser(context.Background(), carol))
	onBehalf := `{"vmSize":"STANDARD_D2s_v3","personalComputeInstanceSettings":{"assignedUser":{"objectId":"` + carol.ID + `","tenantId":"t"}}}`
	e, _ = core.AsError(put(b.as(bob), "ci-carol", onBehalf))
	require.Equal(t, 403, e.Status)
	require.NoError(t, put(b.ctx, "ci-carol", onBehalf))

	// Only the assigned user opens sessions.
	b.reconcile("ci-carol")
	_, _, err = b.svc.InstanceForAccess(b.as(bob), b.ref, "ci-carol")
	e, _ = core.AsError(err)
	require.Equal(t, 403, e.Status)
	require.Contains(t, e.Message, "carol")
	_, _, err = b.svc.InstanceForAccess(b.as(carol), b.ref, "ci-carol")
	require.NoError(t, err)
}

func TestInstanceStatusHidesInternals(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	b.create("ci1", `{}`)
	b.reconcile("ci1")
	c, _ := b.get("ci1")
	var doc map[string]any
	require.NoError(t, json.Unmarshal(c.Status, &doc))
	require.Contains(t, doc, resource.InstanceInternalKey, "kept in the store beside properties")
	require.Contains(t, doc[resource.InstanceInternalKey], "scheduleCheckedAt")
	require.NotContains(t, string(mustJSON(t, doc["properties"])), "scheduleCheckedAt", "never among what clients see")
	for _, k := range []string{"osImageMetadata", "sshSettings", "connectivityEndpoints", "mlw", "_failure"} {
		require.NotContains(t, string(mustJSON(t, doc["properties"])), `"`+k+`"`, "Azure's shapes are the renderer's to make")
	}
	require.True(t, resource.InstanceStatusOf(c).Internal.Observed, "what the backend applied is kept, typed")
}

func TestInstanceUpdateIdleShutdownSetting(t *testing.T) {
	t.Parallel()
	b := setupInstances(t, monday)
	b.create("ci1", `{}`)
	b.reconcile("ci1")
	_, res, err := b.svc.ActOnCompute(b.ctx, b.ref, "ci1", "updateIdleShutdownSetting", body(t, `{"idleTimeBeforeShutdown":"PT20M"}`))
	require.NoError(t, err)
	require.Nil(t, res.Op)
	b.reconcile("ci1")
	_, st := b.get("ci1")
	require.Contains(t, st.Props["idleShutdown"].(map[string]any)["status"], "stops at "+monday.Add(20*time.Minute).Format(time.RFC3339))
	_, _, err = b.svc.ActOnCompute(b.ctx, b.ref, "ci1", "updateIdleShutdownSetting", body(t, `{"idleTimeBeforeShutdown":"PT1M"}`))
	e, _ := core.AsError(err)
	require.Equal(t, 400, e.Status, "%v", err)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

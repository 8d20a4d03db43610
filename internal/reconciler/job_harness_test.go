package reconciler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/fake"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// keyQueue records what reconcilers enqueue; the harness works it like
// the controllers would, but on the test's goroutine and virtual time.
type keyQueue struct {
	mu      sync.Mutex
	items   []queued
	delayed []delayedKey
	added   chan struct{}
}

type queued struct{ kind, key string }

type delayedKey struct {
	queued
	at time.Time
}

func newKeyQueue() *keyQueue { return &keyQueue{added: make(chan struct{}, 1)} }

func (q *keyQueue) Enqueue(kind, key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		if it.kind == kind && it.key == key {
			return
		}
	}
	q.items = append(q.items, queued{kind, key})
	select {
	case q.added <- struct{}{}:
	default:
	}
}

func (q *keyQueue) pop() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return queued{}, false
	}
	it := q.items[0]
	q.items = q.items[1:]
	return it, true
}

// fakeEnv prepares environments instantly, or fails with err.
type fakeEnv struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (f *fakeEnv) Prepare(ctx context.Context, env *resource.ResolvedEnvironment, log io.Writer) (*PreparedEnv, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	fmt.Fprintf(log, "environment %s ready\n", env.Name)
	return &PreparedEnv{Python: "/usr/bin/python3", Environ: func(base []string) []string { return append(base, "PATH=/env/bin:/usr/bin:/bin") }}, nil
}

// jobBundle is a real store and service, the cluster and job
// reconcilers, a backend (fake unless a test passes another) and a
// virtual clock. Tests submit through the service, then drain the queue.
type jobBundle struct {
	t        *testing.T
	ctx      context.Context
	st       store.Store
	svc      *service.Service
	be       *fake.Cluster
	env      *fakeEnv
	q        *keyQueue
	jobs     *Jobs
	clusters *Clusters
	insts    *Instances
	// fakeInsts is the instance backend unless a test passed another.
	fakeInsts *fake.Instances
	dispatch  *ComputeDispatch
	ref       core.WorkspaceRef
	ws        *resource.Object
	dir       string

	mu  sync.Mutex
	now time.Time
}

type bundleOpts struct {
	capacity backend.Resources
	procs    backend.Processes
	nodes    backend.Nodes
	env      EnvPreparer
	dir      string
	// insts is the instance backend (default: a fake whose job processes
	// run in the fake cluster).
	insts backend.Instances
}

func setupJobs(t *testing.T, o bundleOpts) *jobBundle {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st := &movesStore{Store: db, t: t}
	if o.capacity == (backend.Resources{}) {
		o.capacity = backend.Resources{MilliCPU: 64000, MemoryBytes: 512 << 30}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := &jobBundle{t: t, st: st, be: fake.NewCluster(o.capacity), env: &fakeEnv{}, q: newKeyQueue(), dir: dir,
		now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	clock := func() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return b.now }
	b.svc = service.New(st, b.q, slog.New(slog.DiscardHandler))
	b.svc.DataDir = dir
	b.svc.Now = clock
	b.svc.Blobs = blob.NewStore(dir)
	sched := NewScheduler()
	var procs backend.Processes = b.be
	var nodes backend.Nodes = b.be
	if o.procs != nil {
		procs = o.procs
	}
	if o.nodes != nil {
		nodes = o.nodes
	}
	var env EnvPreparer = b.env
	if o.env != nil {
		env = o.env
	}
	log := slog.New(slog.DiscardHandler)
	insts := o.insts
	if insts == nil {
		b.fakeInsts = fake.New()
		b.fakeInsts.Procs = b.be
		insts = b.fakeInsts
	}
	b.clusters = &Clusters{Store: st, Nodes: nodes, Queue: b.q, Log: log, Sched: sched, Clock: clock}
	b.insts = &Instances{Store: st, Backend: insts, Queue: b.q, Log: log, DataDir: dir, EnvDir: filepath.Join(dir, "envs"), Clock: clock,
		ServerURL: func() string { return "https://127.0.0.1:7443" }, CAPEM: []byte("ca")}
	b.jobs = &Jobs{Store: st, Queue: b.q, Log: log, Assets: b.svc, Env: env, Procs: procs, Sched: sched, DataDir: dir, Clock: clock,
		StopGrace: 2 * time.Second, Instances: b.insts}
	b.dispatch = &ComputeDispatch{Store: st, Types: map[string]controller.Reconciler{resource.AmlCompute: b.clusters, resource.ComputeInstance: b.insts}}
	admin := &resource.User{ID: "00000000-0000-0000-0000-00000000000a", Name: "admin", Role: identity.RoleOwner}
	if _, err := st.GetUser(context.Background(), admin.ID); err != nil {
		require.NoError(t, st.CreateUser(context.Background(), admin))
	}
	b.ctx = service.WithPrincipal(ctx, &identity.Principal{UserID: admin.ID, Name: admin.Name, Role: identity.RoleOwner})
	b.ref = core.WorkspaceRef{Subscription: "sub1", ResourceGroup: "rg1", Workspace: "ws1"}
	if b.ws, err = b.svc.GetWorkspace(b.ctx, b.ref); err != nil {
		require.NoError(t, b.svc.EnsureSubscription(b.ctx, "sub1", "test"))
		_, _, err = b.svc.PutGroup(b.ctx, "sub1", "rg1", body(t, `{"location":"eastus"}`))
		require.NoError(t, err)
		b.ws, _, err = b.svc.PutWorkspace(b.ctx, b.ref, body(t, `{}`))
		require.NoError(t, err)
	}
	return b
}

func (b *jobBundle) clock() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return b.now }

// drain reconciles everything enqueued until nothing is left; keys asked
// to come back later wait for advance.
func (b *jobBundle) drain() {
	b.t.Helper()
	for i := 0; ; i++ {
		require.Less(b.t, i, 10000, "the reconcilers do not settle")
		it, ok := b.q.pop()
		if !ok {
			return
		}
		var res controller.Result
		var err error
		switch it.kind {
		case core.KindJob:
			res, err = b.jobs.Reconcile(b.ctx, it.key)
		case core.KindCompute:
			res, err = b.dispatch.Reconcile(b.ctx, it.key)
		default:
			continue
		}
		require.NoError(b.t, err, "reconcile %s %s", it.kind, it.key)
		if res.RequeueAfter > 0 {
			b.q.mu.Lock()
			b.q.delayed = append(b.q.delayed, delayedKey{it, b.clock().Add(res.RequeueAfter)})
			b.q.mu.Unlock()
		}
	}
}

// advance moves the virtual clock, enqueues what came due, and drains.
func (b *jobBundle) advance(d time.Duration) {
	b.t.Helper()
	b.mu.Lock()
	b.now = b.now.Add(d)
	now := b.now
	b.mu.Unlock()
	b.q.mu.Lock()
	var keep []delayedKey
	var due []queued
	for _, x := range b.q.delayed {
		if !x.at.After(now) {
			due = append(due, x.queued)
		} else {
			keep = append(keep, x)
		}
	}
	b.q.delayed = keep
	b.q.mu.Unlock()
	for _, x := range due {
		b.q.Enqueue(x.kind, x.key)
	}
	b.drain()
}

func (b *jobBundle) putCluster(name, props string) *resource.Object {
	b.t.Helper()
	c, _, _, err := b.svc.PutCompute(b.ctx, b.ref, name, body(b.t, `{"properties":{"computeType":"AmlCompute","properties":`+props+`}}`))
	require.NoError(b.t, err)
	b.drain()
	return c
}

// putInstance creates a compute instance (properties.properties) and
// drains, which brings it up.
func (b *jobBundle) putInstance(name, props string) *resource.Object {
	b.t.Helper()
	_, _, _, err := b.svc.PutCompute(b.ctx, b.ref, name, body(b.t, `{"properties":{"computeType":"ComputeInstance","properties":`+props+`}}`))
	require.NoError(b.t, err)
	b.drain()
	return b.compute(name)
}

// act posts an action (start, stop, restart) to a compute and drains.
func (b *jobBundle) act(name, action string) {
	b.t.Helper()
	_, _, err := b.svc.ActOnCompute(b.ctx, b.ref, name, action, body(b.t, ""))
	require.NoError(b.t, err)
	b.drain()
}

// instanceState is a compute instance's state.
func (b *jobBundle) instanceState(name string) string {
	return resource.InstanceStatusOf(b.compute(name)).State()
}

func (b *jobBundle) submit(name, props string) *resource.Object {
	b.t.Helper()
	j, created, err := b.svc.PutJob(b.ctx, b.ref, name, body(b.t, `{"properties":`+props+`}`))
	require.NoError(b.t, err)
	require.True(b.t, created)
	return j
}

// command is a minimal job body on compute.
func command(compute, cmd string, extra ...string) string {
	s := `{"jobType":"Command","command":` + quote(cmd) + `,"environmentId":"azureml:AzureML-sklearn-1.5@latest","computeId":` + quote(compute)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func (b *jobBundle) job(name string) *resource.Object {
	b.t.Helper()
	_, j, err := b.svc.GetJob(b.ctx, b.ref, name)
	require.NoError(b.t, err)
	return j
}

func (b *jobBundle) status(name string) *resource.JobStatus { return resource.JobStatusOf(b.job(name)) }

func (b *jobBundle) requireState(name, state string) *resource.JobStatus {
	b.t.Helper()
	j := b.job(name)
	st := resource.JobStatusOf(j)
	require.Equal(b.t, state, j.State, "job %s: %s (error %+v)", name, st.Reason, st.Error)
	return st
}

func (b *jobBundle) compute(name string) *resource.Object {
	b.t.Helper()
	_, c, err := b.svc.GetCompute(b.ctx, b.ref, name)
	require.NoError(b.t, err)
	return c
}

func (b *jobBundle) nodes(cluster string) []*resource.Object {
	b.t.Helper()
	ns, err := b.svc.ClusterNodes(b.ctx, b.compute(cluster))
	require.NoError(b.t, err)
	return ns
}

func (b *jobBundle) nodeStates(cluster string) string {
	var out []string
	for _, n := range b.nodes(cluster) {
		out = append(out, n.State)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (b *jobBundle) clusterStatus(name string) resource.ClusterStatus {
	b.t.Helper()
	v, err := b.clusters.view(b.compute(name))
	require.NoError(b.t, err)
	return v.cs
}

// exit ends a job's process of rank as the backend would and tells the
// reconciler (the Wait goroutine would too, a moment later).
func (b *jobBundle) exit(name string, rank, code int) {
	b.t.Helper()
	j := b.job(name)
	st := resource.JobStatusOf(j)
	require.True(b.t, b.be.Exit(procID(j, st.Attempt, rank), code), "process %d of %s is not running: %s", rank, name, b.be)
	b.q.Enqueue(core.KindJob, resource.Key(j))
	b.drain()
}

func phases(st *resource.JobStatus) string {
	var out []string
	for _, p := range st.Phases {
		out = append(out, p.Status)
	}
	return strings.Join(out, ",")
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/autoscale"
	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Clusters is the reconciler of compute clusters (computeType AmlCompute).
// Each step it: provisions the cluster (Creating → Succeeded, finishing
// create and update operations); carries out preemption requests; assigns
// queued jobs to idle nodes, oldest first, all nodes of a job at once;
// asks the autoscaler (internal/autoscale) how many nodes to add or remove
// and does it, creating nodes only as far as the host has room; and writes
// the cluster's status with the reason for what it decided. Deleting a
// cluster cancels its jobs, waits for them, and releases its nodes.
//
// Nodes are rows of kind "node" under the cluster (see resource.KindNode).
type Clusters struct {
	Store store.Store
	Nodes backend.Nodes
	// Slurm runs Slurm-backed clusters (nil: this server has none).
	Slurm *Slurm
	Queue resource.Enqueuer
	Log   *slog.Logger
	Sched *Scheduler
	// Now is the clock (tests inject one).
	Clock core.Clock

	mu sync.Mutex
	// started holds the nodes whose backend slot this server has
	// (re)started: after a restart every node is started again once
	// (idempotent), so that what the host lost (cgroups after a reboot)
	// comes back.
	started map[string]bool
}

// computeRowKey carries, in a context, the compute row ComputeDispatch
// has just read, so that the reconciler it dispatches to need not read it
// again.
type computeRowKey struct{}

func withComputeRow(ctx context.Context, c *resource.Object) context.Context {
	return context.WithValue(ctx, computeRowKey{}, c)
}

// Reconcile implements controller.Reconciler.
func (c *Clusters) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	parent, name := resource.ParseKey(key)
	return stepAgainOnConflict(func(attempt int) (controller.Result, error) {
		var cl *resource.Object
		var err error
		if row, ok := ctx.Value(computeRowKey{}).(*resource.Object); ok && attempt == 0 && row.Parent == parent && strings.EqualFold(row.Name, name) {
			cl = row
		} else {
			cl, err = c.Store.Get(ctx, core.KindCompute, parent, name)
		}
		if errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, nil
		}
		if err != nil {
			return controller.Result{}, err
		}
		return c.step(ctx, cl)
	})
}

// clusterView is a cluster's settings as the reconciler uses them.
type clusterView struct {
	cl     *resource.Object
	owner  string // operation key: parent of its nodes, Owner of its jobs
	scale  resource.ScaleSettings
	size   core.VMSize
	limits backend.Resources
	// provisioning and cs are its status.
	provisioning string
	cs           resource.ClusterStatus
}

func (c *Clusters) view(cl *resource.Object) (*clusterView, error) {
	spec, err := resource.ComputeSpecOf(cl)
	if err == nil && spec.Cluster == nil {
		err = fmt.Errorf("a %s, not a cluster", spec.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cluster %s: %v", controller.ErrTerminal, cl.Name, err)
	}
	size := spec.Size
	v := &clusterView{cl: cl, owner: resource.ResourceOpKey(cl), scale: spec.Cluster.Scale, size: size,
		limits: backend.Resources{MilliCPU: size.VCPUs * 1000, MemoryBytes: size.MemoryMB() << 20, GPUs: size.GPUs}}
	v.provisioning, v.cs = resource.ClusterStatusOf(cl)
	return v, nil
}

func (c *Clusters) step(ctx context.Context, cl *resource.Object) (controller.Result, error) {
	v, err := c.view(cl)
	if err != nil {
		return controller.Result{}, err
	}
	if cl.Deleting {
		return c.delete(ctx, v)
	}
	if b := resource.ClusterBackendOfCompute(cl); b.Slurm() {
		return c.slurmStep(ctx, v, b)
	}
	now := c.Clock.Now()
	nodes, err := c.Store.List(ctx, store.ListOptions{Kind: resource.KindNode, Parent: v.owner})
	if err != nil {
		return controller.Result{}, err
	}
	resource.SortNodes(nodes)
	if err := c.ensureNodes(ctx, v, nodes, now); err != nil {
		return controller.Result{}, err
	}
	if err := c.preempt(ctx, v, nodes); err != nil {
		return controller.Result{}, err
	}
	unlock := c.Sched.Lock(v.owner)
	queue, err := c.Sched.Queue(ctx, c.Store, v.owner)
	if err == nil {
		queue, err = c.assign(ctx, v, nodes, queue, now)
	}
	unlock()
	if err != nil {
		return controller.Result{}, err
	}

	// Autoscale on what is still queued.
	in := autoscaleInput(v, nodes, queue, now)
	d := autoscale.Decide(in)
	var free backend.Resources
	if d.Add > 0 || d.Waiting > 0 {
		in.HostRoom, free, err = c.hostRoom(ctx, v)
		if err != nil {
			return controller.Result{}, err
		}
		d = autoscale.Decide(in)
	}
	if len(d.Remove) > 0 {
		if err := c.removeNodes(ctx, v, d.Remove); err != nil {
			return controller.Result{}, err
		}
	}
	if d.Add > 0 {
		added, err := c.addNodes(ctx, v, nodes, d.Add, now)
		if err != nil {
			return controller.Result{}, err
		}
		nodes = append(nodes, added...)
		// The jobs given the new nodes waited for them: that is the
		// reason their Queued phase keeps (the status below is written
		// with the reason of what is still queued).
		v.cs.QueueReason = queueReason(v, d, queue, resource.CurrentNodeCount(nodes)-len(added))
		unlock := c.Sched.Lock(v.owner)
		queue, err = c.assign(ctx, v, nodes, queue, now)
		unlock()
		if err != nil {
			return controller.Result{}, err
		}
	}
	if d.Add > 0 || len(d.Remove) > 0 {
		c.Log.Info("cluster scaled", "cluster", cl.Name, "added", d.Add, "removed", len(d.Remove), "reason", d.Reason)
	}
	return c.finishStep(ctx, v, d, nodes, queue, free, now)
}

// autoscaleInput is what the autoscaler decides on: the cluster's scale
// settings, the nodes the queued jobs still want, and the nodes.
func autoscaleInput(v *clusterView, nodes []*resource.Object, queue []QueuedJob, now time.Time) autoscale.Input {
	demand := 0
	for _, q := range queue {
		demand += min(q.Nodes, max(v.scale.Max, 1))
	}
	in := autoscale.Input{Settings: autoscale.Settings{Min: v.scale.Min, Max: v.scale.Max, IdleTime: v.scale.IdleTime},
		Demand: demand, HostRoom: 1 << 20, Now: now}
	for _, n := range nodes {
		ns := resource.NodeStatusOf(n)
		in.Nodes = append(in.Nodes, autoscale.Node{ID: n.Name, State: autoscale.State(n.State), Busy: n.Owner != "", IdleSince: ns.IdleSince})
	}
	return in
}

// finishStep records the scheduler's size and the cluster's status after
// a step's decision d, and says when to look again.
func (c *Clusters) finishStep(ctx context.Context, v *clusterView, d autoscale.Decision, nodes []*resource.Object, queue []QueuedJob,
	free backend.Resources, now time.Time) (controller.Result, error) {
	gone := map[string]bool{}
	for _, id := range d.Remove {
		gone[id] = true
	}
	var left []*resource.Object
	for _, n := range nodes {
		if !gone[n.Name] {
			left = append(left, n)
		}
	}
	c.Sched.SetSize(v.owner, v.scale.Max, resource.CurrentNodeCount(left))
	if err := c.writeStatus(ctx, v, d, queue, free, resource.CurrentNodeCount(left), now); err != nil {
		return controller.Result{}, err
	}
	var res controller.Result
	if !d.NextCheck.IsZero() {
		res.RequeueAfter = max(d.NextCheck.Sub(now), time.Millisecond)
	}
	if d.Waiting > 0 && (res.RequeueAfter == 0 || res.RequeueAfter > 2*time.Second) {
		res.RequeueAfter = 2 * time.Second // room may free up on the host
	}
	return res, nil
}

// ensureNodes (re)starts the backend slot of every node once per server
// run, and finishes nodes left half-created by a crash.
func (c *Clusters) ensureNodes(ctx context.Context, v *clusterView, nodes []*resource.Object, now time.Time) error {
	for _, n := range nodes {
		c.mu.Lock()
		done := c.started[n.Name]
		c.mu.Unlock()
		if done && n.State != resource.NodePreparing {
			continue
		}
		if n.State == resource.NodePreempted || n.State == resource.NodeLeaving {
			continue // on its way out (the autoscaler finishes a leaving node's removal)
		}
		ns := resource.NodeStatusOf(n)
		info, err := c.Nodes.StartNode(ctx, backend.NodeSpec{ID: n.Name, Index: ns.Index, Limits: v.limits})
		if err != nil {
			return fmt.Errorf("start node %s: %w", n.Name, err)
		}
		c.markStarted(n.Name)
		if n.State == resource.NodePreparing {
			n.State = resource.NodeIdle
			setNodeInfo(&ns, info)
			ns.IdleSince = now
			n.Status = resource.Encode(ns)
			if err := c.Store.Update(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Clusters) markStarted(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started == nil {
		c.started = map[string]bool{}
	}
	c.started[id] = true
}

func setNodeInfo(ns *resource.NodeStatus, info backend.NodeInfo) {
	ns.PrivateIP, ns.PublicIP, ns.Port = info.PrivateIP, info.PublicIP, info.Port
	ns.LimitsEnforced, ns.Note = info.Enforced, info.Note
}

// preempt carries out preemption requests: the node is marked preempted
// and its job told (the job reconciler stops and requeues it, then
// releases the node, which the autoscaler then removes).
func (c *Clusters) preempt(ctx context.Context, v *clusterView, nodes []*resource.Object) error {
	for _, n := range nodes {
		if n.State == resource.NodePreempted || !resource.NodeSpecOf(n).Preempt {
			continue
		}
		n.State = resource.NodePreempted
		if err := c.Store.Update(ctx, n); err != nil {
			return err
		}
		c.Log.Info("node preempted", "cluster", v.cl.Name, "node", n.Name, "job", resource.JobKeyName(n.Owner))
		if n.Owner != "" {
			c.Queue.Enqueue(core.KindJob, n.Owner)
		}
	}
	return nil
}

// assign gives idle nodes to queued jobs, oldest first. A job that needs
// more nodes than are idle waits, and so do the jobs behind it (no
// overtaking), so a distributed job is never starved by small ones. It
// returns what is still queued.
func (c *Clusters) assign(ctx context.Context, v *clusterView, nodes []*resource.Object, queue []QueuedJob, now time.Time) ([]QueuedJob, error) {
	var free []*resource.Object
	for _, n := range nodes {
		if n.State == resource.NodeIdle && n.Owner == "" && !resource.NodeSpecOf(n).Preempt {
			free = append(free, n)
		}
	}
	// Above maxNodeCount (it was lowered), idle nodes are not given out:
	// the autoscaler removes them.
	if over := resource.CurrentNodeCount(nodes) - v.scale.Max; over > 0 {
		free = free[min(over, len(free)):]
	}
	for len(queue) > 0 {
		q := queue[0]
		if q.Nodes > v.scale.Max {
			if err := c.failQueued(ctx, v, q, fmt.Sprintf("The job needs %d nodes but the cluster '%s' now has at most %d (maxNodeCount).", q.Nodes, v.cl.Name, v.scale.Max)); err != nil {
				return nil, err
			}
			queue = queue[1:]
			continue
		}
		if q.Nodes > len(free) {
			break
		}
		take := free[:q.Nodes]
		ok, err := c.assignOne(ctx, v, q, take, now)
		if err != nil {
			return nil, err
		}
		queue = queue[1:]
		c.Sched.Remove(v.owner, q.Key)
		if ok {
			free = free[q.Nodes:]
			c.Queue.Enqueue(core.KindJob, q.Key)
		}
	}
	return queue, nil
}

// assignOne moves one job to Preparing on nodes, in one transaction with
// the nodes' rows. It reports false when the job is no longer queued.
func (c *Clusters) assignOne(ctx context.Context, v *clusterView, q QueuedJob, nodes []*resource.Object, now time.Time) (bool, error) {
	ok := false
	err := c.Store.InTx(ctx, func(tx store.Resources) error {
		var err error
		ok, err = assignJob(ctx, tx, v.owner, q.Key, nodes, now, v.cs.QueueReason)
		return err
	})
	if err != nil {
		// Roll back what the failed transaction did to our copies.
		for _, n := range nodes {
			if fresh, gerr := c.Store.Get(ctx, n.Kind, n.Parent, n.Name); gerr == nil {
				*n = *fresh
			}
		}
		return false, err
	}
	return ok, nil
}

// failQueued fails a queued job that can never run on this cluster.
func (c *Clusters) failQueued(ctx context.Context, v *clusterView, q QueuedJob, msg string) error {
	parent, name := resource.ParseKey(q.Key)
	job, err := c.Store.Get(ctx, core.KindJob, parent, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if job.State != resource.JobQueued {
		return nil
	}
	st := resource.JobStatusOf(job)
	now := c.Clock.Now()
	st.Enter(resource.JobFailed, now)
	st.Error = &resource.JobError{Code: "ClusterTooSmall", Message: msg}
	st.Reason = msg
	st.EndTime = &now
	job.Status = resource.Encode(st)
	job.State = resource.JobFailed
	if err := c.Store.Update(ctx, job); err != nil {
		return err // a conflict (the job changed meanwhile) is retried with it still queued
	}
	c.Sched.Remove(v.owner, q.Key)
	c.Queue.Enqueue(core.KindJob, q.Key)
	return nil
}

// hostRoom returns how many more nodes of this cluster's size fit on the
// host, counting every node of every cluster, and what is free.
func (c *Clusters) hostRoom(ctx context.Context, v *clusterView) (int, backend.Resources, error) {
	all, err := c.Store.List(ctx, store.ListOptions{Kind: resource.KindNode})
	if err != nil {
		return 0, backend.Resources{}, err
	}
	free := c.Nodes.Capacity()
	for _, n := range all {
		if n.State == resource.NodePreempted && n.Owner == "" {
			continue // going away
		}
		ns := resource.NodeStatusOf(n)
		free = free.Sub(backend.Resources{MilliCPU: ns.MilliCPU, MemoryBytes: ns.MemoryBytes, GPUs: ns.GPUs})
	}
	room := 0
	for r := free; v.limits.Fits(r); r = r.Sub(v.limits) {
		room++
		if room > 1000 {
			break
		}
	}
	return room, free, nil
}

// addNodes creates n nodes: the row first (preparing), so that a crash
// leaves a row that ensureNodes finishes, then the backend slot.
func (c *Clusters) addNodes(ctx context.Context, v *clusterView, nodes []*resource.Object, n int, now time.Time) ([]*resource.Object, error) {
	used := map[int]bool{}
	for _, x := range nodes {
		used[resource.NodeStatusOf(x).Index] = true
	}
	h := fnv.New32a()
	h.Write([]byte(v.cl.UID))
	var out []*resource.Object
	for range n {
		idx := 0
		for used[idx] {
			idx++
		}
		used[idx] = true
		v.cs.NodeSeq++
		id := fmt.Sprintf("tvm-%010d_%d-%s", h.Sum32(), v.cs.NodeSeq, now.Format("20060102t150405z"))
		ns := resource.NodeStatus{Index: idx, CreatedAt: now, IdleSince: now,
			MilliCPU: v.limits.MilliCPU, MemoryBytes: v.limits.MemoryBytes, GPUs: v.limits.GPUs}
		row := &resource.Object{Kind: resource.KindNode, Parent: v.owner, Name: id, UID: resource.NewUID(), State: resource.NodePreparing,
			Spec: resource.Encode(resource.NodeSpec{}), Status: resource.Encode(ns), CreatedBy: "mlw", ModifiedBy: "mlw"}
		if err := c.Store.Create(ctx, row); err != nil {
			if errors.Is(err, store.ErrExists) {
				continue // the id was used before a crash; the next pass retries
			}
			return out, err
		}
		info, err := c.Nodes.StartNode(ctx, backend.NodeSpec{ID: id, Index: idx, Limits: v.limits})
		if err != nil {
			_ = c.Store.Delete(ctx, row.Kind, row.Parent, row.Name)
			return out, fmt.Errorf("start node %s: %w", id, err)
		}
		c.markStarted(id)
		setNodeInfo(&ns, info)
		row.State = resource.NodeIdle
		row.Status = resource.Encode(ns)
		if err := c.Store.Update(ctx, row); err != nil {
			return out, err
		}
		out = append(out, row)
	}
	return out, nil
}

// removeNodes releases nodes the autoscaler let go (never one that a job
// took meanwhile: the row is re-read and deleted under a version guard).
func (c *Clusters) removeNodes(ctx context.Context, v *clusterView, ids []string) error {
	for _, id := range ids {
		n, err := c.Store.Get(ctx, resource.KindNode, v.owner, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if n.Owner != "" {
			continue
		}
		// Mark it leaving first: a job can no longer be given this node.
		n.State = resource.NodeLeaving
		if err := c.Store.Update(ctx, n); err != nil {
			return err
		}
		if err := c.Nodes.StopNode(ctx, id); err != nil {
			return err
		}
		if err := c.Store.Delete(ctx, n.Kind, n.Parent, n.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		c.mu.Lock()
		delete(c.started, id)
		c.mu.Unlock()
	}
	return nil
}

// writeStatus records provisioning, allocation state, target and reasons,
// writing only when something changed; it finishes create and update
// operations once their generation is in effect.
func (c *Clusters) writeStatus(ctx context.Context, v *clusterView, d autoscale.Decision, queue []QueuedJob, free backend.Resources, usable int, now time.Time) error {
	cs := v.cs
	target := d.Target + d.Waiting
	state := "Steady"
	if target != usable {
		state = "Resizing"
	}
	if state != cs.AllocationState || cs.AllocationStateTransitionTime.IsZero() {
		cs.AllocationState = state
		cs.AllocationStateTransitionTime = now
	}
	cs.TargetNodeCount = target
	fit := resource.Condition{Type: resource.ConditionNodesFit, Status: resource.ConditionTrue, ObservedGeneration: v.cl.Generation}
	if d.Waiting > 0 {
		msg := fmt.Sprintf("%d node(s) of size %s (%d vCPUs, %.1f GiB each) do not fit on this host, which has %.1f vCPUs and %.1f GiB left for nodes; they wait until other nodes are released. (The host's capacity for nodes is set with MLW_NODE_CAPACITY.)",
			d.Waiting, v.size.Name, v.size.VCPUs, v.size.MemoryGB, float64(max(free.MilliCPU, 0))/1000, float64(max(free.MemoryBytes, 0))/(1<<30))
		fit.Status, fit.Reason, fit.Message = resource.ConditionFalse, "HostCapacityExceeded", msg
	}
	cs.Conditions = resource.SetCondition(cs.Conditions, fit, now)
	if d.Add > 0 || len(d.Remove) > 0 {
		cs.LastScaleTime = &now
	}
	cs.ScaleReason = d.Reason
	cs.QueueReason = queueReason(v, d, queue, usable)
	pendingOps := v.cl.Generation != cs.ObservedGeneration
	cs.ObservedGeneration = v.cl.Generation
	if iso, ok := c.Nodes.(backend.Isolator); ok {
		cs.Isolation = iso.Isolation()
	}
	wasProvisioning := v.provisioning != resource.StateSucceeded
	enc := resource.EncodeClusterStatus(resource.StateSucceeded, cs)
	if string(enc) != string(v.cl.Status) {
		v.cl.Status = enc
		v.cl.State = state
		if err := c.Store.Update(ctx, v.cl); err != nil {
			return err
		}
	}
	if wasProvisioning || pendingOps {
		return finishOpsExcept(ctx, c.Store, v.owner, "Delete", resource.OpSucceeded)
	}
	return nil
}

// queueReason says why queued jobs wait, for their status.
func queueReason(v *clusterView, d autoscale.Decision, queue []QueuedJob, usable int) string {
	if len(queue) == 0 {
		return ""
	}
	name := v.cl.Name
	switch {
	case d.Waiting > 0:
		return fmt.Sprintf("%s at %d/%d nodes; %d more do not fit on this host and wait for room", name, usable, v.scale.Max, d.Waiting)
	case d.Add > 0 && d.Target == 1:
		return fmt.Sprintf("%s is scaling up to 1 node", name)
	case d.Add > 0:
		return fmt.Sprintf("%s is scaling up to %d nodes", name, d.Target)
	case usable >= v.scale.Max:
		return fmt.Sprintf("%s at %d/%d nodes, all busy", name, usable, v.scale.Max)
	case queue[0].Nodes > 1:
		return fmt.Sprintf("%s has too few idle nodes for a job that needs %d", name, queue[0].Nodes)
	}
	return fmt.Sprintf("%s at %d/%d nodes", name, usable, v.scale.Max)
}

// finishOpsExcept finishes the in-progress operations of a resource other
// than those named skip.
func finishOpsExcept(ctx context.Context, st store.Store, key, skip, status string) error {
	ops, err := st.ListOperations(ctx, key)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if op.Name == skip {
			continue
		}
		if err := st.FinishOperation(ctx, op.ID, status, "", ""); err != nil {
			return err
		}
	}
	return nil
}

// delete cancels the cluster's jobs, waits until none is active, releases
// its nodes and removes it.
func (c *Clusters) delete(ctx context.Context, v *clusterView) (controller.Result, error) {
	active := 0
	// Jobs being deleted (the workspace is going) stop on their own; they
	// are waited for too, so that their processes end before the nodes.
	for _, state := range append([]string{resource.StateDeleting}, resource.JobActiveStates...) {
		jobs, err := c.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: v.owner, State: state})
		if err != nil {
			return controller.Result{}, err
		}
		for _, j := range jobs {
			active++
			if err := requestCancel(ctx, c.Store, c.Queue, j, fmt.Sprintf("The cluster '%s' was deleted.", v.cl.Name), c.Clock.Now()); err != nil {
				return controller.Result{}, err
			}
		}
	}
	if active > 0 {
		return controller.Result{RequeueAfter: pollDeletion}, nil
	}
	nodes, err := c.Store.List(ctx, store.ListOptions{Kind: resource.KindNode, Parent: v.owner})
	if err != nil {
		return controller.Result{}, err
	}
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Name < nodes[b].Name })
	slurm := resource.ClusterBackendOfCompute(v.cl).Slurm() // its nodes are Slurm's: only the rows go
	for _, n := range nodes {
		if !slurm {
			if err := c.Nodes.StopNode(ctx, n.Name); err != nil {
				return controller.Result{}, err
			}
		}
		if err := c.Store.Delete(ctx, n.Kind, n.Parent, n.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, err
		}
	}
	if err := c.Store.Delete(ctx, core.KindCompute, v.cl.Parent, v.cl.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return controller.Result{}, err
	}
	c.Sched.Drop(v.owner)
	c.Log.Info("cluster deleted", "cluster", v.cl.Name, "nodes", len(nodes))
	return controller.Result{}, finishOps(ctx, c.Store, v.owner, resource.OpSucceeded, "", "")
}

// requestCancel moves an active job to CancelRequested (guarded) and
// enqueues it; a job already ended, being canceled or deleted is left.
func requestCancel(ctx context.Context, st store.Store, q resource.Enqueuer, job *resource.Object, reason string, now time.Time) error {
	job, err := store.Update(ctx, st, job, func(job *resource.Object) error {
		if resource.JobTerminal(job.State) || job.Deleting || job.State == resource.JobCancelRequested {
			return nil
		}
		js := resource.JobStatusOf(job)
		js.CancelRequest = &resource.JobCancel{By: "mlw", At: now, Reason: reason}
		job.Status = resource.Encode(js)
		job.State = resource.JobCancelRequested
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil && job.State == resource.JobCancelRequested {
		q.Enqueue(core.KindJob, resource.Key(job))
	}
	return err
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// ConditionSlurmPartition says whether a Slurm-backed cluster's partition
// answers (False with the reason when it does not, or does not exist).
const ConditionSlurmPartition = "SlurmPartitionReady"

// slurmMirror is how often a Slurm-backed cluster's nodes are read again.
const slurmMirror = 5 * time.Second

// slurmStep is the step of a Slurm-backed cluster. Slurm owns the nodes,
// so there is no autoscaling: the step mirrors the partition's nodes into
// the cluster's node rows (listNodes and nodeStateCounts read them), lets
// queued jobs go, oldest first, while the nodes they ask for stay within
// maxNodeCount (Slurm then schedules them), fails a queued job that no node
// of the partition can hold, and writes the cluster's status.
func (c *Clusters) slurmStep(ctx context.Context, v *clusterView, b resource.ClusterBackend) (controller.Result, error) {
	now := c.Clock.Now()
	if c.Slurm == nil || c.Slurm.Batch == nil {
		msg := "This server has no Slurm: install the Slurm commands on the mlw host and set MLW_SLURM_SHARED_DIR (docs/slurm.md); jobs queued on this cluster wait."
		return controller.Result{RequeueAfter: time.Minute}, c.writeSlurmStatus(ctx, v, nil, "SlurmUnavailable", msg, now)
	}
	p, fresh, err := c.Slurm.partition(ctx, v.owner, b.Partition, now)
	if err != nil {
		reason := "SlurmUnavailable"
		msg := fmt.Sprintf("Slurm does not answer: %v. mlw asks again in a minute.", err)
		if errors.Is(err, backend.ErrBatchNoPartition) {
			reason = "SlurmPartitionNotFound"
			msg = fmt.Sprintf("Slurm has no partition %s (see `sinfo -s`); create the cluster again with an existing one.", partitionName(b.Partition))
		}
		return controller.Result{RequeueAfter: time.Minute}, c.writeSlurmStatus(ctx, v, nil, reason, msg, now)
	}
	var nodes []*resource.Object
	if fresh {
		nodes, err = c.mirrorNodes(ctx, v, p, now)
	} else {
		nodes, err = c.Store.List(ctx, store.ListOptions{Kind: resource.KindNode, Parent: v.owner})
	}
	if err != nil {
		return controller.Result{}, err
	}
	unlock := c.Sched.Lock(v.owner)
	err = c.slurmDispatch(ctx, v, p, now)
	unlock()
	if err != nil {
		return controller.Result{}, err
	}
	return controller.Result{RequeueAfter: slurmMirror}, c.writeSlurmStatus(ctx, v, nodes, "", fmt.Sprintf("Slurm partition %s is %s with %d node(s).", p.Name, strings.ToLower(p.State), len(nodes)), now)
}

// mirrorNodes makes the cluster's node rows the partition's listed nodes:
// each named after the Slurm node, in its mapped state, with its CPUs,
// memory and GPUs; rows of nodes that left the partition are deleted.
func (c *Clusters) mirrorNodes(ctx context.Context, v *clusterView, p backend.BatchPartition, now time.Time) ([]*resource.Object, error) {
	rows, err := c.Store.List(ctx, store.ListOptions{Kind: resource.KindNode, Parent: v.owner})
	if err != nil {
		return nil, err
	}
	have := map[string]*resource.Object{}
	for _, n := range rows {
		have[n.Name] = n
	}
	var out []*resource.Object
	for i, n := range p.Nodes {
		if n.State == "" {
			continue // powered off: not a node of the cluster now
		}
		row := have[n.Name]
		delete(have, n.Name)
		ns := resource.NodeStatus{Index: i, MilliCPU: n.CPUs * 1000, MemoryBytes: n.MemoryMB << 20, GPUs: n.GPUs, LimitsEnforced: true,
			Note: "Slurm node, state " + n.SchedulerState, CreatedAt: now, IdleSince: now}
		if n.Reason != "" {
			ns.Note += ": " + n.Reason
		}
		if row == nil {
			row = &resource.Object{Kind: resource.KindNode, Parent: v.owner, Name: n.Name, UID: resource.NewUID(), State: n.State,
				Spec: resource.Encode(resource.NodeSpec{}), Status: resource.Encode(ns), CreatedBy: "mlw", ModifiedBy: "mlw"}
			if err := c.Store.Create(ctx, row); err != nil && !errors.Is(err, store.ErrExists) {
				return nil, err
			}
			out = append(out, row)
			continue
		}
		old := resource.NodeStatusOf(row)
		ns.CreatedAt = old.CreatedAt
		if row.State == n.State {
			ns.IdleSince = old.IdleSince
		}
		if enc := resource.Encode(ns); row.State != n.State || string(enc) != string(row.Status) {
			row.State, row.Status = n.State, enc
			if err := c.Store.Update(ctx, row); err != nil {
				return nil, err
			}
		}
		out = append(out, row)
	}
	for _, row := range have {
		if err := c.Store.Delete(ctx, row.Kind, row.Parent, row.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	resource.SortNodes(out)
	return out, nil
}

// slurmDispatch lets queued jobs go to Slurm, oldest first, while the
// nodes mlw's jobs on this cluster ask for stay within maxNodeCount. A
// job that asks more nodes than the partition has usable fails.
func (c *Clusters) slurmDispatch(ctx context.Context, v *clusterView, p backend.BatchPartition, now time.Time) error {
	queue, err := c.Sched.Queue(ctx, c.Store, v.owner)
	if err != nil || len(queue) == 0 {
		v.cs.QueueReason = ""
		return err
	}
	used, err := c.slurmNodesInUse(ctx, v)
	if err != nil {
		return err
	}
	usable := 0
	for _, n := range p.Nodes {
		if n.State != "" && n.State != resource.NodeUnusable {
			usable++
		}
	}
	v.cs.QueueReason = ""
	for _, q := range queue {
		if q.Nodes > usable {
			msg := fmt.Sprintf("The job needs %d nodes but Slurm partition %s has %d usable.", q.Nodes, p.Name, usable)
			if err := c.failQueued(ctx, v, q, msg); err != nil {
				return err
			}
			continue
		}
		if used+q.Nodes > v.scale.Max {
			v.cs.QueueReason = fmt.Sprintf("%s has %d of its %d nodes (maxNodeCount) in use by mlw's jobs", v.cl.Name, used, v.scale.Max)
			break
		}
		ok, err := c.assignOne(ctx, v, q, nil, now)
		if err != nil {
			return err
		}
		c.Sched.Remove(v.owner, q.Key)
		if ok {
			used += q.Nodes
			c.Queue.Enqueue(core.KindJob, q.Key)
		}
	}
	return nil
}

// slurmNodesInUse counts the nodes mlw's jobs on the cluster hold or wait
// for in Slurm (those let go from mlw's queue and not ended).
func (c *Clusters) slurmNodesInUse(ctx context.Context, v *clusterView) (int, error) {
	used := 0
	for _, state := range []string{resource.JobPreparing, resource.JobRunning, resource.JobFinalizing, resource.JobCancelRequested} {
		jobs, err := c.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: v.owner, State: state})
		if err != nil {
			return 0, err
		}
		for _, j := range jobs {
			if state == resource.JobCancelRequested && resource.JobStatusOf(j).Attempt == 0 {
				continue // canceled while queued in mlw
			}
			n := 1
			if spec, err := resource.JobSpecOf(j); err == nil {
				n = spec.InstanceCount()
			}
			used += n
		}
	}
	return used, nil
}

// writeSlurmStatus writes a Slurm-backed cluster's status when it changed:
// provisioning Succeeded once the partition answered (Failed while it
// never did), steady at the partition's node count, the partition's
// condition, and the queue's reason.
func (c *Clusters) writeSlurmStatus(ctx context.Context, v *clusterView, nodes []*resource.Object, reason, msg string, now time.Time) error {
	cs := v.cs
	cond := resource.Condition{Type: ConditionSlurmPartition, Status: resource.ConditionTrue, Reason: "PartitionUp", Message: msg, ObservedGeneration: v.cl.Generation}
	provisioning := resource.StateSucceeded
	if reason != "" {
		cond.Status, cond.Reason = resource.ConditionFalse, reason
		if v.provisioning != resource.StateSucceeded {
			provisioning = resource.StateFailed
		} else {
			provisioning = v.provisioning
		}
	} else {
		cs.TargetNodeCount = resource.CurrentNodeCount(nodes)
	}
	if cs.AllocationState != "Steady" || cs.AllocationStateTransitionTime.IsZero() {
		cs.AllocationState, cs.AllocationStateTransitionTime = "Steady", now
	}
	cs.Conditions = resource.SetCondition(cs.Conditions, cond, now)
	cs.ScaleReason = "Slurm owns the nodes of this cluster: mlw mirrors its partition and does not scale it."
	pendingOps := v.cl.Generation != cs.ObservedGeneration
	cs.ObservedGeneration = v.cl.Generation
	cs.Isolation = "Slurm runs each job as its submitter's account (sbatch --uid), in the cgroups Slurm gives it (cores, memory); " +
		"the job sees the shared directory's jobs/ (its own directory is its account's alone), not mlw's data directory."
	was := v.provisioning
	enc := resource.EncodeClusterStatus(provisioning, cs)
	if string(enc) != string(v.cl.Status) {
		v.cl.Status, v.cl.State = enc, "Steady"
		if err := c.Store.Update(ctx, v.cl); err != nil {
			return err
		}
	}
	if provisioning == resource.StateFailed && was != resource.StateFailed {
		return finishOpsExcept(ctx, c.Store, v.owner, "Delete", resource.OpFailed)
	}
	if provisioning == resource.StateSucceeded && (was != resource.StateSucceeded || pendingOps) {
		return finishOpsExcept(ctx, c.Store, v.owner, "Delete", resource.OpSucceeded)
	}
	return nil
}

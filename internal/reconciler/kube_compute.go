package reconciler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// KubeComputes is the reconciler of attached Kubernetes computes: it
// connects with the compute's kubeconfig, checks the namespace and the
// right to create Jobs there, and shows the cluster's nodes in the
// compute's status (Succeeded), or why it cannot (Failed, with the error),
// checking again every minute. Deleting the compute cancels its jobs
// (their Jobs and pods are deleted) and waits for them; the cluster
// itself is not mlw's, and stays.
type KubeComputes struct {
	Store store.Store
	Kube  *Kube
	Queue resource.Enqueuer
	Log   *slog.Logger
	Clock core.Clock
	// Recheck is how often an attached cluster is checked again (default
	// a minute).
	Recheck time.Duration
}

// Reconcile implements controller.Reconciler.
func (k *KubeComputes) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	parent, name := resource.ParseKey(key)
	return stepAgainOnConflict(func(int) (controller.Result, error) {
		c, err := k.Store.Get(ctx, core.KindCompute, parent, name)
		if errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, nil
		}
		if err != nil {
			return controller.Result{}, err
		}
		if c.Deleting {
			return k.delete(ctx, c)
		}
		return k.check(ctx, c)
	})
}

// check connects to the cluster and writes what it found.
func (k *KubeComputes) check(ctx context.Context, c *resource.Object) (controller.Result, error) {
	recheck := k.Recheck
	if recheck <= 0 {
		recheck = time.Minute
	}
	spec, err := resource.ComputeSpecOf(c)
	if err != nil || spec.Kubernetes == nil {
		return controller.Result{}, fmt.Errorf("%w: compute %s: stored spec: %v", controller.ErrTerminal, c.Name, err)
	}
	props := map[string]any{}
	state, opStatus, code, msg := resource.StateSucceeded, resource.OpSucceeded, "", ""
	if err := k.connect(ctx, c, spec.Kubernetes, props); err != nil {
		state, opStatus, code, msg = resource.StateFailed, resource.OpFailed, "KubernetesUnreachable",
			fmt.Sprintf("mlw cannot use the Kubernetes cluster of compute '%s': %v", c.Name, err)
	}
	status := resource.Decode(c.Status)
	outer := map[string]any{"provisioningState": state, "properties": props, "provisioningErrors": nil}
	if msg != "" {
		outer["provisioningErrors"] = []any{map[string]any{"error": map[string]any{"code": code, "message": msg}}}
	}
	status["properties"] = outer
	if next := resource.Encode(mergeKeep(resource.Decode(c.Status), status)); !bytes.Equal(next, c.Status) || c.State != state {
		// Written only when it changed: a recheck that finds the same
		// cluster costs no write (nor a new version for the jobs' clients).
		_, err = store.Update(ctx, k.Store, c, func(c *resource.Object) error {
			c.Status = resource.Encode(mergeKeep(resource.Decode(c.Status), status))
			c.State = state
			return nil
		})
		if err != nil {
			return controller.Result{}, err
		}
	}
	if err := finishOps(ctx, k.Store, resource.ResourceOpKey(c), opStatus, code, msg); err != nil {
		return controller.Result{}, err
	}
	return controller.Result{RequeueAfter: recheck}, nil
}

// mergeKeep is the status to write: what the step found, and the keys of
// the stored one it does not set (the kubeconfig, which admission may
// have replaced meanwhile).
func mergeKeep(stored, found map[string]any) map[string]any {
	for k, v := range found {
		if k != resource.KubeInternalKey {
			stored[k] = v
		}
	}
	return stored
}

// connect checks the cluster and fills props with its nodes (merged,
// as the status's properties, into the spec's when rendered: the
// namespace and instance types are the spec's).
func (k *KubeComputes) connect(ctx context.Context, c *resource.Object, spec *resource.KubernetesSpec, props map[string]any) error {
	if k.Kube == nil || k.Kube.Connect == nil {
		return errors.New("this server cannot run jobs on Kubernetes")
	}
	cl, err := k.Kube.cluster(c, spec)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := cl.client().Check(cctx); err != nil {
		return err
	}
	nodes, err := cl.client().Nodes(cctx, "")
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	ready, cpus, gpus := 0, int64(0), int64(0)
	var names []string
	for _, n := range nodes {
		if n.Ready && n.Schedulable {
			ready++
			cpus += n.MilliCPU
			gpus += n.GPUs
		}
		names = append(names, n.Name)
	}
	props["nodeCount"], props["readyNodeCount"] = len(nodes), ready
	props["allocatableCpu"], props["allocatableGpu"] = float64(cpus)/1000, gpus
	props["nodes"] = strings.Join(names, ",")
	return nil
}

// delete cancels the compute's jobs, waits until none is active, and
// removes the compute.
func (k *KubeComputes) delete(ctx context.Context, c *resource.Object) (controller.Result, error) {
	owner := resource.ResourceOpKey(c)
	active := 0
	for _, state := range append([]string{resource.StateDeleting}, resource.JobActiveStates...) {
		jobs, err := k.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: owner, State: state})
		if err != nil {
			return controller.Result{}, err
		}
		for _, j := range jobs {
			active++
			if err := requestCancel(ctx, k.Store, k.Queue, j, fmt.Sprintf("The compute '%s' was deleted.", c.Name), k.Clock.Now()); err != nil {
				return controller.Result{}, err
			}
		}
	}
	if active > 0 {
		return controller.Result{RequeueAfter: pollDeletion}, nil
	}
	if err := k.Store.Delete(ctx, core.KindCompute, c.Parent, c.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return controller.Result{}, err
	}
	if k.Kube != nil {
		k.Kube.forget(c.UID)
	}
	k.Log.Info("kubernetes compute detached", "compute", c.Name)
	return controller.Result{}, finishOps(ctx, k.Store, owner, resource.OpSucceeded, "", "")
}

// Package reconciler holds the reconcilers: the only code that acts on
// desired state (and the only callers of backends). Each reconciler gets a
// key, reads the object, takes one step toward its spec, writes status if it
// changed (guarded by version) and requeues while the object is not final.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// pollDeletion is how often a container being deleted checks on its children.
const pollDeletion = 100 * time.Millisecond

// Containers deletes resource groups and workspaces: it asks every child
// that runs something (computes, jobs: the Finalized kinds) to delete
// itself, waits until they are gone, then removes the rest of the tree and
// the workspace's storage, and finishes the operations clients poll.
type Containers struct {
	Store   store.Store
	Queue   resource.Enqueuer
	Log     *slog.Logger
	DataDir string
	// Finalized lists the kinds whose reconcilers must clean up (stop
	// processes, release nodes) before their rows may go.
	Finalized []string
}

// Group returns the reconciler for resource groups.
func (c *Containers) Group() controller.Reconciler {
	return controller.ReconcileFunc(func(ctx context.Context, key string) (controller.Result, error) {
		parent, name := resource.ParseKey(key)
		g, err := c.Store.Get(ctx, core.KindResourceGroup, parent, name)
		if errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, nil
		}
		if err != nil || !g.Deleting {
			return controller.Result{}, err
		}
		id := parent + "/resourcegroups/" + core.Key(g.Name)
		wss, err := c.Store.List(ctx, store.ListOptions{Kind: core.KindWorkspace, Parent: id})
		if err != nil {
			return controller.Result{}, err
		}
		if len(wss) > 0 {
			for _, ws := range wss {
				if err := c.markDeleting(ctx, ws); err != nil {
					return controller.Result{}, err
				}
			}
			return controller.Result{RequeueAfter: pollDeletion}, nil
		}
		if err := c.Store.Delete(ctx, core.KindResourceGroup, parent, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, err
		}
		c.Log.Info("resource group deleted", "group", g.Name)
		return controller.Result{}, finishOps(ctx, c.Store, id, resource.OpSucceeded, "", "")
	})
}

// Workspace returns the reconciler for workspaces.
func (c *Containers) Workspace() controller.Reconciler {
	return controller.ReconcileFunc(func(ctx context.Context, key string) (controller.Result, error) {
		parent, name := resource.ParseKey(key)
		ws, err := c.Store.Get(ctx, core.KindWorkspace, parent, name)
		if errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, nil
		}
		if err != nil || !ws.Deleting {
			return controller.Result{}, err
		}
		wsKey := resource.WorkspaceKey(ws)
		waiting := 0
		for _, kind := range c.Finalized {
			children, err := c.Store.List(ctx, store.ListOptions{Kind: kind, ParentPrefix: wsKey})
			if err != nil {
				return controller.Result{}, err
			}
			for _, ch := range children {
				if err := c.markDeleting(ctx, ch); err != nil {
					return controller.Result{}, err
				}
			}
			waiting += len(children)
		}
		if waiting > 0 {
			return controller.Result{RequeueAfter: pollDeletion}, nil
		}
		st := resource.WorkspaceStatusOf(ws)
		if st.StorageAccount != "" {
			if err := os.RemoveAll(blob.AccountDir(c.DataDir, st.StorageAccount)); err != nil {
				return controller.Result{}, fmt.Errorf("remove workspace storage: %w", err)
			}
		}
		if _, err := c.Store.DeleteTree(ctx, wsKey); err != nil {
			return controller.Result{}, err
		}
		if err := c.Store.Delete(ctx, core.KindWorkspace, parent, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return controller.Result{}, err
		}
		c.Log.Info("workspace deleted", "workspace", ws.Name)
		c.Queue.Enqueue(core.KindResourceGroup, parentGroupKey(parent))
		return controller.Result{}, finishOps(ctx, c.Store, wsKey, resource.OpSucceeded, "", "")
	})
}

// parentGroupKey turns a workspace's parent ("/subscriptions/s/resourcegroups/g")
// into the queue key of that group (whose own parent is "/subscriptions/s").
func parentGroupKey(groupID string) string {
	rest, name := path.Split(groupID)
	sub, _ := path.Split(strings.TrimSuffix(rest, "/"))
	return resource.ResourceKey(strings.TrimSuffix(sub, "/"), name)
}

// markDeleting sets the Deleting flag (once) and enqueues the resource.
func (c *Containers) markDeleting(ctx context.Context, r *resource.Object) error {
	if !r.Deleting {
		r.Deleting = true
		r.State = resource.StateDeleting
		if err := c.Store.Update(ctx, r); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	c.Queue.Enqueue(r.Kind, resource.Key(r))
	return nil
}

// finishOps finishes every in-progress operation on one resource.
func finishOps(ctx context.Context, st store.Store, resourceKey, status, code, msg string) error {
	ops, err := st.ListOperations(ctx, resourceKey)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if err := st.FinishOperation(ctx, op.ID, status, code, msg); err != nil {
			return err
		}
	}
	return nil
}

package reconciler

import (
	"context"
	"errors"

	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// ComputeDispatch is the reconciler of kind "compute": it hands each key to
// the reconciler of the compute's type (instances and clusters differ in
// everything but their row).
type ComputeDispatch struct {
	Store store.Store
	Types map[string]controller.Reconciler
}

// Reconcile implements controller.Reconciler.
func (d *ComputeDispatch) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	parent, name := resource.ParseKey(key)
	c, err := d.Store.Get(ctx, core.KindCompute, parent, name)
	if errors.Is(err, store.ErrNotFound) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	rec := d.Types[resource.ComputeTypeOf(c)]
	if rec == nil {
		return controller.Result{}, controller.ErrTerminal
	}
	return rec.Reconcile(withComputeRow(ctx, c), key)
}

package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// EnsureSubscription creates the subscription if it does not exist.
func (s *Service) EnsureSubscription(ctx context.Context, id, displayName string) error {
	_, err := s.Store.Get(ctx, core.KindSubscription, "", id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r := &resource.Object{Kind: core.KindSubscription, Name: id, UID: id, State: resource.StateSucceeded, CreatedBy: "mlw", ModifiedBy: "mlw",
		Spec: resource.Encode(map[string]any{"displayName": displayName})}
	if err := s.Store.Create(ctx, r); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	return nil
}

// GetSubscription returns a subscription or a 404 naming it.
func (s *Service) GetSubscription(ctx context.Context, id string) (*resource.Object, error) {
	r, err := s.Store.Get(ctx, core.KindSubscription, "", id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("SubscriptionNotFound", "The subscription '%s' could not be found. This server's subscription is '%s'.", id, s.DefaultSubscription)
	}
	return r, storeErr(err, "subscription", id)
}

// ListSubscriptions returns every subscription.
func (s *Service) ListSubscriptions(ctx context.Context) ([]*resource.Object, error) {
	rs, err := s.Store.List(ctx, store.ListOptions{Kind: core.KindSubscription})
	if err != nil {
		return nil, storeErr(err, "subscription", "")
	}
	if keep := visible(PrincipalFrom(ctx), subscriptionID); keep != nil {
		out := rs[:0]
		for _, r := range rs {
			if keep(r) {
				out = append(out, r)
			}
		}
		rs = out
	}
	return rs, nil
}

type groupSpec struct {
	Location  string            `json:"location"`
	Tags      map[string]string `json:"tags"`
	ManagedBy string            `json:"managedBy"`
}

// PutGroup creates or updates a resource group. created reports a new group.
func (s *Service) PutGroup(ctx context.Context, sub, name string, body *Body) (r *resource.Object, created bool, err error) {
	p := PrincipalFrom(ctx)
	if err := requireManage(p); err != nil {
		return nil, false, err
	}
	if _, err := s.GetSubscription(ctx, sub); err != nil {
		return nil, false, err
	}
	if err := core.ValidateGroupName(name); err != nil {
		return nil, false, err
	}
	var spec groupSpec
	if err := body.Into(&spec); err != nil {
		return nil, false, err
	}
	if spec.Location == "" {
		return nil, false, core.Invalid("location", "The resource group needs a location, for example \"location\": \"eastus\" (mlw accepts any Azure region name).")
	}
	doc := body.Doc
	delete(doc, "properties")
	delete(doc, "id")
	delete(doc, "name")
	delete(doc, "type")
	parent := core.Key(core.SubscriptionPath(sub))
	existing, err := s.Store.Get(ctx, core.KindResourceGroup, parent, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// A group created again under an old name starts without the old
		// one's role assignments (they outlive a deletion, as in Azure).
		if _, err := s.Store.DeleteRoleAssignmentsWithin(ctx, core.Key(core.GroupPath(sub, name))); err != nil {
			return nil, false, core.Internal(err)
		}
		r = &resource.Object{Kind: core.KindResourceGroup, Parent: parent, Name: name, UID: resource.NewUID(), Spec: resource.Encode(doc),
			State: resource.StateSucceeded, CreatedBy: principalName(p), ModifiedBy: principalName(p)}
		if err := s.Store.Create(ctx, r); err != nil {
			return nil, false, storeErr(err, "resource group", name)
		}
		return r, true, nil
	case err != nil:
		return nil, false, core.Internal(err)
	}
	if existing.Deleting {
		return nil, false, core.ConflictRetry("ResourceGroupBeingDeleted", retryDeletion, "The resource group '%s' is being deleted; wait for the deletion to finish, then create it again.", existing.Name)
	}
	existing, err = s.update(ctx, existing, func(g *resource.Object) error {
		old := resource.Decode(g.Spec)
		if l, _ := old["location"].(string); l != "" && core.NormalizeLocation(l) != core.NormalizeLocation(spec.Location) {
			return core.InvalidCode("InvalidResourceGroupLocation", "location",
				"The resource group '%s' already exists in location '%s'; a resource group's location cannot change. Use \"location\": %q or another group name.", g.Name, l, l)
		}
		g.Spec = resource.Encode(resource.Merge(old, doc))
		g.ModifiedBy = principalName(p)
		return nil
	})
	return existing, false, err
}

// GetGroup returns a resource group or a 404 ResourceGroupNotFound.
func (s *Service) GetGroup(ctx context.Context, sub, name string) (*resource.Object, error) {
	if _, err := s.GetSubscription(ctx, sub); err != nil {
		return nil, err
	}
	r, err := s.Store.Get(ctx, core.KindResourceGroup, core.Key(core.SubscriptionPath(sub)), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("ResourceGroupNotFound", "Resource group '%s' could not be found. Create it with `mlw group create --name %s --location <region>`.", name, name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return r, nil
}

// ListGroups lists the groups of a subscription, a page at a time.
func (s *Service) ListGroups(ctx context.Context, sub string, page Page) ([]*resource.Object, string, error) {
	if _, err := s.GetSubscription(ctx, sub); err != nil {
		return nil, "", err
	}
	return s.listFiltered(ctx, store.ListOptions{Kind: core.KindResourceGroup, Parent: core.Key(core.SubscriptionPath(sub))}, page,
		visible(PrincipalFrom(ctx), groupID))
}

// DeleteGroup starts deleting a resource group and everything in it. The
// returned operation finishes when nothing of the group is left running.
func (s *Service) DeleteGroup(ctx context.Context, sub, name string) (*resource.Operation, error) {
	if err := requireManage(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	g, err := s.GetGroup(ctx, sub, name)
	if err != nil {
		return nil, err
	}
	return s.startDeleteKeyed(ctx, g, core.Key(core.GroupPath(sub, g.Name)))
}

// startDeleteKeyed marks r as deleting (once), records an operation a
// client can poll under opKey, and hands r to its reconciler.
func (s *Service) startDeleteKeyed(ctx context.Context, r *resource.Object, opKey string) (*resource.Operation, error) {
	p := PrincipalFrom(ctx)
	r, err := s.update(ctx, r, func(r *resource.Object) error {
		if r.Deleting {
			return nil // already deleting: a new operation follows it
		}
		r.Deleting = true
		r.State = resource.StateDeleting
		r.ModifiedBy = principalName(p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	op := &resource.Operation{ID: resource.NewUID(), ResourceID: opKey, Name: "Delete"}
	if err := s.Store.CreateOperation(ctx, op); err != nil {
		return nil, core.Internal(fmt.Errorf("record delete operation: %w", err))
	}
	s.Queue.Enqueue(r.Kind, resource.Key(r))
	return op, nil
}

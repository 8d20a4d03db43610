package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// ComputeType is the admission of one computeType. Implementations live
// beside this file (computes_instance.go, computes_cluster.go).
type ComputeType interface {
	// Admit validates and defaults a.Props (the request's
	// properties.properties) for a create (a.Old == nil) or an update. On
	// create it sets a.Status and a.State; on update it sets a.Changed when
	// the reconciler has something to do. It must leave a.Props["vmSize"]
	// naming a catalogue size.
	Admit(ctx context.Context, a *ComputeAdmission) error
	// Quota returns the vCPUs a compute with this spec holds against its
	// family's quota, and whether they are low-priority vCPUs.
	Quota(spec *resource.ComputeSpec) (vcpus int, lowPriority bool)
}

// ComputeActor is implemented by compute types that have POST actions
// (start, stop, restart, listNodes, ...).
type ComputeActor interface {
	Act(ctx context.Context, req *ComputeAction) (*ActionResult, error)
}

// ComputeAction is a POST action on one compute.
type ComputeAction struct {
	Service   *Service
	Workspace *resource.Object
	Compute   *resource.Object
	Action    string
	Body      *Body
}

// ActionResult is the answer to an action: an operation to poll (202), or
// a body (200).
type ActionResult struct {
	Op   *resource.Operation
	Body any
}

// ComputeAdmission carries one compute PUT through admission.
type ComputeAdmission struct {
	Service   *Service
	Principal *identity.Principal
	Workspace *resource.Object
	Name      string
	Type      string
	// Doc is the whole request document; Props is its
	// properties.properties (never nil, part of Doc).
	Doc   map[string]any
	Props map[string]any
	// Old and OldProps describe the existing compute on update.
	Old      *resource.Object
	OldProps map[string]any
	// Status is the initial properties.properties status (create).
	Status map[string]any
	// State is the initial indexed state (create).
	State string
	// Internal is the server's own part of the initial status (create),
	// kept apart from what clients see (resource.InstanceInternalKey).
	Internal any
	// Changed reports that an update needs reconciling.
	Changed bool
	// Secrets are top-level keys of the compute's status document that
	// admission sets on create or update (a Kubernetes compute's
	// kubeconfig): the renderer shows clients none of them.
	Secrets map[string]any
}

// computeReadOnly are fields of properties (outer) that the server owns.
var computeReadOnly = []string{"provisioningState", "createdOn", "modifiedOn", "provisioningErrors", "isAttachedCompute"}

// canonicalComputeType matches a computeType without regard to case.
func (s *Service) canonicalComputeType(t string) (string, ComputeType, bool) {
	for name, ct := range s.computeTypes {
		if strings.EqualFold(name, t) {
			return name, ct, true
		}
	}
	return "", nil, false
}

// RegisterComputeType adds a compute type's admission.
func (s *Service) RegisterComputeType(name string, t ComputeType) {
	if s.computeTypes == nil {
		s.computeTypes = map[string]ComputeType{}
	}
	s.computeTypes[name] = t
}

// GetCompute returns one compute of a workspace.
func (s *Service) GetCompute(ctx context.Context, ref core.WorkspaceRef, name string) (ws, c *resource.Object, err error) {
	ws, err = s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	c, err = s.Store.Get(ctx, core.KindCompute, resource.WorkspaceKey(ws), core.StripAzureMLPrefix(name))
	if errors.Is(err, store.ErrNotFound) {
		return ws, nil, core.NotFound("ResourceNotFound", "The compute '%s' was not found in workspace '%s'. List computes with `mlw compute list`.", name, ws.Name)
	}
	if err != nil {
		return ws, nil, core.Internal(err)
	}
	return ws, c, nil
}

// ListComputes lists the computes of a workspace.
func (s *Service) ListComputes(ctx context.Context, ref core.WorkspaceRef, page Page) (*resource.Object, []*resource.Object, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, "", err
	}
	cs, next, err := s.listPage(ctx, store.ListOptions{Kind: core.KindCompute, Parent: resource.WorkspaceKey(ws)}, page)
	return ws, cs, next, err
}

// PutCompute creates or updates a compute. It returns the compute, whether
// it is new, and the operation to poll (nil when nothing needs doing).
func (s *Service) PutCompute(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (*resource.Object, bool, *resource.Operation, error) {
	p := PrincipalFrom(ctx)
	if err := requireManage(p); err != nil {
		return nil, false, nil, err
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, false, nil, err
	}
	if ws.Deleting {
		return nil, false, nil, core.Conflict("WorkspaceBeingDeleted", "The workspace '%s' is being deleted; no compute can be created in it.", ws.Name)
	}
	location, typeName, ct, err := s.parseComputeBody(body)
	if err != nil {
		return nil, false, nil, err
	}
	name = core.StripAzureMLPrefix(name)
	doc := body.Doc
	outer := cleanComputeDoc(doc, typeName)
	a := &ComputeAdmission{Service: s, Principal: p, Workspace: ws, Name: name, Type: typeName, Doc: doc, Props: resource.NestedProps(doc)}

	s.computeMu.Lock()
	defer s.computeMu.Unlock()
	if err := s.loadExistingCompute(ctx, a); err != nil {
		return nil, false, nil, err
	}
	if err := ct.Admit(ctx, a); err != nil {
		return nil, false, nil, err
	}
	if err := s.placeCompute(ctx, ref.Subscription, a, ct, outer, location); err != nil {
		return nil, false, nil, err
	}
	if a.Old == nil {
		return s.createCompute(ctx, a)
	}
	return s.updateCompute(ctx, a)
}

// parseComputeBody reads a compute PUT's location and computeType, and
// checks that properties.properties is an object. It returns the location
// asked for (maybe empty), the registered spelling of the type, and its
// admission.
func (s *Service) parseComputeBody(body *Body) (string, string, ComputeType, error) {
	var shape struct {
		Location   string `json:"location"`
		Properties struct {
			ComputeType string          `json:"computeType"`
			Description *string         `json:"description"`
			Properties  json.RawMessage `json:"properties"`
		} `json:"properties"`
	}
	if err := body.Into(&shape); err != nil {
		return "", "", nil, err
	}
	if len(shape.Properties.Properties) > 0 && string(shape.Properties.Properties) != "null" && shape.Properties.Properties[0] != '{' {
		return "", "", nil, core.Invalid("properties.properties", "Field \"properties.properties\" must be an object holding the compute's settings (vmSize, scaleSettings, ...).")
	}
	typeName, ct, ok := s.canonicalComputeType(shape.Properties.ComputeType)
	if !ok {
		if shape.Properties.ComputeType == "" {
			return "", "", nil, core.Invalid("properties.computeType", "The compute needs properties.computeType: ComputeInstance (a personal dev machine), AmlCompute (a cluster) or Kubernetes (an attached Kubernetes cluster).")
		}
		return "", "", nil, core.Invalid("properties.computeType", "computeType %q is not supported by mlw; use ComputeInstance, AmlCompute or Kubernetes.", shape.Properties.ComputeType)
	}
	return shape.Location, typeName, ct, nil
}

// cleanComputeDoc drops from a compute PUT document the fields the server
// owns, sets the canonical computeType, and returns the outer properties.
func cleanComputeDoc(doc map[string]any, typeName string) map[string]any {
	for _, k := range []string{"id", "name", "type", "systemData", resource.IntentKey} {
		delete(doc, k)
	}
	outer, _ := doc["properties"].(map[string]any)
	for _, k := range computeReadOnly {
		delete(outer, k)
	}
	outer["computeType"] = typeName
	return outer
}

// loadExistingCompute looks up the compute a PUT names. A new compute's
// name must be valid; an existing one must not be being deleted nor change
// its type, and goes into a.Old and a.OldProps. The caller holds computeMu.
func (s *Service) loadExistingCompute(ctx context.Context, a *ComputeAdmission) error {
	existing, err := s.Store.Get(ctx, core.KindCompute, resource.WorkspaceKey(a.Workspace), a.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := core.ValidateComputeName(a.Name, a.Type == resource.ComputeInstance); err != nil {
			return err
		}
	case err != nil:
		return core.Internal(err)
	default:
		if existing.Deleting {
			return core.ConflictRetry("ComputeBeingDeleted", retryDeletion, "The compute '%s' is being deleted; wait for that to finish before creating it again.", existing.Name)
		}
		if old := resource.ComputeTypeOf(existing); old != a.Type {
			return core.Invalid("properties.computeType", "The compute '%s' is a %s; its computeType cannot change to %s. Delete it first or pick another name.", existing.Name, old, a.Type)
		}
		a.Old = existing
		a.OldProps = resource.NestedProps(resource.ComputeDoc(existing))
	}
	return nil
}

// placeCompute settles where an admitted compute lives (an instance, or a
// compute that names no location, lives where its workspace is), records
// it in the document, and checks the subscription's quota there.
func (s *Service) placeCompute(ctx context.Context, sub string, a *ComputeAdmission, ct ComputeType, outer map[string]any, location string) error {
	wsLoc := resource.WorkspaceSpecOf(a.Workspace).Location
	if location == "" || a.Type == resource.ComputeInstance {
		a.Doc["location"] = wsLoc // instances always live where their workspace is
	}
	loc, _ := a.Doc["location"].(string)
	outer["computeLocation"] = loc
	// The admitted document, read as the reconcilers will read it.
	spec, err := resource.ParseComputeSpec(a.Doc)
	if err != nil {
		return err
	}
	return s.checkQuota(ctx, sub, loc, a, ct, spec)
}

// createCompute stores an admitted new compute as Creating and starts its
// Create operation.
func (s *Service) createCompute(ctx context.Context, a *ComputeAdmission) (*resource.Object, bool, *resource.Operation, error) {
	status := map[string]any{"properties": map[string]any{"provisioningState": resource.StateCreating, "properties": a.Status}}
	if a.Internal != nil {
		status[resource.InstanceInternalKey] = a.Internal
	}
	for k, v := range a.Secrets {
		status[k] = v
	}
	c := &resource.Object{Kind: core.KindCompute, Parent: resource.WorkspaceKey(a.Workspace), Name: a.Name, UID: resource.NewUID(), Spec: resource.Encode(a.Doc),
		Status: resource.Encode(status), State: a.State, CreatedBy: principalName(a.Principal), ModifiedBy: principalName(a.Principal)}
	if err := s.Store.Create(ctx, c); err != nil {
		return nil, false, nil, storeErr(err, "compute", a.Name)
	}
	op, err := s.startOp(ctx, c, "Create")
	if err != nil {
		return nil, false, nil, err
	}
	return c, true, op, nil
}

// updateCompute merges an admitted PUT into the existing compute a.Old and
// starts its Update operation, finished at once when admission found
// nothing for a reconciler to do.
func (s *Service) updateCompute(ctx context.Context, a *ComputeAdmission) (*resource.Object, bool, *resource.Operation, error) {
	// Admission decided on a.Old: a compute changed meanwhile is a 409
	// (retry), not a merge into what admission did not see.
	old := resource.Decode(a.Old.Spec)
	if _, ok := a.Doc["tags"]; ok {
		delete(old, "tags") // a PUT replaces the tags as a whole, as in ARM
	}
	version := a.Old.Version
	c, err := s.update(ctx, a.Old, func(c *resource.Object) error {
		if c.Version != version {
			return storeErr(store.ErrConflict, "compute", a.Name)
		}
		c.Spec = resource.Encode(resource.Merge(old, a.Doc))
		c.ModifiedBy = principalName(a.Principal)
		if len(a.Secrets) > 0 {
			status := resource.Decode(c.Status)
			for k, v := range a.Secrets {
				status[k] = v
			}
			c.Status = resource.Encode(status)
		}
		return nil
	})
	if err != nil {
		return nil, false, nil, err
	}
	a.Old = c
	op, err := s.startOp(ctx, a.Old, "Update")
	if err != nil {
		return nil, false, nil, err
	}
	if !a.Changed {
		// Nothing for a reconciler to do: the update is complete.
		if err := s.Store.FinishOperation(ctx, op.ID, resource.OpSucceeded, "", ""); err != nil {
			return nil, false, nil, core.Internal(err)
		}
	}
	return a.Old, false, op, nil
}

// startOp records an in-progress operation on r and enqueues r.
func (s *Service) startOp(ctx context.Context, r *resource.Object, name string) (*resource.Operation, error) {
	op := &resource.Operation{ID: resource.NewUID(), ResourceID: resource.ResourceOpKey(r), Name: name}
	if err := s.Store.CreateOperation(ctx, op); err != nil {
		return nil, core.Internal(fmt.Errorf("record %s operation: %w", name, err))
	}
	s.Queue.Enqueue(r.Kind, resource.Key(r))
	return op, nil
}

// StartOp is startOp for compute types' actions.
func (s *Service) StartOp(ctx context.Context, r *resource.Object, name string) (*resource.Operation, error) {
	return s.startOp(ctx, r, name)
}

// DeleteCompute starts deleting a compute.
func (s *Service) DeleteCompute(ctx context.Context, ref core.WorkspaceRef, name string) (*resource.Operation, error) {
	if err := requireManage(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	_, c, err := s.GetCompute(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	return s.startDeleteKeyed(ctx, c, resource.ResourceOpKey(c))
}

// ActOnCompute runs a POST action on a compute.
func (s *Service) ActOnCompute(ctx context.Context, ref core.WorkspaceRef, name, action string, body *Body) (*resource.Object, *ActionResult, error) {
	ws, c, err := s.GetCompute(ctx, ref, name)
	if err != nil {
		return nil, nil, err
	}
	_, ct, ok := s.canonicalComputeType(resource.ComputeTypeOf(c))
	actor, isActor := ct.(ComputeActor)
	if !ok || !isActor {
		return nil, nil, core.Invalid("action", "The compute '%s' has no action %q.", c.Name, action)
	}
	res, err := actor.Act(ctx, &ComputeAction{Service: s, Workspace: ws, Compute: c, Action: action, Body: body})
	return c, res, err
}

func sizeOf(props map[string]any) (core.VMSize, error) {
	name, _ := props["vmSize"].(string)
	size, ok := core.LookupVMSize(name)
	if !ok {
		return core.VMSize{}, core.InvalidCode("InvalidVmSize", "properties.properties.vmSize",
			"The VM size %q is not available. Choose one of: %s (see `mlw compute list-sizes`).", name, core.VMSizeNames())
	}
	return size, nil
}

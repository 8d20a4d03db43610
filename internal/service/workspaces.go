package service

import (
	"context"
	"errors"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

type workspaceSpec struct {
	Location   string            `json:"location"`
	Kind       string            `json:"kind"`
	Tags       map[string]string `json:"tags"`
	Properties struct {
		Description  *string `json:"description"`
		FriendlyName *string `json:"friendlyName"`
	} `json:"properties"`
}

// Properties of a workspace that the server owns; a client that sends them
// back (GET, edit, PUT) does not change them.
var workspaceReadOnly = []string{"workspaceId", "provisioningState", "discoveryUrl", "mlFlowTrackingUri", "storageAccount",
	"keyVault", "applicationInsights", "tenantId", "notebookInfo", "privateLinkCount", "serviceProvisionedResourceGroup"}

// StorageAccountName derives the (fake) storage account name of a workspace:
// lowercase letters and digits, at most 24, unique through the GUID.
func StorageAccountName(ws, uid string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(ws) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	n := b.String()
	if len(n) > 14 {
		n = n[:14]
	}
	return n + strings.ReplaceAll(uid, "-", "")[:24-len(n)]
}

// WorkspaceKindDefault is the kind of every mlw workspace: azure-ai-ml
// 1.28 reads kind to choose the class (Workspace, Hub, Project,
// FeatureStore) of what it gets.
const WorkspaceKindDefault = "Default"

// PutWorkspace creates or updates a workspace. Creating one also creates its
// default datastores, in the same transaction.
func (s *Service) PutWorkspace(ctx context.Context, ref core.WorkspaceRef, body *Body) (*resource.Object, bool, error) {
	p := PrincipalFrom(ctx)
	if err := requireManage(p); err != nil {
		return nil, false, err
	}
	g, err := s.GetGroup(ctx, ref.Subscription, ref.ResourceGroup)
	if err != nil {
		return nil, false, err
	}
	if g.Deleting {
		return nil, false, core.Conflict("ResourceGroupBeingDeleted", "The resource group '%s' is being deleted; no workspace can be created in it.", g.Name)
	}
	if err := core.ValidateWorkspaceName(ref.Workspace); err != nil {
		return nil, false, err
	}
	var spec workspaceSpec
	if err := body.Into(&spec); err != nil {
		return nil, false, err
	}
	doc := body.Doc
	for _, k := range []string{"id", "name", "type", "systemData"} {
		delete(doc, k)
	}
	if _, ok := doc["kind"]; ok {
		if !strings.EqualFold(spec.Kind, WorkspaceKindDefault) {
			return nil, false, core.Invalid("kind", "mlw serves Azure ML workspaces of kind %q only; %q (an Azure AI hub, project or feature store) is not supported. Leave kind out.", WorkspaceKindDefault, spec.Kind)
		}
		doc["kind"] = WorkspaceKindDefault
	}
	if props, ok := doc["properties"].(map[string]any); ok {
		for _, k := range workspaceReadOnly {
			delete(props, k)
		}
	}
	if spec.Location == "" {
		doc["location"] = resource.Decode(g.Spec)["location"]
	}
	parent := ref.GroupKey()
	existing, err := s.Store.Get(ctx, core.KindWorkspace, parent, ref.Workspace)
	if err == nil {
		if existing.Deleting {
			return nil, false, core.ConflictRetry("WorkspaceBeingDeleted", retryDeletion, "The workspace '%s' is being deleted; wait for the deletion to finish, then create it again.", existing.Name)
		}
		existing, err = s.update(ctx, existing, func(ws *resource.Object) error {
			old := resource.Decode(ws.Spec)
			if l, _ := old["location"].(string); spec.Location != "" && core.NormalizeLocation(l) != core.NormalizeLocation(spec.Location) {
				return core.Invalid("location", "The workspace '%s' is in location '%s'; a workspace cannot move. Leave location out or use %q.", ws.Name, l, l)
			}
			ws.Spec = resource.Encode(resource.Merge(old, doc))
			ws.ModifiedBy = principalName(p)
			return nil
		})
		return existing, false, err
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, false, core.Internal(err)
	}
	// A workspace created again under an old name starts without the old
	// one's role assignments.
	if _, err := s.Store.DeleteRoleAssignmentsWithin(ctx, ref.Key()); err != nil {
		return nil, false, core.Internal(err)
	}
	uid := resource.NewUID()
	st := resource.WorkspaceStatus{StorageAccount: StorageAccountName(ref.Workspace, uid), Subscription: ref.Subscription, ResourceGroup: g.Name}
	ws := &resource.Object{Kind: core.KindWorkspace, Parent: parent, Name: ref.Workspace, UID: uid, Spec: resource.Encode(doc),
		Status: resource.Encode(st), State: resource.StateSucceeded, CreatedBy: principalName(p), ModifiedBy: principalName(p)}
	err = s.Store.InTx(ctx, func(tx store.Resources) error {
		if err := tx.Create(ctx, ws); err != nil {
			return err
		}
		for _, ds := range defaultDatastores(uid) {
			ds.Parent = resource.WorkspaceKey(ws)
			ds.CreatedBy, ds.ModifiedBy = ws.CreatedBy, ws.ModifiedBy
			if err := tx.Create(ctx, ds); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, storeErr(err, "workspace", ref.Workspace)
	}
	return ws, true, nil
}

// defaultDatastores returns the datastores a new workspace gets. Blob
// datastores use SAS credentials (see docs/architecture.md, "Blob storage").
func defaultDatastores(uid string) []*resource.Object {
	mk := func(name, typ string, def bool, extra map[string]any) *resource.Object {
		props := map[string]any{
			"datastoreType": typ, "isDefault": def, "endpoint": "core.windows.net", "protocol": "https",
			"serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
			"credentials":                   map[string]any{"credentialsType": "Sas"},
			"description":                   nil, "properties": map[string]any{}, "tags": map[string]any{},
		}
		return &resource.Object{Kind: core.KindDatastore, Name: name, UID: resource.NewUID(), State: resource.StateSucceeded,
			Spec: resource.Encode(map[string]any{"properties": resource.Merge(props, extra)})}
	}
	return []*resource.Object{
		mk(resource.DatastoreBlob, "AzureBlob", true, map[string]any{"containerName": "azureml-blobstore-" + uid}),
		mk(resource.DatastoreArtifacts, "AzureBlob", false, map[string]any{"containerName": "azureml"}),
		mk(resource.DatastoreWorkingDirectory, "AzureFile", false, map[string]any{"fileShareName": "code-" + uid}),
		mk(resource.DatastoreFiles, "AzureFile", false, map[string]any{"fileShareName": "azureml-filestore-" + uid}),
	}
}

// GetWorkspace returns a workspace or a 404 that says what is missing.
func (s *Service) GetWorkspace(ctx context.Context, ref core.WorkspaceRef) (*resource.Object, error) {
	r, err := s.Store.Get(ctx, core.KindWorkspace, ref.GroupKey(), ref.Workspace)
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.GetGroup(ctx, ref.Subscription, ref.ResourceGroup); gerr != nil {
			return nil, gerr
		}
		return nil, core.NotFound("ResourceNotFound", "The workspace '%s' was not found in resource group '%s'. List workspaces with `mlw workspace list -g %s`.",
			ref.Workspace, ref.ResourceGroup, ref.ResourceGroup)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return r, nil
}

// ListWorkspaces lists the workspaces of one group, or of the whole
// subscription when group is empty.
func (s *Service) ListWorkspaces(ctx context.Context, sub, group string, page Page) ([]*resource.Object, string, error) {
	o := store.ListOptions{Kind: core.KindWorkspace}
	if group == "" {
		if _, err := s.GetSubscription(ctx, sub); err != nil {
			return nil, "", err
		}
		o.ParentPrefix = core.Key(core.SubscriptionPath(sub))
	} else {
		if _, err := s.GetGroup(ctx, sub, group); err != nil {
			return nil, "", err
		}
		o.Parent = core.Key(core.GroupPath(sub, group))
	}
	return s.listFiltered(ctx, o, page, readable(PrincipalFrom(ctx), resource.WorkspaceKey))
}

// PatchWorkspace merges tags and properties into a workspace.
func (s *Service) PatchWorkspace(ctx context.Context, ref core.WorkspaceRef, body *Body) (*resource.Object, error) {
	p := PrincipalFrom(ctx)
	if err := requireManage(p); err != nil {
		return nil, err
	}
	var spec workspaceSpec
	if err := body.Into(&spec); err != nil {
		return nil, err
	}
	doc := map[string]any{}
	if v, ok := body.Doc["tags"]; ok {
		doc["tags"] = v
	}
	if props, ok := body.Doc["properties"].(map[string]any); ok {
		for _, k := range workspaceReadOnly {
			delete(props, k)
		}
		doc["properties"] = props
	}
	for _, k := range []string{"identity", "sku"} {
		if v, ok := body.Doc[k]; ok {
			doc[k] = v
		}
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, ws, func(ws *resource.Object) error {
		if ws.Deleting {
			return core.Conflict("WorkspaceBeingDeleted", "The workspace '%s' is being deleted.", ws.Name)
		}
		old := resource.Decode(ws.Spec)
		if _, ok := doc["tags"]; ok {
			delete(old, "tags") // tags are replaced as a whole, as in ARM
		}
		ws.Spec = resource.Encode(resource.Merge(old, doc))
		ws.ModifiedBy = principalName(p)
		return nil
	})
}

// DeleteWorkspace starts deleting a workspace and everything in it.
func (s *Service) DeleteWorkspace(ctx context.Context, ref core.WorkspaceRef) (*resource.Operation, error) {
	if err := requireManage(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.startDeleteKeyed(ctx, ws, resource.WorkspaceKey(ws))
}

package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// ARM template deployments (Microsoft.Resources/deployments) are how
// azure-ai-ml's workspaces.begin_create makes a workspace: it always sends
// them to management.azure.com (azureml-protocol §7.4), which mlw answers
// through its intercepting proxy. mlw does not evaluate the template: it
// acts on the parameters (workspaceName, location, resourceGroupName,
// description, friendlyName, tagValues, kind) and creates the workspace with its
// datastores at once, so the deployment is Succeeded when the PUT answers.

// KindDeployment is the store kind of template deployments; the parent is
// the resource group's key.
const KindDeployment = "deployment"

// DeploymentStatus is the server-owned part of a deployment.
type DeploymentStatus struct {
	ProvisioningState string    `json:"provisioningState"`
	Timestamp         time.Time `json:"timestamp"`
	Duration          string    `json:"duration"`
	WorkspaceID       string    `json:"workspaceId,omitempty"`
	StorageAccount    string    `json:"storageAccount,omitempty"`
	Location          string    `json:"location,omitempty"`
}

// DeploymentStatusOf decodes a deployment's status.
func DeploymentStatusOf(d *resource.Object) DeploymentStatus {
	var st DeploymentStatus
	_ = json.Unmarshal(d.Status, &st)
	return st
}

type deploymentSpec struct {
	Properties struct {
		Mode       string                     `json:"mode"`
		Parameters map[string]json.RawMessage `json:"parameters"`
	} `json:"properties"`
}

// param reads parameters.<name>.value.
func (d *deploymentSpec) param(name string, v any) bool {
	raw, ok := d.Properties.Parameters[name]
	if !ok {
		return false
	}
	var p struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &p) != nil || len(p.Value) == 0 || string(p.Value) == "null" {
		return false
	}
	return json.Unmarshal(p.Value, v) == nil
}

// PutDeployment runs a template deployment that creates a workspace.
func (s *Service) PutDeployment(ctx context.Context, sub, group, name string, body *Body) (*resource.Object, bool, error) {
	p := PrincipalFrom(ctx)
	if err := requireManage(p); err != nil {
		return nil, false, err
	}
	g, err := s.GetGroup(ctx, sub, group)
	if err != nil {
		return nil, false, err
	}
	if name == "" || len(name) > 64 {
		return nil, false, core.Invalid("deploymentName", "Invalid deployment name %q: 1 to 64 characters.", name)
	}
	var spec deploymentSpec
	if err := body.Into(&spec); err != nil {
		return nil, false, err
	}
	var wsName, location, rg, description, friendly string
	var tags map[string]any
	if !spec.param("workspaceName", &wsName) || wsName == "" {
		return nil, false, core.Invalid("properties.parameters.workspaceName", "mlw runs deployments that create an Azure ML workspace; this one has no workspaceName parameter. Create other resources with the mlw API or CLI.")
	}
	spec.param("location", &location)
	spec.param("description", &description)
	spec.param("friendlyName", &friendly)
	spec.param("tagValues", &tags)
	var kind string
	spec.param("kind", &kind)
	if !spec.param("resourceGroupName", &rg) || rg == "" {
		rg = g.Name
	}
	wsDoc := map[string]any{"properties": map[string]any{}}
	if location != "" {
		wsDoc["location"] = location
	}
	if tags != nil {
		wsDoc["tags"] = tags
	}
	if kind != "" {
		wsDoc["kind"] = kind
	}
	props := wsDoc["properties"].(map[string]any)
	if description != "" {
		props["description"] = description
	}
	if friendly != "" {
		props["friendlyName"] = friendly
	}
	raw, _ := json.Marshal(wsDoc)
	wsBody, err := ReadBody(strings.NewReader(string(raw)), int64(len(raw))+1)
	if err != nil {
		return nil, false, err
	}
	start := s.Now()
	ws, _, err := s.PutWorkspace(ctx, core.WorkspaceRef{Subscription: sub, ResourceGroup: rg, Workspace: wsName}, wsBody)
	if err != nil {
		return nil, false, err
	}
	ref := resource.WorkspaceRefOf(ws)
	loc, _ := resource.Decode(ws.Spec)["location"].(string)
	st := DeploymentStatus{ProvisioningState: resource.StateSucceeded, Timestamp: s.Now().UTC(),
		Duration: isoSeconds(s.Now().Sub(start)), WorkspaceID: ref.ID(), StorageAccount: resource.WorkspaceStatusOf(ws).StorageAccount, Location: loc}

	// The template is large and not acted on: keep the parameters and mode.
	doc := map[string]any{"properties": map[string]any{"mode": spec.Properties.Mode, "parameters": spec.Properties.Parameters}}
	parent := core.Key(core.GroupPath(sub, g.Name))
	who := principalName(p)
	d, created, err := store.CreateOrUpdate(ctx, s.Store, KindDeployment, parent, name, func() (*resource.Object, error) {
		return &resource.Object{Kind: KindDeployment, Parent: parent, Name: name, UID: resource.NewUID(), Spec: resource.Encode(doc), Status: resource.Encode(st),
			State: resource.StateSucceeded, CreatedBy: who, ModifiedBy: who}, nil
	}, func(d *resource.Object) error {
		d.Spec, d.Status, d.ModifiedBy = resource.Encode(doc), resource.Encode(st), who
		return nil
	})
	if err != nil {
		return nil, false, storeErr(err, "deployment", name)
	}
	return d, created, nil
}

// GetDeployment returns one deployment of a resource group.
func (s *Service) GetDeployment(ctx context.Context, sub, group, name string) (*resource.Object, error) {
	g, err := s.GetGroup(ctx, sub, group)
	if err != nil {
		return nil, err
	}
	d, err := s.Store.Get(ctx, KindDeployment, core.Key(core.GroupPath(sub, g.Name)), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("DeploymentNotFound", "Deployment '%s' could not be found in resource group '%s'.", name, g.Name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return d, nil
}

// RecordDeploymentOperation records an already finished operation for a
// deployment, so that its PUT can answer with the usual LRO headers.
func (s *Service) RecordDeploymentOperation(ctx context.Context, d *resource.Object) (*resource.Operation, error) {
	op := &resource.Operation{ID: resource.NewUID(), ResourceID: d.Parent + "/deployments/" + strings.ToLower(d.Name), Name: "Deploy"}
	if err := s.Store.CreateOperation(ctx, op); err != nil {
		return nil, core.Internal(fmt.Errorf("record deployment operation: %w", err))
	}
	if err := s.Store.FinishOperation(ctx, op.ID, resource.OpSucceeded, "", ""); err != nil {
		return nil, core.Internal(err)
	}
	op.Status = resource.OpSucceeded
	return op, nil
}

// isoSeconds renders a duration as ISO 8601 ("PT0.123S").
func isoSeconds(d time.Duration) string {
	return fmt.Sprintf("PT%.3fS", d.Seconds())
}

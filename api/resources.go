package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// SystemData records who made a resource and when.
type SystemData struct {
	CreatedAt          time.Time `json:"createdAt"`
	CreatedBy          string    `json:"createdBy"`
	CreatedByType      string    `json:"createdByType"`
	LastModifiedAt     time.Time `json:"lastModifiedAt"`
	LastModifiedBy     string    `json:"lastModifiedBy"`
	LastModifiedByType string    `json:"lastModifiedByType"`
}

// Subscription is an ARM subscription.
type Subscription struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscriptionId"`
	DisplayName    string `json:"displayName"`
	State          string `json:"state"`
	TenantID       string `json:"tenantId"`
}

// ResourceGroup is an ARM resource group.
type ResourceGroup struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	SystemData *SystemData       `json:"systemData,omitempty"`
	Properties struct {
		ProvisioningState string `json:"provisioningState,omitempty"`
	} `json:"properties"`
}

// Workspace is an Azure ML workspace.
type Workspace struct {
	ID         string              `json:"id,omitempty"`
	Name       string              `json:"name,omitempty"`
	Type       string              `json:"type,omitempty"`
	Location   string              `json:"location,omitempty"`
	Tags       map[string]string   `json:"tags,omitempty"`
	SystemData *SystemData         `json:"systemData,omitempty"`
	Properties WorkspaceProperties `json:"properties"`
}

// WorkspaceProperties are the fields of a workspace.
type WorkspaceProperties struct {
	Description       string `json:"description,omitempty"`
	FriendlyName      string `json:"friendlyName,omitempty"`
	WorkspaceID       string `json:"workspaceId,omitempty"`
	ProvisioningState string `json:"provisioningState,omitempty"`
	DiscoveryURL      string `json:"discoveryUrl,omitempty"`
	MLFlowTrackingURI string `json:"mlFlowTrackingUri,omitempty"`
	StorageAccount    string `json:"storageAccount,omitempty"`
	KeyVault          string `json:"keyVault,omitempty"`
}

// Datastore is a workspace datastore; Properties vary by type.
type Datastore struct {
	ID         string         `json:"id,omitempty"`
	Name       string         `json:"name,omitempty"`
	Properties map[string]any `json:"properties"`
}

// CreateGroup creates or updates a resource group.
func (c *Client) CreateGroup(ctx context.Context, name string, g *ResourceGroup) (*ResourceGroup, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	var out ResourceGroup
	_, err = c.Do(ctx, http.MethodPut, GroupPath(sub, name), g, &out)
	return &out, err
}

// GetGroup returns one resource group.
func (c *Client) GetGroup(ctx context.Context, name string) (*ResourceGroup, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	var out ResourceGroup
	_, err = c.Do(ctx, http.MethodGet, GroupPath(sub, name), nil, &out)
	return &out, err
}

// ListGroups returns every resource group.
func (c *Client) ListGroups(ctx context.Context) ([]ResourceGroup, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	return ListAll[ResourceGroup](ctx, c, "/subscriptions/"+url.PathEscape(sub)+"/resourceGroups")
}

// DeleteGroup starts deleting a group; Wait on the response to finish.
func (c *Client) DeleteGroup(ctx context.Context, name string) (*Response, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, http.MethodDelete, GroupPath(sub, name), nil, nil)
}

// CreateWorkspace creates or updates a workspace.
func (c *Client) CreateWorkspace(ctx context.Context, group, name string, ws *Workspace) (*Workspace, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	var out Workspace
	_, err = c.Do(ctx, http.MethodPut, WorkspacePath(sub, group, name), ws, &out)
	return &out, err
}

// UpdateWorkspace patches a workspace with the given document.
func (c *Client) UpdateWorkspace(ctx context.Context, group, name string, patch map[string]any) (*Workspace, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	var out Workspace
	_, err = c.Do(ctx, http.MethodPatch, WorkspacePath(sub, group, name), patch, &out)
	return &out, err
}

// GetWorkspace returns one workspace.
func (c *Client) GetWorkspace(ctx context.Context, group, name string) (*Workspace, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	var out Workspace
	_, err = c.Do(ctx, http.MethodGet, WorkspacePath(sub, group, name), nil, &out)
	return &out, err
}

// ListWorkspaces lists the workspaces of a group, or of the subscription
// when group is empty.
func (c *Client) ListWorkspaces(ctx context.Context, group string) ([]Workspace, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	path := "/subscriptions/" + url.PathEscape(sub) + "/providers/" + Provider + "/workspaces"
	if group != "" {
		path = GroupPath(sub, group) + "/providers/" + Provider + "/workspaces"
	}
	return ListAll[Workspace](ctx, c, path)
}

// DeleteWorkspace starts deleting a workspace; Wait on the response.
func (c *Client) DeleteWorkspace(ctx context.Context, group, name string) (*Response, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, http.MethodDelete, WorkspacePath(sub, group, name), nil, nil)
}

// ListDatastores lists a workspace's datastores.
func (c *Client) ListDatastores(ctx context.Context, group, ws string) ([]Datastore, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	return ListAll[Datastore](ctx, c, WorkspacePath(sub, group, ws)+"/datastores")
}

// Raw decodes any JSON document (for --output json of whole resources).
type Raw = json.RawMessage

package api

import (
	"context"
	"encoding/json"
	"net/http"
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

// DeleteGroup starts deleting a group; Wait on the response to finish.
func (c *Client) DeleteGroup(ctx context.Context, name string) (*Response, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, http.MethodDelete, GroupPath(sub, name), nil, nil)
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

// DeleteWorkspace starts deleting a workspace; Wait on the response.
func (c *Client) DeleteWorkspace(ctx context.Context, group, name string) (*Response, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, http.MethodDelete, WorkspacePath(sub, group, name), nil, nil)
}

// Raw decodes any JSON document (for --output json of whole resources).
type Raw = json.RawMessage

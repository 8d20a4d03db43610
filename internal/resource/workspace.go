package resource

import (
	"encoding/json"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
)

// WorkspaceShareName is the file share of a workspace.
func WorkspaceShareName(ws *Object) string { return "code-" + ws.UID }

// WorkspaceShareDir is the on-disk directory of a workspace's file share
// (it may not exist yet: it is created by the first write).
func WorkspaceShareDir(dataDir string, ws *Object) string {
	return blob.ShareDir(dataDir, WorkspaceStatusOf(ws).StorageAccount, WorkspaceShareName(ws))
}

// Default datastores every workspace gets, as in Azure ML.
const (
	DatastoreBlob             = "workspaceblobstore"
	DatastoreArtifacts        = "workspaceartifactstore"
	DatastoreWorkingDirectory = "workspaceworkingdirectory"
	DatastoreFiles            = "workspacefilestore"
)

// WorkspaceStatus is the server-owned part of a workspace document.
type WorkspaceStatus struct {
	StorageAccount string `json:"storageAccount"`
	// Subscription and ResourceGroup keep the spelling of the group's
	// names for ARM ids (store keys are lowercase).
	Subscription  string `json:"subscriptionId"`
	ResourceGroup string `json:"resourceGroup"`
}

// WorkspaceStatusOf decodes the status of a stored workspace.
func WorkspaceStatusOf(ws *Object) WorkspaceStatus {
	var st WorkspaceStatus
	_ = json.Unmarshal(ws.Status, &st)
	return st
}

// WorkspaceRefOf returns the ARM path of a stored workspace.
func WorkspaceRefOf(ws *Object) core.WorkspaceRef {
	st := WorkspaceStatusOf(ws)
	return core.WorkspaceRef{Subscription: st.Subscription, ResourceGroup: st.ResourceGroup, Workspace: ws.Name}
}

// WorkspaceKey is the parent key of a workspace's children.
func WorkspaceKey(ws *Object) string {
	return ws.Parent + "/providers/" + core.Key(core.Provider) + "/workspaces/" + core.Key(ws.Name)
}

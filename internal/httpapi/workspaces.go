package httpapi

import (
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

// wsPath is the route pattern of one workspace.
const wsPath = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"

func (a *API) workspaceRoutes() {
	a.Handle("GET", "/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/workspaces", func(r *Request) (any, error) {
		return a.listWorkspaces(r, "")
	})
	a.Handle("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces", func(r *Request) (any, error) {
		return a.listWorkspaces(r, r.Param("rg"))
	})
	a.Handle("PUT", wsPath, func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		ws, _, err := a.svc.PutWorkspace(r.Ctx(), r.Workspace(), body)
		if err != nil {
			return nil, err
		}
		// The Azure ML SDK accepts 200 or 202 here, not 201.
		return a.renderWorkspace(r, ws), nil
	})
	a.Handle("GET", wsPath, func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		return a.renderWorkspace(r, ws), nil
	})
	a.Handle("PATCH", wsPath, func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		ws, err := a.svc.PatchWorkspace(r.Ctx(), r.Workspace(), body)
		if err != nil {
			return nil, err
		}
		return a.renderWorkspace(r, ws), nil
	})
	a.Handle("DELETE", wsPath, func(r *Request) (any, error) {
		op, err := a.svc.DeleteWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		loc := "global"
		if err == nil {
			loc, _ = a.svcDecode(ws)["location"].(string)
		}
		return accepted(r, op, loc), nil
	})
	// The discovery document is fetched without credentials (azure-ai-ml
	// does so); it holds only this server's URLs.
	a.HandlePublic("GET", "/discovery/workspaces/{uid}", func(r *Request) (any, error) {
		base := r.BaseURL()
		return map[string]any{
			"api": base, "history": base, "catalog": base, "experimentation": base, "modelmanagement": base,
			"pipelines": base, "studio": base, "gallery": base,
		}, nil
	})
}

func (a *API) listWorkspaces(r *Request, group string) (any, error) {
	wss, next, err := a.svc.ListWorkspaces(r.Ctx(), r.Param("sub"), group, r.Page())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(wss))
	for _, ws := range wss {
		out = append(out, a.renderWorkspace(r, ws))
	}
	return list(r, out, next), nil
}

func (a *API) svcDecode(res *resource.Object) map[string]any { return resource.Decode(res.Spec) }

func (a *API) renderWorkspace(r *Request, ws *resource.Object) map[string]any {
	st := resource.WorkspaceStatusOf(ws)
	ref := core.WorkspaceRef{Subscription: st.Subscription, ResourceGroup: st.ResourceGroup, Workspace: ws.Name}
	id := ref.ID()
	base := r.BaseURL()
	group := core.GroupPath(ref.Subscription, ref.ResourceGroup)
	props := map[string]any{
		"workspaceId":         ws.UID,
		"provisioningState":   ws.State,
		"discoveryUrl":        base + "/discovery/workspaces/" + ws.UID,
		"mlFlowTrackingUri":   "azureml://" + r.Host + "/mlflow/v1.0" + id,
		"storageAccount":      group + "/providers/Microsoft.Storage/storageAccounts/" + st.StorageAccount,
		"keyVault":            group + "/providers/Microsoft.KeyVault/vaults/kv" + st.StorageAccount[:min(len(st.StorageAccount), 20)],
		"applicationInsights": group + "/providers/Microsoft.Insights/components/ai" + st.StorageAccount[:min(len(st.StorageAccount), 20)],
		"containerRegistry":   nil,
		"tenantId":            a.svc.TenantID,
		"hbiWorkspace":        false,
		"v1LegacyMode":        false,
		"publicNetworkAccess": "Enabled",
		"creationTime":        armTime(ws.CreatedAt),
	}
	doc := envelope(ws, id, typeWorkspace, map[string]any{"properties": props})
	if _, ok := doc["sku"]; !ok {
		doc["sku"] = map[string]any{"name": "Basic", "tier": "Basic"}
	}
	if _, ok := doc["kind"]; !ok {
		doc["kind"] = service.WorkspaceKindDefault
	}
	if _, ok := doc["identity"]; !ok {
		doc["identity"] = map[string]any{"type": "SystemAssigned", "principalId": ws.UID, "tenantId": a.svc.TenantID}
	}
	if p, ok := doc["properties"].(map[string]any); ok {
		if p["friendlyName"] == nil {
			p["friendlyName"] = ws.Name
		}
	}
	return doc
}

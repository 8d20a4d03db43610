package httpapi

import (
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

// deploymentRoutes answer the ARM deployment calls of
// workspaces.begin_create (azureml-protocol §7.4), which reach mlw through
// the intercepting proxy as requests to management.azure.com.
func (a *API) deploymentRoutes() {
	const group = "/subscriptions/{sub}/resourceGroups/{rg}"
	const dep = group + "/providers/Microsoft.Resources/deployments/{name}"
	a.Handle("PUT", dep, func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		d, isNew, err := a.svc.PutDeployment(r.Ctx(), r.Param("sub"), r.Param("rg"), r.Param("name"), body)
		if err != nil {
			return nil, err
		}
		op, err := a.svc.RecordDeploymentOperation(r.Ctx(), d)
		if err != nil {
			return nil, err
		}
		h := lroHeaders(r, op, service.DeploymentStatusOf(d).Location)
		h.Del("Location")
		return created(isNew, renderDeployment(r, d), h), nil
	})
	a.Handle("GET", dep, func(r *Request) (any, error) {
		d, err := a.svc.GetDeployment(r.Ctx(), r.Param("sub"), r.Param("rg"), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return renderDeployment(r, d), nil
	})
	ops := func(r *Request) (any, error) {
		d, err := a.svc.GetDeployment(r.Ctx(), r.Param("sub"), r.Param("rg"), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"value": deploymentOperations(r, d), "nextLink": nil}, nil
	}
	// The SDK lists operations without the providers segment.
	a.Handle("GET", group+"/deployments/{name}/operations", ops)
	a.Handle("GET", dep+"/operations", ops)
}

func deploymentID(r *Request, d *resource.Object) string {
	return core.GroupPath(r.Param("sub"), r.Param("rg")) + "/providers/Microsoft.Resources/deployments/" + d.Name
}

func renderDeployment(r *Request, d *resource.Object) map[string]any {
	st := service.DeploymentStatusOf(d)
	spec := resource.Decode(d.Spec)
	props, _ := spec["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	mode, _ := props["mode"].(string)
	if mode == "" {
		mode = "Incremental"
	}
	return map[string]any{
		"id": deploymentID(r, d), "name": d.Name, "type": "Microsoft.Resources/deployments",
		"properties": map[string]any{
			"provisioningState": st.ProvisioningState, "timestamp": armTime(st.Timestamp), "duration": st.Duration,
			"correlationId": d.UID, "mode": mode, "parameters": props["parameters"],
			"outputResources": []map[string]any{{"id": st.WorkspaceID}},
		},
	}
}

// deploymentOperations lists what the deployment "created": the
// workspace's storage account, key vault, application insights and the
// workspace itself.
func deploymentOperations(r *Request, d *resource.Object) []map[string]any {
	st := service.DeploymentStatusOf(d)
	ref, _, ok := core.ParseWorkspaceID(st.WorkspaceID)
	if !ok {
		return []map[string]any{}
	}
	group := core.GroupPath(ref.Subscription, ref.ResourceGroup)
	short := st.StorageAccount[:min(len(st.StorageAccount), 20)]
	targets := []struct{ typ, name string }{
		{"Microsoft.Storage/storageAccounts", st.StorageAccount},
		{"Microsoft.KeyVault/vaults", "kv" + short},
		{"Microsoft.Insights/components", "ai" + short},
		{"Microsoft.MachineLearningServices/workspaces", ref.Workspace},
	}
	out := make([]map[string]any, 0, len(targets))
	for i, tg := range targets {
		opID := d.UID[:8] + "0000" + string(rune('A'+i))
		out = append(out, map[string]any{
			"id": deploymentID(r, d) + "/operations/" + opID, "operationId": opID,
			"properties": map[string]any{
				"provisioningOperation": "Create", "provisioningState": st.ProvisioningState, "timestamp": armTime(st.Timestamp),
				"duration": st.Duration, "serviceRequestId": d.UID, "statusCode": "OK",
				"targetResource": map[string]any{"id": group + "/providers/" + tg.typ + "/" + tg.name, "resourceType": tg.typ, "resourceName": tg.name},
			},
		})
	}
	return out
}

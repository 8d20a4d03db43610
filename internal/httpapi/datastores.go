package httpapi

import (
	"net/http"
	"strings"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

func (a *API) datastoreRoutes() {
	a.Handle("GET", wsPath+"/datastores", func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		f := service.DatastoreFilter{OnlyDefault: strings.EqualFold(r.URL.Query().Get("isDefault"), "true")}
		dss, next, err := a.svc.ListDatastores(r.Ctx(), r.Workspace(), f, r.Page())
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(dss))
		for _, ds := range dss {
			out = append(out, a.renderDatastore(r, ws, ds))
		}
		return list(r, out, next), nil
	})
	a.Handle("GET", wsPath+"/datastores/{name}", func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		ds, err := a.svc.GetDatastore(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return a.renderDatastore(r, ws, ds), nil
	})
	a.Handle("PUT", wsPath+"/datastores/{name}", func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		ds, isNew, err := a.svc.PutDatastore(r.Ctx(), r.Workspace(), r.Param("name"), body)
		if err != nil {
			return nil, err
		}
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		return created(isNew, a.renderDatastore(r, ws, ds), nil), nil
	})
	a.Handle("DELETE", wsPath+"/datastores/{name}", func(r *Request) (any, error) {
		if err := a.svc.DeleteDatastore(r.Ctx(), r.Workspace(), r.Param("name")); err != nil {
			return nil, err
		}
		return &Response{Status: http.StatusOK}, nil
	})
	a.Handle("POST", wsPath+"/datastores/{name}/listSecrets", func(r *Request) (any, error) {
		// azure-ai-ml 1.4.0 sends no body; 1.18 and later send
		// {"expirableSecret": true, "expireAfterHours": 1}.
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		var req service.SecretExpiry
		if err := body.Into(&req); err != nil {
			return nil, err
		}
		return a.svc.DatastoreSecrets(r.Ctx(), r.Workspace(), r.Param("name"), req)
	})
}

// renderDatastore fills in the account name. For blob datastores it is
// "HOST:PORT/blob/ACCOUNT/?x=": azure-storage-blob builds its endpoint as
// "https://" + accountName + ".blob.core.windows.net", and the "?x=" turns
// the fixed suffix into a query parameter it drops, so that the SDK talks to
// this server's Blob API with path-style URLs (azureml-protocol §5.3).
func (a *API) renderDatastore(r *Request, ws, ds *resource.Object) map[string]any {
	st := resource.WorkspaceStatusOf(ws)
	ref := resource.WorkspaceRefOf(ws)
	props := map[string]any{"accountName": st.StorageAccount}
	spec := resource.Decode(ds.Spec)
	if p, _ := spec["properties"].(map[string]any); p["datastoreType"] == "AzureBlob" {
		props["accountName"] = blobAccountName(r, st.StorageAccount)
	}
	return envelope(ds, ref.ID()+"/datastores/"+ds.Name, typeDatastore, map[string]any{"properties": props})
}

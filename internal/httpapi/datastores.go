package httpapi

import (
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
)

func (a *API) datastoreRoutes() {
	a.Handle("GET", wsPath+"/datastores", func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		dss, next, err := a.svc.ListDatastores(r.Ctx(), r.Workspace(), r.Page())
		if err != nil {
			return nil, err
		}
		onlyDefault := r.URL.Query().Get("isDefault") == "true"
		out := make([]map[string]any, 0, len(dss))
		for _, ds := range dss {
			doc := a.renderDatastore(r, ws, ds)
			if onlyDefault {
				if props, _ := doc["properties"].(map[string]any); props["isDefault"] != true {
					continue
				}
			}
			out = append(out, doc)
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
}

// renderDatastore fills in the account name. For blob datastores it is
// "HOST:PORT/blob/ACCOUNT/?x=": azure-storage-blob builds its endpoint as
// "https://" + accountName + ".blob.core.windows.net", and the "?x=" turns
// the fixed suffix into a query parameter it drops, so that the SDK talks to
// this server's Blob API with path-style URLs (azureml-protocol §5.3).
func (a *API) renderDatastore(r *Request, ws, ds *store.Resource) map[string]any {
	st := service.WorkspaceStatusOf(ws)
	ref := service.WorkspaceRefOf(ws)
	props := map[string]any{"accountName": st.StorageAccount}
	spec := service.Decode(ds.Spec)
	if p, _ := spec["properties"].(map[string]any); p["datastoreType"] == "AzureBlob" {
		props["accountName"] = r.Host + "/blob/" + st.StorageAccount + "/?x="
	}
	return envelope(ds, ref.ID()+"/datastores/"+ds.Name, typeDatastore, map[string]any{"properties": props})
}

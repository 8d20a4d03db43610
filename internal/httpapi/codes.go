package httpapi

import (
	"net/http"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

const (
	typeCode        = typeWorkspace + "/codes"
	typeCodeVersion = typeCode + "/versions"
)

// versionQuery reads the query of a version list.
func versionQuery(r *Request) (service.VersionQuery, error) {
	q := r.URL.Query()
	view, err := service.ParseListView(q.Get("listViewType"))
	if err != nil {
		return service.VersionQuery{}, err
	}
	return service.VersionQuery{View: view, OrderBy: q.Get("$orderBy"), Page: r.Page()}, nil
}

// withDefaults fills properties the client left out.
func withDefaults(doc map[string]any, defaults map[string]any) map[string]any {
	p, ok := doc["properties"].(map[string]any)
	if !ok {
		p = map[string]any{}
		doc["properties"] = p
	}
	for k, v := range defaults {
		if _, ok := p[k]; !ok {
			p[k] = v
		}
	}
	return doc
}

func assetContainerDefaults() map[string]any {
	return map[string]any{"isArchived": false, "description": nil, "tags": map[string]any{}, "properties": map[string]any{}}
}

// renderAssetContainer renders a code or environment container row.
func renderAssetContainer(ws, c *resource.Object, k service.AssetKind, typ string) map[string]any {
	st := service.AssetContainerStatusOf(c)
	over := map[string]any{"nextVersion": st.NextVersion, "provisioningState": "Succeeded"}
	if st.LatestVersion != "" {
		over["latestVersion"] = st.LatestVersion
	} else {
		over["latestVersion"] = nil
	}
	doc := envelope(c, resource.WorkspaceRefOf(ws).ID()+"/"+k.Segment+"/"+c.Name, typ, map[string]any{"properties": over})
	return withDefaults(doc, assetContainerDefaults())
}

// renderAssetVersion renders a version row; systemData is always there
// (the SDK's code converter dereferences it).
func renderAssetVersion(ws *resource.Object, container string, v *resource.Object, k service.AssetKind, typ string, over map[string]any) map[string]any {
	o := map[string]any{"provisioningState": "Succeeded"}
	for k, x := range over {
		o[k] = x
	}
	doc := envelope(v, resource.WorkspaceRefOf(ws).ID()+"/"+k.Segment+"/"+container+"/versions/"+v.Name, typ, map[string]any{"properties": o})
	return withDefaults(doc, map[string]any{"isArchived": false, "isAnonymous": false, "description": nil, "tags": map[string]any{}, "properties": map[string]any{}})
}

// codeRoutes registers the code containers and their versions, with the
// pending-upload call the SDK makes before it uploads a snapshot.
func (a *API) codeRoutes() {
	base := wsPath + "/codes"
	a.Handle("GET", base, a.listCodes)
	a.Handle("GET", base+"/{name}", a.getCode)
	a.Handle("PUT", base+"/{name}", a.putAssetContainer(service.CodeAssets, typeCode))
	a.Handle("DELETE", base+"/{name}", a.deleteCode)
	a.Handle("GET", base+"/{name}/versions", a.listCodeVersions)
	a.Handle("GET", base+"/{name}/versions/{version}", a.getCodeVersion)
	a.Handle("PUT", base+"/{name}/versions/{version}", a.putCodeVersion)
	a.Handle("DELETE", base+"/{name}/versions/{version}", a.deleteCodeVersion)
	a.Handle("POST", base+"/{name}/versions/{version}/startPendingUpload", a.startCodeUpload)
}

// listCodes lists a workspace's code containers.
func (a *API) listCodes(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	view, err := service.ParseListView(r.URL.Query().Get("listViewType"))
	if err != nil {
		return nil, err
	}
	cs, next, err := a.svc.ListAssetContainers(r.Ctx(), r.Workspace(), service.CodeAssets, view, r.Page())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, renderAssetContainer(ws, c, service.CodeAssets, typeCode))
	}
	return list(r, out, next), nil
}

// getCode shows one code container.
func (a *API) getCode(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	c, err := a.svc.GetAssetContainer(r.Ctx(), r.Workspace(), service.CodeAssets, r.Param("name"))
	if err != nil {
		return nil, err
	}
	return renderAssetContainer(ws, c, service.CodeAssets, typeCode), nil
}

// deleteCode deletes a code container.
func (a *API) deleteCode(r *Request) (any, error) {
	return &Response{Status: http.StatusOK}, a.svc.DeleteAssetContainer(r.Ctx(), r.Workspace(), service.CodeAssets, r.Param("name"))
}

// listCodeVersions lists a code container's versions or, given ?hash=,
// the versions in any container with that content hash.
func (a *API) listCodeVersions(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	q, err := versionQuery(r)
	if err != nil {
		return nil, err
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		// A content-hash lookup (azure-ai-ml 1.7+) searches every code
		// container: the name in the path is a fresh uuid4.
		vs, next, err := a.svc.FindCodeVersions(r.Ctx(), r.Workspace(), hash, r.URL.Query().Get("hashVersion"), q)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(vs))
		for _, v := range vs {
			out = append(out, renderAssetVersion(ws, v.Container, v.Object, service.CodeAssets, typeCodeVersion, nil))
		}
		return list(r, out, next), nil
	}
	vs, next, err := a.svc.ListAssetVersions(r.Ctx(), r.Workspace(), service.CodeAssets, r.Param("name"), q)
	if err != nil {
		return nil, err
	}
	cname := a.containerName(r, ws, service.CodeAssets)
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, renderAssetVersion(ws, cname, v, service.CodeAssets, typeCodeVersion, nil))
	}
	return list(r, out, next), nil
}

// getCodeVersion shows one code version.
func (a *API) getCodeVersion(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	v, err := a.svc.GetAssetVersion(r.Ctx(), r.Workspace(), service.CodeAssets, r.Param("name"), r.Param("version"))
	if err != nil {
		return nil, err
	}
	return renderAssetVersion(ws, a.containerName(r, ws, service.CodeAssets), v, service.CodeAssets, typeCodeVersion, nil), nil
}

// putCodeVersion creates or updates a code version.
func (a *API) putCodeVersion(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	v, isNew, err := a.svc.PutCodeVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"), body)
	if err != nil {
		return nil, err
	}
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	return created(isNew, renderAssetVersion(ws, a.containerName(r, ws, service.CodeAssets), v, service.CodeAssets, typeCodeVersion, nil), nil), nil
}

// deleteCodeVersion deletes a code version.
func (a *API) deleteCodeVersion(r *Request) (any, error) {
	return &Response{Status: http.StatusOK}, a.svc.DeleteAssetVersion(r.Ctx(), r.Workspace(), service.CodeAssets, r.Param("name"), r.Param("version"))
}

// startCodeUpload starts a pending upload for a code version and returns
// the blob it is to be uploaded to, with a SAS credential.
func (a *API) startCodeUpload(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		PendingUploadID   string `json:"pendingUploadId"`
		PendingUploadType string `json:"pendingUploadType"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	if req.PendingUploadType != "" && req.PendingUploadType != "TemporaryBlobReference" && req.PendingUploadType != "None" {
		return nil, core.Invalid("pendingUploadType", "Unknown pendingUploadType %q: use TemporaryBlobReference.", req.PendingUploadType)
	}
	loc, err := a.svc.StartCodeUpload(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"), req.PendingUploadID)
	if err != nil {
		return nil, err
	}
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	ref := resource.WorkspaceRefOf(ws)
	blobURI := r.BaseURL() + blobPrefix + loc.Account + "/" + loc.Container + "/" + loc.Path
	return map[string]any{
		"blobReferenceForConsumption": map[string]any{
			"blobUri":             blobURI,
			"storageAccountArmId": core.GroupPath(ref.Subscription, ref.ResourceGroup) + "/providers/Microsoft.Storage/storageAccounts/" + loc.Account,
			"credential":          map[string]any{"credentialType": "SAS", "sasUri": blobURI + "?" + loc.SAS},
		},
		"pendingUploadId":   loc.Path[len("LocalUpload/"):],
		"pendingUploadType": "TemporaryBlobReference",
	}, nil
}

// containerName returns the stored spelling of the {name} in the path.
func (a *API) containerName(r *Request, ws *resource.Object, k service.AssetKind) string {
	return a.svc.ContainerName(r.Ctx(), ws, k, r.Param("name"))
}

// putAssetContainer handles PUT of a code or environment container.
func (a *API) putAssetContainer(kind service.AssetKind, typ string) handlerFunc {
	return func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		c, isNew, err := a.svc.PutAssetContainer(r.Ctx(), r.Workspace(), kind, r.Param("name"), body)
		if err != nil {
			return nil, err
		}
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		return created(isNew, renderAssetContainer(ws, c, kind, typ), nil), nil
	}
}

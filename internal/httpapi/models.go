package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/tracking"
)

// Azure ML's models resource: model containers and versions, which are
// the MLflow registry's models and versions (service/models.go).

const (
	typeModel        = typeWorkspace + "/models"
	typeModelVersion = typeModel + "/versions"
)

func (a *API) modelRoutes() {
	base := wsPath + "/models"
	a.Handle("GET", base, a.listModels)
	a.Handle("GET", base+"/{name}", a.getModel)
	a.Handle("PUT", base+"/{name}", a.putModel)
	a.Handle("DELETE", base+"/{name}", func(r *Request) (any, error) {
		return &Response{Status: http.StatusOK}, a.svc.DeleteModelAsset(r.Ctx(), r.Workspace(), r.Param("name"))
	})
	a.Handle("GET", base+"/{name}/versions", a.listModelVersions)
	a.Handle("GET", base+"/{name}/versions/{version}", a.getModelVersion)
	a.Handle("PUT", base+"/{name}/versions/{version}", a.putModelVersion)
	a.Handle("DELETE", base+"/{name}/versions/{version}", func(r *Request) (any, error) {
		return &Response{Status: http.StatusOK}, a.svc.DeleteModelAssetVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"))
	})
}

// registrySystemData is systemData from the registry's times (ms) and user.
func registrySystemData(created, updated int64, by string) map[string]any {
	if by == "" {
		by = "mlw"
	}
	return map[string]any{
		"createdAt": armTime(time.UnixMilli(created)), "createdBy": by, "createdByType": "User",
		"lastModifiedAt": armTime(time.UnixMilli(updated)), "lastModifiedBy": by, "lastModifiedByType": "User",
	}
}

// tagMap turns MLflow's tags into Azure ML's.
func tagMap(kvs []tracking.KV) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = kv.Value
	}
	return out
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// assetProps renders the client's other properties, overlaid by the mapped ones.
func assetProps(extra map[string]any, mapped map[string]any) map[string]any {
	out := make(map[string]any, len(extra)+len(mapped))
	for k, v := range extra {
		out[k] = v
	}
	for k, v := range mapped {
		out[k] = v
	}
	return out
}

func renderModelAsset(ws *resource.Object, m *service.ModelAsset) map[string]any {
	rm := m.Model
	var latest any
	if m.LatestVersion != "" {
		latest = m.LatestVersion
	}
	var desc any
	if rm.Description != "" {
		desc = rm.Description
	}
	return map[string]any{
		"id": resource.WorkspaceRefOf(ws).ID() + "/models/" + rm.Name, "name": rm.Name, "type": typeModel,
		"systemData": registrySystemData(rm.CreationTime, rm.LastUpdatedTime, ""),
		"properties": assetProps(rm.AzureML.Extra, map[string]any{
			"description": desc, "tags": tagMap(rm.Tags), "properties": orEmpty(rm.AzureML.Properties),
			"isArchived": rm.AzureML.Archived, "latestVersion": latest, "nextVersion": m.NextVersion, "provisioningState": "Succeeded",
		}),
	}
}

func renderModelVersion(ws *resource.Object, v *tracking.ModelVersion) map[string]any {
	num := strconv.FormatInt(v.Version, 10)
	flavors := map[string]any{}
	for k, d := range v.AzureML.Flavors {
		flavors[k] = map[string]any{"data": orEmpty(d)}
	}
	var desc, job any
	if v.Description != "" {
		desc = v.Description
	}
	if v.RunID != "" {
		job = v.RunID
	}
	return map[string]any{
		"id": resource.WorkspaceRefOf(ws).ID() + "/models/" + v.Name + "/versions/" + num, "name": num, "type": typeModelVersion,
		"systemData": registrySystemData(v.CreationTime, v.LastUpdatedTime, v.UserID),
		"properties": assetProps(v.AzureML.Extra, map[string]any{
			"description": desc, "tags": tagMap(v.Tags), "properties": orEmpty(v.AzureML.Properties),
			"isArchived": v.AzureML.Archived, "isAnonymous": false, "modelType": service.ModelTypeOf(v),
			"modelUri": service.ModelURI(ws, v), "jobName": job, "stage": v.CurrentStage, "flavors": flavors,
			"provisioningState": "Succeeded",
		}),
	}
}

func (a *API) listModels(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	view, err := service.ParseListView(r.URL.Query().Get("listViewType"))
	if err != nil {
		return nil, err
	}
	ms, next, err := a.svc.ListModelAssets(r.Ctx(), r.Workspace(), view, r.Page())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, renderModelAsset(ws, m))
	}
	return list(r, out, next), nil
}

func (a *API) getModel(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	m, err := a.svc.GetModelAsset(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	return renderModelAsset(ws, m), nil
}

func (a *API) putModel(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	m, isNew, err := a.svc.PutModelAsset(r.Ctx(), r.Workspace(), r.Param("name"), body)
	if err != nil {
		return nil, err
	}
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	return created(isNew, renderModelAsset(ws, m), nil), nil
}

// listModelVersions answers the SDK's list (listViewType, $orderBy,
// $top, stage; nextLink paging).
func (a *API) listModelVersions(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	q, err := versionQuery(r)
	if err != nil {
		return nil, err
	}
	vs, next, err := a.svc.ListModelAssetVersions(r.Ctx(), r.Workspace(), r.Param("name"), r.URL.Query().Get("stage"), q)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, renderModelVersion(ws, v))
	}
	return list(r, out, next), nil
}

func (a *API) getModelVersion(r *Request) (any, error) {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	v, err := a.svc.GetModelAssetVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"))
	if err != nil {
		return nil, err
	}
	return renderModelVersion(ws, v), nil
}

func (a *API) putModelVersion(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	v, isNew, err := a.svc.PutModelAssetVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"), body)
	if err != nil {
		return nil, err
	}
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	return created(isNew, renderModelVersion(ws, v), nil), nil
}

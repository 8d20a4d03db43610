package httpapi

import (
	"net/http"
	"strconv"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

const (
	typeEnv        = typeWorkspace + "/environments"
	typeEnvVersion = typeEnv + "/versions"
)

// curatedSystemData says who published a curated environment version.
func curatedSystemData(c *service.CuratedEnvironment, version int) map[string]any {
	at := armTime(c.VersionCreated(version))
	return map[string]any{"createdAt": at, "createdBy": "Microsoft", "createdByType": "Application",
		"lastModifiedAt": at, "lastModifiedBy": "Microsoft", "lastModifiedByType": "Application"}
}

func tagsOf(c *service.CuratedEnvironment) map[string]any {
	t := make(map[string]any, len(c.Tags))
	for k, v := range c.Tags {
		t[k] = v
	}
	return t
}

func renderEnvContainer(ws *resource.Object, v *service.EnvContainerView) map[string]any {
	if v.Row != nil {
		return renderAssetContainer(ws, v.Row, service.EnvAssets, typeEnv)
	}
	c := v.Curated
	return map[string]any{
		"id": resource.WorkspaceRefOf(ws).ID() + "/environments/" + c.Name, "name": c.Name, "type": typeEnv,
		"systemData": curatedSystemData(c, c.Latest),
		"properties": map[string]any{
			"description": c.Description, "tags": tagsOf(c), "properties": map[string]any{}, "isArchived": false,
			"latestVersion": strconv.Itoa(c.Latest), "nextVersion": strconv.Itoa(c.Latest + 1), "provisioningState": "Succeeded",
		},
	}
}

func renderEnvVersion(ws *resource.Object, v *service.EnvVersionView) map[string]any {
	if v.Row != nil {
		return renderAssetVersion(ws, v.Name, v.Row, service.EnvAssets, typeEnvVersion, map[string]any{"environmentType": "UserCreated"})
	}
	c := v.Curated
	n, _ := c.HasVersion(v.Version)
	return map[string]any{
		"id": resource.WorkspaceRefOf(ws).ID() + "/environments/" + c.Name + "/versions/" + v.Version, "name": v.Version, "type": typeEnvVersion,
		"systemData": curatedSystemData(c, n),
		"properties": map[string]any{
			"environmentType": "Curated", "image": c.Image, "condaFile": c.CondaFile, "osType": "Linux",
			"description": c.Description, "tags": tagsOf(c), "properties": map[string]any{},
			"isAnonymous": false, "isArchived": false, "provisioningState": "Succeeded",
			"build": nil, "inferenceConfig": nil,
		},
	}
}

func (a *API) environmentRoutes() {
	base := wsPath + "/environments"
	a.Handle("GET", base, func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		view, err := service.ParseListView(r.URL.Query().Get("listViewType"))
		if err != nil {
			return nil, err
		}
		cs, next, err := a.svc.ListEnvContainers(r.Ctx(), r.Workspace(), view, r.Page())
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(cs))
		for _, c := range cs {
			out = append(out, renderEnvContainer(ws, c))
		}
		return list(r, out, next), nil
	})
	a.Handle("GET", base+"/{name}", func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		c, err := a.svc.GetEnvContainer(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return renderEnvContainer(ws, c), nil
	})
	a.Handle("PUT", base+"/{name}", a.putAssetContainer(service.EnvAssets, typeEnv))
	a.Handle("DELETE", base+"/{name}", func(r *Request) (any, error) {
		return &Response{Status: http.StatusOK}, a.svc.DeleteEnvContainer(r.Ctx(), r.Workspace(), r.Param("name"))
	})
	a.Handle("GET", base+"/{name}/versions", func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		q, err := versionQuery(r)
		if err != nil {
			return nil, err
		}
		vs, next, err := a.svc.ListEnvVersions(r.Ctx(), r.Workspace(), r.Param("name"), q)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(vs))
		for _, v := range vs {
			out = append(out, renderEnvVersion(ws, v))
		}
		return list(r, out, next), nil
	})
	a.Handle("GET", base+"/{name}/versions/{version}", func(r *Request) (any, error) {
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		v, err := a.svc.GetEnvVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"))
		if err != nil {
			return nil, err
		}
		return renderEnvVersion(ws, v), nil
	})
	a.Handle("PUT", base+"/{name}/versions/{version}", func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		v, isNew, err := a.svc.PutEnvVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"), body)
		if err != nil {
			return nil, err
		}
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		view := &service.EnvVersionView{Name: a.containerName(r, ws, service.EnvAssets), Version: v.Name, Row: v}
		return created(isNew, renderEnvVersion(ws, view), nil), nil
	})
	a.Handle("DELETE", base+"/{name}/versions/{version}", func(r *Request) (any, error) {
		return &Response{Status: http.StatusOK}, a.svc.DeleteEnvVersion(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"))
	})
	// mlw's: how a custom environment's build went on this server, with
	// its build log (Azure shows an image build's log in its studio).
	a.Handle("GET", base+"/{name}/versions/{version}/buildLog", func(r *Request) (any, error) {
		return a.svc.EnvironmentBuild(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("version"))
	})
}

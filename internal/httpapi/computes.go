package httpapi

import (
	"net/http"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

const typeCompute = typeWorkspace + "/computes"

// ComputeRenderer adds per-request fields to a compute document of one
// computeType (URLs that depend on the host the client used, live
// figures). props is the document's properties.properties.
type ComputeRenderer func(r *Request, ws, c *resource.Object, props map[string]any)

// RegisterComputeRenderer sets the renderer of one computeType.
func (a *API) RegisterComputeRenderer(computeType string, f ComputeRenderer) {
	if a.computeRenderers == nil {
		a.computeRenderers = map[string]ComputeRenderer{}
	}
	a.computeRenderers[computeType] = f
}

func (a *API) computeRoutes() {
	const base = wsPath + "/computes"
	a.Handle("GET", base, func(r *Request) (any, error) {
		ws, cs, next, err := a.svc.ListComputes(r.Ctx(), r.Workspace(), r.Page())
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(cs))
		for _, c := range cs {
			out = append(out, a.renderCompute(r, ws, c))
		}
		return list(r, out, next), nil
	})
	a.Handle("GET", base+"/{name}", func(r *Request) (any, error) {
		ws, c, err := a.svc.GetCompute(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return a.renderCompute(r, ws, c), nil
	})
	put := func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		c, isNew, op, err := a.svc.PutCompute(r.Ctx(), r.Workspace(), r.Param("name"), body)
		if err != nil {
			return nil, err
		}
		ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
		if err != nil {
			return nil, err
		}
		var h http.Header
		if op != nil {
			h = lroHeaders(r, op, computeLocation(c))
		}
		return created(isNew, a.renderCompute(r, ws, c), h), nil
	}
	a.Handle("PUT", base+"/{name}", put)
	// PATCH carries scaleSettings only (ClusterUpdateParameters); it merges
	// like a PUT of the stored compute with those settings.
	a.Handle("PATCH", base+"/{name}", func(r *Request) (any, error) {
		out, err := a.patchCompute(r)
		if err != nil {
			return nil, err
		}
		return out, nil
	})
	a.Handle("DELETE", base+"/{name}", func(r *Request) (any, error) {
		_, c, err := a.svc.GetCompute(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		op, err := a.svc.DeleteCompute(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return accepted(r, op, computeLocation(c)), nil
	})
	a.Handle("POST", base+"/{name}/{action}", func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		c, res, err := a.svc.ActOnCompute(r.Ctx(), r.Workspace(), r.Param("name"), r.Param("action"), body)
		if err != nil {
			return nil, err
		}
		if res.Op != nil {
			resp := accepted(r, res.Op, computeLocation(c))
			resp.Body = res.Body
			return resp, nil
		}
		return res.Body, nil
	})
}

func (a *API) patchCompute(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	ws, c, err := a.svc.GetCompute(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	doc := resource.ComputeDoc(c)
	resource.Merge(doc, body.Doc)
	if tags, ok := body.Doc["tags"]; ok {
		doc["tags"] = tags
	}
	merged := &service.Body{Doc: doc, Raw: resource.Encode(doc)}
	c, _, _, err = a.svc.PutCompute(r.Ctx(), r.Workspace(), c.Name, merged)
	if err != nil {
		return nil, err
	}
	return a.renderCompute(r, ws, c), nil
}

func computeLocation(c *resource.Object) string {
	loc, _ := resource.ComputeDoc(c)["location"].(string)
	return loc
}

func (a *API) renderCompute(r *Request, ws, c *resource.Object) map[string]any {
	over := map[string]any{"properties": map[string]any{
		"createdOn": armTime(c.CreatedAt), "modifiedOn": armTime(c.UpdatedAt), "isAttachedCompute": resource.ComputeTypeOf(c) == resource.Kubernetes,
		"resourceId": nil,
	}}
	// Only the status's properties are the client's to see; a cluster's
	// own status is typed, and rendered by renderClusterLive.
	outerStatus, _ := resource.Decode(c.Status)["properties"].(map[string]any)
	if resource.ComputeTypeOf(c) == resource.AmlCompute {
		delete(outerStatus, "properties")
	}
	status := map[string]any{"properties": outerStatus}
	doc := envelope(c, resource.ComputeARMID(ws, c), typeCompute, over, status)
	delete(doc, resource.IntentKey) // the server's own
	outer := doc["properties"].(map[string]any)
	// Defaults for what the client left out; azure-ai-ml 1.28 sends
	// disableLocalAuth: true, which is echoed.
	for k, v := range map[string]any{"provisioningErrors": nil, "disableLocalAuth": false} {
		if _, ok := outer[k]; !ok {
			outer[k] = v
		}
	}
	if c.Deleting {
		outer["provisioningState"] = resource.StateDeleting
	}
	props, ok := outer["properties"].(map[string]any)
	if !ok {
		props = map[string]any{}
		outer["properties"] = props
	}
	for _, k := range []string{"tags", "identity", "sku"} {
		if _, ok := doc[k]; !ok {
			doc[k] = nil
		}
	}
	if f := a.computeRenderers[resource.ComputeTypeOf(c)]; f != nil {
		f(r, ws, c, props)
	}
	return doc
}

package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
)

// ARM resource types.
const (
	typeGroup     = "Microsoft.Resources/resourceGroups"
	typeWorkspace = "Microsoft.MachineLearningServices/workspaces"
	typeDatastore = typeWorkspace + "/datastores"
)

func armTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func systemData(r *resource.Object) map[string]any {
	by := r.ModifiedBy
	if by == "" {
		by = r.CreatedBy
	}
	return map[string]any{
		"createdAt": armTime(r.CreatedAt), "createdBy": r.CreatedBy, "createdByType": "User",
		"lastModifiedAt": armTime(r.UpdatedAt), "lastModifiedBy": by, "lastModifiedByType": "User",
	}
}

// envelope renders a stored resource as an ARM document: the client's spec
// (unknown fields included), overlaid in turn by each of overs (the
// server-owned fields), plus id, name, type and systemData.
func envelope(r *resource.Object, id, typ string, overs ...map[string]any) map[string]any {
	doc := resource.Decode(r.Spec)
	for _, o := range overs {
		resource.Merge(doc, o)
	}
	doc["id"] = id
	doc["name"] = r.Name
	doc["type"] = typ
	doc["systemData"] = systemData(r)
	return doc
}

// list renders a page of results with a nextLink that repeats the request's
// query (api-version included), as the Azure SDKs follow it verbatim.
func list[T any](r *Request, items []T, next string) map[string]any {
	out := map[string]any{"value": items}
	if items == nil {
		out["value"] = []T{}
	}
	if next != "" {
		q := r.URL.Query()
		q.Set("$skipToken", next)
		u := url.URL{Scheme: r.Scheme(), Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		out["nextLink"] = u.String()
	} else {
		out["nextLink"] = nil
	}
	return out
}

func created(isNew bool, body any, header http.Header) *Response {
	status := http.StatusOK
	if isNew {
		status = http.StatusCreated
	}
	return &Response{Status: status, Body: body, Header: header}
}

package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// armRoutes serve the parts of Azure Resource Manager's own provider
// (Microsoft.Resources) that clients of ARM ask for around the resources
// mlw serves: azure-cli's `az provider list|show|register`, `az account
// list-locations` and `az resource list`. Shapes follow azure-mgmt-resource
// (Provider, Location, GenericResourceExpanded) as azure-cli 2.45 reads
// them.
func (a *API) armRoutes() {
	const sub = "/subscriptions/{sub}"
	a.Handle("GET", sub+"/providers", func(r *Request) (any, error) {
		if _, err := a.svc.GetSubscription(r.Ctx(), r.Param("sub")); err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(armProviders))
		for _, p := range armProviders {
			out = append(out, renderProvider(r.Param("sub"), p))
		}
		return list(r, out, ""), nil
	})
	a.Handle("GET", sub+"/providers/{ns}", a.getProvider)
	// Every provider mlw serves is registered in every subscription:
	// registering is a no-op that answers the provider, as ARM does for a
	// registered one (azure-cli then stops at once).
	a.Handle("POST", sub+"/providers/{ns}/register", a.getProvider)
	a.Handle("POST", sub+"/providers/{ns}/unregister", func(r *Request) (any, error) {
		if _, err := a.provider(r); err != nil {
			return nil, err
		}
		return nil, core.InvalidCode("ProviderUnregistrationNotSupported", "namespace",
			"mlw serves %s in every subscription; it cannot be unregistered.", r.Param("ns"))
	})
	a.Handle("GET", sub+"/locations", func(r *Request) (any, error) {
		if _, err := a.svc.GetSubscription(r.Ctx(), r.Param("sub")); err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(core.Regions()))
		for _, g := range core.Regions() {
			out = append(out, map[string]any{
				"id":                  core.SubscriptionPath(r.Param("sub")) + "/locations/" + g.Name,
				"name":                g.Name,
				"displayName":         g.DisplayName,
				"regionalDisplayName": g.RegionalDisplayName(),
				"type":                "Region",
				"metadata": map[string]any{
					"regionType": "Physical", "regionCategory": "Recommended", "geographyGroup": g.Geography,
				},
			})
		}
		return map[string]any{"value": out}, nil
	})
	a.Handle("GET", sub+"/resources", func(r *Request) (any, error) { return a.listResources(r, "") })
	a.Handle("GET", sub+"/resourceGroups/{rg}/resources", func(r *Request) (any, error) {
		if _, err := a.svc.GetGroup(r.Ctx(), r.Param("sub"), r.Param("rg")); err != nil {
			return nil, err
		}
		return a.listResources(r, r.Param("rg"))
	})
}

// armProvider is a resource provider namespace mlw serves.
type armProvider struct {
	namespace string
	policy    string
	types     []string
}

// armAPIVersions are what providers advertise; mlw accepts any version.
// azure-cli picks the first stable one for generic calls (`az resource
// show --ids`).
var armAPIVersions = []string{"2024-04-01", "2023-10-01", "2023-04-01", "2022-10-01", "2022-05-01", "2021-04-01"}

var armProviders = []armProvider{
	{namespace: "Microsoft.MachineLearningServices", policy: "RegistrationRequired", types: []string{
		"workspaces", "workspaces/computes", "workspaces/jobs", "workspaces/datastores",
		"workspaces/codes", "workspaces/codes/versions", "workspaces/environments", "workspaces/environments/versions",
		"locations", "locations/vmSizes", "locations/usages", "locations/quotas", "locations/updateQuotas",
		"locations/mfeOperationsStatus", "locations/mfeOperationResults",
	}},
	{namespace: "Microsoft.Resources", policy: "RegistrationFree", types: []string{
		"subscriptions", "resourceGroups", "resources", "locations", "providers", "deployments",
	}},
}

// provider finds the namespace of the request (case-insensitive).
func (a *API) provider(r *Request) (armProvider, error) {
	if _, err := a.svc.GetSubscription(r.Ctx(), r.Param("sub")); err != nil {
		return armProvider{}, err
	}
	ns := r.Param("ns")
	for _, p := range armProviders {
		if strings.EqualFold(p.namespace, ns) {
			return p, nil
		}
	}
	names := make([]string, len(armProviders))
	for i, p := range armProviders {
		names[i] = p.namespace
	}
	return armProvider{}, core.NotFound("InvalidResourceNamespace",
		"mlw does not serve the resource provider namespace '%s'; it serves %s (az provider list). Nothing mlw runs needs another provider registered.",
		ns, strings.Join(names, " and "))
}

func (a *API) getProvider(r *Request) (any, error) {
	p, err := a.provider(r)
	if err != nil {
		return nil, err
	}
	return renderProvider(r.Param("sub"), p), nil
}

func renderProvider(sub string, p armProvider) map[string]any {
	locs := make([]string, 0, len(core.Regions()))
	for _, g := range core.Regions() {
		locs = append(locs, g.DisplayName)
	}
	types := make([]map[string]any, 0, len(p.types))
	for _, t := range p.types {
		types = append(types, map[string]any{
			"resourceType": t, "locations": locs, "apiVersions": armAPIVersions,
			"defaultApiVersion": armAPIVersions[0], "capabilities": "None",
		})
	}
	return map[string]any{
		"id":                 core.SubscriptionPath(sub) + "/providers/" + p.namespace,
		"namespace":          p.namespace,
		"registrationState":  "Registered",
		"registrationPolicy": p.policy,
		"resourceTypes":      types,
	}
}

// listResources answers ARM's generic resource list of a subscription or a
// group: the tracked resources mlw keeps at the top level of a group (its
// workspaces), filtered by the OData $filter azure-cli sends (`az resource
// list -g rg --resource-type … --name … --location … --tag …`).
func (a *API) listResources(r *Request, group string) (any, error) {
	f, err := parseResourceFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return nil, err
	}
	if group == "" {
		group = f["resourcegroup"]
	}
	wss, next, err := a.svc.ListWorkspaces(r.Ctx(), r.Param("sub"), group, r.Page())
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, ws := range wss {
		doc := a.renderWorkspace(r, ws)
		g := map[string]any{
			"id": doc["id"], "name": ws.Name, "type": typeWorkspace, "location": doc["location"], "tags": doc["tags"],
			"kind": doc["kind"], "sku": doc["sku"], "identity": doc["identity"],
			"createdTime": armTime(ws.CreatedAt), "changedTime": armTime(ws.UpdatedAt), "provisioningState": ws.State,
		}
		if f.keeps(g, ws) {
			out = append(out, g)
		}
	}
	return list(r, out, next), nil
}

// resourceFilter holds the clauses of a $filter, by lowercase field.
type resourceFilter map[string]string

// resourceFilterFields are the fields ARM's resource list filters by.
var resourceFilterFields = []string{"resourcegroup", "resourcetype", "name", "location", "tagname", "tagvalue"}

// parseResourceFilter reads the form azure-cli writes: clauses
// `field eq 'value'` joined by `and`. Anything else is refused with the
// forms mlw understands, rather than ignored (a silently ignored filter
// would list too much).
func parseResourceFilter(s string) (resourceFilter, error) {
	f := resourceFilter{}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	bad := func() error {
		return core.InvalidCode("InvalidFilterInQueryString", "$filter",
			"mlw does not understand the $filter %q: it accepts clauses field eq 'value' joined by and, where field is resourceGroup, resourceType, name, location, tagName or tagValue.", s)
	}
	for _, clause := range splitFold(s, " and ") {
		field, value, ok := cutFold(strings.TrimSpace(clause), " eq ")
		field = strings.ToLower(strings.TrimSpace(field))
		value = strings.TrimSpace(value)
		if !ok || !slices.Contains(resourceFilterFields, field) || len(value) < 2 || value[0] != '\'' || value[len(value)-1] != '\'' {
			return nil, bad()
		}
		f[field] = strings.ReplaceAll(value[1:len(value)-1], "''", "'")
	}
	return f, nil
}

// keeps reports whether a generic resource passes the filter. Names and
// types compare without regard to case, as in ARM.
func (f resourceFilter) keeps(g map[string]any, ws *resource.Object) bool {
	str := func(k string) string { s, _ := g[k].(string); return s }
	if v, ok := f["resourcegroup"]; ok && !strings.EqualFold(resource.WorkspaceStatusOf(ws).ResourceGroup, v) {
		return false
	}
	if v, ok := f["resourcetype"]; ok && !strings.EqualFold(str("type"), v) {
		return false
	}
	if v, ok := f["name"]; ok && !strings.EqualFold(str("name"), v) {
		return false
	}
	if v, ok := f["location"]; ok && core.NormalizeLocation(str("location")) != core.NormalizeLocation(v) {
		return false
	}
	if name, ok := f["tagname"]; ok {
		tags, _ := g["tags"].(map[string]any)
		val, has := tags[name]
		if !has {
			return false
		}
		if v, ok := f["tagvalue"]; ok && val != v {
			return false
		}
	}
	return true
}

// splitFold splits s around each sep, ignoring case.
func splitFold(s, sep string) []string {
	var out []string
	for {
		before, after, ok := cutFold(s, sep)
		if !ok {
			return append(out, s)
		}
		out = append(out, before)
		s = after
	}
}

// cutFold is strings.Cut ignoring ASCII case.
func cutFold(s, sep string) (string, string, bool) {
	if i := strings.Index(strings.ToLower(s), strings.ToLower(sep)); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// existenceRoutes give every ARM document under /subscriptions a HEAD
// that answers as ARM's CheckExistence does: 204 when it exists, 404 when
// not (`az group exists` fails on any other status). A GET that writes its
// own answer (files, logs, streams) keeps doing so for HEAD. Call it after
// every other route is registered.
func (a *API) existenceRoutes() {
	var walk func(n *node)
	walk = func(n *node) {
		if get := n.handlers[http.MethodGet]; get != nil && n.handlers[http.MethodHead] == nil && strings.HasPrefix(get.pattern, "/subscriptions") {
			h := get.h
			// HEAD is the GET's check of existence: the same access.
			n.handlers[http.MethodHead] = &route{method: http.MethodHead, pattern: get.pattern, public: get.public, raw: get.raw,
				access: get.access, classified: get.classified,
				h: func(r *Request) (any, error) {
					out, err := h(r)
					if err != nil || out == handled {
						return out, err
					}
					if resp, ok := out.(*Response); ok && resp.Status != http.StatusOK {
						return resp, nil
					}
					return &Response{Status: http.StatusNoContent}, nil
				}}
		}
		for _, c := range n.lit {
			walk(c)
		}
		for _, c := range []*node{n.param, n.rest} {
			if c != nil {
				walk(c)
			}
		}
	}
	walk(&a.rt.root)
}

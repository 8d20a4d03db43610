package httpapi

import (
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

func (a *API) subscriptionRoutes() {
	a.Handle("GET", "/subscriptions", func(r *Request) (any, error) {
		subs, err := a.svc.ListSubscriptions(r.Ctx())
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(subs))
		for _, s := range subs {
			out = append(out, a.renderSubscription(s))
		}
		return list(r, out, ""), nil
	})
	a.Handle("GET", "/subscriptions/{sub}", func(r *Request) (any, error) {
		s, err := a.svc.GetSubscription(r.Ctx(), r.Param("sub"))
		if err != nil {
			return nil, err
		}
		return a.renderSubscription(s), nil
	})
}

func (a *API) renderSubscription(s *resource.Object) map[string]any {
	name, _ := a.svcDecode(s)["displayName"].(string)
	return map[string]any{
		"id": core.SubscriptionPath(s.Name), "subscriptionId": s.Name, "tenantId": a.svc.TenantID,
		"displayName": name, "state": "Enabled", "authorizationSource": "RoleBased",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "mlw", "spendingLimit": "Off"},
	}
}

func (a *API) groupRoutes() {
	const base = "/subscriptions/{sub}/resourceGroups"
	a.Handle("GET", base, func(r *Request) (any, error) {
		groups, next, err := a.svc.ListGroups(r.Ctx(), r.Param("sub"), r.Page())
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(groups))
		for _, g := range groups {
			out = append(out, renderGroup(r.Param("sub"), g))
		}
		return list(r, out, next), nil
	})
	a.Handle("PUT", base+"/{rg}", func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		g, isNew, err := a.svc.PutGroup(r.Ctx(), r.Param("sub"), r.Param("rg"), body)
		if err != nil {
			return nil, err
		}
		return created(isNew, renderGroup(r.Param("sub"), g), nil), nil
	})
	a.Handle("GET", base+"/{rg}", func(r *Request) (any, error) {
		g, err := a.svc.GetGroup(r.Ctx(), r.Param("sub"), r.Param("rg"))
		if err != nil {
			return nil, err
		}
		return renderGroup(r.Param("sub"), g), nil
	})
	a.Handle("DELETE", base+"/{rg}", func(r *Request) (any, error) {
		op, err := a.svc.DeleteGroup(r.Ctx(), r.Param("sub"), r.Param("rg"))
		if err != nil {
			return nil, err
		}
		return accepted(r, op, "global"), nil
	})
}

func renderGroup(sub string, g *resource.Object) map[string]any {
	return envelope(g, core.GroupPath(sub, g.Name), typeGroup, map[string]any{
		"properties": map[string]any{"provisioningState": g.State},
	})
}

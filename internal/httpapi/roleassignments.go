package httpapi

import (
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/service"
)

// roleScopes are the route prefixes of the scopes roles are assigned at:
// the server, a subscription, a resource group, a workspace.
var roleScopes = []string{"", "/subscriptions/{sub}", "/subscriptions/{sub}/resourceGroups/{rg}", wsPath}

// roleAssignmentRoutes serve Azure RBAC's shapes (docs/security.md):
//
//	PUT|GET|DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{name}
//	GET            {scope}/providers/Microsoft.Authorization/roleAssignments[?$filter=atScope()|principalId eq '…']
//	GET            {scope}/providers/Microsoft.Authorization/roleDefinitions[/{guid}][?$filter=roleName eq '…']
func (a *API) roleAssignmentRoutes() {
	for _, prefix := range roleScopes {
		base := prefix + "/providers/Microsoft.Authorization/roleAssignments"
		a.Handle("GET", base, a.listRoleAssignments)
		a.Handle("GET", base+"/{name}", func(r *Request) (any, error) {
			sc, err := requestScope(r)
			if err != nil {
				return nil, err
			}
			ra, err := a.svc.GetRoleAssignment(r.Ctx(), sc, r.Param("name"))
			if err != nil {
				return nil, err
			}
			return renderRoleAssignment(ra), nil
		})
		a.Handle("PUT", base+"/{name}", func(r *Request) (any, error) {
			sc, err := requestScope(r)
			if err != nil {
				return nil, err
			}
			body, err := r.Body()
			if err != nil {
				return nil, err
			}
			ra, isNew, err := a.svc.PutRoleAssignment(r.Ctx(), sc, r.Param("name"), body)
			if err != nil {
				return nil, err
			}
			return created(isNew, renderRoleAssignment(ra), nil), nil
		})
		a.Handle("DELETE", base+"/{name}", func(r *Request) (any, error) {
			sc, err := requestScope(r)
			if err != nil {
				return nil, err
			}
			ra, err := a.svc.DeleteRoleAssignment(r.Ctx(), sc, r.Param("name"))
			if err != nil {
				return nil, err
			}
			return renderRoleAssignment(ra), nil
		})
		defs := prefix + "/providers/Microsoft.Authorization/roleDefinitions"
		a.Handle("GET", defs, func(r *Request) (any, error) {
			want := ""
			if f := strings.TrimSpace(r.URL.Query().Get("$filter")); f != "" {
				name, ok := strings.CutPrefix(f, "roleName eq ")
				if !ok {
					return nil, core.Invalid("$filter", "Unsupported $filter %q: use roleName eq '<role>'.", f)
				}
				want = strings.Trim(strings.TrimSpace(name), "'")
			}
			out := []map[string]any{}
			for _, d := range identity.RoleDefinitions {
				if want == "" || strings.EqualFold(want, d.Name) {
					out = append(out, renderRoleDefinition(r.Param("sub"), d))
				}
			}
			return map[string]any{"value": out}, nil
		})
		a.Handle("GET", defs+"/{id}", func(r *Request) (any, error) {
			d, ok := identity.LookupRole(r.Param("id"))
			if !ok || !strings.EqualFold(d.GUID, r.Param("id")) {
				return nil, core.NotFound("RoleDefinitionDoesNotExist", "No role definition %q: the roles are %s.", r.Param("id"), identity.RoleNames())
			}
			return renderRoleDefinition(r.Param("sub"), d), nil
		})
	}
}

// requestScope is the scope a role assignment route names.
func requestScope(r *Request) (identity.ParsedScope, error) {
	return identity.ParseScope("scope", paramScope(r.Params))
}

func (a *API) listRoleAssignments(r *Request) (any, error) {
	sc, err := requestScope(r)
	if err != nil {
		return nil, err
	}
	f, err := service.ParseAssignmentFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return nil, err
	}
	ras, err := a.svc.ListRoleAssignments(r.Ctx(), sc, f)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ras))
	for _, ra := range ras {
		out = append(out, renderRoleAssignment(ra))
	}
	return map[string]any{"value": out}, nil
}

// roleAssignmentID is an assignment's ARM id.
func roleAssignmentID(scope, name string) string {
	return strings.TrimSuffix(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

func renderRoleAssignment(ra *service.Assignment) map[string]any {
	d, _ := identity.LookupRole(ra.Role)
	sub := ""
	if sc, err := identity.ParseScope("scope", ra.Scope); err == nil {
		sub = sc.Subscription
	}
	mlw := map[string]any{"roleName": ra.Role, "principalName": ra.PrincipalName}
	desc := any(nil)
	if ra.ServerWide {
		mlw["serverWide"] = true
		desc = "The user's server-wide role (mlw user update --role)."
	}
	return map[string]any{
		"id": roleAssignmentID(ra.Scope, ra.Name), "name": ra.Name, "type": "Microsoft.Authorization/roleAssignments",
		"properties": map[string]any{
			"roleDefinitionId": identity.RoleDefinitionID(sub, d), "principalId": ra.PrincipalID, "principalType": "User",
			"scope": ra.Scope, "condition": nil, "conditionVersion": nil, "description": desc,
			"createdOn": armTime(ra.CreatedAt), "updatedOn": armTime(ra.CreatedAt), "createdBy": ra.CreatedBy, "updatedBy": ra.CreatedBy,
			"mlw": mlw,
		},
	}
}

func renderRoleDefinition(sub string, d identity.RoleDefinition) map[string]any {
	notActions := d.NotActions
	if notActions == nil {
		notActions = []string{}
	}
	return map[string]any{
		"id": identity.RoleDefinitionID(sub, d), "name": d.GUID, "type": "Microsoft.Authorization/roleDefinitions",
		"properties": map[string]any{
			"roleName": d.Name, "type": "BuiltInRole", "description": d.Description, "assignableScopes": []string{"/"},
			"permissions": []map[string]any{{"actions": d.Actions, "notActions": notActions, "dataActions": []string{}, "notDataActions": []string{}}},
		},
	}
}

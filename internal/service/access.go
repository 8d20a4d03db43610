package service

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Role assignments (docs/security.md, "Access"): Azure RBAC's
// Microsoft.Authorization/roleAssignments at subscription, resource group
// and workspace scope. A user's server-wide role (resource.User.Role) is shown
// as an assignment at scope "/" that cannot be changed here (`mlw user
// update --role`).

// Assignment is a role assignment as the API shows it.
type Assignment struct {
	resource.RoleAssignment
	// PrincipalName is the user's name ("" when the user is gone).
	PrincipalName string
	// ServerWide marks a user's server-wide role.
	ServerWide bool
}

// serverRoleName is the (stable) name under which a user's server-wide
// role is listed.
func serverRoleName(userID string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("mlw/server-role/"+userID)).String()
}

// requireAuthorize refuses callers who are not Owners at scope.
func requireAuthorize(p *identity.Principal, scope string) error {
	if p == nil {
		return nil
	}
	return p.Check(identity.ActAuthorize, scope)
}

// scopeExists returns a 404 naming the scope when it does not exist.
func (s *Service) scopeExists(ctx context.Context, sc identity.ParsedScope) error {
	var err error
	switch sc.Level {
	case identity.ScopeSubscription:
		_, err = s.GetSubscription(ctx, sc.Subscription)
	case identity.ScopeResourceGroup:
		_, err = s.GetGroup(ctx, sc.Subscription, sc.Group)
	case identity.ScopeWorkspace:
		_, err = s.GetWorkspace(ctx, core.WorkspaceRef{Subscription: sc.Subscription, ResourceGroup: sc.Group, Workspace: sc.Workspace})
	}
	return err
}

// RoleAssignmentRequest is the body of a PUT of a role assignment.
type RoleAssignmentRequest struct {
	Properties struct {
		RoleDefinitionID string `json:"roleDefinitionId"`
		PrincipalID      string `json:"principalId"`
		Scope            string `json:"scope"`
	} `json:"properties"`
}

// PutRoleAssignment creates a role assignment named name (a GUID) at sc.
// Assignments cannot be changed: a PUT of the same assignment again
// answers it (created false), a PUT that differs is a 409.
func (s *Service) PutRoleAssignment(ctx context.Context, sc identity.ParsedScope, name string, body *Body) (*Assignment, bool, error) {
	p := PrincipalFrom(ctx)
	scope := sc.ID()
	if err := requireAuthorize(p, scope); err != nil {
		return nil, false, err
	}
	if sc.Level == identity.ScopeServer {
		return nil, false, core.InvalidCode("InvalidScope", "scope",
			"Roles for the whole server are users' server-wide roles: change one with `mlw user update --name <user> --role <role>`; assign roles at a subscription, resource group or workspace here.")
	}
	if _, err := uuid.Parse(name); err != nil {
		return nil, false, core.InvalidCode("InvalidRoleAssignmentId", "name",
			"The role assignment name %q is not a GUID: name assignments with a new GUID (the mlw CLI makes one).", name)
	}
	var req RoleAssignmentRequest
	if err := body.Into(&req); err != nil {
		return nil, false, err
	}
	def, ok := identity.LookupRole(req.Properties.RoleDefinitionID)
	if !ok {
		return nil, false, core.InvalidCode("RoleDefinitionDoesNotExist", "properties.roleDefinitionId",
			"properties.roleDefinitionId %q is not a role mlw knows: use %s (as a role definition id such as %s, or by name).",
			req.Properties.RoleDefinitionID, identity.RoleNames(), identity.RoleDefinitionID(sc.Subscription, identity.RoleDefinitions[2]))
	}
	pid := strings.TrimSpace(req.Properties.PrincipalID)
	if pid == "" {
		return nil, false, core.Invalid("properties.principalId", "properties.principalId is missing: give the object id of the user (`mlw user show --name <user>` prints it).")
	}
	u, err := s.Store.GetUser(ctx, pid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, core.InvalidCode("PrincipalNotFound", "properties.principalId",
			"No user has the object id %q: `mlw user list` shows the users and their object ids.", pid)
	}
	if err != nil {
		return nil, false, core.Internal(err)
	}
	if req.Properties.Scope != "" && identity.ScopeKey(req.Properties.Scope) != identity.ScopeKey(scope) {
		return nil, false, core.InvalidCode("InvalidScope", "properties.scope",
			"properties.scope %q differs from the scope in the URL (%s); leave it out or make them the same.", req.Properties.Scope, scope)
	}
	if err := s.scopeExists(ctx, sc); err != nil {
		return nil, false, err
	}
	ra := &resource.RoleAssignment{Name: strings.ToLower(name), Scope: scope, Role: def.Name, PrincipalID: u.ID, CreatedAt: s.Now().UTC(), CreatedBy: principalName(p)}
	err = s.Store.CreateRoleAssignment(ctx, ra)
	if errors.Is(err, store.ErrExists) {
		old, gerr := s.Store.GetRoleAssignment(ctx, name)
		if gerr == nil {
			if old.PrincipalID == ra.PrincipalID && old.Role == ra.Role && identity.ScopeKey(old.Scope) == identity.ScopeKey(ra.Scope) {
				return &Assignment{RoleAssignment: *old, PrincipalName: u.Name}, false, nil
			}
			return nil, false, core.Conflict("RoleAssignmentUpdateNotPermitted",
				"The role assignment %s already exists with other properties; role assignments cannot be changed: delete it and create a new one.", name)
		}
		return nil, false, core.Conflict("RoleAssignmentExists",
			"User '%s' already has the %s role at scope '%s' (`mlw role assignment list --scope %s`).", u.Name, def.Name, scope, scope)
	}
	if err != nil {
		return nil, false, core.Internal(err)
	}
	return &Assignment{RoleAssignment: *ra, PrincipalName: u.Name}, true, nil
}

// GetRoleAssignment returns the assignment name at sc (assignments at
// other scopes are not found there, as in ARM).
func (s *Service) GetRoleAssignment(ctx context.Context, sc identity.ParsedScope, name string) (*Assignment, error) {
	all, err := s.assignments(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		if strings.EqualFold(a.Name, name) && identity.ScopeKey(a.Scope) == identity.ScopeKey(sc.ID()) {
			return a, nil
		}
	}
	return nil, core.NotFound("RoleAssignmentNotFound", "No role assignment %s at scope '%s' (`mlw role assignment list --scope %s`).", name, sc.ID(), sc.ID())
}

// DeleteRoleAssignment removes the assignment name at sc and returns it.
func (s *Service) DeleteRoleAssignment(ctx context.Context, sc identity.ParsedScope, name string) (*Assignment, error) {
	if err := requireAuthorize(PrincipalFrom(ctx), sc.ID()); err != nil {
		return nil, err
	}
	a, err := s.GetRoleAssignment(ctx, sc, name)
	if err != nil {
		return nil, err
	}
	if a.ServerWide {
		return nil, core.InvalidCode("InvalidScope", "name",
			"This is the server-wide role of user '%s': change it with `mlw user update --name %s --role <role>` (None for no server-wide role).", a.PrincipalName, a.PrincipalName)
	}
	if err := s.Store.DeleteRoleAssignment(ctx, a.Name); err != nil {
		return nil, storeErr(err, "role assignment", name)
	}
	return a, nil
}

// AssignmentFilter narrows a listing ($filter of the ARM API).
type AssignmentFilter struct {
	// PrincipalID keeps one user's assignments.
	PrincipalID string
	// AtScope keeps the assignments at the scope and above it (atScope()),
	// leaving out those below it.
	AtScope bool
}

// ParseAssignmentFilter reads the $filter forms Azure clients send:
// "atScope()", "principalId eq '<id>'", "assignedTo('<id>')", joined by
// "and".
func ParseAssignmentFilter(f string) (AssignmentFilter, error) {
	var out AssignmentFilter
	if strings.TrimSpace(f) == "" {
		return out, nil
	}
	for _, term := range splitAnd(f) {
		t := strings.TrimSpace(term)
		lt := strings.ToLower(t)
		switch {
		case lt == "atscope()":
			out.AtScope = true
		case strings.HasPrefix(lt, "principalid eq "):
			out.PrincipalID = strings.Trim(strings.TrimSpace(t[len("principalid eq "):]), "'")
		case strings.HasPrefix(lt, "assignedto(") && strings.HasSuffix(lt, ")"):
			out.PrincipalID = strings.Trim(strings.TrimSpace(t[len("assignedto("):len(t)-1]), "'")
		default:
			return out, core.Invalid("$filter", "Unsupported $filter term %q: use atScope(), principalId eq '<object id>' or assignedTo('<object id>'), joined by 'and'.", t)
		}
	}
	return out, nil
}

func splitAnd(f string) []string {
	var out []string
	low := strings.ToLower(f)
	for {
		i := strings.Index(low, " and ")
		if i < 0 {
			return append(out, f)
		}
		out = append(out, f[:i])
		f, low = f[i+5:], low[i+5:]
	}
}

// ListRoleAssignments lists the assignments that hold at sc (at it and
// above it) and, unless f.AtScope, those below it; server-wide roles are
// listed at "/".
func (s *Service) ListRoleAssignments(ctx context.Context, sc identity.ParsedScope, f AssignmentFilter) ([]*Assignment, error) {
	all, err := s.assignments(ctx, f.PrincipalID)
	if err != nil {
		return nil, err
	}
	key := identity.ScopeKey(sc.ID())
	out := []*Assignment{}
	for _, a := range all {
		ak := identity.ScopeKey(a.Scope)
		above := ak == "/" || key == ak || strings.HasPrefix(key, ak+"/")
		below := key == "/" || strings.HasPrefix(ak, key+"/")
		if above || (below && !f.AtScope) {
			out = append(out, a)
		}
	}
	return out, nil
}

// assignments returns the stored assignments of one principal (or all),
// plus the server-wide roles as assignments at "/".
func (s *Service) assignments(ctx context.Context, principalID string) ([]*Assignment, error) {
	users, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	names := map[string]string{}
	var out []*Assignment
	for _, u := range users {
		names[u.ID] = u.Name
		if u.Role != "" && u.Role != identity.RoleNone && (principalID == "" || principalID == u.ID) {
			out = append(out, &Assignment{ServerWide: true, PrincipalName: u.Name, RoleAssignment: resource.RoleAssignment{
				Name: serverRoleName(u.ID), Scope: "/", Role: u.Role, PrincipalID: u.ID, CreatedAt: u.CreatedAt, CreatedBy: "mlw"}})
		}
	}
	ras, err := s.Store.ListRoleAssignments(ctx, principalID)
	if err != nil {
		return nil, core.Internal(err)
	}
	for _, ra := range ras {
		out = append(out, &Assignment{RoleAssignment: *ra, PrincipalName: names[ra.PrincipalID]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		ki, kj := identity.ScopeKey(out[i].Scope), identity.ScopeKey(out[j].Scope)
		if ki != kj {
			return ki < kj
		}
		return out[i].PrincipalName < out[j].PrincipalName
	})
	return out, nil
}

// readable keeps the resources p may read (all of them for no principal).
func readable(p *identity.Principal, id func(*resource.Object) string) func(*resource.Object) bool {
	if p == nil {
		return nil
	}
	return func(r *resource.Object) bool { return p.Can(identity.ActRead, id(r)) }
}

// visible keeps the resources p holds a role at, above or below (for
// navigation: the subscription and group of a workspace one may read).
func visible(p *identity.Principal, id func(*resource.Object) string) func(*resource.Object) bool {
	if p == nil {
		return nil
	}
	return func(r *resource.Object) bool { return p.Sees(id(r)) }
}

func subscriptionID(r *resource.Object) string { return core.SubscriptionPath(r.Name) }

func groupID(r *resource.Object) string { return r.Parent + "/resourcegroups/" + core.Key(r.Name) }

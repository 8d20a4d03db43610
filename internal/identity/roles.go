package identity

import (
	"fmt"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
)

// Access follows Azure RBAC (docs/security.md, "Access"): a user holds
// roles at scopes — the whole server ("/"), a subscription, a resource
// group or a workspace — and a role at a scope holds at every scope below
// it. The role in effect for a request is the strongest the caller holds at
// the request's scope or above it.

// Roles, from most to least powerful. Each includes everything the next
// one may do, so "the strongest role" is well defined.
const (
	RoleOwner         = "Owner"
	RoleContributor   = "Contributor"
	RoleDataScientist = "AzureML Data Scientist"
	RoleReader        = "Reader"
	// RoleNone is how a user without a server-wide role is shown; such a
	// user gets access only from role assignments.
	RoleNone = "None"
)

// RoleDefinition is one of the built-in roles, with Azure's well-known id.
type RoleDefinition struct {
	Name        string
	GUID        string
	Description string
	// Actions and NotActions are the ARM permission patterns Azure lists
	// for the role, shown by the roleDefinitions API; mlw enforces them
	// through Allows.
	Actions    []string
	NotActions []string
	rank       int
}

// RoleDefinitions are the roles mlw knows, strongest first.
var RoleDefinitions = []RoleDefinition{
	{Name: RoleOwner, GUID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", rank: 4,
		Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Actions:     []string{"*"}},
	{Name: RoleContributor, GUID: "b24988ac-6180-42a0-ab88-20f7382dd24c", rank: 3,
		Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
		Actions:     []string{"*"},
		NotActions:  []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"}},
	{Name: RoleDataScientist, GUID: "f6c7c914-8db3-469d-8ca1-694a8f32e121", rank: 2,
		Description: "Can perform all actions within an Azure Machine Learning workspace, except for creating or deleting compute resources and modifying the workspace itself.",
		Actions: []string{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/*/action",
			"Microsoft.MachineLearningServices/workspaces/*/delete", "Microsoft.MachineLearningServices/workspaces/*/write"},
		NotActions: []string{"Microsoft.MachineLearningServices/workspaces/delete", "Microsoft.MachineLearningServices/workspaces/write",
			"Microsoft.MachineLearningServices/workspaces/computes/*/write", "Microsoft.MachineLearningServices/workspaces/computes/*/delete",
			"Microsoft.Authorization/*", "Microsoft.MachineLearningServices/workspaces/listKeys/action"}},
	{Name: RoleReader, GUID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", rank: 1,
		Description: "View all resources, but does not allow you to make any changes.",
		Actions:     []string{"*/read"}},
}

// LookupRole finds a role by name (as Azure spells it, or without regard
// to case) or by its definition GUID or full definition id.
func LookupRole(s string) (RoleDefinition, bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	for _, d := range RoleDefinitions {
		if strings.EqualFold(s, d.Name) || strings.EqualFold(s, d.GUID) {
			return d, true
		}
	}
	return RoleDefinition{}, false
}

// RoleNames lists the roles for messages: "Owner, Contributor, ...".
func RoleNames() string {
	names := make([]string, len(RoleDefinitions))
	for i, d := range RoleDefinitions {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

// ValidRole reports whether r names a server-wide role a user may have:
// one of the built-in roles, spelled as Azure does.
func ValidRole(r string) bool {
	d, ok := LookupRole(r)
	return ok && d.Name == r
}

func rank(role string) int {
	for _, d := range RoleDefinitions {
		if d.Name == role {
			return d.rank
		}
	}
	return 0
}

// Action is what a request does, as far as access is concerned. Every API
// route has one (httpapi/access.go).
type Action int

const (
	// ActAny: any signed-in caller (their own identity, sessions).
	ActAny Action = iota
	// ActSee: a caller with a role anywhere at, above or below the scope
	// may see that it exists (subscriptions and groups, for navigation).
	ActSee
	// ActRead: read (Reader and up).
	ActRead
	// ActWrite: work inside a workspace — jobs, code, environments, data,
	// files, starting and stopping computes (AzureML Data Scientist and up).
	ActWrite
	// ActManage: create, update or delete computes, workspaces and
	// groups (Contributor and up).
	ActManage
	// ActAuthorize: role assignments, users, quotas (Owner).
	ActAuthorize
)

// MinRole is the weakest role that may perform a.
func (a Action) MinRole() string {
	switch a {
	case ActRead, ActSee:
		return RoleReader
	case ActWrite:
		return RoleDataScientist
	case ActManage:
		return RoleContributor
	case ActAuthorize:
		return RoleOwner
	}
	return ""
}

// Verb says what a is in a message: "read", "change", ...
func (a Action) Verb() string {
	switch a {
	case ActRead, ActSee:
		return "read"
	case ActWrite:
		return "work in"
	case ActManage:
		return "create, change or delete computes, workspaces and groups in"
	case ActAuthorize:
		return "manage access to"
	}
	return "use"
}

// Allows reports whether role may perform a.
func Allows(role string, a Action) bool {
	if a == ActAny {
		return true
	}
	return rank(role) > 0 && rank(role) >= rank(a.MinRole())
}

// Grant is a role held at a scope: a user's server-wide role (scope "/")
// or one of their role assignments.
type Grant struct {
	// Scope is the lowercase ARM id of the scope ("/" for the server).
	Scope string
	Role  string
}

// ScopeKey folds an ARM scope to the form grants are matched by:
// lowercase, no trailing slash, "/" for the whole server.
func ScopeKey(scope string) string {
	s := strings.Trim(strings.ToLower(strings.TrimSpace(scope)), "/")
	if s == "" {
		return "/"
	}
	return "/" + s
}

// within reports whether scope lies at or below parent (both keys).
func within(scope, parent string) bool {
	return parent == "/" || scope == parent || strings.HasPrefix(scope, parent+"/")
}

// RoleAt returns the strongest role p holds at scope (an ARM id) or above,
// and the scope of the grant it comes from ("" and "" for none).
func (p *Principal) RoleAt(scope string) (role, from string) {
	key := ScopeKey(scope)
	for _, g := range p.grants() {
		if within(key, g.Scope) && rank(g.Role) > rank(role) {
			role, from = g.Role, g.Scope
		}
	}
	return role, from
}

// Can reports whether p may perform a at scope.
func (p *Principal) Can(a Action, scope string) bool {
	if a == ActSee {
		return p.Sees(scope)
	}
	role, _ := p.RoleAt(scope)
	return Allows(role, a)
}

// Sees reports whether p holds any role at, above or below scope.
func (p *Principal) Sees(scope string) bool {
	key := ScopeKey(scope)
	for _, g := range p.grants() {
		if rank(g.Role) > 0 && (within(key, g.Scope) || within(g.Scope, key)) {
			return true
		}
	}
	return false
}

// Check returns nil when p may perform a at scope, and otherwise a 403
// AuthorizationFailed that names the role p holds there (if any), the
// role needed and the scope.
func (p *Principal) Check(a Action, scope string) error {
	if p.Can(a, scope) {
		return nil
	}
	need := a.MinRole()
	shown := scope
	if shown == "" {
		shown = "/"
	}
	role, from := p.RoleAt(scope)
	if role == "" {
		if a == ActSee {
			return core.Forbidden("User '%s' (object id %s) has no role at, above or below scope '%s'. Ask an Owner for a role assignment (`mlw role assignment create --assignee %s --role Reader --scope %s`).",
				p.Name, p.UserID, shown, p.Name, shown)
		}
		return core.Forbidden("User '%s' (object id %s) has no role at scope '%s' or above it; to %s it needs the %s role or a stronger one. Ask an Owner for a role assignment (`mlw role assignment create --assignee %s --role '%s' --scope %s`).",
			p.Name, p.UserID, shown, a.Verb(), need, p.Name, need, shown)
	}
	held := "at scope '" + from + "'"
	if from == "/" {
		held = "server-wide"
	}
	return core.Forbidden("User '%s' has the %s role %s, which may not %s scope '%s': that needs the %s role or a stronger one. Ask an Owner of the scope for a role assignment.",
		p.Name, role, held, a.Verb(), shown, need)
}

// At returns a copy of p whose Role is the role in effect at scope, for
// the checks admission makes (CanWrite, IsOwner). The grants stay, so that
// checks at other scopes still see everything p holds.
func (p *Principal) At(scope string) *Principal {
	cp := *p
	cp.Grants = p.grants()
	cp.Role, _ = p.RoleAt(scope)
	return &cp
}

// grants are p's grants; a principal built without any (in code that
// predates scopes, and in tests) holds its Role server-wide.
func (p *Principal) grants() []Grant {
	if p.Grants == nil && p.Role != "" {
		return []Grant{{Scope: "/", Role: p.Role}}
	}
	return p.Grants
}

// ServerOwner reports whether p is an Owner of the whole server (users,
// tokens of others, quotas).
func (p *Principal) ServerOwner() bool {
	role, _ := p.RoleAt("/")
	return role == RoleOwner
}

// Scope levels of role assignments.
const (
	ScopeServer        = "server"
	ScopeSubscription  = "subscription"
	ScopeResourceGroup = "resourceGroup"
	ScopeWorkspace     = "workspace"
)

// ParsedScope is a scope a role may be assigned at.
type ParsedScope struct {
	Level                          string
	Subscription, Group, Workspace string
}

// ID is the canonical ARM id of the scope ("/" for the server).
func (s ParsedScope) ID() string {
	switch s.Level {
	case ScopeSubscription:
		return core.SubscriptionPath(s.Subscription)
	case ScopeResourceGroup:
		return core.GroupPath(s.Subscription, s.Group)
	case ScopeWorkspace:
		return core.WorkspacePath(s.Subscription, s.Group, s.Workspace)
	}
	return "/"
}

// ParseScope reads a scope: "/", /subscriptions/{sub},
// /subscriptions/{sub}/resourceGroups/{rg} or a workspace id. field names
// the input in the error.
func ParseScope(field, scope string) (ParsedScope, error) {
	seg := strings.Split(strings.Trim(strings.TrimSpace(scope), "/"), "/")
	bad := func() (ParsedScope, error) {
		return ParsedScope{}, core.InvalidCode("InvalidScope", field,
			"The scope %q is not one roles can be assigned at: use /subscriptions/<id>, /subscriptions/<id>/resourceGroups/<group> or /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<workspace> (or, with the mlw CLI, --resource-group and --workspace-name).", scope)
	}
	if len(seg) == 1 && seg[0] == "" {
		return ParsedScope{Level: ScopeServer}, nil
	}
	for _, s := range seg {
		if s == "" {
			return bad()
		}
	}
	switch {
	case len(seg) == 2 && strings.EqualFold(seg[0], "subscriptions"):
		return ParsedScope{Level: ScopeSubscription, Subscription: seg[1]}, nil
	case len(seg) == 4 && strings.EqualFold(seg[0], "subscriptions") && strings.EqualFold(seg[2], "resourceGroups"):
		return ParsedScope{Level: ScopeResourceGroup, Subscription: seg[1], Group: seg[3]}, nil
	case len(seg) == 8:
		ref, rest, ok := core.ParseWorkspaceID(scope)
		if ok && rest == "" {
			return ParsedScope{Level: ScopeWorkspace, Subscription: ref.Subscription, Group: ref.ResourceGroup, Workspace: ref.Workspace}, nil
		}
	}
	return bad()
}

// RoleDefinitionID is the ARM id of a role's definition under a scope, as
// Azure writes it in role assignments.
func RoleDefinitionID(sub string, d RoleDefinition) string {
	if sub == "" {
		return "/providers/Microsoft.Authorization/roleDefinitions/" + d.GUID
	}
	return fmt.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", sub, d.GUID)
}

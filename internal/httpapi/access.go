package httpapi

import (
	"context"
	"strings"
	"sync"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/webui"
	"github.com/mlw-project/mlw/protocol"
)

// Access control (docs/security.md, "Access"). Every route is classified
// here: the action it performs and how to find the scope it acts on. The
// wrapper (ServeHTTP) authenticates, resolves the caller's role at that
// scope, refuses with 403 AuthorizationFailed when the role may not perform
// the action, and hands the handler (and through the context, admission) a
// principal whose Role is the role in effect at the scope. The check runs
// before the handler looks anything up, so the answer is the same whether
// the resource exists or not: a caller without access learns nothing from
// it (the rule is "403 everywhere", as ARM answers for a scope one has no
// role at).
//
// Public routes that authenticate themselves (the terminal, Jupyter, the
// Blob API) call authorize after doing so. A route missing from the table
// is allowed to server Owners only, and TestRouteAccessMatrix fails.

// policy is what a route needs.
type policy struct {
	action identity.Action
	// scope finds the ARM scope; nil takes it from the route's {sub},
	// {rg} and {ws} parameters ("/" for none).
	scope func(a *API, r *Request) (string, error)
	// public routes need no token (they check what they serve themselves).
	public bool
}

var (
	anyone      = policy{action: identity.ActAny}
	seeing      = policy{action: identity.ActSee}
	reading     = policy{action: identity.ActRead}
	writing     = policy{action: identity.ActWrite}
	managing    = policy{action: identity.ActManage}
	owning      = policy{action: identity.ActAuthorize}
	publicRoute = policy{public: true}
	opReading   = policy{action: identity.ActRead, scope: operationScope}
	// unclassified routes: server Owners only.
	unclassified = policy{action: identity.ActAuthorize, scope: func(*API, *Request) (string, error) { return "/", nil }}
)

// routeAccess classifies every route by "METHOD pattern".
var routeAccess = func() map[string]policy {
	m := map[string]policy{}
	set := func(p policy, method string, patterns ...string) {
		for _, pat := range patterns {
			m[method+" "+pat] = p
		}
	}
	const (
		sub    = "/subscriptions/{sub}"
		groups = sub + "/resourceGroups"
		rg     = groups + "/{rg}"
		ws     = wsPath
		comp   = ws + "/computes/{name}"
	)
	// Public: health, metrics, discovery, cloud metadata, sign-in pages,
	// the token endpoint (it authenticates its header), the studio's
	// assets, and log URLs (signed; runLog checks their user).
	set(publicRoute, "GET", "/healthz", "/metrics", "/discovery/workspaces/{uid}", protocol.CloudMetadataPath, "/mlw/signin",
		webui.Prefix, webui.Prefix+"/{path...}", "/studio/runs/{name}", "/runlogs/{token}", protocol.IdentityTokenPath)
	set(publicRoute, "POST", protocol.IdentityTokenPath, "/mlw/v1/session")

	// Subscriptions and groups: lists show what the caller holds a role
	// at, above or below (service filters); one may see the subscription
	// and group of a workspace one has a role in.
	set(anyone, "GET", "/subscriptions")
	// What az needs of ARM (arm.go): providers and locations are seen by
	// anyone with a role in the subscription; registering (a no-op: every
	// provider is registered) needs Contributor there, as in Azure; the
	// generic resource lists need Reader at their scope.
	set(seeing, "GET", sub+"/providers", sub+"/providers/{ns}", sub+"/locations")
	set(managing, "POST", sub+"/providers/{ns}/register", sub+"/providers/{ns}/unregister")
	set(reading, "GET", sub+"/resources", rg+"/resources")
	// The studio's experiments and environment build logs.
	set(reading, "GET", historyBase+"/experiments", ws+"/environments/{name}/versions/{version}/buildLog")
	set(seeing, "GET", sub, groups, rg, sub+"/providers/Microsoft.MachineLearningServices/workspaces",
		rg+"/providers/Microsoft.MachineLearningServices/workspaces",
		locBase+"/vmSizes", locBase+"/usages", locBase+"/quotas")
	set(managing, "PUT", rg)
	set(managing, "DELETE", rg)
	set(owning, "POST", locBase+"/updateQuotas")
	set(opReading, "GET", opsBase+"/mfeOperationsStatus/{id}", opsBase+"/mfeOperationResults/{id}")

	// ARM deployments (workspaces.begin_create of azure-ai-ml 1.4.0).
	dep := rg + "/providers/Microsoft.Resources/deployments/{name}"
	set(managing, "PUT", dep)
	set(reading, "GET", dep, dep+"/operations", rg+"/deployments/{name}/operations")

	// Workspaces: Contributors create, change and delete them.
	set(reading, "GET", ws)
	set(managing, "PUT", ws)
	set(managing, "PATCH", ws)
	set(managing, "DELETE", ws)

	// Inside a workspace: Readers read, Data Scientists work.
	for _, base := range []string{ws + "/datastores", ws + "/codes", ws + "/environments", ws + "/models"} {
		set(reading, "GET", base, base+"/{name}")
		set(writing, "PUT", base+"/{name}")
		set(writing, "DELETE", base+"/{name}")
	}
	for _, base := range []string{ws + "/codes/{name}/versions", ws + "/environments/{name}/versions", ws + "/models/{name}/versions"} {
		set(reading, "GET", base, base+"/{version}")
		set(writing, "PUT", base+"/{version}")
		set(writing, "DELETE", base+"/{version}")
	}
	set(writing, "POST", ws+"/codes/{name}/versions/{version}/startPendingUpload")
	// listSecrets answers a read-only SAS to Readers (service/datastores.go).
	set(reading, "POST", ws+"/datastores/{name}/listSecrets")
	set(reading, "GET", ws+"/files", ws+"/files/{path...}")
	set(writing, "PUT", ws+"/files/{path...}")
	set(writing, "DELETE", ws+"/files/{path...}")
	set(reading, "GET", ws+"/jobs", ws+"/jobs/{name}", ws+"/jobs/{name}/logs", ws+"/jobs/{name}/logs/{path...}")
	set(writing, "PUT", ws+"/jobs/{name}")
	set(writing, "DELETE", ws+"/jobs/{name}")
	set(writing, "POST", ws+"/jobs/{name}/cancel")
	set(reading, "GET", historyBase+"/runs/{name}/details", historyBase+"/experiments/{exp}/runs/{name}/details",
		historyBase+"/runs/{name}", historyBase+"/experiments/{exp}/runs/{name}", historyBase+"/runs/{name}/children",
		historyBase+"/runs/{name}/metrics")
	set(reading, "POST", historyBase+"/rundata")

	// MLflow (mlflow.go): Readers read and search, Data Scientists log.
	for _, e := range mlflowEndpoints {
		if e.write {
			set(writing, e.method, mlflowBase+e.path)
		} else {
			set(reading, e.method, mlflowBase+e.path)
		}
	}

	// Computes: Contributors create, change and delete them; Data
	// Scientists start, stop and restart them and use instances (terminal,
	// Jupyter; the assigned-user rule applies on top).
	set(reading, "GET", ws+"/computes", comp, comp+"/logs")
	set(managing, "PUT", comp)
	set(managing, "PATCH", comp)
	set(managing, "DELETE", comp)
	set(writing, "POST", comp+"/{action}")
	set(managing, "POST", comp+"/preemptNode")
	set(policy{action: identity.ActWrite, public: true}, "GET", comp+"/terminal")
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		set(policy{action: identity.ActWrite, public: true}, method, comp+"/jupyter/{path...}")
	}

	// The Blob API authenticates and authorizes each request itself
	// (authorizeBlob: the account's workspace, read or write).
	for _, method := range []string{"GET", "HEAD", "PUT", "DELETE"} {
		set(publicRoute, method, blobPrefix+"{account}/{container}", blobPrefix+"{account}/{container}/{blob...}")
	}

	// Users, tokens and sessions: admission checks "yourself, or a server
	// Owner" where it applies.
	set(anyone, "GET", "/mlw/v1/me", "/mlw/v1/users", "/mlw/v1/users/{name}", "/mlw/v1/users/{name}/tokens", "/mlw/v1/session")
	set(owning, "PUT", "/mlw/v1/users/{name}")
	set(owning, "PATCH", "/mlw/v1/users/{name}")
	set(owning, "DELETE", "/mlw/v1/users/{name}")
	set(anyone, "PUT", "/mlw/v1/users/{name}/password")
	set(anyone, "POST", "/mlw/v1/users/{name}/tokens", "/mlw/v1/signin")
	set(anyone, "DELETE", "/mlw/v1/users/{name}/tokens/{id}", "/mlw/v1/session")
	// A watch reads its target as the caller (watch.go checks it).
	set(anyone, "GET", "/mlw/v1/watch")

	// Role assignments and definitions at each scope.
	for _, prefix := range roleScopes {
		base := prefix + "/providers/Microsoft.Authorization/roleAssignments"
		set(reading, "GET", base, base+"/{name}")
		set(owning, "PUT", base+"/{name}")
		set(owning, "DELETE", base+"/{name}")
		defs := prefix + "/providers/Microsoft.Authorization/roleDefinitions"
		set(anyone, "GET", defs, defs+"/{id}")
	}
	return m
}()

// policyOf returns the route's policy (unclassified when missing).
func policyOf(method, pattern string) (policy, bool) {
	p, ok := routeAccess[method+" "+pattern]
	if !ok {
		return unclassified, false
	}
	return p, true
}

// paramScope is the scope named by a route's parameters.
func paramScope(params map[string]string) string {
	switch {
	case params["ws"] != "":
		return core.WorkspacePath(params["sub"], params["rg"], params["ws"])
	case params["rg"] != "":
		return core.GroupPath(params["sub"], params["rg"])
	case params["sub"] != "":
		return core.SubscriptionPath(params["sub"])
	}
	return "/"
}

// operationScope is the resource an operation acts on: polling it needs
// read access there. An unknown operation is a 404 for everyone.
func operationScope(a *API, r *Request) (string, error) {
	op, err := a.getOp(r)
	if err != nil {
		return "", err
	}
	if op.ResourceID == "" {
		return "/", nil
	}
	return op.ResourceID, nil
}

// authorize checks the request's principal against the route's policy
// and records the role in effect at its scope.
func (a *API) authorize(r *Request, rt *route) error {
	if r.Principal == nil {
		return core.Unauthorized("This request needs an Authorization: Bearer <token> header.")
	}
	pol := rt.access
	scope := paramScope(r.Params)
	if pol.scope != nil {
		var err error
		if scope, err = pol.scope(a, r); err != nil {
			return err
		}
	}
	if err := r.Principal.Check(pol.action, scope); err != nil {
		return err
	}
	if err := checkTrackingScope(r, scope); err != nil {
		return err
	}
	r.setPrincipal(r.Principal.At(scope))
	return nil
}

// accounts maps storage account names to the ARM ids of their workspaces.
// Account names embed the workspace's GUID, so an entry never goes stale
// in a way that matters: a deleted workspace's account is gone with it.
type accounts struct {
	mu sync.Mutex
	m  map[string]string
}

// workspaceOfAccount returns the ARM id of the workspace a storage
// account belongs to, or "/" (the server) when none does.
func (a *API) workspaceOfAccount(ctx context.Context, account string) (string, error) {
	key := strings.ToLower(account)
	a.accounts.mu.Lock()
	id, ok := a.accounts.m[key]
	a.accounts.mu.Unlock()
	if ok {
		return id, nil
	}
	wss, err := a.svc.AllWorkspaces(ctx)
	if err != nil {
		return "", err
	}
	a.accounts.mu.Lock()
	defer a.accounts.mu.Unlock()
	if a.accounts.m == nil {
		a.accounts.m = map[string]string{}
	}
	for _, ws := range wss {
		if acct := resource.WorkspaceStatusOf(ws).StorageAccount; acct != "" {
			a.accounts.m[strings.ToLower(acct)] = resource.WorkspaceRefOf(ws).ID()
		}
	}
	if id, ok := a.accounts.m[key]; ok {
		return id, nil
	}
	return "/", nil
}

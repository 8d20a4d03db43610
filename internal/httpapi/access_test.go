package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

const testSub = "00000000-0000-0000-0000-0000000000s1"

// apiBundle is a real API over a real store, as the server builds it
// (without reconcilers: nothing runs, admission and access are real).
type apiBundle struct {
	api   *API
	st    store.Store
	svc   *service.Service
	auth  *identity.Authenticator
	admin string // the admin's token
	ctx   context.Context
}

// newAPI builds an API over st with its own service and authenticator, as
// one replica of the server would (dir holds the keys replicas share).
func newAPI(t *testing.T, st store.Store, dir string) *apiBundle {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	svc := service.New(st, nil, log)
	svc.DataDir = dir
	svc.TenantID = "tenant-1"
	svc.DefaultSubscription = testSub
	svc.Blobs = blob.NewStore(dir)
	var err error
	svc.SAS, err = identity.LoadOrCreateSASSigner(dir)
	require.NoError(t, err)
	require.NoError(t, svc.EnsureSubscription(ctx, testSub, "test"))
	auth, err := identity.NewAuthenticator(st, dir, "tenant-1")
	require.NoError(t, err)
	return &apiBundle{api: New(Config{Service: svc, Auth: auth, Log: log}), st: st, svc: svc, auth: auth, ctx: ctx}
}

// setupAPI opens a SQLite store with an admin (server Owner).
func setupAPI(t *testing.T) *apiBundle {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	b := newAPI(t, st, dir)
	b.admin = b.mustUser(t, "admin", identity.RoleOwner)
	return b
}

// mustUser creates a user with a server-wide role ("" for none) and
// returns a token of theirs.
func (b *apiBundle) mustUser(t *testing.T, name, role string) string {
	t.Helper()
	u := &resource.User{ID: resource.NewUID(), Name: name, Role: role}
	require.NoError(t, b.st.CreateUser(b.ctx, u))
	plain, hash := identity.NewToken()
	require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: u.ID, Label: "test"}))
	return plain
}

func (b *apiBundle) userID(t *testing.T, name string) string {
	t.Helper()
	u, err := b.st.GetUserByName(b.ctx, name)
	require.NoError(t, err)
	return u.ID
}

// do sends a request as the holder of token and returns the recorded
// answer.
func (b *apiBundle) do(t *testing.T, token, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd *strings.Reader
	if body == nil {
		rd = strings.NewReader("")
	} else {
		j, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(j))
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	b.api.ServeHTTP(rec, req)
	return rec
}

func (b *apiBundle) mustDo(t *testing.T, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	rec := b.do(t, token, method, path, body)
	require.Equal(t, want, rec.Code, "%s %s: %s", method, path, rec.Body.String())
	out := map[string]any{}
	if rec.Body.Len() > 0 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	}
	return out
}

// assign gives user a role at scope through the API, as the admin.
func (b *apiBundle) assign(t *testing.T, user, role, scope string) string {
	t.Helper()
	d, ok := identity.LookupRole(role)
	require.True(t, ok, role)
	name := resource.NewUID()
	b.mustDo(t, b.admin, "PUT", roleAssignmentID(scope, name), map[string]any{"properties": map[string]any{
		"roleDefinitionId": identity.RoleDefinitionID(testSub, d), "principalId": b.userID(t, user)}}, http.StatusCreated)
	return name
}

// twoWorkspaces makes ws-a in rg-a and ws-b in rg-b.
func (b *apiBundle) twoWorkspaces(t *testing.T) (wsA, wsB string) {
	t.Helper()
	for _, x := range []string{"a", "b"} {
		b.mustDo(t, b.admin, "PUT", core.GroupPath(testSub, "rg-"+x), map[string]any{"location": "eastus"}, http.StatusCreated)
		b.mustDo(t, b.admin, "PUT", core.WorkspacePath(testSub, "rg-"+x, "ws-"+x), map[string]any{"location": "eastus"}, http.StatusOK)
	}
	return core.WorkspacePath(testSub, "rg-a", "ws-a"), core.WorkspacePath(testSub, "rg-b", "ws-b")
}

// TestEveryRouteIsClassified: a route missing from routeAccess (or
// classified as public when it is not, or the other way round) fails, so
// that a new route gets a decision about who may call it.
func TestEveryRouteIsClassified(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	seen := map[string]bool{}
	for _, r := range b.api.rt.all() {
		key := r.method + " " + r.pattern
		seen[key] = true
		require.True(t, r.classified, "route %s is not in routeAccess (internal/httpapi/access.go): say which action it performs", key)
		require.Equal(t, r.public, r.access.public, "route %s is registered %s but classified otherwise", key, map[bool]string{true: "public", false: "with a token"}[r.public])
		if r.public && r.access.action != identity.ActAny {
			require.True(t, strings.HasSuffix(r.pattern, "/terminal") || strings.HasSuffix(r.pattern, "/jupyter/{path...}"),
				"public route %s with an action must authorize itself (as the terminal and Jupyter do)", key)
		}
	}
	for key := range routeAccess {
		require.True(t, seen[key], "routeAccess classifies %s, which is not a route", key)
	}
}

// level is how far down a route's scope goes.
func level(pattern string) string {
	switch {
	case strings.Contains(pattern, "{ws}"), strings.HasPrefix(pattern, blobPrefix), strings.Contains(pattern, "/mfeOperation"):
		return identity.ScopeWorkspace
	case strings.Contains(pattern, "{rg}"):
		return identity.ScopeResourceGroup
	case strings.Contains(pattern, "{sub}"):
		return identity.ScopeSubscription
	}
	return identity.ScopeServer
}

// TestRouteAccessMatrix calls every route that needs a token as users who
// hold each role at the route's scope (workspace ws-b, group rg-b, the
// subscription, the server), and as a Reader of the other workspace ws-a:
// a role that may perform the route's action is let through to the
// handler (whatever it answers, not 401 or 403), one that may not gets 403
// AuthorizationFailed, and so does the Reader of ws-a for everything in
// ws-b and rg-b.
func TestRouteAccessMatrix(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	wsA, wsB := b.twoWorkspaces(t)
	rgB := core.GroupPath(testSub, "rg-b")
	ws, err := b.svc.GetWorkspace(b.ctx, core.WorkspaceRef{Subscription: testSub, ResourceGroup: "rg-b", Workspace: "ws-b"})
	require.NoError(t, err)
	account := resource.WorkspaceStatusOf(ws).StorageAccount
	opID := resource.NewUID()
	require.NoError(t, b.st.CreateOperation(b.ctx, &resource.Operation{ID: opID, ResourceID: core.Key(wsB) + "/computes/c1", Name: "Create"}))

	b.mustUser(t, "reader-a", "")
	b.assign(t, "reader-a", identity.RoleReader, wsA)
	readerA := b.mustDo(t, b.admin, "POST", "/mlw/v1/users/reader-a/tokens", map[string]any{}, http.StatusCreated)["token"].(string)

	roles := []string{identity.RoleReader, identity.RoleDataScientist, identity.RoleContributor, identity.RoleOwner}
	scopes := map[string]string{identity.ScopeWorkspace: wsB, identity.ScopeResourceGroup: rgB,
		identity.ScopeSubscription: core.SubscriptionPath(testSub), identity.ScopeServer: "/"}
	tokens := map[string]map[string]string{} // level → role → token
	for lv, scope := range scopes {
		tokens[lv] = map[string]string{}
		for i, role := range roles {
			name := fmt.Sprintf("u-%s-%d", strings.ToLower(lv), i)
			if lv == identity.ScopeServer {
				tokens[lv][role] = b.mustUser(t, name, role)
				continue
			}
			tokens[lv][role] = b.mustUser(t, name, "")
			b.assign(t, name, role, scope)
		}
	}

	params := map[string]string{
		"sub": testSub, "rg": "rg-b", "ws": "ws-b", "loc": "eastus", "id": resource.NewUID(), "name": "m1", "version": "1",
		"exp": "e1", "ns": "Microsoft.MachineLearningServices", "action": "start", "path": "dir/file.txt", "account": account, "container": "azureml", "blob": "b.txt",
		"uid": "u1", "token": "t1",
	}
	fill := func(pattern string) string {
		var out []string
		for _, seg := range strings.Split(pattern, "/") {
			if strings.HasPrefix(seg, "{") {
				k := strings.TrimSuffix(strings.TrimSuffix(strings.Trim(seg, "{}"), "..."), "}")
				v := params[k]
				if k == "id" && strings.Contains(pattern, "/mfeOperation") {
					v = opID
				}
				if k == "name" && strings.HasPrefix(pattern, "/mlw/v1/users") {
					v = "nobody"
				}
				require.NotEmpty(t, v, "no value for {%s} in %s", k, pattern)
				seg = v
			}
			out = append(out, seg)
		}
		return strings.Join(out, "/")
	}
	denied := func(rec *httptest.ResponseRecorder) bool {
		if rec.Code != http.StatusForbidden {
			return false
		}
		code := rec.Header().Get("x-ms-error-code")
		return code == "AuthorizationFailed" || code == "AuthorizationPermissionMismatch"
	}

	routes := b.api.rt.all()
	sort.Slice(routes, func(i, j int) bool { return routes[i].pattern+routes[i].method < routes[j].pattern+routes[j].method })
	checked := 0
	for _, rt := range routes {
		pol := rt.access
		if pol.public && pol.action == identity.ActAny && !strings.HasPrefix(rt.pattern, blobPrefix) {
			continue // needs no token and acts on nothing the caller is given
		}
		if rt.pattern == "/mlw/v1/watch" {
			continue // an endless stream: TestWatchChecksItsTarget
		}
		action := pol.action
		if strings.HasPrefix(rt.pattern, blobPrefix) {
			action = identity.ActRead
			if rt.method == "PUT" || rt.method == "DELETE" {
				action = identity.ActWrite
			}
		}
		path := fill(rt.pattern) + "?api-version=2024-04-01"
		lv := level(rt.pattern)
		what := rt.method + " " + rt.pattern
		checked++
		for _, role := range roles {
			rec := b.do(t, tokens[lv][role], rt.method, path, map[string]any{})
			allowed := identity.Allows(role, action) || action == identity.ActSee
			switch {
			case allowed && lv != identity.ScopeServer:
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code,
					"%s as %s at %s: %s", what, role, lv, rec.Body.String())
			case !allowed:
				require.True(t, denied(rec), "%s as %s at %s must be refused with 403, got %d %s", what, role, lv, rec.Code, rec.Body.String())
			}
		}
		if action != identity.ActAny {
			rec := b.do(t, readerA, rt.method, path, map[string]any{})
			switch lv {
			case identity.ScopeWorkspace, identity.ScopeResourceGroup:
				require.True(t, denied(rec), "%s as a Reader of ws-a, on ws-b / rg-b: want 403, got %d %s", what, rec.Code, rec.Body.String())
				if !strings.HasPrefix(rt.pattern, blobPrefix) && rt.method != http.MethodHead { // HEAD answers carry no body
					require.Contains(t, rec.Body.String(), "reader-a")
				}
			case identity.ScopeSubscription:
				if action == identity.ActSee {
					require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code, "%s: %s", what, rec.Body.String())
				} else {
					require.True(t, denied(rec), "%s as a Reader of ws-a: want 403, got %d", what, rec.Code)
				}
			default:
				require.True(t, denied(rec), "%s as a Reader of ws-a: want 403, got %d", what, rec.Code)
			}
		}
	}
	require.Greater(t, checked, 100, "the matrix covers the API")
}

// TestListsShowWhatTheCallerMayRead: subscriptions, groups and workspaces
// are listed for a Reader of one workspace as far as they lead to it.
func TestListsShowWhatTheCallerMayRead(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	wsA, _ := b.twoWorkspaces(t)
	tok := b.mustUser(t, "rita", "")
	names := func(doc map[string]any) []string {
		var out []string
		for _, v := range doc["value"].([]any) {
			m := v.(map[string]any)
			n, _ := m["name"].(string)
			if n == "" {
				n, _ = m["subscriptionId"].(string)
			}
			out = append(out, n)
		}
		return out
	}
	// Without a role: nothing, and a 403 that says what to ask for.
	require.Empty(t, names(b.mustDo(t, tok, "GET", "/subscriptions", nil, http.StatusOK)))
	rec := b.do(t, tok, "GET", wsA, nil)
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Contains(t, rec.Body.String(), "mlw role assignment create")

	b.assign(t, "rita", identity.RoleReader, wsA)
	require.Equal(t, []string{testSub}, names(b.mustDo(t, tok, "GET", "/subscriptions", nil, http.StatusOK)))
	require.Equal(t, []string{"rg-a"}, names(b.mustDo(t, tok, "GET", core.SubscriptionPath(testSub)+"/resourceGroups", nil, http.StatusOK)))
	require.Equal(t, []string{"ws-a"}, names(b.mustDo(t, tok, "GET", core.SubscriptionPath(testSub)+"/providers/Microsoft.MachineLearningServices/workspaces", nil, http.StatusOK)))
	require.Equal(t, []string{"ws-a"}, names(b.mustDo(t, tok, "GET", core.GroupPath(testSub, "rg-a")+"/providers/Microsoft.MachineLearningServices/workspaces", nil, http.StatusOK)))
	// The admin (server-wide Owner) sees both.
	require.Len(t, names(b.mustDo(t, b.admin, "GET", core.SubscriptionPath(testSub)+"/providers/Microsoft.MachineLearningServices/workspaces", nil, http.StatusOK)), 2)

	// Insufficient role: the message names the role held, the one needed
	// and the scope.
	rec = b.do(t, tok, "PUT", wsA+"/jobs/j1", map[string]any{})
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Contains(t, rec.Body.String(), "Reader role at scope")
	require.Contains(t, rec.Body.String(), "AzureML Data Scientist")
	require.Contains(t, rec.Body.String(), strings.ToLower(wsA))
}

// TestRoleAssignmentsAPI: the ARM shape, validation that names the field,
// Owner-only writes, listing with $filter, and the server-wide roles.
func TestRoleAssignmentsAPI(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	wsA, _ := b.twoWorkspaces(t)
	bob := b.mustUser(t, "bob", "")
	carl := b.mustUser(t, "carl", "")
	bobID := b.userID(t, "bob")
	name := resource.NewUID()
	put := func(token string, body map[string]any, want int) map[string]any {
		return b.mustDo(t, token, "PUT", roleAssignmentID(wsA, name), body, want)
	}
	props := func(kv ...string) map[string]any {
		p := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return map[string]any{"properties": p}
	}
	const ownerDef = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	e := put(b.admin, props("roleDefinitionId", "Admin", "principalId", bobID), http.StatusBadRequest)
	require.Equal(t, "properties.roleDefinitionId", e["error"].(map[string]any)["target"])
	e = put(b.admin, props("roleDefinitionId", ownerDef, "principalId", "nobody"), http.StatusBadRequest)
	require.Equal(t, "properties.principalId", e["error"].(map[string]any)["target"])
	e = put(b.admin, props("roleDefinitionId", ownerDef, "principalId", bobID, "scope", "/subscriptions/"+testSub), http.StatusBadRequest)
	require.Equal(t, "properties.scope", e["error"].(map[string]any)["target"])
	e = b.mustDo(t, b.admin, "PUT", roleAssignmentID(wsA, "not-a-guid"), props("roleDefinitionId", ownerDef, "principalId", bobID), http.StatusBadRequest)
	require.Equal(t, "name", e["error"].(map[string]any)["target"])
	b.mustDo(t, b.admin, "PUT", roleAssignmentID(core.WorkspacePath(testSub, "rg-a", "nope"), name), props("roleDefinitionId", ownerDef, "principalId", bobID), http.StatusNotFound)
	b.mustDo(t, b.admin, "PUT", roleAssignmentID("/", name), props("roleDefinitionId", ownerDef, "principalId", bobID), http.StatusBadRequest)
	// bob may not grant himself anything.
	put(bob, props("roleDefinitionId", ownerDef, "principalId", bobID), http.StatusForbidden)

	doc := put(b.admin, props("roleDefinitionId", ownerDef, "principalId", bobID), http.StatusCreated)
	require.Equal(t, roleAssignmentID(wsA, name), doc["id"])
	require.Equal(t, "Microsoft.Authorization/roleAssignments", doc["type"])
	p := doc["properties"].(map[string]any)
	require.Equal(t, ownerDef, p["roleDefinitionId"])
	require.Equal(t, bobID, p["principalId"])
	require.Equal(t, wsA, p["scope"])
	// The same PUT again is answered; another with the same role is a 409.
	put(b.admin, props("roleDefinitionId", ownerDef, "principalId", bobID), http.StatusOK)
	b.mustDo(t, b.admin, "PUT", roleAssignmentID(wsA, resource.NewUID()), props("roleDefinitionId", "Owner", "principalId", bobID), http.StatusConflict)

	// Now bob, an Owner of ws-a, grants carl Reader there, but not in rg-a.
	carlID := b.userID(t, "carl")
	b.mustDo(t, bob, "PUT", roleAssignmentID(wsA, resource.NewUID()), props("roleDefinitionId", "Reader", "principalId", carlID), http.StatusCreated)
	b.mustDo(t, bob, "PUT", roleAssignmentID(core.GroupPath(testSub, "rg-a"), resource.NewUID()), props("roleDefinitionId", "Reader", "principalId", carlID), http.StatusForbidden)
	b.mustDo(t, carl, "GET", wsA, nil, http.StatusOK)

	// Listing at the workspace: bob's, carl's, and the admin's server-wide
	// role (inherited); atScope() and principalId filters.
	list := func(token, scope, filter string) []map[string]any {
		q := ""
		if filter != "" {
			q = "?$filter=" + url.QueryEscape(filter)
		}
		var out []map[string]any
		for _, v := range b.mustDo(t, token, "GET", scope+"/providers/Microsoft.Authorization/roleAssignments"+q, nil, http.StatusOK)["value"].([]any) {
			out = append(out, v.(map[string]any))
		}
		return out
	}
	require.Len(t, list(carl, wsA, ""), 3)
	mine := list(carl, wsA, "principalId eq '"+carlID+"'")
	require.Len(t, mine, 1)
	require.Equal(t, "Reader", mine[0]["properties"].(map[string]any)["mlw"].(map[string]any)["roleName"])
	// At the subscription (admin): below-scope ones too, unless atScope().
	require.Len(t, list(b.admin, "/subscriptions/"+testSub, ""), 3)
	require.Len(t, list(b.admin, "/subscriptions/"+testSub, "atScope()"), 1)
	b.mustDo(t, carl, "GET", "/subscriptions/"+testSub+"/providers/Microsoft.Authorization/roleAssignments", nil, http.StatusForbidden)

	// The server-wide role shows at "/" and is changed with the user.
	srv := list(b.admin, "/", "principalId eq '"+b.userID(t, "admin")+"'")
	require.Len(t, srv, 1)
	require.Equal(t, true, srv[0]["properties"].(map[string]any)["mlw"].(map[string]any)["serverWide"])
	b.mustDo(t, b.admin, "DELETE", roleAssignmentID("/", srv[0]["name"].(string)), nil, http.StatusBadRequest)

	// Deleting bob's Owner assignment takes his rights at once.
	b.mustDo(t, b.admin, "DELETE", roleAssignmentID(wsA, name), nil, http.StatusOK)
	b.mustDo(t, b.admin, "DELETE", roleAssignmentID(wsA, name), nil, http.StatusNotFound)
	b.mustDo(t, bob, "GET", wsA, nil, http.StatusForbidden)

	// Role definitions, by GUID and by name filter.
	defs := b.mustDo(t, bob, "GET", "/subscriptions/"+testSub+"/providers/Microsoft.Authorization/roleDefinitions?$filter="+url.QueryEscape("roleName eq 'AzureML Data Scientist'"), nil, http.StatusOK)
	require.Len(t, defs["value"], 1)
	d := b.mustDo(t, bob, "GET", "/subscriptions/"+testSub+"/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", nil, http.StatusOK)
	require.Equal(t, "Reader", d["properties"].(map[string]any)["roleName"])

	// A workspace created again under the old name starts without the old
	// one's assignments.
	b.mustDo(t, b.admin, "DELETE", core.GroupPath(testSub, "rg-a"), nil, http.StatusAccepted)
	_, err := b.st.DeleteTree(b.ctx, core.Key(core.GroupPath(testSub, "rg-a")))
	require.NoError(t, err)
	require.NoError(t, b.st.Delete(b.ctx, core.KindResourceGroup, core.Key(core.SubscriptionPath(testSub)), "rg-a"))
	b.mustDo(t, b.admin, "PUT", core.GroupPath(testSub, "rg-a"), map[string]any{"location": "eastus"}, http.StatusCreated)
	b.mustDo(t, b.admin, "PUT", wsA, map[string]any{"location": "eastus"}, http.StatusOK)
	b.mustDo(t, carl, "GET", wsA, nil, http.StatusForbidden)
}

// TestWatchChecksItsTarget: a watch reads its target with the caller's
// rights at the target's scope.
func TestWatchChecksItsTarget(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	wsA, wsB := b.twoWorkspaces(t)
	tok := b.mustUser(t, "rita", "")
	b.assign(t, "rita", identity.RoleReader, wsA)
	srv := httptest.NewServer(b.api)
	t.Cleanup(srv.Close)
	first := func(target string) string {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/mlw/v1/watch?path="+url.QueryEscape(target), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				return data
			}
		}
		t.Fatalf("no event: %v", sc.Err())
		return ""
	}
	require.Equal(t, `{"status":200}`, first(wsA+"/jobs"))
	require.Equal(t, `{"status":403}`, first(wsB+"/jobs"))
}

// TestUserAndTokenLifecycle: token list and revoke, disable, delete, the
// last Owner, and that resources stay when their creator goes.
func TestUserAndTokenLifecycle(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	wsA, _ := b.twoWorkspaces(t)
	bob := b.mustUser(t, "bob", identity.RoleContributor)
	second := b.mustDo(t, bob, "POST", "/mlw/v1/users/bob/tokens", map[string]any{"label": "laptop"}, http.StatusCreated)
	toks := b.mustDo(t, bob, "GET", "/mlw/v1/users/bob/tokens", nil, http.StatusOK)["value"].([]any)
	require.Len(t, toks, 2)
	require.Equal(t, true, toks[0].(map[string]any)["current"], "the list marks the token in use")
	require.NotContains(t, fmt.Sprint(toks), second["token"], "no secrets")

	// Others' tokens: only a server Owner.
	carl := b.mustUser(t, "carl", identity.RoleReader)
	b.mustDo(t, carl, "GET", "/mlw/v1/users/bob/tokens", nil, http.StatusForbidden)
	b.mustDo(t, carl, "DELETE", "/mlw/v1/users/bob/tokens/"+second["id"].(string), nil, http.StatusForbidden)

	// A signed token exchanged for the second token, and a sign-in link.
	req := httptest.NewRequest("GET", "/identity/token?resource=https://management.azure.com", nil)
	req.Header.Set("X-IDENTITY-HEADER", second["token"].(string))
	rec := httptest.NewRecorder()
	b.api.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var issued map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &issued))
	jwt := issued["access_token"].(string)
	b.mustDo(t, jwt, "GET", "/mlw/v1/me", nil, http.StatusOK)

	b.mustDo(t, bob, "DELETE", "/mlw/v1/users/bob/tokens/"+second["id"].(string), nil, http.StatusOK)
	b.mustDo(t, second["token"].(string), "GET", "/mlw/v1/me", nil, http.StatusUnauthorized)
	b.mustDo(t, jwt, "GET", "/mlw/v1/me", nil, http.StatusUnauthorized)
	b.mustDo(t, bob, "DELETE", "/mlw/v1/users/bob/tokens/"+second["id"].(string), nil, http.StatusNotFound)
	b.mustDo(t, bob, "GET", "/mlw/v1/me", nil, http.StatusOK)

	// bob makes a group; disabling him keeps it, and his tokens stop.
	b.mustDo(t, bob, "PUT", core.GroupPath(testSub, "rg-bob"), map[string]any{"location": "eastus"}, http.StatusCreated)
	b.mustDo(t, carl, "PATCH", "/mlw/v1/users/bob", map[string]any{"disabled": true}, http.StatusForbidden)
	u := b.mustDo(t, b.admin, "PATCH", "/mlw/v1/users/bob", map[string]any{"disabled": true}, http.StatusOK)
	require.Equal(t, true, u["disabled"])
	rec = b.do(t, bob, "GET", "/mlw/v1/me", nil)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Body.String(), "disabled")
	b.mustDo(t, b.admin, "PATCH", "/mlw/v1/users/bob", map[string]any{"disabled": false}, http.StatusOK)
	b.mustDo(t, bob, "GET", "/mlw/v1/me", nil, http.StatusOK)

	// The role changes at once too.
	b.mustDo(t, b.admin, "PATCH", "/mlw/v1/users/bob", map[string]any{"role": "None"}, http.StatusOK)
	b.mustDo(t, bob, "GET", wsA, nil, http.StatusForbidden)
	b.mustDo(t, b.admin, "PATCH", "/mlw/v1/users/bob", map[string]any{"role": "Boss"}, http.StatusBadRequest)

	// Deleting bob: his tokens fail, his group stays.
	b.mustDo(t, b.admin, "DELETE", "/mlw/v1/users/bob", nil, http.StatusNoContent)
	b.mustDo(t, bob, "GET", "/mlw/v1/me", nil, http.StatusUnauthorized)
	g := b.mustDo(t, b.admin, "GET", core.GroupPath(testSub, "rg-bob"), nil, http.StatusOK)
	require.Equal(t, "bob", g["systemData"].(map[string]any)["createdBy"])
	b.mustDo(t, b.admin, "DELETE", "/mlw/v1/users/bob", nil, http.StatusNotFound)

	// The last enabled Owner can be neither disabled, demoted nor deleted.
	for _, body := range []map[string]any{{"disabled": true}, {"role": "Reader"}} {
		e := b.mustDo(t, b.admin, "PATCH", "/mlw/v1/users/admin", body, http.StatusConflict)
		require.Equal(t, "LastOwner", e["error"].(map[string]any)["code"])
	}
	b.mustDo(t, b.admin, "DELETE", "/mlw/v1/users/admin", nil, http.StatusConflict)
	b.mustDo(t, b.admin, "GET", "/mlw/v1/me", nil, http.StatusOK)
	// With a second Owner, the first may go.
	b.mustDo(t, b.admin, "PATCH", "/mlw/v1/users/carl", map[string]any{"role": "Owner"}, http.StatusOK)
	b.mustDo(t, carl, "DELETE", "/mlw/v1/users/admin", nil, http.StatusNoContent)
	b.mustDo(t, b.admin, "GET", "/mlw/v1/me", nil, http.StatusUnauthorized)
}

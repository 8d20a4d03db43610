package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// as sends a request as the holder of token, over the server's HTTPS.
func (s *Server) as(t *testing.T, token, method, path string, body any) *Response {
	t.Helper()
	req := s.NewRequest(t, method, path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	return s.Send(t, req)
}

// runAs runs the CLI with another user's token.
func (s *Server) runAs(token string, args ...string) (stdout, stderr string, code int) {
	return s.Run(append([]string{"--token", token}, args...)...)
}

// TestReaderOfOneWorkspace: a user with Reader on workspace A (and no
// server-wide role) reads A, and gets 403 AuthorizationFailed — the same
// for what exists and what does not — on everything of workspace B; lists
// show only A; role assignments are managed with the CLI.
func TestReaderOfOneWorkspace(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	for _, x := range []string{"a", "b"} {
		s.MustRun(t, "group", "create", "-n", "rg-"+x, "-l", "eastus")
		s.MustRun(t, "workspace", "create", "-n", "ws-"+x, "-g", "rg-"+x)
	}
	var rita map[string]any
	s.MustRunJSON(t, &rita, "user", "create", "--name", "rita", "--role", "None")
	require.Equal(t, "None", rita["role"])
	tok := rita["token"].(string)

	// Without a role rita sees nothing.
	resp := s.as(t, tok, "GET", s.WorkspacePath("rg-a", "ws-a"), nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp)

	var ra map[string]any
	s.MustRunJSON(t, &ra, "role", "assignment", "create", "--assignee", "rita", "--role", "reader", "-g", "rg-a", "-w", "ws-a")
	props := ra["properties"].(map[string]any)
	require.Equal(t, "Reader", props["mlw"].(map[string]any)["roleName"])
	require.Equal(t, rita["objectId"], props["principalId"])
	require.Equal(t, s.WorkspacePath("rg-a", "ws-a"), props["scope"])

	// A: readable, not writable.
	require.Equal(t, http.StatusOK, s.as(t, tok, "GET", s.WorkspacePath("rg-a", "ws-a"), nil).StatusCode)
	require.Equal(t, http.StatusOK, s.as(t, tok, "GET", s.WorkspacePath("rg-a", "ws-a")+"/jobs", nil).StatusCode)
	resp = s.as(t, tok, "PUT", s.WorkspacePath("rg-a", "ws-a")+"/jobs/j1", map[string]any{"properties": map[string]any{"jobType": "Command"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp)
	e := resp.Error(t)
	require.Equal(t, "AuthorizationFailed", e.Code)
	require.Contains(t, e.Message, "Reader role")
	require.Contains(t, e.Message, "AzureML Data Scientist")

	// B: 403 for everything, existing or not, with the scope named.
	for _, p := range []string{
		s.WorkspacePath("rg-b", "ws-b"),
		s.WorkspacePath("rg-b", "ws-b") + "/jobs",
		s.WorkspacePath("rg-b", "ws-b") + "/jobs/no-such-job",
		s.WorkspacePath("rg-b", "ws-b") + "/computes",
		s.WorkspacePath("rg-b", "ws-b") + "/datastores/workspaceblobstore",
		s.WorkspacePath("rg-b", "no-such-ws"),
		s.GroupPath("rg-b"),
	} {
		resp := s.as(t, tok, "GET", p, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, resp)
		e := resp.Error(t)
		require.Equal(t, "AuthorizationFailed", e.Code)
		require.Contains(t, e.Message, "has no role at")
	}
	resp = s.as(t, tok, "DELETE", s.WorkspacePath("rg-b", "ws-b"), nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp)

	// Lists: the CLI shows rita her workspace only.
	var wss []map[string]any
	out, stderr, code := s.runAs(tok, "workspace", "list", "-o", "json")
	require.Zero(t, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &wss))
	require.Len(t, wss, 1)
	require.Equal(t, "ws-a", wss[0]["name"])
	var groups []map[string]any
	out, stderr, code = s.runAs(tok, "group", "list", "-o", "json")
	require.Zero(t, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &groups))
	require.Len(t, groups, 1)
	_, stderr, code = s.runAs(tok, "workspace", "show", "-n", "ws-b", "-g", "rg-b")
	require.NotZero(t, code)
	require.Contains(t, stderr, "has no role at scope")

	// Listing assignments: a table for people, JSON for scripts.
	table := s.MustRun(t, "role", "assignment", "list", "-g", "rg-a", "-w", "ws-a", "-o", "table")
	require.Contains(t, table, "rita")
	require.Contains(t, table, "Reader")
	var list []map[string]any
	s.MustRunJSON(t, &list, "role", "assignment", "list", "--assignee", "rita")
	require.Len(t, list, 1)

	// rita may not grant herself more.
	_, stderr, code = s.runAs(tok, "role", "assignment", "create", "--assignee", "rita", "--role", "Owner", "-g", "rg-a", "-w", "ws-a")
	require.NotZero(t, code)
	require.Contains(t, stderr, "needs the Owner role")
	// Bad input names the flag and the fix.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--assignee", "rita", "--role", "Admin", "-g", "rg-a"}, "--role \"Admin\""},
		{[]string{"--assignee", "nobody", "--role", "Reader", "-g", "rg-a"}, "--assignee \"nobody\""},
		{[]string{"--assignee", "rita", "--role", "Reader", "--scope", "rg-a"}, "--scope \"rg-a\""},
		{[]string{"--assignee", "rita", "--role", "Reader"}, "a scope is required"},
		{[]string{"--assignee", "rita", "--role", "Reader", "-w", "ws-a"}, "-g/--resource-group"},
	} {
		_, stderr, code := s.Run(append([]string{"role", "assignment", "create"}, tc.args...)...)
		require.NotZero(t, code, tc.args)
		require.Contains(t, stderr, tc.want, tc.args)
	}

	// Removing the assignment takes rita's access at once.
	s.MustRun(t, "role", "assignment", "delete", "--assignee", "rita", "--role", "Reader", "-g", "rg-a", "-w", "ws-a")
	require.Equal(t, http.StatusForbidden, s.as(t, tok, "GET", s.WorkspacePath("rg-a", "ws-a"), nil).StatusCode)
	_, stderr, code = s.Run("role", "assignment", "delete", "--assignee", "rita", "--role", "Reader", "-g", "rg-a", "-w", "ws-a")
	require.NotZero(t, code)
	require.Contains(t, stderr, "no role assignment")

	// A Data Scientist of the group works in its workspaces but does not
	// create computes there.
	s.MustRun(t, "role", "assignment", "create", "--assignee", "rita", "--role", "AzureML Data Scientist", "-g", "rg-a")
	resp = s.as(t, tok, "PUT", s.WorkspacePath("rg-a", "ws-a")+"/computes/cpu", map[string]any{
		"properties": map[string]any{"computeType": "AmlCompute", "properties": map[string]any{"vmSize": "Standard_DS11_v2"}}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp)
	require.Contains(t, resp.Error(t).Message, "Contributor")
	resp = s.as(t, tok, "PUT", s.WorkspacePath("rg-a", "ws-a")+"/environments/env1", map[string]any{"properties": map[string]any{}})
	require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.StatusCode, resp)

	var defs []map[string]any
	s.MustRunJSON(t, &defs, "role", "definition", "list")
	require.Len(t, defs, 4)
}

// TestTokenLifecycle: tokens are listed and revoked, users disabled,
// enabled and deleted, each at once; the access token issued for a token
// dies with it; the last Owner stays.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	var bob map[string]any
	s.MustRunJSON(t, &bob, "user", "create", "--name", "bob", "--role", "Contributor")
	first := bob["token"].(string)
	second := strings.TrimSpace(s.MustRun(t, "token", "create", "--user", "bob", "--label", "ci", "-o", "table"))

	// An access token from the identity endpoint, for the second token.
	req := s.NewRequest(t, "GET", "/identity/token?resource=https://management.azure.com", nil)
	req.Header.Del("Authorization")
	req.Header.Set("X-IDENTITY-HEADER", second)
	resp := s.Send(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp)
	signed := resp.JSON(t)["access_token"].(string)
	require.Equal(t, http.StatusOK, s.as(t, signed, "GET", "/mlw/v1/me", nil).StatusCode)

	var toks []map[string]any
	out, stderr, code := s.runAs(first, "token", "list", "-o", "json")
	require.Zero(t, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &toks))
	require.Len(t, toks, 2)
	require.NotContains(t, out, second, "secrets are never listed")
	table := s.MustRun(t, "token", "list", "--user", "bob", "-o", "table")
	require.Contains(t, table, "ci")
	var id string
	for _, tk := range toks {
		if tk["label"] == "ci" {
			id = tk["id"].(string)
		}
	}
	require.NotEmpty(t, id)

	_, stderr, code = s.runAs(first, "token", "revoke", id)
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "revoked")
	require.Equal(t, http.StatusUnauthorized, s.as(t, second, "GET", "/mlw/v1/me", nil).StatusCode)
	require.Equal(t, http.StatusUnauthorized, s.as(t, signed, "GET", "/mlw/v1/me", nil).StatusCode, "the access token dies with its token")
	require.Equal(t, http.StatusOK, s.as(t, first, "GET", "/mlw/v1/me", nil).StatusCode)
	_, stderr, code = s.Run("token", "revoke", "--user", "bob", "not-an-id")
	require.NotZero(t, code)
	require.Contains(t, stderr, "hex digits")

	// Disabled: every credential stops at once; enabled: works again.
	s.MustRun(t, "group", "create", "-n", "rg-bob", "-l", "eastus", "--token", first)
	s.MustRun(t, "user", "disable", "--name", "bob")
	resp = s.as(t, first, "GET", "/mlw/v1/me", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, resp.Error(t).Message, "disabled")
	var u map[string]any
	s.MustRunJSON(t, &u, "user", "enable", "--name", "bob")
	require.Equal(t, false, u["disabled"])
	require.Equal(t, http.StatusOK, s.as(t, first, "GET", "/mlw/v1/me", nil).StatusCode)

	// Deleted: 401; what bob made stays.
	s.MustRun(t, "user", "delete", "--name", "bob", "--yes")
	require.Equal(t, http.StatusUnauthorized, s.as(t, first, "GET", "/mlw/v1/me", nil).StatusCode)
	out = s.MustRun(t, "group", "show", "-n", "rg-bob", "-o", "json")
	require.Contains(t, out, `"createdBy": "bob"`)

	// The last enabled Owner stays.
	for _, args := range [][]string{{"user", "delete", "--name", "admin", "--yes"}, {"user", "disable", "--name", "admin"}, {"user", "update", "--name", "admin", "--role", "Reader"}} {
		_, stderr, code := s.Run(args...)
		require.NotZero(t, code, args)
		require.Contains(t, stderr, "last enabled Owner", args)
	}
	s.MustRun(t, "user", "show")
}

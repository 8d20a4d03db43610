package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Users and roles: an Owner creates users; a Contributor may change
// resources but not users; a Reader may only read; tokens can be minted
// and expire.
func TestUsersRolesAndTokens(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})

	var bob map[string]any
	s.MustRunJSON(t, &bob, "user", "create", "--name", "bob", "--role", "Contributor", "-o", "json")
	require.Equal(t, "Contributor", bob["role"])
	bobToken, _ := bob["token"].(string)
	require.True(t, strings.HasPrefix(bobToken, "mlw_"), "a first token is returned once: %v", bob)

	var rita map[string]any
	s.MustRunJSON(t, &rita, "user", "create", "--name", "rita", "--role", "Reader", "-o", "json")
	ritaToken := rita["token"].(string)

	// Duplicate names and bad roles are refused with a reason.
	_, stderr, code := s.Run("user", "create", "--name", "bob")
	require.NotZero(t, code)
	require.Contains(t, stderr, "already exists")
	_, stderr, code = s.Run("user", "create", "--name", "carl", "--role", "Admin")
	require.NotZero(t, code)
	require.Contains(t, stderr, "Owner, Contributor, AzureML Data Scientist, Reader")

	as := func(token, method, path string, body any) *Response {
		req := s.NewRequest(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+token)
		return s.Send(t, req)
	}
	// bob writes; rita reads but cannot write; neither creates users.
	resp := as(bobToken, "PUT", s.GroupPath("rg-bob"), map[string]any{"location": "eastus"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, resp.String())
	resp = as(ritaToken, "GET", s.GroupPath("rg-bob"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.String())
	resp = as(ritaToken, "PUT", s.GroupPath("rg-rita"), map[string]any{"location": "eastus"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp.String())
	require.Equal(t, "AuthorizationFailed", resp.Error(t).Code)
	resp = as(bobToken, "PUT", "/mlw/v1/users/eve", map[string]any{"role": "Owner"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp.String())

	// Who am I, and a new token for myself that expires.
	me := as(bobToken, "GET", "/mlw/v1/me", nil).JSON(t)
	require.Equal(t, "bob", me["name"])
	require.Equal(t, bob["objectId"], me["objectId"])
	tok := as(bobToken, "POST", "/mlw/v1/users/bob/tokens", map[string]any{"label": "laptop", "expiresIn": "P1D"}).JSON(t)
	second, _ := tok["token"].(string)
	require.NotEmpty(t, second)
	require.Equal(t, http.StatusOK, as(second, "GET", "/mlw/v1/me", nil).StatusCode)
	// bob may not mint tokens for rita.
	resp = as(bobToken, "POST", "/mlw/v1/users/rita/tokens", map[string]any{})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, resp.String())

	var users []map[string]any
	s.MustRunJSON(t, &users, "user", "list", "-o", "json")
	require.Len(t, users, 3) // admin, bob, rita
	out := s.MustRun(t, "token", "create", "--user", "rita", "-o", "table")
	require.True(t, strings.HasPrefix(strings.TrimSpace(out), "mlw_"), out)
}

// `mlw login` against a server from another home, with a relative
// --ca-file: later commands work from any folder, as that user.
func TestLoginFromAnotherHome(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	var bob map[string]any
	s.MustRunJSON(t, &bob, "user", "create", "--name", "bob", "--role", "Contributor", "-o", "json")
	ca, err := os.ReadFile(filepath.Join(s.Dir, "ca.crt"))
	require.NoError(t, err)
	home, dir := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "client"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client", "ca.crt"), ca, 0o644))

	_, stderr, code := RunMLW(t, home, dir, "login", "--server", "https://"+s.Addr(), "--token", bob["token"].(string), "--ca-file", "client/ca.crt")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "Logged in to")
	_, stderr, code = RunMLW(t, home, t.TempDir(), "group", "create", "--name", "rg-bob", "--location", "eastus")
	require.Zero(t, code, stderr)
	out, stderr, code := RunMLW(t, home, t.TempDir(), "group", "show", "--name", "rg-bob", "-o", "json")
	require.Zero(t, code, stderr)
	require.Contains(t, out, `"createdBy": "bob"`)
}

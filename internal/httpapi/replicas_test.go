package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/store/postgres"
	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestRevocationOnTwoReplicas: two API replicas (each with its own
// authenticator, caches and service, as two `mlw server` processes have)
// share one PostgreSQL database. Revoking a token on one — and with it the
// signed token exchanged for it — holds on the very next request on both;
// so do disabling a user and removing a role assignment.
func TestRevocationOnTwoReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	dir := t.TempDir() // the keys replicas share (signing key, SAS key)
	open := func() *apiBundle {
		st, err := postgres.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return newAPI(t, st, dir)
	}
	r1, r2 := open(), open()
	r1.admin = r1.mustUser(t, "admin", identity.RoleOwner)
	r2.admin = r1.admin
	replicas := []*apiBundle{r1, r2}
	wsA, _ := r1.twoWorkspaces(t)

	bob := r1.mustUser(t, "bob", "")
	r1.assign(t, "bob", identity.RoleDataScientist, wsA)
	second := r1.mustDo(t, bob, "POST", "/mlw/v1/users/bob/tokens", map[string]any{"label": "ci"}, http.StatusCreated)
	tok := second["token"].(string)
	req := httptest.NewRequest("GET", "/identity/token?resource=https://management.azure.com", nil)
	req.Header.Set("X-IDENTITY-HEADER", tok)
	rec := httptest.NewRecorder()
	r2.api.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var issued map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &issued))
	signed := issued["access_token"].(string)

	// Both replicas have verified (and cached) all three credentials.
	for _, r := range replicas {
		for _, cred := range []string{bob, tok, signed} {
			r.mustDo(t, cred, "GET", wsA+"/jobs", nil, http.StatusOK)
		}
	}
	// Revoked on replica 1: 401 on the next request on both replicas, for
	// the token and the signed token derived from it.
	r1.mustDo(t, bob, "DELETE", "/mlw/v1/users/bob/tokens/"+second["id"].(string), nil, http.StatusOK)
	for _, r := range replicas {
		r.mustDo(t, tok, "GET", wsA+"/jobs", nil, http.StatusUnauthorized)
		r.mustDo(t, signed, "GET", wsA+"/jobs", nil, http.StatusUnauthorized)
		r.mustDo(t, bob, "GET", wsA+"/jobs", nil, http.StatusOK)
	}

	// A role assignment removed on replica 2 holds on replica 1 at once.
	var name string
	for _, v := range r2.mustDo(t, r2.admin, "GET", wsA+"/providers/Microsoft.Authorization/roleAssignments?$filter=principalId+eq+'"+r1.userID(t, "bob")+"'", nil, http.StatusOK)["value"].([]any) {
		name = v.(map[string]any)["name"].(string)
	}
	r2.mustDo(t, r2.admin, "DELETE", roleAssignmentID(wsA, name), nil, http.StatusOK)
	for _, r := range replicas {
		r.mustDo(t, bob, "GET", wsA+"/jobs", nil, http.StatusForbidden)
	}
	r1.assign(t, "bob", identity.RoleReader, core.SubscriptionPath(testSub))
	for _, r := range replicas {
		r.mustDo(t, bob, "GET", wsA+"/jobs", nil, http.StatusOK)
	}

	// Disabled on replica 2: 401 on both.
	r2.mustDo(t, r2.admin, "PATCH", "/mlw/v1/users/bob", map[string]any{"disabled": true}, http.StatusOK)
	for _, r := range replicas {
		r.mustDo(t, bob, "GET", "/mlw/v1/me", nil, http.StatusUnauthorized)
	}
}

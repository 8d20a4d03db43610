package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		plain, hash := NewToken()
		require.True(t, strings.HasPrefix(plain, "mlw_"), plain)
		require.Len(t, plain, 4+43, "32 random bytes, base64url")
		require.Equal(t, HashToken(plain), hash)
		require.Len(t, hash, 64, "hex SHA-256")
		require.NotContains(t, hash, plain[4:])
		require.False(t, seen[plain])
		seen[plain] = true
	}
	// The stored form is a plain SHA-256, stable across versions.
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", HashToken(""))
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		role         string
		write, owner bool
	}{
		{RoleOwner, true, true}, {RoleContributor, true, false}, {RoleDataScientist, true, false}, {RoleReader, false, false},
	} {
		p := &Principal{Role: tc.role}
		require.True(t, ValidRole(tc.role))
		require.Equal(t, tc.write, p.CanWrite(), tc.role)
		require.Equal(t, tc.owner, p.IsOwner(), tc.role)
	}
	require.False(t, ValidRole("Admin"))
	require.False(t, ValidRole("owner"), "roles are spelled as in Azure")
}

type authBundle struct {
	auth  *Authenticator
	st    store.Store
	dir   string
	alice *resource.User
	ctx   context.Context
}

// setupAuth opens a real SQLite store with one user. Inside a synctest
// bubble the authenticator's clock (time.Now) is the bubble's fake clock.
func setupAuth(t *testing.T) *authBundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	alice := &resource.User{ID: "0b5e6b6e-a11c-4e00-9000-000000000001", Name: "alice", Role: RoleContributor}
	require.NoError(t, st.CreateUser(ctx, alice))
	a, err := NewAuthenticator(st, dir, "tenant-1")
	require.NoError(t, err)
	return &authBundle{auth: a, st: st, dir: dir, alice: alice, ctx: ctx}
}

func requireUnauthorized(t *testing.T, err error, inMessage string) {
	t.Helper()
	require.Error(t, err)
	e, ok := core.AsError(err)
	require.True(t, ok, "want a *core.Error, got %T", err)
	require.Equal(t, http.StatusUnauthorized, e.Status)
	require.Contains(t, e.Message, inMessage)
}

func TestOpaqueTokens(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	plain, hash := NewToken()
	require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID, Label: "test"}))

	p, err := b.auth.Authenticate(b.ctx, plain)
	require.NoError(t, err)
	require.Equal(t, &Principal{UserID: b.alice.ID, Name: "alice", Role: RoleContributor, TenantID: "tenant-1",
		Grants: []Grant{{Scope: "/", Role: RoleContributor}}, TokenID: resource.TokenID(hash)}, p)

	_, err = b.auth.Authenticate(b.ctx, "")
	requireUnauthorized(t, err, "Authorization: Bearer")
	_, err = b.auth.Authenticate(b.ctx, "mlw_unknown")
	requireUnauthorized(t, err, "not known")
	_, err = b.auth.Authenticate(b.ctx, hash)
	requireUnauthorized(t, err, "not known")

	// A token for a user that does not exist.
	orphan, orphanHash := NewToken()
	require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: orphanHash, UserID: "nobody"}))
	_, err = b.auth.Authenticate(b.ctx, orphan)
	requireUnauthorized(t, err, "user")
}

// TestTokenExpiryAndCache runs on synctest's fake clock: tokens expire at
// their time, and a cached result never outlives its token or cacheTTL.
func TestTokenExpiryAndCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setupAuth(t)
		b.auth.now = time.Now // the bubble's clock

		// An opaque token with an expiry.
		plain, hash := NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID, ExpiresAt: time.Now().Add(time.Minute)}))
		_, err := b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		_, err = b.auth.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "expired")

		// A deleted token fails on the next request: the store moved the
		// revocation epoch, which drops the cache.
		plain, hash = NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID}))
		_, err = b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		require.NoError(t, b.st.DeleteToken(b.ctx, hash))
		_, err = b.auth.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "not known")

		// A verification is reused for at most cacheTTL without the epoch
		// moving (a row deleted behind the store's back, as here).
		plain, hash = NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID}))
		_, err = b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		b.auth.mu.Lock()
		delete(b.auth.tokens, plain)
		b.auth.tokens[plain] = cachedToken{userID: b.alice.ID, tokenID: "gone", expires: time.Now().Add(cacheTTL)}
		b.auth.mu.Unlock()
		time.Sleep(cacheTTL - time.Second)
		_, err = b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err, "still cached")
		require.NoError(t, b.st.DeleteToken(b.ctx, hash))
		_, err = b.auth.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "not known")

		// Forget drops the cache at once.
		plain, hash = NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID}))
		_, err = b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		require.NoError(t, b.st.DeleteToken(b.ctx, hash))
		b.auth.Forget()
		_, err = b.auth.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "not known")
	})
}

func TestSignedTokens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setupAuth(t)
		b.auth.now = time.Now

		_, hash := NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID}))
		src := resource.TokenID(hash)
		_, _, err := b.auth.Issue(b.alice, time.Hour, "", "")
		require.Error(t, err, "a signed token must derive from an API token")
		tok, exp, err := b.auth.Issue(b.alice, 10*time.Second, "instance-1", src)
		require.NoError(t, err)
		require.Equal(t, time.Now().Add(10*time.Second), exp)
		require.Equal(t, 2, strings.Count(tok, "."), "a JWT")

		p, err := b.auth.Authenticate(b.ctx, tok)
		require.NoError(t, err)
		require.Equal(t, &Principal{UserID: b.alice.ID, Name: "alice", Role: RoleContributor, TenantID: "tenant-1", Scope: "instance-1",
			Grants: []Grant{{Scope: "/", Role: RoleContributor}}, TokenID: src}, p)

		// The claims Azure clients read.
		var claims Claims
		_, _, err = jwt.NewParser().ParseUnverified(tok, &claims)
		require.NoError(t, err)
		require.Equal(t, b.alice.ID, claims.OID)
		require.Equal(t, "tenant-1", claims.TID)
		require.Equal(t, jwt.ClaimStrings{"https://management.azure.com"}, claims.Audience)

		// The cache does not outlive the token (10 s < cacheTTL).
		time.Sleep(10 * time.Second)
		_, err = b.auth.Authenticate(b.ctx, tok)
		requireUnauthorized(t, err, "expired")

		// Another key's token, a tampered token and an unsigned one.
		tok, _, err = b.auth.Issue(b.alice, time.Hour, "", src)
		require.NoError(t, err)
		_, other, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		forged, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": b.alice.ID, "iss": "mlw", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(other)
		require.NoError(t, err)
		none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": b.alice.ID, "iss": "mlw"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		require.NoError(t, err)
		parts := strings.Split(tok, ".")
		tampered := parts[0] + "." + parts[1] + "x." + parts[2]
		for _, bad := range []string{forged, none, tampered} {
			_, err := b.auth.Authenticate(b.ctx, bad)
			requireUnauthorized(t, err, "not valid")
		}

		// A token signed with this server's key but without exp is refused
		// with 401 (it used to panic the handler).
		noExp, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": b.alice.ID, "iss": "mlw", "oid": b.alice.ID}).SignedString(b.auth.key)
		require.NoError(t, err)
		_, err = b.auth.Authenticate(b.ctx, noExp)
		requireUnauthorized(t, err, "no expiry (claim exp)")

		// A restarted server (same data directory) verifies earlier tokens.
		again, err := NewAuthenticator(b.st, b.dir, "tenant-1")
		require.NoError(t, err)
		again.now = time.Now
		_, err = again.Authenticate(b.ctx, tok)
		require.NoError(t, err)

		// A signed token lives only as long as the API token it was
		// issued for: revoking that kills it at once.
		require.NoError(t, b.st.DeleteToken(b.ctx, hash))
		_, err = b.auth.Authenticate(b.ctx, tok)
		requireUnauthorized(t, err, "revoked")
		_, err = again.Authenticate(b.ctx, tok)
		requireUnauthorized(t, err, "revoked")

		// One without a source (an older mlw's) is refused.
		old, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "mlw", Subject: b.alice.ID,
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}, OID: b.alice.ID}).SignedString(b.auth.key)
		require.NoError(t, err)
		_, err = b.auth.Authenticate(b.ctx, old)
		requireUnauthorized(t, err, "older mlw")
	})
}

// TestRevocation: disabling or deleting a user, and changing their role
// assignments, hold on the next request, also on a second authenticator
// over the same store (another replica).
func TestRevocation(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	other, err := NewAuthenticator(b.st, b.dir, "tenant-1")
	require.NoError(t, err)
	plain, hash := NewToken()
	require.NoError(t, b.st.CreateToken(b.ctx, &resource.Token{Hash: hash, UserID: b.alice.ID}))
	for _, a := range []*Authenticator{b.auth, other} {
		p, err := a.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		require.Equal(t, RoleContributor, p.Role)
	}

	const ws = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
	require.NoError(t, b.st.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "a1", Scope: ws, Role: RoleOwner, PrincipalID: b.alice.ID}))
	for _, a := range []*Authenticator{b.auth, other} {
		p, err := a.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		role, from := p.RoleAt(ws + "/jobs/j1")
		require.Equal(t, RoleOwner, role, "a new assignment holds at once")
		require.Equal(t, ScopeKey(ws), from)
	}

	u := *b.alice
	u.Disabled = true
	require.NoError(t, b.st.UpdateUser(b.ctx, &u))
	for _, a := range []*Authenticator{b.auth, other} {
		_, err := a.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "disabled")
	}
	u.Disabled = false
	require.NoError(t, b.st.UpdateUser(b.ctx, &u))
	for _, a := range []*Authenticator{b.auth, other} {
		_, err := a.Authenticate(b.ctx, plain)
		require.NoError(t, err)
	}
	require.NoError(t, b.st.DeleteUser(b.ctx, b.alice.ID))
	for _, a := range []*Authenticator{b.auth, other} {
		_, err := a.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "not known")
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	const (
		sub = "/subscriptions/S1"
		rgA = sub + "/resourceGroups/rg-a"
		wsA = rgA + "/providers/Microsoft.MachineLearningServices/workspaces/ws-a"
		wsB = sub + "/resourceGroups/rg-b/providers/Microsoft.MachineLearningServices/workspaces/ws-b"
	)
	reader := &Principal{Name: "rita", UserID: "u1", Grants: []Grant{{Scope: ScopeKey(wsA), Role: RoleReader}}}
	require.True(t, reader.Can(ActRead, wsA))
	require.True(t, reader.Can(ActRead, strings.ToUpper(wsA)+"/jobs/j1"), "scopes ignore case and hold below")
	require.False(t, reader.Can(ActWrite, wsA))
	require.False(t, reader.Can(ActRead, wsB))
	require.False(t, reader.Can(ActRead, wsA+"x"), "a prefix that is not a parent does not count")
	require.True(t, reader.Can(ActSee, sub), "a role below the subscription shows it")
	require.True(t, reader.Can(ActSee, rgA))
	require.False(t, reader.Can(ActSee, sub+"/resourceGroups/rg-b"))
	require.False(t, reader.Can(ActRead, rgA), "seeing is not reading")

	e, ok := core.AsError(reader.Check(ActRead, wsB))
	require.True(t, ok)
	require.Equal(t, http.StatusForbidden, e.Status)
	require.Equal(t, "AuthorizationFailed", e.Code)
	require.Contains(t, e.Message, "no role at scope '"+wsB+"'")
	require.Contains(t, e.Message, "Reader")
	e, _ = core.AsError(reader.Check(ActWrite, wsA))
	require.Contains(t, e.Message, "has the Reader role at scope '"+ScopeKey(wsA)+"'")
	require.Contains(t, e.Message, "needs the AzureML Data Scientist role")

	// The strongest role at the scope or above wins.
	p := &Principal{Name: "dora", Grants: []Grant{{Scope: ScopeKey(sub), Role: RoleReader}, {Scope: ScopeKey(wsA), Role: RoleDataScientist}}}
	role, from := p.RoleAt(wsA + "/computes/c1")
	require.Equal(t, RoleDataScientist, role)
	require.Equal(t, ScopeKey(wsA), from)
	require.True(t, p.Can(ActWrite, wsA))
	require.False(t, p.Can(ActManage, wsA), "a Data Scientist does not manage computes")
	require.True(t, p.Can(ActRead, wsB))
	at := p.At(wsA)
	require.Equal(t, RoleDataScientist, at.Role)
	require.True(t, at.CanWrite())
	require.False(t, at.CanManage())
	require.Equal(t, RoleReader, at.At(wsB).Role, "At keeps every grant")

	// A principal built with a Role and no grants holds it everywhere.
	legacy := &Principal{Name: "old", Role: RoleContributor}
	require.True(t, legacy.Can(ActManage, wsB))
	require.False(t, legacy.ServerOwner())
	require.True(t, (&Principal{Role: RoleOwner}).ServerOwner())

	for _, tc := range []struct {
		in, level, id string
	}{
		{"/", ScopeServer, "/"},
		{"/subscriptions/S1", ScopeSubscription, "/subscriptions/S1"},
		{"/SUBSCRIPTIONS/S1/resourcegroups/rg-a/", ScopeResourceGroup, rgA},
		{strings.ToLower(wsA), ScopeWorkspace, "/subscriptions/s1/resourceGroups/rg-a/providers/Microsoft.MachineLearningServices/workspaces/ws-a"},
	} {
		ps, err := ParseScope("scope", tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.level, ps.Level)
		require.Equal(t, tc.id, ps.ID())
	}
	for _, bad := range []string{"/subscriptions", "/subscriptions/s/resourceGroups", wsA + "/computes/c1", "/subscriptions//resourceGroups/x", "rg-a"} {
		_, err := ParseScope("scope", bad)
		require.Error(t, err, bad)
	}
	d, ok := LookupRole("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/f6c7c914-8db3-469d-8ca1-694a8f32e121")
	require.True(t, ok)
	require.Equal(t, RoleDataScientist, d.Name)
	d, ok = LookupRole("azureml data scientist")
	require.True(t, ok)
	require.Equal(t, RoleDataScientist, d.Name)
	_, ok = LookupRole("Admin")
	require.False(t, ok)
}

// BenchmarkAuthenticateCached is the per-request cost of a known token:
// the revocation epoch read (one primary-key lookup in SQLite) and two map
// lookups. docs/security.md quotes it.
func BenchmarkAuthenticateCached(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "mlw.db"))
	require.NoError(b, err)
	defer st.Close()
	require.NoError(b, st.CreateUser(ctx, &resource.User{ID: "u1", Name: "alice", Role: RoleContributor}))
	a, err := NewAuthenticator(st, dir, "t")
	require.NoError(b, err)
	plain, hash := NewToken()
	require.NoError(b, st.CreateToken(ctx, &resource.Token{Hash: hash, UserID: "u1"}))
	for b.Loop() {
		if _, err := a.Authenticate(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}

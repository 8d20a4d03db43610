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
		{RoleOwner, true, true}, {RoleContributor, true, false}, {RoleReader, false, false},
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
	alice *store.User
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
	alice := &store.User{ID: "0b5e6b6e-a11c-4e00-9000-000000000001", Name: "alice", Role: RoleContributor}
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
	require.NoError(t, b.st.CreateToken(b.ctx, &store.Token{Hash: hash, UserID: b.alice.ID, Label: "test"}))

	p, err := b.auth.Authenticate(b.ctx, plain)
	require.NoError(t, err)
	require.Equal(t, &Principal{UserID: b.alice.ID, Name: "alice", Role: RoleContributor, TenantID: "tenant-1"}, p)

	_, err = b.auth.Authenticate(b.ctx, "")
	requireUnauthorized(t, err, "Authorization: Bearer")
	_, err = b.auth.Authenticate(b.ctx, "mlw_unknown")
	requireUnauthorized(t, err, "not known")
	_, err = b.auth.Authenticate(b.ctx, hash)
	requireUnauthorized(t, err, "not known")

	// A token for a user that does not exist.
	orphan, orphanHash := NewToken()
	require.NoError(t, b.st.CreateToken(b.ctx, &store.Token{Hash: orphanHash, UserID: "nobody"}))
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
		require.NoError(t, b.st.CreateToken(b.ctx, &store.Token{Hash: hash, UserID: b.alice.ID, ExpiresAt: time.Now().Add(time.Minute)}))
		_, err := b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		_, err = b.auth.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "expired")

		// A deleted token works from the cache for at most cacheTTL.
		plain, hash = NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &store.Token{Hash: hash, UserID: b.alice.ID}))
		_, err = b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err)
		require.NoError(t, b.st.DeleteToken(b.ctx, hash))
		time.Sleep(cacheTTL - time.Second)
		_, err = b.auth.Authenticate(b.ctx, plain)
		require.NoError(t, err, "still cached")
		time.Sleep(time.Second)
		_, err = b.auth.Authenticate(b.ctx, plain)
		requireUnauthorized(t, err, "not known")

		// Forget drops the cache at once.
		plain, hash = NewToken()
		require.NoError(t, b.st.CreateToken(b.ctx, &store.Token{Hash: hash, UserID: b.alice.ID}))
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

		tok, exp, err := b.auth.Issue(b.alice, 10*time.Second, "instance-1")
		require.NoError(t, err)
		require.Equal(t, time.Now().Add(10*time.Second), exp)
		require.Equal(t, 2, strings.Count(tok, "."), "a JWT")

		p, err := b.auth.Authenticate(b.ctx, tok)
		require.NoError(t, err)
		require.Equal(t, &Principal{UserID: b.alice.ID, Name: "alice", Role: RoleContributor, TenantID: "tenant-1", Scope: "instance-1"}, p)

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
		tok, _, err = b.auth.Issue(b.alice, time.Hour, "")
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
	})
}

package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/store"
)

// Roles, from most to least powerful.
const (
	RoleOwner       = "Owner"
	RoleContributor = "Contributor"
	RoleReader      = "Reader"
)

// ValidRole reports whether r names a role.
func ValidRole(r string) bool { return r == RoleOwner || r == RoleContributor || r == RoleReader }

// Principal is an authenticated caller.
type Principal struct {
	UserID   string
	Name     string
	Role     string
	TenantID string
	// Scope restricts a token to one compute instance's owner use, when set
	// (tokens minted inside an instance carry the instance's id).
	Scope string
}

// CanWrite reports whether the principal may change resources.
func (p *Principal) CanWrite() bool { return p.Role == RoleOwner || p.Role == RoleContributor }

// IsOwner reports whether the principal holds the Owner role.
func (p *Principal) IsOwner() bool { return p.Role == RoleOwner }

// NewToken returns a fresh opaque API token and the hash under which it is
// stored. Only the hash is ever written to the database.
func NewToken() (plain, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	plain = "mlw_" + base64.RawURLEncoding.EncodeToString(b)
	return plain, HashToken(plain)
}

// HashToken returns the stored form of a token.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

const signingKeyFile = "signing.key"

// Claims are carried by the signed tokens mlw issues.
type Claims struct {
	jwt.RegisteredClaims
	Name  string `json:"name,omitempty"`
	OID   string `json:"oid"`
	TID   string `json:"tid,omitempty"`
	Scope string `json:"mlw_scope,omitempty"`
}

// Authenticator checks bearer tokens: opaque tokens against their stored
// hash, signed tokens against mlw's signing key. Results are cached briefly
// so that a busy client costs one hash and one map lookup per request.
type Authenticator struct {
	st       store.Store
	key      ed25519.PrivateKey
	issuer   string
	tenantID string
	now      func() time.Time

	mu    sync.RWMutex
	cache map[string]cached
}

type cached struct {
	p       *Principal
	expires time.Time
}

// cacheTTL bounds how long a deleted token or changed role may still work.
const cacheTTL = 30 * time.Second

// NewAuthenticator loads (or creates) the signing key in dir.
func NewAuthenticator(st store.Store, dir, tenantID string) (*Authenticator, error) {
	key, err := loadOrCreateSigningKey(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return nil, err
	}
	return &Authenticator{st: st, key: key, issuer: "mlw", tenantID: tenantID, now: time.Now, cache: map[string]cached{}}, nil
}

func loadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("write signing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("signing key %s is not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not Ed25519", path)
	}
	return key, nil
}

// Issue signs a token for a user, valid for ttl. scope, when not empty,
// binds the token to one compute instance.
func (a *Authenticator) Issue(u *store.User, ttl time.Duration, scope string) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(ttl)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{"https://management.azure.com"},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Name: u.Name, OID: u.ID, TID: a.tenantID, Scope: scope,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(a.key)
	return s, exp, err
}

// Authenticate maps a bearer token to a principal, or returns a core.Error
// with status 401 that says what to do.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, core.Unauthorized("This request needs an Authorization: Bearer <token> header. Run `mlw login` or use the token in the server's data directory.")
	}
	now := a.now()
	a.mu.RLock()
	c, ok := a.cache[token]
	a.mu.RUnlock()
	if ok && now.Before(c.expires) {
		return c.p, nil
	}
	var p *Principal
	expires := now.Add(cacheTTL)
	if strings.Count(token, ".") == 2 {
		var claims Claims
		_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.key.Public(), nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(a.issuer), jwt.WithTimeFunc(a.now), jwt.WithExpirationRequired())
		if err != nil {
			if errors.Is(err, jwt.ErrTokenExpired) {
				return nil, core.Unauthorized("The access token has expired; request a new one from the token endpoint.")
			}
			if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
				return nil, core.Unauthorized("The access token has no expiry (claim exp); mlw accepts only tokens from its token endpoint, which always set one. Request a new one.")
			}
			return nil, core.Unauthorized("The access token is not valid: it was not signed by this server or is malformed.")
		}
		u, err := a.st.GetUser(ctx, claims.Subject)
		if err != nil {
			return nil, core.Unauthorized("The access token names a user that no longer exists.")
		}
		p = &Principal{UserID: u.ID, Name: u.Name, Role: u.Role, TenantID: a.tenantID, Scope: claims.Scope}
		if e := claims.ExpiresAt.Time; e.Before(expires) {
			expires = e
		}
	} else {
		t, err := a.st.LookupToken(ctx, HashToken(token))
		if errors.Is(err, store.ErrNotFound) {
			return nil, core.Unauthorized("The token is not known to this server. Check MLW_TOKEN or run `mlw login` again.")
		}
		if err != nil {
			return nil, core.Internal(err)
		}
		if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
			return nil, core.Unauthorized("The token has expired; create a new one with `mlw token create` (or ask an Owner).")
		}
		u, err := a.st.GetUser(ctx, t.UserID)
		if err != nil {
			return nil, core.Unauthorized("The token's user no longer exists.")
		}
		p = &Principal{UserID: u.ID, Name: u.Name, Role: u.Role, TenantID: a.tenantID}
		if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(expires) {
			expires = t.ExpiresAt
		}
	}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache)
	}
	a.cache[token] = cached{p: p, expires: expires}
	a.mu.Unlock()
	return p, nil
}

// Forget drops cached results (after a token is deleted or a role changes).
func (a *Authenticator) Forget() {
	a.mu.Lock()
	clear(a.cache)
	a.mu.Unlock()
}

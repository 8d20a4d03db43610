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
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Principal is an authenticated caller.
type Principal struct {
	UserID string
	Name   string
	// Role is the role in effect: the user's server-wide role as
	// authenticated, and the strongest role at the request's scope once the
	// API has resolved it (At). Admission checks it (CanWrite, IsOwner).
	Role     string
	TenantID string
	// Scope restricts a token to one compute instance's owner use, when set
	// (tokens minted inside an instance carry the instance's id).
	Scope string
	// Grants are every role the user holds: the server-wide role at "/"
	// and each role assignment (roles.go).
	Grants []Grant
	// TokenID is the id (store.TokenID) of the API token this credential
	// is or derives from: the opaque token itself, the token a signed
	// token was exchanged for, the token a browser session was opened
	// with; "" for a password sign-in. Revoking that token ends them all.
	TokenID string
}

// CanWrite reports whether the principal may change resources inside a
// workspace (AzureML Data Scientist and stronger roles).
func (p *Principal) CanWrite() bool { return Allows(p.Role, ActWrite) }

// CanManage reports whether the principal may create, change and delete
// computes, workspaces and groups (Contributor and Owner).
func (p *Principal) CanManage() bool { return Allows(p.Role, ActManage) }

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
	// Source is the id of the API token the signed token was issued for;
	// it is valid only while that token is.
	Source string `json:"mlw_src,omitempty"`
}

// Authenticator checks bearer tokens: opaque tokens against their stored
// hash, signed tokens against mlw's signing key and the token they were
// issued for. What it verified is cached, and the cache is dropped
// whenever the store's revocation epoch moves (store.Access), which every
// request reads: a busy client costs one primary-key read and two map
// lookups per request, and a revocation holds on the next request on every
// replica.
type Authenticator struct {
	st       store.Store
	key      ed25519.PrivateKey
	issuer   string
	tenantID string
	now      func() time.Time

	mu sync.Mutex
	// epoch is the revocation epoch that tokens and users were cached at.
	epoch  int64
	tokens map[string]cachedToken
	users  map[string]*cachedUser
}

// cachedToken is a verified token.
type cachedToken struct {
	userID, tokenID, scope string
	expires                time.Time
}

// cachedUser is a user and their grants.
type cachedUser struct {
	u       *resource.User
	grants  []Grant
	expires time.Time
}

// cacheTTL bounds how long a verification is reused even when the epoch
// does not move (a safety net: every revocation moves it).
const cacheTTL = 30 * time.Second

// NewAuthenticator loads (or creates) the signing key in dir.
func NewAuthenticator(st store.Store, dir, tenantID string) (*Authenticator, error) {
	key, err := loadOrCreateSigningKey(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return nil, err
	}
	return &Authenticator{st: st, key: key, issuer: "mlw", tenantID: tenantID, now: time.Now,
		tokens: map[string]cachedToken{}, users: map[string]*cachedUser{}}, nil
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

// Issue signs a token for a user, valid for ttl and only while the API
// token source (its store.TokenID) exists. scope, when not empty, binds
// the token to one compute instance.
func (a *Authenticator) Issue(u *resource.User, ttl time.Duration, scope, source string) (string, time.Time, error) {
	if source == "" {
		return "", time.Time{}, errors.New("issue a signed token: it needs the API token it derives from")
	}
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
		Name: u.Name, OID: u.ID, TID: a.tenantID, Scope: scope, Source: source,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(a.key)
	return s, exp, err
}

// sync reads the revocation epoch and drops the caches when it moved. It
// returns the epoch, under which results verified now may be cached.
func (a *Authenticator) sync(ctx context.Context) (int64, error) {
	e, err := a.st.AuthEpoch(ctx)
	if err != nil {
		return 0, core.Internal(err)
	}
	a.mu.Lock()
	if e != a.epoch {
		clear(a.tokens)
		clear(a.users)
		a.epoch = e
	}
	a.mu.Unlock()
	return e, nil
}

// Authenticate maps a bearer token to a principal, or returns a core.Error
// with status 401 that says what to do.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, core.Unauthorized("This request needs an Authorization: Bearer <token> header. Run `mlw login` or use the token in the server's data directory.")
	}
	epoch, err := a.sync(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	a.mu.Lock()
	c, ok := a.tokens[token]
	a.mu.Unlock()
	if !ok || !now.Before(c.expires) {
		if c, err = a.verify(ctx, token, now); err != nil {
			return nil, err
		}
		a.mu.Lock()
		if a.epoch == epoch {
			if len(a.tokens) > 10000 {
				clear(a.tokens)
			}
			a.tokens[token] = c
		}
		a.mu.Unlock()
	}
	p, err := a.principal(ctx, epoch, c.userID, now)
	if err != nil {
		return nil, err
	}
	p.Scope, p.TokenID = c.scope, c.tokenID
	return p, nil
}

// verify checks a token against the signing key or the store.
func (a *Authenticator) verify(ctx context.Context, token string, now time.Time) (cachedToken, error) {
	expires := now.Add(cacheTTL)
	if strings.Count(token, ".") == 2 {
		var claims Claims
		_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.key.Public(), nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(a.issuer), jwt.WithTimeFunc(a.now), jwt.WithExpirationRequired())
		if err != nil {
			if errors.Is(err, jwt.ErrTokenExpired) {
				return cachedToken{}, core.Unauthorized("The access token has expired; request a new one from the token endpoint.")
			}
			if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
				return cachedToken{}, core.Unauthorized("The access token has no expiry (claim exp); mlw accepts only tokens from its token endpoint, which always set one. Request a new one.")
			}
			return cachedToken{}, core.Unauthorized("The access token is not valid: it was not signed by this server or is malformed.")
		}
		if claims.Source == "" {
			return cachedToken{}, core.Unauthorized("The access token was issued by an older mlw and cannot be revoked, so it is no longer accepted; request a new one from the token endpoint.")
		}
		toks, err := a.st.ListTokens(ctx, claims.Subject)
		if err != nil {
			return cachedToken{}, core.Internal(err)
		}
		found := false
		for _, t := range toks {
			if t.ID() == claims.Source && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) {
				found = true
			}
		}
		if !found {
			return cachedToken{}, core.Unauthorized("The access token was issued for an API token that has been revoked or has expired; get a new API token (`mlw token create`) and request a new access token.")
		}
		if claims.ExpiresAt != nil && claims.ExpiresAt.Time.Before(expires) {
			expires = claims.ExpiresAt.Time
		}
		return cachedToken{userID: claims.Subject, tokenID: claims.Source, scope: claims.Scope, expires: expires}, nil
	}
	t, err := a.st.LookupToken(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return cachedToken{}, core.Unauthorized("The token is not known to this server (it may have been revoked). Check MLW_TOKEN or run `mlw login` again.")
	}
	if err != nil {
		return cachedToken{}, core.Internal(err)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return cachedToken{}, core.Unauthorized("The token has expired; create a new one with `mlw token create` (or ask an Owner).")
	}
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(expires) {
		expires = t.ExpiresAt
	}
	return cachedToken{userID: t.UserID, tokenID: t.ID(), expires: expires}, nil
}

// principal returns the principal of a user with their grants, from the
// cache filled under epoch or the store. A user who was deleted or is
// disabled gets 401.
func (a *Authenticator) principal(ctx context.Context, epoch int64, userID string, now time.Time) (*Principal, error) {
	a.mu.Lock()
	cu := a.users[userID]
	a.mu.Unlock()
	if cu == nil || !now.Before(cu.expires) {
		u, err := a.st.GetUser(ctx, userID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, core.Unauthorized("The credential's user no longer exists.")
		}
		if err != nil {
			return nil, core.Internal(err)
		}
		ras, err := a.st.ListRoleAssignments(ctx, userID)
		if err != nil {
			return nil, core.Internal(err)
		}
		grants := make([]Grant, 0, len(ras)+1)
		if u.Role != "" && u.Role != RoleNone {
			grants = append(grants, Grant{Scope: "/", Role: u.Role})
		}
		for _, ra := range ras {
			grants = append(grants, Grant{Scope: ScopeKey(ra.Scope), Role: ra.Role})
		}
		cu = &cachedUser{u: u, grants: grants, expires: now.Add(cacheTTL)}
		a.mu.Lock()
		if a.epoch == epoch {
			if len(a.users) > 10000 {
				clear(a.users)
			}
			a.users[userID] = cu
		}
		a.mu.Unlock()
	}
	if cu.u.Disabled {
		return nil, core.Unauthorized("The user '%s' is disabled; an Owner can enable it again (`mlw user enable --name %s`).", cu.u.Name, cu.u.Name)
	}
	role := cu.u.Role
	if role == RoleNone {
		role = ""
	}
	return &Principal{UserID: cu.u.ID, Name: cu.u.Name, Role: role, TenantID: a.tenantID, Grants: cu.grants}, nil
}

// UserPrincipal returns the principal of a user by object id, with their
// grants, for credentials that name a user rather than carry a token (SAS,
// signed log URLs): 401 when the user was deleted or is disabled.
func (a *Authenticator) UserPrincipal(ctx context.Context, userID string) (*Principal, error) {
	epoch, err := a.sync(ctx)
	if err != nil {
		return nil, err
	}
	return a.principal(ctx, epoch, userID, a.now())
}

// Forget drops cached results (tests; revocations move the epoch).
func (a *Authenticator) Forget() {
	a.mu.Lock()
	clear(a.tokens)
	clear(a.users)
	a.mu.Unlock()
}

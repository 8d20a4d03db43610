package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Browser sign-in. A browser cannot send an Authorization header with the
// pages, scripts and WebSockets an application loads, and a token in a URL
// leaks into histories and logs. So a signed-in client (the CLI, later the
// studio) asks for a one-time link; opening it exchanges the link for a
// session, carried by an HttpOnly, Secure, SameSite=Strict cookie whose
// Path is the session's scope (one compute instance's Jupyter, say). The
// session is bound to the user and to the resource's UID, and checked
// against both on every request, so a cookie opens only what it was made
// for. Links and sessions are rows of the store (only hashes), so they work
// across replicas, a link is single-use everywhere, and ending a session
// takes effect at once.
const (
	// SignInLinkTTL is how long a one-time link may be opened.
	SignInLinkTTL = 2 * time.Minute
	// SessionTTL is how long a browser session lasts.
	SessionTTL = 12 * time.Hour
	// SessionCookie is the session cookie's name.
	SessionCookie = "mlw_session"
)

// SignIn is what a link grants once exchanged.
type SignIn struct {
	// Scope is the URL path the session opens (the cookie's Path).
	Scope string
	// Resource is the UID of the resource the session is bound to.
	Resource string
	// Target is where the link leads (a path within Scope).
	Target string
	// Source is the id of the API token the link was asked for with (set
	// by NewSignInLink); revoking that token ends the session.
	Source string
}

// newSecret returns a random secret with a prefix naming its kind.
func newSecret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewSignInLink stores a one-time link for p and returns its secret.
func (a *Authenticator) NewSignInLink(ctx context.Context, p *Principal, in SignIn) (string, time.Time, error) {
	if p == nil || p.UserID == "" {
		return "", time.Time{}, core.Unauthorized("Sign in first.")
	}
	secret := newSecret("mlwl_")
	exp := a.now().Add(SignInLinkTTL)
	err := a.st.CreateSession(ctx, &resource.Session{Hash: HashToken(secret), Kind: resource.SessionLink, UserID: p.UserID,
		Scope: in.Scope, Resource: in.Resource, Target: in.Target, Source: p.TokenID, ExpiresAt: exp, CreatedAt: a.now()})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create a sign-in link: %w", err)
	}
	return secret, exp, nil
}

// errLink: the link is unknown, already used or expired.
var errLink = core.Unauthorized("This sign-in link was already used or has expired (links work once, for %s). Ask for a new one, e.g. `mlw compute open-jupyter --name <instance>`.", SignInLinkTTL)

// RedeemSignInLink exchanges a one-time link for a session. The link is
// used up whatever happens; it returns the session's secret (the cookie's
// value) and what it grants.
func (a *Authenticator) RedeemSignInLink(ctx context.Context, secret string) (string, *resource.Session, error) {
	if !strings.HasPrefix(secret, "mlwl_") {
		return "", nil, errLink
	}
	link, err := a.st.TakeSession(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errLink
	}
	if err != nil {
		return "", nil, core.Internal(err)
	}
	now := a.now()
	if link.Kind != resource.SessionLink || !now.Before(link.ExpiresAt) {
		return "", nil, errLink
	}
	u, err := a.st.GetUser(ctx, link.UserID)
	if err != nil {
		return "", nil, core.Unauthorized("The sign-in link's user no longer exists.")
	}
	if u.Disabled {
		return "", nil, core.Unauthorized("The user '%s' is disabled; an Owner can enable it again (`mlw user enable --name %s`).", u.Name, u.Name)
	}
	return a.newSession(ctx, link.UserID, SignIn{Scope: link.Scope, Resource: link.Resource, Target: link.Target, Source: link.Source})
}

// AuthenticateSession maps a session cookie to its principal, for a
// request to path. It fails with 401 for an unknown or ended session and
// with 403 when path is outside the session's scope. Callers that act on a
// resource must also check that it is the session's (Session.Resource).
func (a *Authenticator) AuthenticateSession(ctx context.Context, secret, path string) (*Principal, *resource.Session, error) {
	if !strings.HasPrefix(secret, "mlws_") {
		return nil, nil, core.Unauthorized("The session cookie is not valid; sign in again.")
	}
	s, err := a.st.GetSession(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, core.Unauthorized("Your session has ended; sign in again.")
	}
	if err != nil {
		return nil, nil, core.Internal(err)
	}
	if s.Kind != resource.SessionCookie || !a.now().Before(s.ExpiresAt) {
		_ = a.st.DeleteSession(ctx, s.Hash)
		return nil, nil, core.Unauthorized("Your session has ended; sign in again.")
	}
	if !InScope(path, s.Scope) {
		return nil, nil, core.Forbidden("This browser session was opened for %s, not for %s; sign in to it separately.", s.Scope, path)
	}
	epoch, err := a.sync(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := a.principal(ctx, epoch, s.UserID, a.now())
	if err != nil {
		return nil, nil, err
	}
	p.TokenID = s.Source
	return p, s, nil
}

// EndSession removes a session (sign-out).
func (a *Authenticator) EndSession(ctx context.Context, secret string) error {
	return a.st.DeleteSession(ctx, HashToken(secret))
}

// InScope reports whether path lies within a session scope (a path that
// ends in "/"), comparing without regard to case as ARM paths are.
func InScope(path, scope string) bool {
	if scope == "" {
		return false
	}
	return len(path) >= len(scope) && strings.EqualFold(path[:len(scope)], scope) ||
		strings.EqualFold(path+"/", scope)
}

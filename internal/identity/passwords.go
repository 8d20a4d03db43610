package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Passwords sign people in to the studio without the CLI (the one-time
// link needs a signed-in client). Only a bcrypt hash is stored, in its own
// table (store.Identities.SetPassword); API clients keep using tokens.
const (
	// MinPasswordLength is the shortest password accepted.
	MinPasswordLength = 8
	// maxPasswordBytes is bcrypt's limit (it ignores what follows).
	maxPasswordBytes = 72
	// StudioScope is the scope of a studio session: the studio calls the
	// whole API with it (cookie Path "/"), and opens the Jupyter of the
	// instances assigned to its user.
	StudioScope = "/"
	// CSRFHeader carries a cookie session's CSRF token on every request
	// that changes something (identity.CSRFToken).
	CSRFHeader = "X-Mlw-Csrf"
)

// CheckPassword tells what is wrong with a new password, naming the fix.
func CheckPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return core.Invalid("password", "The password is too short: use at least %d characters.", MinPasswordLength)
	case len(pw) > maxPasswordBytes:
		return core.Invalid("password", "The password is too long: use at most %d bytes.", maxPasswordBytes)
	}
	return nil
}

// HashPassword checks a new password and returns its bcrypt hash.
func HashPassword(pw string) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", core.Internal(fmt.Errorf("hash password: %w", err))
	}
	return string(h), nil
}

// SetPassword stores a bcrypt hash of pw for the user.
func (a *Authenticator) SetPassword(ctx context.Context, userID, pw string) error {
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	if err := a.st.SetPassword(ctx, userID, h); err != nil {
		return core.Internal(err)
	}
	return nil
}

// errLogin is the one answer to a wrong name or password, so that the
// answer does not tell which users exist.
var errLogin = core.Unauthorized("The user name or password is wrong. Users without a password sign in with a link: run `mlw studio`.")

// dummyHash makes a login for an unknown user cost what a real one costs.
// It is made on first use: computed at start it cost every mlw process —
// each CLI command, each process supervisor — 50 ms.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("mlw-no-such-user"), bcrypt.DefaultCost)
	return h
})

// SignInWithPassword checks a user's password and starts a studio
// session; it returns the session's secret (the cookie's value).
func (a *Authenticator) SignInWithPassword(ctx context.Context, name, pw string) (string, *resource.Session, error) {
	u, err := a.st.GetUserByName(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", nil, core.Internal(err)
	}
	hash := dummyHash()
	if u != nil {
		if h, err := a.st.GetPassword(ctx, u.ID); err == nil {
			hash = []byte(h)
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", nil, core.Internal(err)
		}
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pw)) != nil || u == nil {
		return "", nil, errLogin
	}
	return a.newSession(ctx, u.ID, SignIn{Scope: StudioScope, Target: "/studio/"})
}

// newSession stores a cookie session for userID and returns its secret.
func (a *Authenticator) newSession(ctx context.Context, userID string, in SignIn) (string, *resource.Session, error) {
	now := a.now()
	sess := newSecret("mlws_")
	s := &resource.Session{Hash: HashToken(sess), Kind: resource.SessionCookie, UserID: userID, Scope: in.Scope,
		Resource: in.Resource, Target: in.Target, Source: in.Source, ExpiresAt: now.Add(SessionTTL), CreatedAt: now}
	if err := a.st.CreateSession(ctx, s); err != nil {
		return "", nil, core.Internal(err)
	}
	return sess, s, nil
}

// CSRFToken is the token a cookie session's writes must carry in
// CSRFHeader. It is derived from the session's secret, which only the
// server and the HttpOnly cookie know, so another site can neither read
// nor compute it, and nothing more needs storing.
func CSRFToken(sessionSecret string) string {
	sum := sha256.Sum256([]byte("mlw-csrf\x00" + sessionSecret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

package httpapi

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/webui"
)

// The studio (internal/webui, docs/studio.md) is a browser application on
// the API's origin. It calls the public API with a studio session: the
// sign-in cookie of identity/sessions.go with scope "/" and no resource,
// from a one-time link (`mlw studio`) or a user name and password.
//
//	GET    /mlw/v1/session   who is signed in, and the session's CSRF token
//	POST   /mlw/v1/session   {"username","password"} → sets the cookie
//	DELETE /mlw/v1/session   sign-out (ends the session, clears the cookie)
//
// Every API route accepts such a cookie when no bearer token is sent;
// requests other than GET and HEAD must then carry the session's CSRF
// token in X-Mlw-Csrf, which another site can neither read nor compute.
// Bearer tokens work as they always did.
func (a *API) studioRoutes() {
	a.Handle("GET", "/mlw/v1/session", a.sessionInfo)
	a.HandlePublic("POST", "/mlw/v1/session", a.passwordSignIn)
	a.Handle("DELETE", "/mlw/v1/session", a.signOut)
	studio := webui.Handler()
	serve := func(r *Request) (any, error) {
		studio.ServeHTTP(r.W, r.Request)
		return handled, nil
	}
	a.HandlePublic("GET", webui.Prefix, serve)
	a.HandlePublic("GET", webui.Prefix+"/{path...}", serve)
}

// authenticate finds the caller of an API route: a bearer token, or else
// a studio session cookie (with the CSRF check for writes).
func (a *API) authenticate(r *Request) error {
	tok := bearer(r.Request)
	if tok == "" {
		if secret, p, ok, err := a.studioSession(r); ok || err != nil {
			if err != nil {
				return err
			}
			if !safeMethod(r.Method) {
				got := r.Header.Get(identity.CSRFHeader)
				if subtle.ConstantTimeCompare([]byte(got), []byte(identity.CSRFToken(secret))) != 1 {
					return &core.Error{Status: http.StatusForbidden, Code: "CsrfTokenMismatch",
						Message: "A request that changes something with a browser session must carry the session's CSRF token in the " + identity.CSRFHeader + " header (GET /mlw/v1/session gives it); reload the studio."}
				}
			}
			r.setPrincipal(p)
			r.session = secret
			return nil
		}
	}
	p, err := a.auth.Authenticate(r.Ctx(), tok)
	if err != nil {
		return err
	}
	r.setPrincipal(p)
	return nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// studioSession authenticates the request's studio session cookie, if it
// sends one: ok is false when there is none. Narrower sessions (one
// instance's Jupyter, out of scope here) are not studio sessions and are
// passed over; an ended or unknown session is an error that says to sign
// in again.
func (a *API) studioSession(r *Request) (secret string, p *identity.Principal, ok bool, err error) {
	for _, c := range r.Cookies() {
		if c.Name != identity.SessionCookie {
			continue
		}
		pp, s, aerr := a.auth.AuthenticateSession(r.Ctx(), c.Value, r.URL.Path)
		if aerr == nil && s.Scope == identity.StudioScope && s.Resource == "" {
			return c.Value, pp, true, nil
		}
		if e, isAPI := core.AsError(aerr); isAPI && e.Status == http.StatusUnauthorized && err == nil {
			err = aerr
		}
	}
	return "", nil, err != nil, err
}

// setSessionCookie hands the browser a session.
func setSessionCookie(r *Request, secret string, s *resource.Session) {
	http.SetCookie(r.W, &http.Cookie{Name: identity.SessionCookie, Value: secret, Path: s.Scope,
		MaxAge: int(identity.SessionTTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(r *Request, scope string) {
	http.SetCookie(r.W, &http.Cookie{Name: identity.SessionCookie, Value: "", Path: scope, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (a *API) sessionDoc(p *identity.Principal, secret string, s *resource.Session) map[string]any {
	doc := map[string]any{
		"user":     map[string]any{"name": p.Name, "objectId": p.UserID, "role": service.RoleShown(p.Role), "tenantId": p.TenantID},
		"canWrite": p.CanWrite(), "isOwner": p.IsOwner(), "grants": renderGrants(p),
	}
	if secret != "" {
		doc["csrfToken"] = identity.CSRFToken(secret)
		doc["kind"] = "cookie"
	} else {
		doc["kind"] = "token"
	}
	if s != nil {
		doc["expiresOn"] = armTime(s.ExpiresAt)
	}
	return doc
}

func (a *API) sessionInfo(r *Request) (any, error) {
	return a.sessionDoc(r.Principal, r.session, nil), nil
}

func (a *API) passwordSignIn(r *Request) (any, error) {
	// A JSON body only: a cross-site form cannot send one without CORS,
	// so another site cannot sign a browser in as someone else.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, &core.Error{Status: http.StatusUnsupportedMediaType, Code: "UnsupportedMediaType",
			Message: `Send the sign-in as JSON (Content-Type: application/json): {"username": "…", "password": "…"}.`}
	}
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Username) == "" {
		return nil, core.Invalid("username", "Give your user name (`mlw user show` prints it).")
	}
	secret, s, err := a.auth.SignInWithPassword(r.Ctx(), strings.TrimSpace(req.Username), req.Password)
	if err != nil {
		return nil, err
	}
	p, _, err := a.auth.AuthenticateSession(r.Ctx(), secret, identity.StudioScope)
	if err != nil {
		return nil, err
	}
	setSessionCookie(r, secret, s)
	return a.sessionDoc(p, secret, s), nil
}

func (a *API) signOut(r *Request) (any, error) {
	if r.session != "" {
		if err := a.auth.EndSession(r.Ctx(), r.session); err != nil {
			return nil, core.Internal(err)
		}
		clearSessionCookie(r, identity.StudioScope)
	}
	return nil, nil
}

// isStudioTarget reports whether a sign-in link's path opens the studio.
func isStudioTarget(path string) bool {
	return strings.EqualFold(path, webui.Prefix) || identity.InScope(path, webui.Prefix+"/")
}

// sameOrigin reports whether a browser request comes from a page of this
// server (WebSockets carry no SameSite protection of their own against
// pages that open them).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

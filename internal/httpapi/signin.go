package httpapi

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
)

// Browser sign-in (identity/sessions.go): a signed-in client asks for a
// one-time link to a browser application (an instance's Jupyter); opening
// the link sets the session cookie and leads to the application.
//
//	POST /mlw/v1/signin {"target": "/subscriptions/…/computes/ci-1/jupyter/tree"}
//	  → {"url": "https://host/mlw/signin?code=mlwl_…", "expiresOn": "…", "target": "…"}
//	GET /mlw/signin?code=… (no token: the link is the credential)
//	  → Set-Cookie: mlw_session=…; Path=<scope>; HttpOnly; Secure; SameSite=Strict
func (a *API) signinRoutes() {
	a.Handle("POST", "/mlw/v1/signin", a.createSignIn)
	a.HandlePublic("GET", "/mlw/signin", a.redeemSignIn)
}

func (a *API) createSignIn(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		Target string `json:"target"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	target := req.Target
	if u, err := url.Parse(target); err == nil && u.IsAbs() {
		target = u.RequestURI()
	}
	if !strings.HasPrefix(target, "/") {
		return nil, core.Invalid("target", "target must be the path (or URL) of a browser application on this server, such as a compute instance's Jupyter (…/computes/{name}/jupyter/tree); got %q.", req.Target)
	}
	path, _, _ := strings.Cut(target, "?")
	in, err := a.signInScope(r, path)
	if err != nil {
		return nil, err
	}
	in.Target = target
	secret, exp, err := a.auth.NewSignInLink(r.Ctx(), r.Principal, in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"url": r.BaseURL() + "/mlw/signin?code=" + url.QueryEscape(secret),
		"expiresOn": exp.UTC().Format(time.RFC3339), "target": target}, nil
}

// signInScope says what a link to path grants, after checking that the
// caller may open it: for an instance's Jupyter, only its assigned user.
func (a *API) signInScope(r *Request, path string) (identity.SignIn, error) {
	if isStudioTarget(path) {
		return identity.SignIn{Scope: identity.StudioScope}, nil
	}
	rt, params, _ := a.rt.match("GET", path)
	if rt != nil && strings.HasSuffix(rt.pattern, "/jupyter/{path...}") {
		// The link opens what its route allows the caller, checked now
		// and again on every request the session makes.
		if err := r.Principal.Check(rt.access.action, paramScope(params)); err != nil {
			return identity.SignIn{}, err
		}
		ref := core.WorkspaceRef{Subscription: params["sub"], ResourceGroup: params["rg"], Workspace: params["ws"]}
		ws, c, err := a.svc.InstanceForAccess(r.Ctx(), ref, params["name"])
		if err != nil {
			return identity.SignIn{}, err
		}
		if a.instances == nil || a.instances.JupyterBaseFunc == nil {
			return identity.SignIn{}, &core.Error{Status: http.StatusNotImplemented, Code: "NotSupported", Message: "This server has no instance backend."}
		}
		return identity.SignIn{Scope: a.instances.JupyterBaseFunc(ws, c), Resource: c.UID}, nil
	}
	return identity.SignIn{}, core.Invalid("target", "Sign-in links open the studio (/studio/…) or a compute instance's Jupyter (…/computes/{name}/jupyter/…); %s is neither.", path)
}

func (a *API) redeemSignIn(r *Request) (any, error) {
	secret, s, err := a.auth.RedeemSignInLink(r.Ctx(), r.URL.Query().Get("code"))
	if err != nil {
		return a.pageError(r, "Sign-in link refused", err)
	}
	setSessionCookie(r, secret, s)
	// An HTML hop instead of a redirect: the next request then starts on
	// this origin, so the browser sends the SameSite=Strict cookie with it
	// even when the link was opened from another site or application.
	writePage(r.W, http.StatusOK, page{Title: "Signed in", Next: s.Target,
		Text: "You are signed in. Opening the application…"})
	return handled, nil
}

// page is a small HTML page for browser-facing answers.
type page struct {
	Title, Text, Hint string
	// Next, when set, is where the page leads at once.
	Next string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{{if .Next}}<meta http-equiv="refresh" content="0;url={{.Next}}">{{end}}
<title>{{.Title}} · mlw</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b;background:#fff}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}
@media (prefers-color-scheme: dark){body{color:#eee;background:#1b1b1b}code{background:#333}}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>{{if .Hint}}<p>{{.Hint}}</p>{{end}}
{{if .Next}}<p><a href="{{.Next}}">Continue</a></p>{{end}}</body></html>
`))

func writePage(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}

// pageError answers a browser's page request with an HTML page that says
// what went wrong and what to do, and anything else with the API error.
func (a *API) pageError(r *Request, title string, err error) (any, error) {
	e, ok := core.AsError(err)
	if !ok || !wantsHTML(r.Request) {
		return nil, err
	}
	if e.Cause != nil || e.Status >= 500 {
		a.log.Warn("page refused", "path", r.URL.Path, "code", e.Code, "err", err)
	}
	writePage(r.W, e.Status, page{Title: title, Text: e.Message})
	return handled, nil
}

// wantsHTML reports whether a request comes from a browser navigating to a
// page (rather than a script or an API client).
func wantsHTML(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}

package httpapi

import (
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

// Users are mlw's own (Azure has Entra ID for this), so they live under
// /mlw/v1 rather than an ARM path.
func (a *API) userRoutes() {
	a.Handle("GET", "/mlw/v1/me", a.getMe)
	a.Handle("GET", "/mlw/v1/users", a.listUsers)
	a.Handle("GET", "/mlw/v1/users/{name}", a.getUser)
	a.Handle("PUT", "/mlw/v1/users/{name}", a.putUser)
	a.Handle("PATCH", "/mlw/v1/users/{name}", a.patchUser)
	a.Handle("DELETE", "/mlw/v1/users/{name}", a.deleteUser)
	a.Handle("GET", "/mlw/v1/users/{name}/tokens", a.listUserTokens)
	a.Handle("DELETE", "/mlw/v1/users/{name}/tokens/{id}", a.revokeUserToken)
	a.Handle("PUT", "/mlw/v1/users/{name}/password", a.putUserPassword)
	a.Handle("POST", "/mlw/v1/users/{name}/tokens", a.createUserToken)
}

// getMe shows the caller: name, ids, server-wide role and grants.
func (a *API) getMe(r *Request) (any, error) {
	return map[string]any{"name": r.Principal.Name, "objectId": r.Principal.UserID, "tenantId": r.Principal.TenantID,
		"role": service.RoleShown(r.Principal.Role), "grants": renderGrants(r.Principal)}, nil
}

// listUsers lists every user.
func (a *API) listUsers(r *Request) (any, error) {
	us, err := a.svc.ListUsers(r.Ctx())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(us))
	for _, u := range us {
		out = append(out, a.renderUser(u))
	}
	return map[string]any{"value": out}, nil
}

// getUser shows one user.
func (a *API) getUser(r *Request) (any, error) {
	u, err := a.svc.GetUser(r.Ctx(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	return a.renderUser(u), nil
}

// putUser creates a user with a role and, optionally, a password (checked
// before the user is made), and returns the user with their first token.
func (a *API) putUser(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	if req.Password != "" {
		if err := identity.CheckPassword(req.Password); err != nil {
			return nil, err
		}
	}
	u, tok, err := a.svc.CreateUser(r.Ctx(), r.Param("name"), req.Role)
	if err != nil {
		return nil, err
	}
	if req.Password != "" {
		if err := a.svc.SetPassword(r.Ctx(), u.Name, req.Password); err != nil {
			return nil, err
		}
	}
	out := a.renderUser(u)
	out["token"] = tok
	return created(true, out, nil), nil
}

// patchUser changes the server-wide role or disables the user:
// {"role": "Reader"}, {"disabled": true}. It holds at once everywhere.
func (a *API) patchUser(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	if req.Role == nil && req.Disabled == nil {
		return nil, core.Invalid("body", `Say what to change: {"role": "Reader"} (a role or None) and/or {"disabled": true}.`)
	}
	u, err := a.svc.UpdateUser(r.Ctx(), r.Param("name"), req.Role, req.Disabled)
	if err != nil {
		return nil, err
	}
	return a.renderUser(u), nil
}

// deleteUser removes the user with their tokens, sessions and role
// assignments; what they made stays (service.DeleteUser).
func (a *API) deleteUser(r *Request) (any, error) {
	return nil, a.svc.DeleteUser(r.Ctx(), r.Param("name"))
}

// listUserTokens lists a user's tokens without their secrets, marking the
// one the request came with.
func (a *API) listUserTokens(r *Request) (any, error) {
	toks, err := a.svc.ListTokens(r.Ctx(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(toks))
	for _, t := range toks {
		out = append(out, renderToken(r.Param("name"), t, r.Principal.TokenID))
	}
	return map[string]any{"value": out}, nil
}

// revokeUserToken deletes one of a user's tokens and shows what it was.
func (a *API) revokeUserToken(r *Request) (any, error) {
	t, err := a.svc.RevokeToken(r.Ctx(), r.Param("name"), r.Param("id"))
	if err != nil {
		return nil, err
	}
	return renderToken(r.Param("name"), t, ""), nil
}

// putUserPassword sets the password for the studio's password sign-in
// (identity/passwords.go).
func (a *API) putUserPassword(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	return nil, a.svc.SetPassword(r.Ctx(), r.Param("name"), req.Password)
}

// createUserToken makes a new token for a user, with a label and an
// optional ISO 8601 lifetime, and returns its secret once.
func (a *API) createUserToken(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	var req struct {
		Label     string `json:"label"`
		ExpiresIn string `json:"expiresIn"`
	}
	if err := body.Into(&req); err != nil {
		return nil, err
	}
	var life time.Duration
	if req.ExpiresIn != "" {
		if life, err = core.ParseISODuration(req.ExpiresIn); err != nil {
			return nil, core.Invalid("expiresIn", "%v", err)
		}
	}
	tok, err := a.svc.CreateToken(r.Ctx(), r.Param("name"), req.Label, life)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"token": tok, "id": resource.TokenID(identity.HashToken(tok)), "user": r.Param("name")}
	if life > 0 {
		out["expiresOn"] = armTime(time.Now().Add(life))
	}
	return created(true, out, nil), nil
}

// renderUser shows a user as the API returns it.
func (a *API) renderUser(u *resource.User) map[string]any {
	return map[string]any{"name": u.Name, "objectId": u.ID, "tenantId": a.svc.TenantID, "role": service.RoleShown(u.Role),
		"disabled": u.Disabled, "createdAt": armTime(u.CreatedAt)}
}

// renderToken shows a token without its secret; current marks the one the
// request came with.
func renderToken(user string, t *resource.Token, current string) map[string]any {
	out := map[string]any{"id": t.ID(), "user": user, "label": t.Label, "createdAt": armTime(t.CreatedAt), "expiresOn": nil,
		"current": current != "" && t.ID() == current}
	if !t.ExpiresAt.IsZero() {
		out["expiresOn"] = armTime(t.ExpiresAt)
	}
	return out
}

// renderGrants lists the roles a principal holds, strongest scope first.
func renderGrants(p *identity.Principal) []map[string]any {
	out := []map[string]any{}
	for _, g := range p.Grants {
		out = append(out, map[string]any{"scope": g.Scope, "role": g.Role})
	}
	return out
}

package httpapi

import (
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
)

// Users are mlw's own (Azure has Entra ID for this), so they live under
// /mlw/v1 rather than an ARM path.
func (a *API) userRoutes() {
	a.Handle("GET", "/mlw/v1/me", func(r *Request) (any, error) {
		return map[string]any{"name": r.Principal.Name, "objectId": r.Principal.UserID, "tenantId": r.Principal.TenantID,
			"role": service.RoleShown(r.Principal.Role), "grants": renderGrants(r.Principal)}, nil
	})
	a.Handle("GET", "/mlw/v1/users", func(r *Request) (any, error) {
		us, err := a.svc.ListUsers(r.Ctx())
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(us))
		for _, u := range us {
			out = append(out, a.renderUser(u))
		}
		return map[string]any{"value": out}, nil
	})
	a.Handle("GET", "/mlw/v1/users/{name}", func(r *Request) (any, error) {
		u, err := a.svc.GetUser(r.Ctx(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return a.renderUser(u), nil
	})
	a.Handle("PUT", "/mlw/v1/users/{name}", func(r *Request) (any, error) {
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
	})
	// PATCH changes the server-wide role or disables the user:
	// {"role": "Reader"}, {"disabled": true}. It holds at once everywhere.
	a.Handle("PATCH", "/mlw/v1/users/{name}", func(r *Request) (any, error) {
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
	})
	// DELETE removes the user with their tokens, sessions and role
	// assignments; what they made stays (service.DeleteUser).
	a.Handle("DELETE", "/mlw/v1/users/{name}", func(r *Request) (any, error) {
		return nil, a.svc.DeleteUser(r.Ctx(), r.Param("name"))
	})
	a.Handle("GET", "/mlw/v1/users/{name}/tokens", func(r *Request) (any, error) {
		toks, err := a.svc.ListTokens(r.Ctx(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(toks))
		for _, t := range toks {
			out = append(out, renderToken(r.Param("name"), t, r.Principal.TokenID))
		}
		return map[string]any{"value": out}, nil
	})
	a.Handle("DELETE", "/mlw/v1/users/{name}/tokens/{id}", func(r *Request) (any, error) {
		t, err := a.svc.RevokeToken(r.Ctx(), r.Param("name"), r.Param("id"))
		if err != nil {
			return nil, err
		}
		return renderToken(r.Param("name"), t, ""), nil
	})
	// The studio's password sign-in (identity/passwords.go).
	a.Handle("PUT", "/mlw/v1/users/{name}/password", func(r *Request) (any, error) {
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
	})
	a.Handle("POST", "/mlw/v1/users/{name}/tokens", func(r *Request) (any, error) {
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
		out := map[string]any{"token": tok, "id": store.TokenID(identity.HashToken(tok)), "user": r.Param("name")}
		if life > 0 {
			out["expiresOn"] = armTime(time.Now().Add(life))
		}
		return created(true, out, nil), nil
	})
}

func (a *API) renderUser(u *store.User) map[string]any {
	return map[string]any{"name": u.Name, "objectId": u.ID, "tenantId": a.svc.TenantID, "role": service.RoleShown(u.Role),
		"disabled": u.Disabled, "createdAt": armTime(u.CreatedAt)}
}

// renderToken shows a token without its secret; current marks the one the
// request came with.
func renderToken(user string, t *store.Token, current string) map[string]any {
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

package httpapi

import (
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/store"
)

// Users are mlw's own (Azure has Entra ID for this), so they live under
// /mlw/v1 rather than an ARM path.
func (a *API) userRoutes() {
	a.Handle("GET", "/mlw/v1/me", func(r *Request) (any, error) {
		return map[string]any{"name": r.Principal.Name, "objectId": r.Principal.UserID, "tenantId": r.Principal.TenantID,
			"role": r.Principal.Role}, nil
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
		out := map[string]any{"token": tok, "user": r.Param("name")}
		if life > 0 {
			out["expiresOn"] = armTime(time.Now().Add(life))
		}
		return created(true, out, nil), nil
	})
}

func (a *API) renderUser(u *store.User) map[string]any {
	return map[string]any{"name": u.Name, "objectId": u.ID, "tenantId": a.svc.TenantID, "role": u.Role, "createdAt": armTime(u.CreatedAt)}
}

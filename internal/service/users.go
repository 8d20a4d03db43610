package service

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/store"
)

var userNameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// MaxTokenLifetime bounds API tokens created on request.
const MaxTokenLifetime = 365 * 24 * time.Hour

// CreateUser adds a user (Owners only) and returns it with a first token.
func (s *Service) CreateUser(ctx context.Context, name, role string) (*store.User, string, error) {
	p := PrincipalFrom(ctx)
	if p != nil && !p.IsOwner() {
		return nil, "", core.Forbidden("Only an Owner may create users; %q has the %s role.", p.Name, p.Role)
	}
	if !userNameRE.MatchString(name) {
		return nil, "", core.Invalid("name", "Invalid user name %q: use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter.", name)
	}
	if role == "" {
		role = identity.RoleContributor
	}
	if !identity.ValidRole(role) {
		return nil, "", core.Invalid("role", "Unknown role %q: use Owner, Contributor or Reader.", role)
	}
	u := &store.User{ID: NewUID(), Name: name, Role: role}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, "", core.Conflict("Conflict", "A user named %q already exists.", name)
		}
		return nil, "", core.Internal(err)
	}
	tok, err := s.CreateToken(ctx, u.Name, "created with the user", 0)
	if err != nil {
		return nil, "", err
	}
	return u, tok, nil
}

// SetPassword gives a user a password for the studio's sign-in: anyone
// for themselves, an Owner for anyone. Only a bcrypt hash is stored.
func (s *Service) SetPassword(ctx context.Context, userName, password string) error {
	p := PrincipalFrom(ctx)
	u, err := s.GetUser(ctx, userName)
	if err != nil {
		return err
	}
	if p != nil && p.UserID != u.ID && !p.IsOwner() {
		return core.Forbidden("Only an Owner may set the password of another user.")
	}
	h, err := identity.HashPassword(password)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(ctx, u.ID, h); err != nil {
		return core.Internal(err)
	}
	return nil
}

// ListUsers returns every user.
func (s *Service) ListUsers(ctx context.Context) ([]*store.User, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	return us, nil
}

// GetUser returns a user by name.
func (s *Service) GetUser(ctx context.Context, name string) (*store.User, error) {
	u, err := s.Store.GetUserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("UserNotFound", "No user named %q. List users with `mlw user list`.", name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return u, nil
}

// CreateToken mints an API token for a user: anyone for themselves, an
// Owner for anyone. A zero lifetime means the token does not expire.
func (s *Service) CreateToken(ctx context.Context, userName, label string, lifetime time.Duration) (string, error) {
	p := PrincipalFrom(ctx)
	u, err := s.GetUser(ctx, userName)
	if err != nil {
		return "", err
	}
	if p != nil && p.UserID != u.ID && !p.IsOwner() {
		return "", core.Forbidden("Only an Owner may create tokens for other users.")
	}
	if lifetime < 0 || lifetime > MaxTokenLifetime {
		return "", core.Invalid("expiresIn", "A token may live from 1 second to 365 days; leave it out for a token that does not expire.")
	}
	plain, hash := identity.NewToken()
	t := &store.Token{Hash: hash, UserID: u.ID, Label: label}
	if lifetime > 0 {
		t.ExpiresAt = s.Now().Add(lifetime).UTC()
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", core.Internal(err)
	}
	return plain, nil
}

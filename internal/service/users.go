package service

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

var userNameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// MaxTokenLifetime bounds API tokens created on request.
const MaxTokenLifetime = 365 * 24 * time.Hour

// CreateUser adds a user (server Owners only) and returns it with a first
// token. role is the user's server-wide role: one of the built-in roles,
// or None for a user who gets access from role assignments only.
func (s *Service) CreateUser(ctx context.Context, name, role string) (*resource.User, string, error) {
	p := PrincipalFrom(ctx)
	if p != nil && !p.ServerOwner() {
		return nil, "", core.Forbidden("Only an Owner of the whole server may create users; %q is not one.", p.Name)
	}
	if !userNameRE.MatchString(name) {
		return nil, "", core.Invalid("name", "Invalid user name %q: use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter.", name)
	}
	if role == "" {
		role = identity.RoleContributor
	}
	stored, err := serverRole(role)
	if err != nil {
		return nil, "", err
	}
	u := &resource.User{ID: resource.NewUID(), Name: name, Role: stored}
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

// serverRole checks a server-wide role and returns its stored form ("" for
// None).
func serverRole(role string) (string, error) {
	if role == identity.RoleNone {
		return "", nil
	}
	if !identity.ValidRole(role) {
		return "", core.Invalid("role", "Unknown role %q: use Owner, Contributor, AzureML Data Scientist, Reader, or None for a user who gets access from role assignments only.", role)
	}
	return role, nil
}

// RoleShown is how a stored server-wide role is shown ("None" for none).
func RoleShown(role string) string {
	if role == "" {
		return identity.RoleNone
	}
	return role
}

// requireServerOwner refuses callers who are not Owners of the whole
// server.
func requireServerOwner(p *identity.Principal, what string) error {
	if p != nil && !p.ServerOwner() {
		return core.Forbidden("Only an Owner of the whole server may %s; %q is not one (`mlw role assignment list --assignee %s` shows the roles held).", what, p.Name, p.Name)
	}
	return nil
}

// serverOwner reports whether u counts as an Owner of the server.
func serverOwner(u *resource.User) bool { return u.Role == identity.RoleOwner && !u.Disabled }

// errLastOwner is the answer to taking the last server Owner away.
func errLastOwner(u *resource.User) error {
	return core.Conflict("LastOwner", "User %q is the last enabled Owner of this server; make another user an Owner first (`mlw user update --name <user> --role Owner`).", u.Name)
}

// updateUser writes a change to a user and, when it took an Owner away,
// checks that an enabled Owner remains; if none does (another request
// took the other one away at the same time) it undoes the change.
func (s *Service) updateUser(ctx context.Context, u *resource.User, change func(*resource.User)) error {
	before := *u
	change(u)
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return storeErr(err, "user", u.Name)
	}
	if !serverOwner(&before) || serverOwner(u) {
		return nil
	}
	users, err := s.Store.ListUsers(ctx)
	if err != nil {
		return core.Internal(err)
	}
	for _, o := range users {
		if serverOwner(o) {
			return nil
		}
	}
	if err := s.Store.UpdateUser(ctx, &before); err != nil {
		return core.Internal(err)
	}
	*u = before
	return errLastOwner(u)
}

// UpdateUser changes a user's server-wide role and whether they are
// disabled (nil leaves one as it is). Server Owners only; the last enabled
// Owner keeps that role. The change holds at once on every replica.
func (s *Service) UpdateUser(ctx context.Context, name string, role *string, disabled *bool) (*resource.User, error) {
	if err := requireServerOwner(PrincipalFrom(ctx), "change users"); err != nil {
		return nil, err
	}
	u, err := s.GetUser(ctx, name)
	if err != nil {
		return nil, err
	}
	var stored string
	if role != nil {
		if stored, err = serverRole(*role); err != nil {
			return nil, err
		}
	}
	err = s.updateUser(ctx, u, func(u *resource.User) {
		if role != nil {
			u.Role = stored
		}
		if disabled != nil {
			u.Disabled = *disabled
		}
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteUser removes a user with their tokens, browser sessions, password
// and role assignments (server Owners only; not the last enabled Owner).
// What they made stays: resources keep their createdBy, compute instances
// assigned to them stay (and lose the user's token) until deleted, and
// their host uid is never given to anyone else.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if err := requireServerOwner(PrincipalFrom(ctx), "delete users"); err != nil {
		return err
	}
	u, err := s.GetUser(ctx, name)
	if err != nil {
		return err
	}
	// Disable first: that is where the last-Owner check is race-free.
	if err := s.updateUser(ctx, u, func(u *resource.User) { u.Disabled = true }); err != nil {
		return err
	}
	if err := s.Store.DeleteUser(ctx, u.ID); err != nil {
		return storeErr(err, "user", name)
	}
	return nil
}

// ListTokens returns a user's API tokens (never their secrets): anyone
// their own, a server Owner anyone's.
func (s *Service) ListTokens(ctx context.Context, userName string) ([]*resource.Token, error) {
	u, err := s.tokenOwner(ctx, userName, "list the tokens of other users")
	if err != nil {
		return nil, err
	}
	toks, err := s.Store.ListTokens(ctx, u.ID)
	if err != nil {
		return nil, core.Internal(err)
	}
	return toks, nil
}

// RevokeToken deletes a user's token by id (store.TokenID), with the
// signed tokens and browser sessions that derive from it, at once on every
// replica: anyone their own, a server Owner anyone's.
func (s *Service) RevokeToken(ctx context.Context, userName, id string) (*resource.Token, error) {
	u, err := s.tokenOwner(ctx, userName, "revoke the tokens of other users")
	if err != nil {
		return nil, err
	}
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) != resource.TokenIDLength {
		return nil, core.Invalid("id", "A token id has %d hex digits, as `mlw token list` shows it; got %q.", resource.TokenIDLength, id)
	}
	toks, err := s.Store.ListTokens(ctx, u.ID)
	if err != nil {
		return nil, core.Internal(err)
	}
	for _, t := range toks {
		if t.ID() == id {
			if err := s.Store.DeleteToken(ctx, t.Hash); err != nil {
				return nil, storeErr(err, "token", id)
			}
			return t, nil
		}
	}
	return nil, core.NotFound("TokenNotFound", "User %q has no token %s (`mlw token list --user %s` lists them).", u.Name, id, u.Name)
}

func (s *Service) tokenOwner(ctx context.Context, userName, what string) (*resource.User, error) {
	p := PrincipalFrom(ctx)
	u, err := s.GetUser(ctx, userName)
	if err != nil {
		return nil, err
	}
	if p != nil && p.UserID != u.ID {
		if err := requireServerOwner(p, what); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// SetPassword gives a user a password for the studio's sign-in: anyone
// for themselves, an Owner for anyone. Only a bcrypt hash is stored.
func (s *Service) SetPassword(ctx context.Context, userName, password string) error {
	p := PrincipalFrom(ctx)
	u, err := s.GetUser(ctx, userName)
	if err != nil {
		return err
	}
	if p != nil && p.UserID != u.ID && !p.ServerOwner() {
		return core.Forbidden("Only an Owner of the whole server may set the password of another user.")
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
func (s *Service) ListUsers(ctx context.Context) ([]*resource.User, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	return us, nil
}

// GetUser returns a user by name.
func (s *Service) GetUser(ctx context.Context, name string) (*resource.User, error) {
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
	if p != nil && p.UserID != u.ID && !p.ServerOwner() {
		return "", core.Forbidden("Only an Owner of the whole server may create tokens for other users.")
	}
	if lifetime < 0 || lifetime > MaxTokenLifetime {
		return "", core.Invalid("expiresIn", "A token may live from 1 second to 365 days; leave it out for a token that does not expire.")
	}
	plain, hash := identity.NewToken()
	t := &resource.Token{Hash: hash, UserID: u.ID, Label: label}
	if lifetime > 0 {
		t.ExpiresAt = s.Now().Add(lifetime).UTC()
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", core.Internal(err)
	}
	return plain, nil
}

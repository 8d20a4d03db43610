package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// CreateOperation inserts an operation record.
func (s *Store) CreateOperation(ctx context.Context, op *resource.Operation) error {
	now := time.Now().UTC()
	if op.CreatedAt.IsZero() {
		op.CreatedAt = now
	}
	op.UpdatedAt = op.CreatedAt
	if op.Status == "" {
		op.Status = resource.OpInProgress
	}
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO operations (id, resource_id, name, status, error_code, error_msg, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`),
		op.ID, op.ResourceID, op.Name, op.Status, op.ErrorCode, op.ErrorMsg, micros(op.CreatedAt), micros(op.UpdatedAt))
	if err != nil {
		if s.d.IsUnique(err) {
			return fmt.Errorf("create operation %s: %w", op.ID, store.ErrExists)
		}
		return fmt.Errorf("create operation %s: %w", op.ID, err)
	}
	return nil
}

const opCols = `id, resource_id, name, status, error_code, error_msg, created_at, updated_at`

func scanOp(sc interface{ Scan(...any) error }) (*resource.Operation, error) {
	var op resource.Operation
	var c, u int64
	if err := sc.Scan(&op.ID, &op.ResourceID, &op.Name, &op.Status, &op.ErrorCode, &op.ErrorMsg, &c, &u); err != nil {
		return nil, err
	}
	op.CreatedAt, op.UpdatedAt = fromMicros(c), fromMicros(u)
	return &op, nil
}

// GetOperation returns one operation or ErrNotFound.
func (s *Store) GetOperation(ctx context.Context, id string) (*resource.Operation, error) {
	op, err := scanOp(s.r.QueryRowContext(ctx, s.d.q(`SELECT `+opCols+` FROM operations WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("operation %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get operation %s: %w", id, err)
	}
	return op, nil
}

// FinishOperation moves an in-progress operation to a terminal status.
func (s *Store) FinishOperation(ctx context.Context, id, status, code, msg string) error {
	res, err := s.w.ExecContext(ctx, s.d.q(`UPDATE operations SET status = ?, error_code = ?, error_msg = ?, updated_at = ? WHERE id = ? AND status = ?`),
		status, code, msg, micros(time.Now().UTC()), id, resource.OpInProgress)
	if err != nil {
		return fmt.Errorf("finish operation %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetOperation(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// ListOperations returns the in-progress operations on one resource.
func (s *Store) ListOperations(ctx context.Context, resourceID string) ([]*resource.Operation, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q(`SELECT `+opCols+` FROM operations WHERE resource_id = ? AND status = ? ORDER BY created_at`),
		resourceID, resource.OpInProgress)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	defer rows.Close()
	var out []*resource.Operation
	for rows.Next() {
		op, err := scanOp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

// CreateUser inserts a user; ErrExists when the id or name is taken.
func (s *Store) CreateUser(ctx context.Context, u *resource.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO users (id, name, role, disabled, created_at) VALUES (?,?,?,?,?)`),
		u.ID, u.Name, u.Role, boolInt(u.Disabled), micros(u.CreatedAt))
	if err != nil {
		if s.d.IsUnique(err) {
			return fmt.Errorf("create user %s: %w", u.Name, store.ErrExists)
		}
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

const userCols = `id, name, role, disabled, created_at`

func scanUser(sc interface{ Scan(...any) error }) (*resource.User, error) {
	var u resource.User
	var c, d int64
	if err := sc.Scan(&u.ID, &u.Name, &u.Role, &d, &c); err != nil {
		return nil, err
	}
	u.Disabled, u.CreatedAt = d != 0, fromMicros(c)
	return &u, nil
}

func (s *Store) getUser(ctx context.Context, col, v string) (*resource.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.d.q(`SELECT `+userCols+` FROM users WHERE `+col+` = ?`), v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %s: %w", v, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", v, err)
	}
	return u, nil
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*resource.User, error) {
	return s.getUser(ctx, "id", id)
}

// GetUserByName returns a user by login name.
func (s *Store) GetUserByName(ctx context.Context, name string) (*resource.User, error) {
	return s.getUser(ctx, "name", name)
}

// ListUsers returns every user ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]*resource.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*resource.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser writes a user's role and disabled flag, and moves the
// revocation epoch.
func (s *Store) UpdateUser(ctx context.Context, u *resource.User) error {
	return s.authTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`UPDATE users SET role = ?, disabled = ? WHERE id = ?`), u.Role, boolInt(u.Disabled), u.ID)
		if err != nil {
			return fmt.Errorf("update user %s: %w", u.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("update user %s: %w", u.Name, store.ErrNotFound)
		}
		return nil
	})
}

// DeleteUser removes a user and every credential and grant of theirs.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.authTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM users WHERE id = ?`), id)
		if err != nil {
			return fmt.Errorf("delete user %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete user %s: %w", id, store.ErrNotFound)
		}
		for _, stmt := range []string{
			`DELETE FROM tokens WHERE user_id = ?`,
			`DELETE FROM sessions WHERE user_id = ?`,
			`DELETE FROM passwords WHERE user_id = ?`,
			`DELETE FROM role_assignments WHERE principal_id = ?`,
		} {
			if _, err := q.ExecContext(ctx, s.d.q(stmt), id); err != nil {
				return fmt.Errorf("delete user %s: %w", id, err)
			}
		}
		return nil
	})
}

// CreateToken stores a token hash.
func (s *Store) CreateToken(ctx context.Context, t *resource.Token) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO tokens (hash, user_id, label, expires_at, created_at) VALUES (?,?,?,?,?)`),
		t.Hash, t.UserID, t.Label, micros(t.ExpiresAt), micros(t.CreatedAt))
	if err != nil {
		if s.d.IsUnique(err) {
			return fmt.Errorf("create token: %w", store.ErrExists)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenCols = `hash, user_id, label, expires_at, created_at`

func scanToken(sc interface{ Scan(...any) error }) (*resource.Token, error) {
	var t resource.Token
	var e, c int64
	if err := sc.Scan(&t.Hash, &t.UserID, &t.Label, &e, &c); err != nil {
		return nil, err
	}
	t.ExpiresAt, t.CreatedAt = fromMicros(e), fromMicros(c)
	return &t, nil
}

// LookupToken finds a token by hash.
func (s *Store) LookupToken(ctx context.Context, hash string) (*resource.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, s.d.q(`SELECT `+tokenCols+` FROM tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lookup token: %w", err)
	}
	return t, nil
}

// ListTokens returns a user's tokens, oldest first.
func (s *Store) ListTokens(ctx context.Context, userID string) ([]*resource.Token, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q(`SELECT `+tokenCols+` FROM tokens WHERE user_id = ? ORDER BY created_at, hash`), userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*resource.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken removes a token and the sessions opened with it, and moves
// the revocation epoch.
func (s *Store) DeleteToken(ctx context.Context, hash string) error {
	return s.authTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM tokens WHERE hash = ?`), hash)
		if err != nil {
			return fmt.Errorf("delete token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete token: %w", store.ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, s.d.q(`DELETE FROM sessions WHERE source = ?`), resource.TokenID(hash)); err != nil {
			return fmt.Errorf("delete the sessions of a token: %w", err)
		}
		return nil
	})
}

// GetSetting returns a setting or ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, s.d.q(`SELECT value FROM settings WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("setting %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get setting %s: %w", key, err)
	}
	return v, nil
}

// PutSetting inserts or replaces a setting.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`), key, value)
	if err != nil {
		return fmt.Errorf("put setting %s: %w", key, err)
	}
	return nil
}

// TryLease takes the named lease if it is free, expired or already held by
// holder, and extends it to now+ttl.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`),
		name, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	var got string
	if err := s.w.QueryRowContext(ctx, s.d.q(`SELECT holder FROM leases WHERE name = ?`), name).Scan(&got); err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return got == holder, nil
}

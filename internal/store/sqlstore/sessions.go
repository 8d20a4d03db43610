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

const sessionColumns = `hash, kind, user_id, scope, resource, target, expires_at, created_at, source`

// CreateSession stores a session hash.
func (s *Store) CreateSession(ctx context.Context, se *resource.Session) error {
	if se.CreatedAt.IsZero() {
		se.CreatedAt = time.Now().UTC()
	}
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO sessions (`+sessionColumns+`) VALUES (?,?,?,?,?,?,?,?,?)`),
		se.Hash, se.Kind, se.UserID, se.Scope, se.Resource, se.Target, micros(se.ExpiresAt), micros(se.CreatedAt), se.Source)
	if err != nil {
		if s.d.IsUnique(err) {
			return fmt.Errorf("create session: %w", store.ErrExists)
		}
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

func scanSession(row *sql.Row) (*resource.Session, error) {
	var se resource.Session
	var e, c int64
	err := row.Scan(&se.Hash, &se.Kind, &se.UserID, &se.Scope, &se.Resource, &se.Target, &e, &c, &se.Source)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	se.ExpiresAt, se.CreatedAt = fromMicros(e), fromMicros(c)
	return &se, nil
}

// GetSession finds a session by hash.
func (s *Store) GetSession(ctx context.Context, hash string) (*resource.Session, error) {
	return scanSession(s.r.QueryRowContext(ctx, s.d.q(`SELECT `+sessionColumns+` FROM sessions WHERE hash = ?`), hash))
}

// TakeSession deletes a session and returns it (DELETE … RETURNING: one
// statement, so two concurrent takers cannot both get it).
func (s *Store) TakeSession(ctx context.Context, hash string) (*resource.Session, error) {
	return scanSession(s.w.QueryRowContext(ctx, s.d.q(`DELETE FROM sessions WHERE hash = ? RETURNING `+sessionColumns), hash))
}

// DeleteSession removes a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM sessions WHERE hash = ?`), hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM sessions WHERE expires_at < ?`), micros(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// HostUID returns a user's host uid, allocating max+1 (or base) on first
// use; a lost race for a uid (the UNIQUE constraint) tries the next.
func (s *Store) HostUID(ctx context.Context, userID string, base int) (int, error) {
	for range 100 {
		var uid int64
		err := s.r.QueryRowContext(ctx, s.d.q(`SELECT uid FROM host_uids WHERE user_id = ?`), userID).Scan(&uid)
		if err == nil {
			return int(uid), nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("host uid of %s: %w", userID, err)
		}
		_, err = s.w.ExecContext(ctx, s.d.q(`INSERT INTO host_uids (user_id, uid) SELECT ?, COALESCE(MAX(uid) + 1, ?) FROM host_uids`), userID, base)
		if err != nil && !s.d.IsUnique(err) {
			return 0, fmt.Errorf("allocate a host uid for %s: %w", userID, err)
		}
	}
	return 0, fmt.Errorf("allocate a host uid for %s: too many concurrent allocations", userID)
}

// SetPassword stores a user's password hash, replacing any earlier one.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO passwords (user_id, hash, updated_at) VALUES (?,?,?)
		ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`), userID, hash, micros(time.Now()))
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// GetPassword returns a user's password hash.
func (s *Store) GetPassword(ctx context.Context, userID string) (string, error) {
	var h string
	err := s.r.QueryRowContext(ctx, s.d.q(`SELECT hash FROM passwords WHERE user_id = ?`), userID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("password of user %s: %w", userID, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get password: %w", err)
	}
	return h, nil
}

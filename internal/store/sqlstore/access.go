package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// authTx runs fn in a write transaction and increments the revocation
// epoch in the same transaction, so that no replica can read the new epoch
// before the change is visible, nor the change without the new epoch.
func (s *Store) authTx(ctx context.Context, fn func(q querier) error) error {
	var e int64
	err := s.txq(ctx, func(q querier) error {
		if err := fn(q); err != nil {
			return err
		}
		if err := q.QueryRowContext(ctx, `UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch`).Scan(&e); err != nil {
			return fmt.Errorf("move the revocation epoch: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Exclusive: publish the new epoch (transactions commit one at a time,
	// but keep the largest in case two publish out of order).
	for s.d.Exclusive {
		old := s.epoch.Load()
		if e <= old || s.epoch.CompareAndSwap(old, e) {
			break
		}
	}
	return nil
}

// AuthEpoch returns the revocation epoch: one primary-key read, or none
// when the database is this process's alone.
func (s *Store) AuthEpoch(ctx context.Context) (int64, error) {
	if s.d.Exclusive {
		return s.epoch.Load(), nil
	}
	var e int64
	if err := s.r.QueryRowContext(ctx, `SELECT epoch FROM auth_epoch WHERE id = 1`).Scan(&e); err != nil {
		return 0, fmt.Errorf("read the revocation epoch: %w", err)
	}
	return e, nil
}

const assignmentCols = `name, scope, role, principal_id, created_at, created_by`

func scanAssignment(sc interface{ Scan(...any) error }) (*resource.RoleAssignment, error) {
	var ra resource.RoleAssignment
	var c int64
	if err := sc.Scan(&ra.Name, &ra.Scope, &ra.Role, &ra.PrincipalID, &c, &ra.CreatedBy); err != nil {
		return nil, err
	}
	ra.CreatedAt = fromMicros(c)
	return &ra, nil
}

// scopeKey is the lowercase form scopes are matched by ("/" for the
// server).
func scopeKey(scope string) string {
	k := strings.Trim(strings.ToLower(scope), "/")
	return "/" + k
}

// CreateRoleAssignment stores an assignment and moves the epoch.
func (s *Store) CreateRoleAssignment(ctx context.Context, ra *resource.RoleAssignment) error {
	if ra.CreatedAt.IsZero() {
		ra.CreatedAt = time.Now().UTC()
	}
	return s.authTx(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, s.d.q(`INSERT INTO role_assignments (name, scope, scope_key, role, principal_id, created_at, created_by) VALUES (?,?,?,?,?,?,?)`),
			strings.ToLower(ra.Name), ra.Scope, scopeKey(ra.Scope), ra.Role, ra.PrincipalID, micros(ra.CreatedAt), ra.CreatedBy)
		if err != nil {
			if s.d.IsUnique(err) {
				return fmt.Errorf("create role assignment %s: %w", ra.Name, store.ErrExists)
			}
			return fmt.Errorf("create role assignment %s: %w", ra.Name, err)
		}
		return nil
	})
}

// GetRoleAssignment returns one assignment by name.
func (s *Store) GetRoleAssignment(ctx context.Context, name string) (*resource.RoleAssignment, error) {
	ra, err := scanAssignment(s.r.QueryRowContext(ctx, s.d.q(`SELECT `+assignmentCols+` FROM role_assignments WHERE name = ?`), strings.ToLower(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("role assignment %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get role assignment %s: %w", name, err)
	}
	return ra, nil
}

// ListRoleAssignments returns one principal's assignments, or everyone's.
func (s *Store) ListRoleAssignments(ctx context.Context, principalID string) ([]*resource.RoleAssignment, error) {
	query, args := `SELECT `+assignmentCols+` FROM role_assignments ORDER BY scope_key, name`, []any(nil)
	if principalID != "" {
		query, args = s.d.q(`SELECT `+assignmentCols+` FROM role_assignments WHERE principal_id = ? ORDER BY scope_key, name`), []any{principalID}
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	defer rows.Close()
	var out []*resource.RoleAssignment
	for rows.Next() {
		ra, err := scanAssignment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ra)
	}
	return out, rows.Err()
}

// DeleteRoleAssignment removes an assignment and moves the epoch.
func (s *Store) DeleteRoleAssignment(ctx context.Context, name string) error {
	return s.authTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM role_assignments WHERE name = ?`), strings.ToLower(name))
		if err != nil {
			return fmt.Errorf("delete role assignment %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete role assignment %s: %w", name, store.ErrNotFound)
		}
		return nil
	})
}

// DeleteRoleAssignmentsWithin removes the assignments at or below a scope.
// The prefix is compared with substr rather than LIKE, whose wildcards
// ('_') occur in resource names.
func (s *Store) DeleteRoleAssignmentsWithin(ctx context.Context, key string) (int, error) {
	key = scopeKey(key)
	const within = `scope_key = ? OR substr(scope_key, 1, ?) = ?`
	var n int64
	// Most deletions find none: then the epoch (and every replica's
	// cache) stays as it is.
	if err := s.r.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM role_assignments WHERE `+within), key, len(key)+1, key+"/").Scan(&n); err != nil {
		return 0, fmt.Errorf("count role assignments within %s: %w", key, err)
	}
	if n == 0 {
		return 0, nil
	}
	err := s.authTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM role_assignments WHERE `+within),
			key, len(key)+1, key+"/")
		if err != nil {
			return fmt.Errorf("delete role assignments within %s: %w", key, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// Package sqlstore implements store.Store on database/sql. The SQLite and
// PostgreSQL drivers differ only in their Dialect: placeholders, how a unique
// violation is reported, and how connections are pooled.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/store"
)

// Dialect captures what differs between SQL engines.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2) instead of "?".
	Numbered bool
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is a store.Store over database/sql. Writes go through w, reads
// through r; for SQLite w has a single connection so that writers queue in
// Go rather than spin on SQLITE_BUSY.
type Store struct {
	w, r    *sql.DB
	d       Dialect
	closers []func() error
	res
}

// New returns a Store and applies the migrations. closers run on Close.
func New(ctx context.Context, w, r *sql.DB, d Dialect, closers ...func() error) (*Store, error) {
	s := &Store{w: w, r: r, d: d, closers: closers}
	s.res = res{w: w, r: r, d: &s.d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the database handles.
func (s *Store) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

func (d *Dialect) q(query string) string {
	if !d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

var migrations = []string{
	`CREATE TABLE resources (
		kind TEXT NOT NULL,
		parent TEXT NOT NULL,
		name_key TEXT NOT NULL,
		name TEXT NOT NULL,
		uid TEXT NOT NULL,
		spec TEXT NOT NULL,
		status TEXT NOT NULL,
		state TEXT NOT NULL,
		owner TEXT NOT NULL,
		deleting INTEGER NOT NULL,
		generation BIGINT NOT NULL,
		version BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		modified_by TEXT NOT NULL,
		PRIMARY KEY (kind, parent, name_key)
	);
	CREATE INDEX resources_state ON resources (kind, state);
	CREATE INDEX resources_owner ON resources (kind, owner);
	CREATE INDEX resources_parent ON resources (parent);
	CREATE TABLE operations (
		id TEXT PRIMARY KEY,
		resource_id TEXT NOT NULL,
		name TEXT NOT NULL,
		status TEXT NOT NULL,
		error_code TEXT NOT NULL,
		error_msg TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE INDEX operations_resource ON operations (resource_id, status);
	CREATE TABLE users (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		role TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE tokens (
		hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL,
		label TEXT NOT NULL,
		expires_at BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE settings (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE leases (
		name TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_at BIGINT NOT NULL
	)`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("the database has schema version %d but this mlw knows only %d: upgrade mlw", have, len(migrations))
	}
	for v := have; v < len(migrations); v++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, stmt := range strings.Split(migrations[v], ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO schema_migrations (version) VALUES (?)`), v+1); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// InTx runs fn in one write transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Resources) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&res{w: tx, r: tx, d: &s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// res implements store.Resources on a querier (a DB or a Tx).
type res struct {
	w, r querier
	d    *Dialect
}

const resourceCols = `kind, parent, name_key, name, uid, spec, status, state, owner, deleting, generation, version, created_at, updated_at, created_by, modified_by`

func (s *res) Create(ctx context.Context, r *store.Resource) error {
	now := time.Now().UTC()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if r.Generation == 0 {
		r.Generation = 1
	}
	r.Version = 1
	_, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO resources (`+resourceCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`),
		r.Kind, r.Parent, strings.ToLower(r.Name), r.Name, r.UID, jsonText(r.Spec), jsonText(r.Status), r.State, r.Owner,
		boolInt(r.Deleting), r.Generation, r.Version, micros(r.CreatedAt), micros(r.UpdatedAt), r.CreatedBy, r.ModifiedBy)
	if err != nil {
		if s.d.IsUnique(err) {
			return fmt.Errorf("create %s %s: %w", r.Kind, r.Name, store.ErrExists)
		}
		return fmt.Errorf("create %s %s: %w", r.Kind, r.Name, err)
	}
	return nil
}

func scanResource(sc interface{ Scan(...any) error }) (*store.Resource, error) {
	var r store.Resource
	var nameKey, spec, status string
	var deleting int
	var created, updated int64
	if err := sc.Scan(&r.Kind, &r.Parent, &nameKey, &r.Name, &r.UID, &spec, &status, &r.State, &r.Owner, &deleting,
		&r.Generation, &r.Version, &created, &updated, &r.CreatedBy, &r.ModifiedBy); err != nil {
		return nil, err
	}
	r.Spec, r.Status = []byte(spec), []byte(status)
	r.Deleting = deleting != 0
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

func (s *res) Get(ctx context.Context, kind, parent, name string) (*store.Resource, error) {
	row := s.r.QueryRowContext(ctx, s.d.q(`SELECT `+resourceCols+` FROM resources WHERE kind = ? AND parent = ? AND name_key = ?`),
		kind, parent, strings.ToLower(name))
	r, err := scanResource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", kind, name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	return r, nil
}

func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "/%"
}

func (s *res) List(ctx context.Context, o store.ListOptions) ([]*store.Resource, error) {
	var where []string
	args := []any{o.Kind}
	where = append(where, "kind = ?")
	if o.Parent != "" {
		where = append(where, "parent = ?")
		args = append(args, o.Parent)
	}
	if o.ParentPrefix != "" {
		where = append(where, `(parent = ? OR parent LIKE ? ESCAPE '\')`)
		args = append(args, o.ParentPrefix, likePrefix(o.ParentPrefix))
	}
	if o.State != "" {
		where = append(where, "state = ?")
		args = append(args, o.State)
	}
	if o.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, o.Owner)
	}
	if o.After != "" && o.AfterParent != "" {
		where = append(where, "(name_key > ? OR (name_key = ? AND parent > ?))")
		args = append(args, o.After, o.After, o.AfterParent)
	} else if o.After != "" {
		where = append(where, "name_key > ?")
		args = append(args, o.After)
	}
	query := `SELECT ` + resourceCols + ` FROM resources WHERE ` + strings.Join(where, " AND ") + ` ORDER BY name_key, parent`
	if o.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(o.Limit)
	}
	rows, err := s.r.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", o.Kind, err)
	}
	defer rows.Close()
	var out []*store.Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", o.Kind, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *res) Update(ctx context.Context, r *store.Resource) error {
	now := time.Now().UTC()
	res, err := s.w.ExecContext(ctx, s.d.q(`UPDATE resources SET name = ?, spec = ?, status = ?, state = ?, owner = ?, deleting = ?,
		generation = ?, version = version + 1, updated_at = ?, modified_by = ?
		WHERE kind = ? AND parent = ? AND name_key = ? AND version = ?`),
		r.Name, jsonText(r.Spec), jsonText(r.Status), r.State, r.Owner, boolInt(r.Deleting), r.Generation, micros(now), r.ModifiedBy,
		r.Kind, r.Parent, strings.ToLower(r.Name), r.Version)
	if err != nil {
		return fmt.Errorf("update %s %s: %w", r.Kind, r.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update %s %s: %w", r.Kind, r.Name, err)
	}
	if n == 0 {
		if _, err := s.Get(ctx, r.Kind, r.Parent, r.Name); err != nil {
			return err
		}
		return fmt.Errorf("update %s %s at version %d: %w", r.Kind, r.Name, r.Version, store.ErrConflict)
	}
	r.Version++
	r.UpdatedAt = now
	return nil
}

func (s *res) Delete(ctx context.Context, kind, parent, name string) error {
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM resources WHERE kind = ? AND parent = ? AND name_key = ?`), kind, parent, strings.ToLower(name))
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete %s %s: %w", kind, name, store.ErrNotFound)
	}
	return nil
}

func (s *res) DeleteTree(ctx context.Context, id string) (int, error) {
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM resources WHERE parent = ? OR parent LIKE ? ESCAPE '\'`), id, likePrefix(id))
	if err != nil {
		return 0, fmt.Errorf("delete tree %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func jsonText(b []byte) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

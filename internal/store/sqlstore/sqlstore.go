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
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Dialect captures what differs between SQL engines.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2) instead of "?".
	Numbered bool
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
	// Exclusive says that only this process uses the database (SQLite in
	// the server's locked data directory): the revocation epoch is then
	// also kept in memory, and reading it costs no query.
	Exclusive bool
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is a store.Store over database/sql. Writes go through w, reads
// through r; for SQLite w has a single connection so that writers queue in
// Go rather than spin on SQLITE_BUSY.
//
// Statements are prepared once per handle and connection and reused (see
// stmtCache): parsing and planning a statement costs about as much as
// running one of mlw's, so re-preparing each would double the cost of
// every read and write.
type Store struct {
	wdb, rdb *sql.DB
	wc, rc   *stmtCache
	d        Dialect
	closers  []func() error
	// epoch mirrors auth_epoch when d.Exclusive (access.go).
	epoch atomic.Int64
	// lb queues MLflow log batches for group commit (tracking.go).
	lb batcher
	res
}

// New returns a Store and applies the migrations. closers run on Close.
func New(ctx context.Context, w, r *sql.DB, d Dialect, closers ...func() error) (*Store, error) {
	s := &Store{wdb: w, rdb: r, d: d, closers: closers}
	s.wc = &stmtCache{db: w}
	s.rc = s.wc
	if r != w {
		s.rc = &stmtCache{db: r}
	}
	s.res = res{w: cachedDB{s.wc}, r: cachedDB{s.rc}, d: &s.d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if d.Exclusive {
		var e int64
		if err := s.wdb.QueryRowContext(ctx, `SELECT epoch FROM auth_epoch WHERE id = 1`).Scan(&e); err != nil {
			return nil, fmt.Errorf("read the revocation epoch: %w", err)
		}
		s.epoch.Store(e)
	}
	return s, nil
}

// OnClose has Close call fn before it closes the database handles.
func (s *Store) OnClose(fn func() error) {
	s.closers = append([]func() error{fn}, s.closers...)
}

// Close closes the prepared statements and the database handles.
func (s *Store) Close() error {
	var errs []error
	errs = append(errs, s.wc.close())
	if s.rc != s.wc {
		errs = append(errs, s.rc.close())
	}
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// maxCachedStmts bounds a handle's statement cache; statements beyond it
// (there are far fewer distinct ones) run unprepared.
const maxCachedStmts = 256

// stmtCache holds the prepared statements of one handle by query text.
// database/sql prepares a cached statement again on each connection it
// meets, once, and re-prepares after a connection is replaced.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

// get returns the prepared statement of query, preparing it when prepare
// is set; nil when it is not cached (the caller runs the query unprepared,
// which also reports any error preparing it would have met).
func (c *stmtCache) get(ctx context.Context, query string, prepare bool) *sql.Stmt {
	c.mu.RLock()
	st := c.m[query]
	c.mu.RUnlock()
	if st != nil || !prepare {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil || len(c.m) >= maxCachedStmts {
		_ = st.Close()
		return old
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// cachedDB runs queries on a handle through its statement cache.
type cachedDB struct{ c *stmtCache }

func (q cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.c.get(ctx, query, true); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.c.db.ExecContext(ctx, query, args...)
}

func (q cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.c.get(ctx, query, true); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.c.db.QueryContext(ctx, query, args...)
}

func (q cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.c.get(ctx, query, true); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.c.db.QueryRowContext(ctx, query, args...)
}

// cachedTx runs queries in a transaction with the writer's prepared
// statements. A statement not prepared yet runs unprepared (preparing it
// on the handle would wait for the connection the transaction holds: for
// SQLite the only one) and is prepared once the transaction is over.
type cachedTx struct {
	tx     *sql.Tx
	c      *stmtCache
	missed *[]string
}

func (q cachedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	st := q.c.get(ctx, query, false)
	if st == nil {
		*q.missed = append(*q.missed, query)
		return nil
	}
	return q.tx.StmtContext(ctx, st)
}

func (q cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
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
	`CREATE TABLE sessions (
		hash TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		user_id TEXT NOT NULL,
		scope TEXT NOT NULL,
		resource TEXT NOT NULL,
		target TEXT NOT NULL,
		expires_at BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE INDEX sessions_expiry ON sessions (expires_at)`,
	`CREATE TABLE host_uids (
		user_id TEXT PRIMARY KEY,
		uid BIGINT NOT NULL UNIQUE
	)`,
	`CREATE TABLE passwords (
		user_id TEXT PRIMARY KEY,
		hash TEXT NOT NULL,
		updated_at BIGINT NOT NULL
	)`,
	// Access (docs/security.md): role assignments, disabled users, the
	// token a browser session was opened with, and the revocation epoch
	// every request reads.
	`CREATE TABLE role_assignments (
		name TEXT PRIMARY KEY,
		scope TEXT NOT NULL,
		scope_key TEXT NOT NULL,
		role TEXT NOT NULL,
		principal_id TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		UNIQUE (principal_id, role, scope_key)
	);
	CREATE INDEX role_assignments_scope ON role_assignments (scope_key);
	CREATE TABLE auth_epoch (
		id INTEGER PRIMARY KEY,
		epoch BIGINT NOT NULL
	);
	INSERT INTO auth_epoch (id, epoch) VALUES (1, 1);
	ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT '';
	CREATE INDEX sessions_source ON sessions (source);
	CREATE INDEX sessions_user ON sessions (user_id);
	CREATE INDEX tokens_user ON tokens (user_id)`,
	// Experiment tracking (store.Tracking, docs/mlflow.md; small rows are
	// in WITHOUT ROWID tables on SQLite, clustered by their key): MLflow's
	// experiments and runs of each workspace (by UID), their params and
	// tags, every metric point (packed in chunks: metric_chunks.go), and
	// the latest point of each metric (what search filters and orders by,
	// and what a run shows).
	`CREATE TABLE mlflow_experiments (
		workspace TEXT NOT NULL,
		exp_id BIGINT NOT NULL,
		name TEXT NOT NULL,
		artifact_location TEXT NOT NULL,
		lifecycle_stage TEXT NOT NULL,
		creation_time BIGINT NOT NULL,
		last_update_time BIGINT NOT NULL,
		PRIMARY KEY (workspace, exp_id),
		UNIQUE (workspace, name)
	);
	CREATE TABLE mlflow_experiment_tags (
		workspace TEXT NOT NULL,
		exp_id BIGINT NOT NULL,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (workspace, exp_id, key)
	);
	CREATE TABLE mlflow_runs (
		run_key TEXT PRIMARY KEY,
		workspace TEXT NOT NULL,
		run_id TEXT NOT NULL,
		exp_id BIGINT NOT NULL,
		run_name TEXT NOT NULL,
		user_id TEXT NOT NULL,
		status TEXT NOT NULL,
		start_time BIGINT NOT NULL,
		end_time BIGINT NOT NULL,
		artifact_uri TEXT NOT NULL,
		lifecycle_stage TEXT NOT NULL,
		job TEXT NOT NULL,
		inputs TEXT NOT NULL,
		UNIQUE (workspace, run_id)
	);
	CREATE INDEX mlflow_runs_experiment ON mlflow_runs (workspace, exp_id, start_time);
	CREATE TABLE mlflow_params (
		run_key TEXT NOT NULL,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (run_key, key)
	) WITHOUT ROWID;
	CREATE TABLE mlflow_tags (
		run_key TEXT NOT NULL,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (run_key, key)
	) WITHOUT ROWID;
	CREATE TABLE mlflow_metric_chunks (
		run_key TEXT NOT NULL,
		key TEXT NOT NULL,
		seq BIGINT NOT NULL,
		n INTEGER NOT NULL,
		data BYTEA NOT NULL,
		PRIMARY KEY (run_key, key, seq)
	);
	CREATE TABLE mlflow_latest_metrics (
		run_key TEXT NOT NULL,
		key TEXT NOT NULL,
		step BIGINT NOT NULL,
		ts BIGINT NOT NULL,
		value DOUBLE PRECISION NOT NULL,
		is_nan INTEGER NOT NULL,
		PRIMARY KEY (run_key, key)
	) WITHOUT ROWID;
	CREATE INDEX mlflow_latest_metrics_value ON mlflow_latest_metrics (key, value)`,
	// A token's scope restricts what it may call (an MLflow tracking
	// token: one workspace's MLflow API).
	`ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT ''`,
	// MLflow's model registry (registry.go): what a model or version
	// says besides its key, stage and times is a JSON document.
	`CREATE TABLE mlflow_registered_models (
		workspace TEXT NOT NULL,
		name TEXT NOT NULL,
		creation_time BIGINT NOT NULL,
		last_updated_time BIGINT NOT NULL,
		doc TEXT NOT NULL,
		PRIMARY KEY (workspace, name)
	);
	CREATE TABLE mlflow_model_versions (
		workspace TEXT NOT NULL,
		name TEXT NOT NULL,
		version BIGINT NOT NULL,
		current_stage TEXT NOT NULL,
		creation_time BIGINT NOT NULL,
		last_updated_time BIGINT NOT NULL,
		doc TEXT NOT NULL,
		PRIMARY KEY (workspace, name, version)
	)`,
	// SQLite: metric chunks are clustered by their key as well, one B-tree
	// to write per chunk instead of a table and its index (about a sixth
	// more log-batch requests per second: docs/mlflow.md#performance). PostgreSQL
	// keeps its table.
	sqliteOnly + `CREATE TABLE mlflow_metric_chunks_clustered (
		run_key TEXT NOT NULL,
		key TEXT NOT NULL,
		seq BIGINT NOT NULL,
		n INTEGER NOT NULL,
		data BYTEA NOT NULL,
		PRIMARY KEY (run_key, key, seq)
	) WITHOUT ROWID;
	INSERT INTO mlflow_metric_chunks_clustered (run_key, key, seq, n, data) SELECT run_key, key, seq, n, data FROM mlflow_metric_chunks;
	DROP TABLE mlflow_metric_chunks;
	ALTER TABLE mlflow_metric_chunks_clustered RENAME TO mlflow_metric_chunks`,
	// A metric filter (which always excludes NaN) reads the run keys from
	// this index alone, without a lookup of each candidate's row: a
	// search of 10,000 runs with a metric filter and order takes two
	// fifths less time in its main query (12 → 7.6 ms for a page of 1,000).
	`DROP INDEX mlflow_latest_metrics_value;
	CREATE INDEX mlflow_latest_metrics_value ON mlflow_latest_metrics (key, is_nan, value)`,
	// A workspace's jobs are listed newest first, a page at a time
	// (ListOptions.NewestFirst): this index reads a page of 50 of 10,000
	// jobs without reading (and sorting) the other 9,950.
	`CREATE INDEX IF NOT EXISTS resources_newest ON resources (kind, parent, created_at DESC, name_key)`,
	// SQLite: the experiments list (JobGroups) reads this index alone —
	// a job's experiment and archived flag beside what else it needs
	// (kind too, or SQLite would not take it as covering) — instead of
	// every job's row: 10,000 jobs in about a fifth of the time. A job's
	// state change rewrites its entry. PostgreSQL reads the rows (jsonb).
	sqliteOnly + `CREATE INDEX IF NOT EXISTS resources_job_experiments ON resources (parent, json_extract(spec, '$.properties.experimentName'), state,
		created_at, name_key, name, deleting, json_extract(spec, '$.properties.isArchived'), kind) WHERE kind = 'job'`,
}

// sqliteOnly starts a migration that only SQLite's schema needs; on
// PostgreSQL its version is recorded and nothing run.
const sqliteOnly = "-- SQLite only\n"

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := s.wdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("the database has schema version %d but this mlw knows only %d: upgrade mlw", have, len(migrations))
	}
	for v := have; v < len(migrations); v++ {
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		m := migrations[v]
		if s.d.Name != "sqlite" && strings.HasPrefix(m, sqliteOnly) {
			m = ""
		}
		for _, stmt := range strings.Split(m, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if s.d.Name != "sqlite" {
				// SQLite's clustered tables; PostgreSQL has no such clause.
				stmt = strings.ReplaceAll(stmt, "WITHOUT ROWID", "")
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
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var missed []string
	q := cachedTx{tx: tx, c: s.wc, missed: &missed}
	if err := fn(&res{w: q, r: q, d: &s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	err = tx.Commit()
	for _, query := range missed {
		s.wc.get(ctx, query, true)
	}
	return err
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

func (s *res) Create(ctx context.Context, r *resource.Object) error {
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

func scanResource(sc interface{ Scan(...any) error }) (*resource.Object, error) {
	var r resource.Object
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

func (s *res) Get(ctx context.Context, kind, parent, name string) (*resource.Object, error) {
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

// likeEscape escapes LIKE's wildcards (ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func likePrefix(s string) string { return likeEscape(s) + "/%" }

func (s *res) List(ctx context.Context, o store.ListOptions) ([]*resource.Object, error) {
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
	if o.Contains != "" {
		like := "LIKE" // ignores ASCII case in SQLite
		if s.d.Name != "sqlite" {
			like = "ILIKE"
		}
		where = append(where, `(name_key `+like+` ? ESCAPE '\' OR spec `+like+` ? ESCAPE '\')`)
		pat := "%" + likeEscape(o.Contains) + "%"
		args = append(args, pat, pat)
	}
	order := ` ORDER BY name_key, parent`
	switch {
	case o.NewestFirst:
		order = ` ORDER BY created_at DESC, name_key, parent`
		if !o.AfterCreated.IsZero() {
			at := micros(o.AfterCreated)
			where = append(where, "(created_at < ? OR (created_at = ? AND (name_key > ? OR (name_key = ? AND parent > ?))))")
			args = append(args, at, at, o.After, o.After, o.AfterParent)
		}
	case o.After != "" && o.AfterParent != "":
		where = append(where, "(name_key > ? OR (name_key = ? AND parent > ?))")
		args = append(args, o.After, o.After, o.AfterParent)
	case o.After != "":
		where = append(where, "name_key > ?")
		args = append(args, o.After)
	}
	query := `SELECT ` + resourceCols + ` FROM resources WHERE ` + strings.Join(where, " AND ") + order
	if o.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(o.Limit)
	}
	rows, err := s.r.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", o.Kind, err)
	}
	defer rows.Close()
	var out []*resource.Object
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", o.Kind, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *res) Update(ctx context.Context, r *resource.Object) error {
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

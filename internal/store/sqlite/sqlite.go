// Package sqlite opens mlw's embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver (no cgo), in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	msqlite "modernc.org/sqlite"

	"github.com/mlw-project/mlw/internal/store/sqlstore"
)

const sqliteConstraint = 19 // SQLITE_CONSTRAINT; extended codes keep it in the low byte

func isUnique(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteConstraint
}

// Open opens (creating if needed) the database file at path. All writes go
// through one connection; reads use a small pool. The file must be this
// process's alone (the server locks its data directory): the store keeps
// the revocation epoch in memory.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	dsn := "file:" + url.PathEscape(path) + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn+"&_pragma=wal_autocheckpoint("+strconv.Itoa(writerCheckpointPages)+")")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)&_pragma=mmap_size(268435456)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	r.SetConnMaxLifetime(0)
	s, err := sqlstore.New(ctx, w, r, sqlstore.Dialect{Name: "sqlite", IsUnique: isUnique, Exclusive: true}, r.Close, w.Close)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	c, err := sql.Open("sqlite", dsn)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	c.SetConnMaxLifetime(0)
	cp, err := startCheckpointer(ctx, c, path)
	if err != nil {
		c.Close()
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: checkpoint: %w", path, err)
	}
	// Stopped before the store's handles close (the last checkpoint then
	// is the one SQLite runs as the last connection closes).
	s.OnClose(cp.Close)
	return s, nil
}

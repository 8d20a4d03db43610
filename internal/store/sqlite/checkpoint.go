package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// Checkpoints: SQLite copies the write-ahead log back into the database
// file (and syncs both) in the committing connection once the log passes
// wal_autocheckpoint pages. mlw has one writer connection, so that copy
// and its fsync would stall every write queued behind it; instead a
// connection of its own checkpoints passively (never blocking the writer
// or readers) every checkpointEvery, and the writer's own automatic
// checkpoint is only a safety valve for a log that has grown large.
const (
	checkpointEvery = time.Second
	// writerCheckpointPages is the writer's wal_autocheckpoint: ten times
	// SQLite's default.
	writerCheckpointPages = 10000
)

// checkpointer runs passive checkpoints until stopped.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done sync.WaitGroup
}

func startCheckpointer(db *sql.DB, path string) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{})}
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if _, err := db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
					slog.Warn("sqlite checkpoint", "db", path, "err", err)
				}
			}
		}
	}()
	return c
}

// Close stops the checkpoints and closes their connection.
func (c *checkpointer) Close() error {
	close(c.stop)
	c.done.Wait()
	return c.db.Close()
}

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
	db    *sql.DB
	stop  chan struct{}
	done  sync.WaitGroup
	close sync.Once
	err   error
}

// startCheckpointer checkpoints once at once (so that its connection and
// the files it holds open are there from the start), then every
// checkpointEvery.
func startCheckpointer(ctx context.Context, db *sql.DB, path string) (*checkpointer, error) {
	checkpoint := func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		return err
	}
	if err := checkpoint(ctx); err != nil {
		return nil, err
	}
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
				if err := checkpoint(context.Background()); err != nil {
					slog.Warn("sqlite checkpoint", "db", path, "err", err)
				}
			}
		}
	}()
	return c, nil
}

// Close stops the checkpoints and closes their connection (once, however
// often it is called).
func (c *checkpointer) Close() error {
	c.close.Do(func() {
		close(c.stop)
		c.done.Wait()
		c.err = c.db.Close()
	})
	return c.err
}

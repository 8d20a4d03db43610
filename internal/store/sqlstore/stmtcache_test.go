package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/postgres"
	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
	"github.com/mlw-project/mlw/internal/store/sqlite"
	"github.com/mlw-project/mlw/internal/store/sqlstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// eachStore runs f on a fresh SQLite store and a fresh PostgreSQL one.
func eachStore(t *testing.T, f func(t *testing.T, s *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		f(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		s, err := postgres.Open(context.Background(), pgtest.URL(t))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		f(t, s)
	})
}

func row(name string) *resource.Object {
	return &resource.Object{Kind: "job", Parent: "p", Name: name, UID: "uid-" + name,
		Spec: json.RawMessage(`{}`), Status: json.RawMessage(`{}`), State: "Queued"}
}

// TestStatementsAreReused: statements are prepared once and reused, inside
// transactions and out, and a statement first met inside a transaction is
// prepared for the next ones.
func TestStatementsAreReused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		// First met inside a transaction: runs unprepared there.
		require.NoError(t, s.InTx(ctx, func(tx store.Resources) error { return tx.Create(ctx, row("a")) }))
		w0, _ := sqlstore.CachedStatements(s)
		for i := range 20 {
			require.NoError(t, s.Create(ctx, row(fmt.Sprint("r", i))))
			r, err := s.Get(ctx, "job", "p", fmt.Sprint("r", i))
			require.NoError(t, err)
			r.State = "Running"
			require.NoError(t, s.Update(ctx, r))
			require.NoError(t, s.InTx(ctx, func(tx store.Resources) error {
				r, err := tx.Get(ctx, "job", "p", fmt.Sprint("r", i))
				if err != nil {
					return err
				}
				r.State = "Completed"
				return tx.Update(ctx, r)
			}))
		}
		w, r := sqlstore.CachedStatements(s)
		require.Greater(t, w, w0, "the insert met in a transaction was prepared afterwards")
		require.LessOrEqual(t, w, 8, "a handful of statements, each prepared once")
		require.LessOrEqual(t, r, 8)
		got, err := s.List(ctx, store.ListOptions{Kind: "job", Parent: "p", State: "Completed"})
		require.NoError(t, err)
		require.Len(t, got, 20)
	})
}

// TestTransactionsStillRollBack: a failed transaction leaves nothing, with
// cached statements as without.
func TestTransactionsStillRollBack(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		require.NoError(t, s.Create(ctx, row("keep")))
		boom := errors.New("boom")
		for range 3 {
			err := s.InTx(ctx, func(tx store.Resources) error {
				r, err := tx.Get(ctx, "job", "p", "keep")
				if err != nil {
					return err
				}
				r.State = "Changed"
				if err := tx.Update(ctx, r); err != nil {
					return err
				}
				if err := tx.Create(ctx, row("gone")); err != nil {
					return err
				}
				return boom
			})
			require.ErrorIs(t, err, boom)
		}
		r, err := s.Get(ctx, "job", "p", "keep")
		require.NoError(t, err)
		require.Equal(t, "Queued", r.State)
		require.Equal(t, int64(1), r.Version)
		_, err = s.Get(ctx, "job", "p", "gone")
		require.ErrorIs(t, err, store.ErrNotFound)
		// A unique violation inside a transaction is still ErrExists.
		err = s.InTx(ctx, func(tx store.Resources) error { return tx.Create(ctx, row("keep")) })
		require.ErrorIs(t, err, store.ErrExists)
	})
}

// TestConcurrentWritersAndTransactions: writes outside transactions,
// transactions and reads at once neither deadlock (SQLite has one writer
// connection, which a transaction holds) nor lose a guarded update.
func TestConcurrentWritersAndTransactions(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		require.NoError(t, s.Create(ctx, row("counter")))
		const workers, rounds = 6, 15
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					name := fmt.Sprintf("w%d-%d", w, i)
					if w%2 == 0 {
						require.NoError(t, s.InTx(ctx, func(tx store.Resources) error { return tx.Create(ctx, row(name)) }))
					} else {
						require.NoError(t, s.Create(ctx, row(name)))
					}
					for {
						c, err := s.Get(ctx, "job", "p", "counter")
						require.NoError(t, err)
						c.Generation++
						err = s.InTx(ctx, func(tx store.Resources) error { return tx.Update(ctx, c) })
						if errors.Is(err, store.ErrConflict) {
							continue
						}
						require.NoError(t, err)
						break
					}
				}
			}()
		}
		wg.Wait()
		c, err := s.Get(ctx, "job", "p", "counter")
		require.NoError(t, err)
		require.Equal(t, int64(1+workers*rounds), c.Generation)
		all, err := s.List(ctx, store.ListOptions{Kind: "job", Parent: "p"})
		require.NoError(t, err)
		require.Len(t, all, 1+workers*rounds)
	})
}

// TestManyDistinctQueries: queries beyond the cache's bound still run.
func TestManyDistinctQueries(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		for i := range 5 {
			require.NoError(t, s.Create(ctx, row(fmt.Sprint("j", i))))
		}
		for limit := 1; limit <= 300; limit++ {
			got, err := s.List(ctx, store.ListOptions{Kind: "job", Parent: "p", Limit: limit})
			require.NoError(t, err)
			require.Len(t, got, min(limit, 5))
		}
		_, r := sqlstore.CachedStatements(s)
		require.LessOrEqual(t, r, 256)
	})
}

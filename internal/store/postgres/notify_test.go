package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store/postgres"
	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// TestNotifierPassesKeys: keys one replica sends reach the others, in
// batches, and not itself.
func TestNotifierPassesKeys(t *testing.T) {
	url := pgtest.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type rx struct {
		mu   sync.Mutex
		keys map[string]bool
	}
	start := func() (*postgres.Notifier, *rx) {
		r := &rx{keys: map[string]bool{}}
		n := postgres.NewNotifier(url, func(msg string, args ...any) { t.Log(append([]any{msg}, args...)...) })
		go n.Run(ctx, func(kind, key string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.keys[kind+" "+key] = true
		})
		return n, r
	}
	a, ra := start()
	_, rb := start()
	// Listening starts asynchronously: send until the first key arrives.
	require.Eventually(t, func() bool {
		a.Send("Job", "probe")
		rb.mu.Lock()
		defer rb.mu.Unlock()
		return rb.keys["Job probe"]
	}, 30*time.Second, 50*time.Millisecond)
	const n = 2000 // more than fit in one notification
	for i := range n {
		a.Send("Job", fmt.Sprintf("sub/rg/ws/job-%04d", i))
	}
	require.Eventually(t, func() bool {
		rb.mu.Lock()
		defer rb.mu.Unlock()
		return len(rb.keys) == n+1
	}, 30*time.Second, 20*time.Millisecond)
	ra.mu.Lock()
	defer ra.mu.Unlock()
	require.Empty(t, ra.keys, "a replica does not hear its own keys")
}

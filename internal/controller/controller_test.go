package controller

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOneKeyNeverTwiceAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		running := map[string]int{}
		calls := map[string]int{}
		var overlap atomic.Bool
		c := New("t", ReconcileFunc(func(ctx context.Context, key string) (Result, error) {
			mu.Lock()
			running[key]++
			calls[key]++
			if running[key] > 1 {
				overlap.Store(true)
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			running[key]--
			mu.Unlock()
			return Result{}, nil
		}), 4, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		for range 5 {
			c.Enqueue("a")
			c.Enqueue("b")
			time.Sleep(3 * time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		<-done
		require.False(t, overlap.Load(), "a key was reconciled by two workers at once")
		// Adds while a key is processing collapse into one more pass.
		require.GreaterOrEqual(t, calls["a"], 2)
		require.LessOrEqual(t, calls["a"], 5)
	})
}

func TestRequeueAfterAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var times []time.Duration
		start := time.Now()
		fails := 3
		c := New("t", ReconcileFunc(func(ctx context.Context, key string) (Result, error) {
			mu.Lock()
			defer mu.Unlock()
			times = append(times, time.Since(start))
			if fails > 0 {
				fails--
				return Result{}, errors.New("not yet")
			}
			if len(times) < 6 {
				return Result{RequeueAfter: time.Second}, nil
			}
			return Result{}, nil
		}), 1, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		c.Enqueue("k")
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		require.Len(t, times, 6)
		// Backoff doubles from 50 ms: 0, 50, 150, 350 ms; then 1 s apart.
		require.Equal(t, []time.Duration{0, 50 * time.Millisecond, 150 * time.Millisecond, 350 * time.Millisecond,
			1350 * time.Millisecond, 2350 * time.Millisecond}, times)
	})
}

func TestTerminalErrorDropsKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		c := New("t", ReconcileFunc(func(ctx context.Context, key string) (Result, error) {
			n.Add(1)
			return Result{}, errors.Join(ErrTerminal, errors.New("bad spec"))
		}), 1, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		c.Enqueue("k")
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		require.Equal(t, int32(1), n.Load())
	})
}

// A key that asks again and again to be reconciled later (a running job's
// deadline, asked on every pass) holds one delayed entry, and the earliest
// time asked wins.
func TestEnqueueAfterKeepsOneEntryPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		c := New("t", ReconcileFunc(func(ctx context.Context, key string) (Result, error) {
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
			return Result{}, nil
		}), 1, nil)
		for range 1000 {
			c.EnqueueAfter("a", time.Hour)
		}
		c.EnqueueAfter("a", time.Minute) // earlier: it wins
		c.EnqueueAfter("a", 2*time.Hour) // later: dropped
		c.mu.Lock()
		require.Equal(t, 2, c.delayed.Len(), "one entry for the hour, one for the minute")
		c.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []time.Duration{time.Minute, time.Hour}, at)
		c.mu.Lock()
		require.Empty(t, c.due)
		c.mu.Unlock()
	})
}

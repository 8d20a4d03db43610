// Package controller runs reconcilers from a keyed work queue, in the manner
// of controller-runtime: a request carries only a key; a key is never
// reconciled by two workers at once; a key added while it is being worked on
// is worked on again afterwards; errors retry with exponential backoff.
package controller

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Result tells the controller what to do with a key after Reconcile.
type Result struct {
	// RequeueAfter > 0 reconciles the key again after that long.
	RequeueAfter time.Duration
}

// Reconciler moves one object a step toward its desired state. It must be
// idempotent: it may be called any number of times for the same key.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// ReconcileFunc adapts a function to Reconciler.
type ReconcileFunc func(ctx context.Context, key string) (Result, error)

// Reconcile calls f.
func (f ReconcileFunc) Reconcile(ctx context.Context, key string) (Result, error) { return f(ctx, key) }

// ErrTerminal marks an error that retrying cannot fix; the key is dropped.
var ErrTerminal = errors.New("terminal")

// Controller is a keyed queue with a pool of workers.
type Controller struct {
	Name       string
	rec        Reconciler
	workers    int
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []string
	dirty      map[string]bool
	processing map[string]bool
	failures   map[string]int
	delayed    delayHeap
	// due is the earliest delayed time of each key in delayed: a later
	// request for the same key is dropped (the earlier one reconciles it,
	// and that reconcile asks again), so the heap stays one entry a key
	// however often a key asks.
	due     map[string]time.Time
	wake    chan struct{}
	stopped bool
}

// New returns a controller; call Run to start it.
func New(name string, rec Reconciler, workers int, log *slog.Logger) *Controller {
	if workers <= 0 {
		workers = 1
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{
		Name: name, rec: rec, workers: workers, log: log.With("controller", name),
		minBackoff: 50 * time.Millisecond, maxBackoff: 30 * time.Second,
		dirty: map[string]bool{}, processing: map[string]bool{}, failures: map[string]int{},
		due:  map[string]time.Time{},
		wake: make(chan struct{}, 1),
	}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Enqueue adds a key now. Adding a key that is already waiting is a no-op.
func (c *Controller) Enqueue(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key)
}

func (c *Controller) addLocked(key string) {
	if c.stopped || c.dirty[key] {
		return
	}
	c.dirty[key] = true
	if c.processing[key] {
		return // re-added when the worker finishes
	}
	c.queue = append(c.queue, key)
	c.cond.Signal()
}

// EnqueueAfter adds a key after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) {
	if d <= 0 {
		c.Enqueue(key)
		return
	}
	at := time.Now().Add(d)
	c.mu.Lock()
	if cur, ok := c.due[key]; ok && !cur.After(at) {
		c.mu.Unlock()
		return
	}
	c.due[key] = at
	heap.Push(&c.delayed, delayed{key: key, at: at})
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Len is the number of keys waiting (for metrics and tests).
func (c *Controller) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Run works the queue until ctx ends, then waits for workers to finish.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.runDelays(ctx)
	}()
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.work(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.mu.Lock()
	c.stopped = true
	c.cond.Broadcast()
	c.mu.Unlock()
	wg.Wait()
	return nil
}

// runDelays moves delayed keys into the queue when their time comes.
func (c *Controller) runDelays(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		now := time.Now()
		for c.delayed.Len() > 0 && !c.delayed[0].at.After(now) {
			d := heap.Pop(&c.delayed).(delayed)
			if c.due[d.key].Equal(d.at) {
				delete(c.due, d.key)
			}
			c.addLocked(d.key)
		}
		next := time.Hour
		if c.delayed.Len() > 0 {
			next = c.delayed[0].at.Sub(now)
		}
		c.mu.Unlock()
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

func (c *Controller) work(ctx context.Context) bool {
	c.mu.Lock()
	for len(c.queue) == 0 && !c.stopped {
		c.cond.Wait()
	}
	if c.stopped {
		c.mu.Unlock()
		return false
	}
	key := c.queue[0]
	c.queue = c.queue[1:]
	delete(c.dirty, key)
	c.processing[key] = true
	c.mu.Unlock()

	res, err := c.reconcile(ctx, key)

	c.mu.Lock()
	delete(c.processing, key)
	if c.dirty[key] {
		c.queue = append(c.queue, key)
		c.cond.Signal()
	}
	var retry time.Duration
	switch {
	case err != nil && !errors.Is(err, ErrTerminal) && ctx.Err() == nil:
		n := c.failures[key]
		c.failures[key] = n + 1
		retry = c.minBackoff << min(n, 20)
		if retry > c.maxBackoff || retry <= 0 {
			retry = c.maxBackoff
		}
		c.log.Warn("reconcile failed; will retry", "key", key, "err", err, "retry", retry)
	case err != nil:
		delete(c.failures, key)
		if ctx.Err() == nil {
			c.log.Error("reconcile failed for good", "key", key, "err", err)
		}
	default:
		delete(c.failures, key)
		retry = res.RequeueAfter
	}
	c.mu.Unlock()
	if retry > 0 {
		c.EnqueueAfter(key, retry)
	}
	return true
}

func (c *Controller) reconcile(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("reconcile panicked", "key", key, "panic", r)
			err = errors.New("reconciler panicked")
		}
	}()
	return c.rec.Reconcile(ctx, key)
}

type delayed struct {
	key string
	at  time.Time
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

package envbuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// flight is one build or check in progress. Everyone who asks for the same
// key while it runs joins it: they wait for its result and receive its
// log, from the start, while it is written.
type flight struct {
	done chan struct{}
	rt   *Runtime
	err  error

	mu   sync.Mutex
	buf  []byte // everything written so far, for late joiners
	file *os.File
	subs map[int]io.Writer
	next int
}

// Write sends p to the log file and every subscriber.
func (f *flight) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, p...)
	if f.file != nil {
		_, _ = f.file.Write(p)
	}
	for id, w := range f.subs {
		if _, err := w.Write(p); err != nil {
			delete(f.subs, id) // a reader that went away
		}
	}
	return len(p), nil
}

func (f *flight) subscribe(w io.Writer) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.buf) > 0 {
		_, _ = w.Write(f.buf)
	}
	f.next++
	f.subs[f.next] = w
	return f.next
}

func (f *flight) unsubscribe(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, id)
}

// join runs work once per key at a time. The first caller starts it; work
// runs on a context detached from the callers' (bounded by BuildTimeout),
// so that a canceled job does not waste a build another job may need.
// logPath, if not empty, receives the log (truncated at the start).
func (b *Builder) join(ctx context.Context, key, logPath string, log io.Writer,
	work func(ctx context.Context, log io.Writer) (*Runtime, error)) (*Runtime, error) {
	b.mu.Lock()
	f, running := b.flights[key]
	if !running {
		f = &flight{done: make(chan struct{}), subs: map[int]io.Writer{}}
		b.flights[key] = f
	}
	b.mu.Unlock()
	if running {
		fmt.Fprintln(log, "Waiting for the same environment's build, already in progress:")
	}
	id := f.subscribe(log)
	if !running {
		go b.fly(context.WithoutCancel(ctx), key, logPath, f, work)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		f.unsubscribe(id)
		return nil, ctx.Err()
	}
	f.unsubscribe(id)
	return f.rt, f.err
}

func (b *Builder) fly(ctx context.Context, key, logPath string, f *flight,
	work func(ctx context.Context, log io.Writer) (*Runtime, error)) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.BuildTimeout)
	defer cancel()
	defer func() {
		b.mu.Lock()
		delete(b.flights, key)
		b.mu.Unlock()
		close(f.done)
	}()
	if logPath != "" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			f.err = fmt.Errorf("create the environment directory: %w", err)
			return
		}
		file, err := os.Create(logPath)
		if err != nil {
			f.err = fmt.Errorf("create the build log: %w", err)
			return
		}
		f.mu.Lock()
		f.file = file
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			_ = f.file.Close()
			f.file = nil
			f.mu.Unlock()
		}()
	}
	f.rt, f.err = work(ctx, f)
}

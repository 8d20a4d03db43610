package local

import (
	"sync"
	"syscall"
	"unsafe"
)

// exitWatcher tells waiters when a process's exit record appears, through
// inotify on its run directory: the job reconciler learns of an exit at
// once without polling, also for processes this server did not start (run
// by a node agent, or reattached after a restart).
type exitWatcher struct {
	once sync.Once
	fd   int
	err  error

	mu    sync.Mutex
	byDir map[string]*dirWatch
	byWD  map[int32]*dirWatch
}

type dirWatch struct {
	wd   int32
	refs int
	ch   chan struct{} // closed when exit.json is written
}

func (w *exitWatcher) init() error {
	w.once.Do(func() {
		w.fd, w.err = syscall.InotifyInit1(syscall.IN_CLOEXEC)
		if w.err != nil {
			return
		}
		w.byDir, w.byWD = map[string]*dirWatch{}, map[int32]*dirWatch{}
		go w.read()
	})
	return w.err
}

// watch returns a channel closed once exitFile is written in dir, and a
// function to call when done waiting. Check for the file after calling
// watch: an exit before the watch existed sends no event.
func (w *exitWatcher) watch(dir string) (<-chan struct{}, func(), error) {
	if err := w.init(); err != nil {
		return nil, nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.byDir[dir]
	if d == nil {
		wd, err := syscall.InotifyAddWatch(w.fd, dir, syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO|syscall.IN_ONLYDIR)
		if err != nil {
			return nil, nil, err
		}
		d = &dirWatch{wd: int32(wd), ch: make(chan struct{})}
		w.byDir[dir] = d
		w.byWD[d.wd] = d
	}
	d.refs++
	release := func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		d.refs--
		if d.refs == 0 && w.byDir[dir] == d {
			delete(w.byDir, dir)
			delete(w.byWD, d.wd)
			_, _ = syscall.InotifyRmWatch(w.fd, uint32(d.wd))
		}
	}
	return d.ch, release, nil
}

func (w *exitWatcher) read() {
	buf := make([]byte, 64*1024)
	for {
		n, err := syscall.Read(w.fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			name := string(nameBytes)
			for i := 0; i < len(name); i++ {
				if name[i] == 0 {
					name = name[:i]
					break
				}
			}
			if name == exitFile {
				w.mu.Lock()
				if d := w.byWD[ev.Wd]; d != nil {
					select {
					case <-d.ch:
					default:
						close(d.ch)
					}
				}
				w.mu.Unlock()
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

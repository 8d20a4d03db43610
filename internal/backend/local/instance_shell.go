package local

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/mlw-project/mlw/internal/backend"
)

// ptyShell is a login shell on a PTY inside an instance. The server holds
// the PTY's master, so sessions end with the server (clients reconnect).
type ptyShell struct {
	f    *os.File
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
	// onExit runs once when the shell has exited (session bookkeeping).
	onExit func()
}

func (s *ptyShell) Read(p []byte) (int, error)  { return s.f.Read(p) }
func (s *ptyShell) Write(p []byte) (int, error) { return s.f.Write(p) }
func (s *ptyShell) Done() <-chan struct{}       { return s.done }

func (s *ptyShell) Resize(cols, rows int) error {
	if cols <= 0 || rows <= 0 {
		return nil
	}
	return pty.Setsize(s.f, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

// Close hangs up: SIGHUP to the shell's process group, SIGKILL if it does
// not exit at once.
func (s *ptyShell) Close() error {
	s.once.Do(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGHUP)
		select {
		case <-s.done:
		case <-time.After(500 * time.Millisecond):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
	})
	return nil
}

// startPTY starts argv on a new PTY, in the instance's cgroup.
func (l *Instances) startPTY(h *instanceHandle, argv []string, env []string, cols, rows int, onExit func(*ptyShell)) (*ptyShell, error) {
	// Join the cgroup before exec, so that every descendant is inside it.
	if files := h.cgroup().ProcsFiles(); len(files) > 0 {
		argv = append([]string{"/bin/sh", "-c", `for f in $MLW_CGROUP_PROCS; do echo $$ > "$f" || exit 1; done; exec "$@"`, "sh"}, argv...)
		env = append(env, "MLW_CGROUP_PROCS="+strings.Join(files, " "))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = h.home()
	if cols <= 0 || rows <= 0 {
		cols, rows = 80, 24
	}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, err
	}
	s := &ptyShell{f: f, cmd: cmd, done: make(chan struct{})}
	if onExit != nil {
		onExit(nil) // count the session before it can end
		s.onExit = func() { onExit(s) }
	}
	go func() {
		_ = cmd.Wait()
		close(s.done)
		// Give the reader the last output before the PTY goes away.
		time.AfterFunc(100*time.Millisecond, func() { _ = f.Close() })
		if s.onExit != nil {
			s.onExit()
		}
	}()
	return s, nil
}

// Shell implements backend.Instances: a login shell in the home directory.
func (l *Instances) Shell(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle, cols, rows int) (backend.Shell, error) {
	return l.openSession(spec, raw, "terminal", nil, cols, rows)
}

// openSession starts a PTY session (kind "terminal" or "ssh") running a
// login shell, or command when not nil.
func (l *Instances) openSession(spec *backend.InstanceSpec, raw backend.InstanceHandle, kind string, command []string, cols, rows int) (*ptyShell, error) {
	h, ok := decodeHandle(raw)
	if !ok || !l.initRunning(h) {
		return nil, backend.ErrNotRunning
	}
	if command == nil {
		command = []string{"/bin/bash", "-l"}
	}
	argv := l.enter(h, "", command...)
	env := l.env(spec, h, map[string]string{"TERM": "xterm-256color"})
	li := l.liveFor(spec.ID, spec.Key)
	count := func(d int) {
		if kind == "ssh" {
			li.sshConns += d
		} else {
			li.terminals += d
		}
	}
	s, err := l.startPTY(h, argv, env, cols, rows, func(s *ptyShell) {
		l.mu.Lock()
		if s == nil {
			count(1)
		} else {
			delete(li.shells, s)
			count(-1)
		}
		l.mu.Unlock()
		if s != nil {
			l.notify(spec.ID)
		}
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	select {
	case <-s.done:
	default:
		li.shells[s] = true
	}
	l.mu.Unlock()
	l.notify(spec.ID)
	return s, nil
}

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
)

// Options configure StartServer. The zero value is a fresh server with
// SQLite and HTTPS on 127.0.0.1 and a random port.
type Options struct {
	// DataDir is the data directory to use (default: a new t.TempDir()).
	// Pass another server's Dir to start a second server on its state.
	DataDir string
	// Database is passed as --database (a postgres:// URL, for example
	// from pgtest.URL); empty means SQLite in the data directory.
	Database string
	// InsecureHTTP starts the server with --insecure-http.
	InsecureHTTP bool
	// Args are extra `mlw server` flags.
	Args []string
	// Env holds extra KEY=value environment variables for the server.
	Env []string
}

// Server is one `mlw server` process (and its restarts) owned by a test.
// Its methods that take no testing.TB fail the test that started it, so
// call them from that test's goroutine.
type Server struct {
	// Dir is the data directory: the CLI's MLW_HOME.
	Dir string
	// WorkDir is the working directory of CLI commands (where, for
	// example, `mlw workspace download-config` writes config.json).
	WorkDir string
	// URL is the base URL of the running server, e.g. https://127.0.0.1:41234.
	// Restarts keep the port when they can.
	URL string
	// Subscription is the server's default subscription id.
	Subscription string

	t    testing.TB
	opts Options
	log  *syncBuffer
	// listen is the --listen address of the next start: port 0 at first,
	// then the port the server got, so that URLs survive a restart.
	listen string

	proc   *process
	token  string
	client *http.Client
}

// process is one run of the server binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	code int           // exit code; -1 when killed by a signal
}

// StartServer starts `mlw server` and waits until it answers. The server is
// stopped when the test ends, and its log is printed if the test failed.
func StartServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{Dir: opts.DataDir, WorkDir: t.TempDir(), t: t, opts: opts, log: &syncBuffer{}, listen: "127.0.0.1:0"}
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	t.Cleanup(s.cleanup)
	s.Start()
	return s
}

// Start starts the server process again (after Stop or Kill) on the same
// data directory and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatal("e2e: Start: the server is already running")
	}
	err := s.start()
	if err != nil && s.listen != "127.0.0.1:0" && strings.Contains(err.Error(), "address already in use") {
		// Another process took the port while the server was down; a new
		// port only changes s.URL.
		s.t.Logf("e2e: port of %s is taken; restarting on a new port", s.listen)
		s.listen = "127.0.0.1:0"
		err = s.start()
	}
	if err != nil {
		s.t.Fatalf("e2e: start mlw server: %v\n%s", err, s.Log())
	}
}

func (s *Server) start() error {
	args := []string{"server", "--data-dir", s.Dir, "--listen", s.listen}
	if s.opts.InsecureHTTP {
		args = append(args, "--insecure-http")
	}
	if s.opts.Database != "" {
		args = append(args, "--database", s.opts.Database)
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(Binary(s.t), args...)
	cmd.Env = append(cleanEnv(s.Dir), s.opts.Env...)
	cmd.Dir = s.WorkDir
	cmd.Stdout, cmd.Stderr = s.log, s.log
	s.log.mark(fmt.Sprintf("=== e2e: mlw %s", strings.Join(args, " ")))
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	s.proc = p

	// The server writes server.json once it listens; a stale file from a
	// killed predecessor names another pid.
	var local api.LocalServer
	deadline := time.Now().Add(AwaitTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(s.Dir, api.LocalServerFile))
		if err == nil && json.Unmarshal(b, &local) == nil && local.PID == cmd.Process.Pid {
			break
		}
		select {
		case <-p.done:
			return fmt.Errorf("mlw server exited with code %d before it was ready: %s", p.code, lastLine(s.log.String()))
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mlw server did not write %s within %v", api.LocalServerFile, AwaitTimeout)
		}
	}
	s.URL, s.Subscription = local.URL, local.Subscription
	u, err := url.Parse(local.URL)
	if err != nil {
		return fmt.Errorf("server.json has a bad URL %q: %w", local.URL, err)
	}
	s.listen = u.Host
	tok, err := os.ReadFile(filepath.Join(s.Dir, api.LocalTokenFile))
	if err != nil {
		return err
	}
	s.token = strings.TrimSpace(string(tok))
	if s.client, err = newHTTPClient(s.Dir); err != nil {
		return err
	}
	s.AwaitResponding(s.t)
	return nil
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the server process.
func (s *Server) Signal(sig os.Signal) {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatal("e2e: Signal: the server was never started")
	}
	// An idle HTTP/2 connection of the test's own client would hold a
	// graceful shutdown for a second (the server's GOAWAY timeout).
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Fatalf("e2e: signal %v: %v", sig, err)
	}
}

// Wait waits for the server process to exit and returns its exit code
// (-1 when a signal killed it).
func (s *Server) Wait() int {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatal("e2e: Wait: the server was never started")
	}
	select {
	case <-s.proc.done:
	case <-time.After(AwaitTimeout):
		s.t.Fatalf("e2e: mlw server did not exit within %v\n%s", AwaitTimeout, s.Log())
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return s.proc.code
}

// Stop sends SIGTERM and requires a clean exit (status 0): in-flight
// requests finished, the database closed.
func (s *Server) Stop() {
	s.t.Helper()
	s.Signal(syscall.SIGTERM)
	if code := s.Wait(); code != 0 {
		s.t.Fatalf("e2e: mlw server exited with code %d after SIGTERM\n%s", code, s.Log())
	}
}

// Kill sends SIGKILL, as a crash or the OOM killer would, and waits.
func (s *Server) Kill() {
	s.t.Helper()
	s.Signal(syscall.SIGKILL)
	s.Wait()
}

// Restart stops the server with SIGTERM and starts it again on the same
// data directory (and, when it is free, the same port).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Log returns everything the server processes wrote to stdout and stderr,
// with a line marking each start.
func (s *Server) Log() string { return s.log.String() }

// AwaitLog waits until the server's output contains substr.
func (s *Server) AwaitLog(t testing.TB, substr string) {
	t.Helper()
	Await(t, fmt.Sprintf("server log to contain %q", substr), func() error {
		if !strings.Contains(s.Log(), substr) {
			return errNotYet
		}
		return nil
	})
}

func (s *Server) cleanup() {
	if s.Running() {
		// SIGTERM first, so that every test also exercises a clean
		// shutdown; SIGKILL if that hangs.
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
		_ = s.proc.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.proc.done:
		case <-time.After(10 * time.Second):
			_ = s.proc.cmd.Process.Kill()
			<-s.proc.done
		}
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	// Jobs, node agents and instances outlive the server by design (a
	// restart loses no work); a finished test must not leave them behind.
	killJobProcesses(s.Dir)
	if s.opts.DataDir == "" {
		// The instances' files go now, retried while a process killed
		// above may still be finishing a write (the test's TempDir
		// removal would fail on it).
		for range 100 {
			if err := os.RemoveAll(filepath.Join(s.Dir, "instances")); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if s.t.Failed() {
		s.t.Logf("mlw server log (data directory %s):\n%s", s.Dir, s.Log())
	}
}

// cleanEnv is the environment of mlw processes: the test's, without any
// MLW_ variable that could point them at another server, plus MLW_HOME.
func cleanEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MLW_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	return append(env, "MLW_HOME="+home, "NO_COLOR=1")
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return ""
	}
	return u.Host
}

// Dial opens a plain TCP connection to the server (for tests that speak
// the protocol by hand, such as half-sent requests).
func (s *Server) Dial() (net.Conn, error) { return net.DialTimeout("tcp", s.Addr(), 5*time.Second) }

// syncBuffer collects the output of server processes; exec copies stdout
// and stderr from goroutines while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) mark(line string) { _, _ = b.Write([]byte(line + "\n")) }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// killJobProcesses kills every process that a job of the server with
// data directory dir started (they carry MLW_RUN_DIR=<dir>/…), and the
// server's node agents (MLW_NODE_AGENT=<dir>/…).
func killJobProcesses(dir string) {
	killTagged(dir, "MLW_NODE_AGENT=")
	killTagged(dir, "MLW_RUN_DIR=")
	// An instance's own processes (a terminal's shell, Jupyter's kernels)
	// carry its id, not the run directory; a shell killed late writes its
	// history into the home being removed.
	insts, _ := os.ReadDir(filepath.Join(dir, "instances"))
	for _, in := range insts {
		killWith([]byte("\x00MLW_INSTANCE=" + in.Name() + "\x00"))
	}
	// The nodes' cgroups are host-wide: a test's must not outlive it.
	nodes, _ := os.ReadDir(filepath.Join(dir, "cluster", "nodes"))
	for _, n := range nodes {
		for _, h := range []string{"memory/mlw", "cpu/mlw", "pids/mlw", "mlw"} {
			cg := filepath.Join("/sys/fs/cgroup", h, "node-"+n.Name())
			for range 100 {
				if err := os.Remove(cg); err == nil || os.IsNotExist(err) {
					break
				}
				b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// killTagged kills the processes taggedPIDs lists and waits (up to 10 s)
// until they are gone: a killed process may still write into the test's
// directories (an instance's home) until it is, and their removal would
// fail.
func killTagged(dir, prefix string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := taggedPIDs(dir, prefix)
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killWith kills the live processes whose environment (with a NUL in
// front and behind) contains tag, and waits (up to 10 s) until they are
// gone.
func killWith(tag []byte) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pids := pidsWith(func(env []byte) bool { return bytes.Contains(append(append([]byte{0}, env...), 0), tag) })
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// taggedPIDs lists the live processes whose environment carries
// prefix+dir+"/…" (zombies, which only their parent can reap, excluded).
func taggedPIDs(dir, prefix string) []int {
	tag := []byte(prefix + dir + "/")
	return pidsWith(func(env []byte) bool { return bytes.Contains(env, tag) })
}

// pidsWith lists the live processes whose environment match says yes
// to (zombies, which only their parent can reap, excluded).
func pidsWith(match func(env []byte) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !match(env) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// ProcessesOf lists the live processes that the server with data
// directory dir started for instances, nodes and jobs.
func ProcessesOf(dir string) []int {
	return append(taggedPIDs(dir, "MLW_RUN_DIR="), taggedPIDs(dir, "MLW_NODE_AGENT=")...)
}

// JobWorkDir returns the working directory of rank 0 of a job's latest
// attempt (jobs/<job id>/a<n>-n0 under the data directory), once the
// server has prepared it. Jobs run sandboxed and see none of the test's
// files, so tests exchange files with a job there (the test runs as root).
func (s *Server) JobWorkDir(t testing.TB, job string) string {
	t.Helper()
	var dir string
	Await(t, "the working directory of job "+job, func() error {
		files, _ := filepath.Glob(filepath.Join(s.Dir, "jobs", "*", "a*-processes.json"))
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var specs []struct {
				Dir string
				Env []string
			}
			if json.Unmarshal(b, &specs) != nil || len(specs) == 0 {
				continue
			}
			if slices.Contains(specs[0].Env, "MLW_JOB_NAME="+job) {
				dir = specs[0].Dir
			}
		}
		if dir == "" {
			return errNotYet
		}
		return nil
	})
	return dir
}

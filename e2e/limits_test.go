package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/mlw-project/mlw/internal/backend/local"
)

// The limits of issue 11, against the real server: idle connections that
// would otherwise pile up are closed after the configured timeouts, log
// follows leave no descriptor behind and are bounded per user, a signed
// token without exp is refused, and the data directory is private.
// Timeouts are set short through flags and MLW_* variables; every wait
// polls a condition under a deadline, and nothing asserts how fast.

// raiseOpenFiles makes sure this test process may hold n descriptors (Go
// raises the soft limit to the hard one at start; a lower hard limit is
// raised when the test may, and fails the test with a clear message when
// it may not). mlw server, a Go program too, raises its own.
func raiseOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= n {
		return
	}
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("this test holds %d connections and needs %d open files; raise the limit (ulimit -n %d): %v", n/2, n, n, err)
	}
}

// openFDs counts the open descriptors of a process.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return len(ents)
}

// awaitFDsAtMost waits until the server holds at most n descriptors.
func (s *Server) awaitFDsAtMost(t *testing.T, n int, what string) {
	t.Helper()
	pid := s.proc.cmd.Process.Pid
	Await(t, what, func() error {
		if got := openFDs(t, pid); got > n {
			return fmt.Errorf("the server holds %d descriptors, %d before", got, n)
		}
		return nil
	})
}

// awaitClosedByServer reads each connection until the server closes it,
// and fails for one still open after wait: the server's timeout did not
// close it. Each must have stayed open for at least min after it was
// opened (the server held it, rather than refusing it).
func awaitClosedByServer(t *testing.T, conns []net.Conn, opened []time.Time, minOpen, wait time.Duration) {
	t.Helper()
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(wait))
			_, err := io.Copy(io.Discard, c)
			closed := time.Now()
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				errs[i] = fmt.Errorf("connection %d still open after %v", i, wait)
			case closed.Sub(opened[i]) < minOpen:
				errs[i] = fmt.Errorf("connection %d was closed %v after it opened, before the timeout (%v)", i, closed.Sub(opened[i]), err)
			}
			c.Close()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// TestLimitsIdleTLSConnections: 500 idle connections to the HTTPS port —
// half plain TCP that never start TLS, half that finish the TLS handshake
// and send no request — and a few keep-alive connections left idle after
// a request, are all closed by the server after its read-header and idle
// timeouts; it goes on serving and holds no descriptor for them.
func TestLimitsIdleTLSConnections(t *testing.T) {
	t.Parallel()
	raiseOpenFiles(t, 4096)
	const timeout = 8 * time.Second
	s := StartServer(t, Options{Args: []string{"--http-read-header-timeout", timeout.String()},
		Env: []string{"MLW_HTTP_IDLE_TIMEOUT=" + timeout.String()}})
	pid := s.proc.cmd.Process.Pid
	before := openFDs(t, pid)
	tlsConf := s.client.Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsConf.NextProtos = []string{"http/1.1"}
	tlsConf.ServerName = "127.0.0.1"

	const plain, handshaken, keepAlive = 250, 250, 10
	n := plain + handshaken + keepAlive
	conns := make([]net.Conn, n)
	opened := make([]time.Time, n)
	dialErrs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // TLS handshakes cost CPU: a few at a time
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			opened[i] = time.Now()
			c, err := s.Dial()
			if err != nil {
				dialErrs[i] = err
				return
			}
			conns[i] = c
			if i < plain {
				return
			}
			tc := tls.Client(c, tlsConf)
			ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
			defer cancel()
			if err := tc.HandshakeContext(ctx); err != nil {
				dialErrs[i] = fmt.Errorf("TLS handshake: %w", err)
				return
			}
			conns[i] = tc
			if i < plain+handshaken {
				return
			}
			// One request, then silence: the idle timeout's case.
			if _, err := io.WriteString(tc, "GET /healthz HTTP/1.1\r\nHost: mlw\r\n\r\n"); err != nil {
				dialErrs[i] = err
				return
			}
			br := bufio.NewReader(tc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				dialErrs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || br.Buffered() > 0 {
				dialErrs[i] = fmt.Errorf("GET /healthz: %s, %d bytes more", resp.Status, br.Buffered())
				return
			}
			opened[i] = time.Now() // idle from here
		}()
	}
	wg.Wait()
	for _, err := range dialErrs {
		require.NoError(t, err)
	}
	t.Logf("%d idle connections open; the server holds %d descriptors (%d before)", n, openFDs(t, pid), before)
	awaitClosedByServer(t, conns, opened, timeout/2, timeout+AwaitTimeout)

	require.Equal(t, http.StatusOK, s.Do(t, http.MethodGet, "/healthz", nil).StatusCode, "the server still serves")
	s.client.CloseIdleConnections()
	s.awaitFDsAtMost(t, before, "the server to release the idle connections")
}

// sshKey makes an Ed25519 key pair: the signer and the public key in
// authorized_keys form, written to a file for --ssh-key-value @file.
func sshKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "id_ed25519.pub")
	require.NoError(t, os.WriteFile(file, ssh.MarshalAuthorizedKey(sshPub), 0o644))
	return signer, file
}

// TestLimitsIdleSSHConnections: 500 TCP connections to a compute
// instance's SSH endpoint that never start the SSH handshake are closed
// after the handshake timeout, and an authenticated session left silent
// is closed after the idle timeout; the endpoint still lets a user in.
func TestLimitsIdleSSHConnections(t *testing.T) {
	t.Parallel()
	if ok, reason := local.JobSandboxSupport(); !ok {
		t.Skip(reason)
	}
	raiseOpenFiles(t, 4096)
	const handshake, idle = 8 * time.Second, 5 * time.Second
	s := StartServer(t, Options{Args: []string{"--ssh-handshake-timeout", handshake.String()},
		Env: []string{"MLW_SSH_IDLE_TIMEOUT=" + idle.String()}})
	e := &instanceEnv{Server: s, rg: "rg-ci", ws: "ws-ci"}
	s.MustRun(t, "group", "create", "-n", e.rg, "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", e.ws, "-g", e.rg)
	t.Cleanup(func() { stopAndKillJobs(s) })
	signer, pubFile := sshKey(t)
	e.mustCLI(t, "compute", "create", "-n", "ci-ssh", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2",
		"--ssh-public-access", "--ssh-key-value", "@"+pubFile)
	t.Cleanup(func() { // before the server stops: the instance's cgroup is host-wide
		if s.Running() {
			s.Do(t, http.MethodDelete, e.computePath("ci-ssh"), nil)
			s.AwaitStatus(t, e.computePath("ci-ssh"), http.StatusNotFound)
		}
	})
	port := instProps(e.show(t, "ci-ssh"))["sshSettings"].(map[string]any)["sshPort"]
	addr := fmt.Sprintf("127.0.0.1:%v", port)
	config := &ssh.ClientConfig{User: "azureuser", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: AwaitTimeout}
	pid := s.proc.cmd.Process.Pid
	before := openFDs(t, pid)

	const n = 500
	conns := make([]net.Conn, n)
	opened := make([]time.Time, n)
	for i := range n {
		opened[i] = time.Now()
		c, err := net.DialTimeout("tcp", addr, AwaitTimeout)
		require.NoError(t, err)
		conns[i] = c
	}
	t.Logf("%d idle SSH connections open; the server holds %d descriptors (%d before)", n, openFDs(t, pid), before)

	// An authenticated session with nothing to say: closed when idle.
	client, err := ssh.Dial("tcp", addr, config)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(idle + AwaitTimeout):
		client.Close()
		t.Fatalf("an idle SSH session was still open %v after the idle timeout of %v", AwaitTimeout, idle)
	}

	awaitClosedByServer(t, conns, opened, handshake/2, handshake+AwaitTimeout)
	s.awaitFDsAtMost(t, before, "the server to release the idle SSH connections")

	// The endpoint still lets its user in.
	client, err = ssh.Dial("tcp", addr, config)
	require.NoError(t, err)
	defer client.Close()
	sess, err := client.NewSession()
	require.NoError(t, err)
	out, err := sess.Output("echo ssh-$((40+2))")
	require.NoError(t, err)
	require.Equal(t, "ssh-42", strings.TrimSpace(string(out)))
}

// follow opens a follow of a job's log as the holder of token and returns
// the answer; the caller closes its body (the client going away).
func (s *Server) follow(t *testing.T, ws, job, token string) *http.Response {
	t.Helper()
	req := s.NewRequest(t, http.MethodGet, ws+"/jobs/"+job+"/logs/user_logs/std_log.txt?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	return resp
}

// TestLimitsLogFollows: 100 log follows whose client goes away leave no
// descriptor behind in the server and give their stream slot back; a user
// at the per-user stream limit gets 429 with Retry-After, other users do
// not, and a slot freed is usable again.
func TestLimitsLogFollows(t *testing.T) {
	t.Parallel()
	const limit = 3
	s := StartServer(t, Options{Env: []string{"MLW_MAX_STREAMS_PER_USER=" + strconv.Itoa(limit)}})
	e := newJobsEnv(t, s)
	_, bobToken := addUser(t, s.Dir, "bob", "Contributor")
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
	e.submit(t, "talker", map[string]any{"command": `echo started; while [ ! -f go ]; do sleep 0.1; done`, "computeId": "c1"})
	e.awaitJob(t, "talker", "Running")
	Await(t, "the job to log", func() error {
		if !strings.Contains(e.userLog(t, "talker"), "started") {
			return errNotYet
		}
		return nil
	})
	readStarted := func(resp *http.Response) {
		t.Helper()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		buf := make([]byte, len("started\n"))
		_, err := io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		require.Equal(t, "started\n", string(buf))
	}

	// A first follow opens the client's connection, which stays; count
	// the server's descriptors once nothing moves.
	resp := s.follow(t, e.ws, "talker", s.token)
	readStarted(resp)
	resp.Body.Close()
	pid := s.proc.cmd.Process.Pid
	var before int
	Await(t, "the server's descriptors to settle", func() error {
		n := openFDs(t, pid)
		if n != before {
			before = n
			return errNotYet
		}
		return nil
	})
	for i := range 100 {
		resp := s.follow(t, e.ws, "talker", s.token)
		require.Equal(t, http.StatusOK, resp.StatusCode, "follow %d: a slot was not given back", i)
		readStarted(resp)
		resp.Body.Close()
	}
	s.awaitFDsAtMost(t, before, "the server to close what 100 ended log follows opened")

	// The per-user limit.
	var open []*http.Response
	for range limit {
		resp := s.follow(t, e.ws, "talker", s.token)
		readStarted(resp)
		open = append(open, resp)
	}
	r := s.Do(t, http.MethodGet, e.ws+"/jobs/talker/logs/user_logs/std_log.txt?follow=true", nil)
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode, r)
	require.Equal(t, "TooManyStreams", r.Error(t).Code)
	require.Contains(t, r.Error(t).Message, "--max-streams-per-user")
	after, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is whole seconds: %q", r.Header.Get("Retry-After"))
	require.Positive(t, after)
	bobs := s.follow(t, e.ws, "talker", bobToken)
	readStarted(bobs)
	bobs.Body.Close()

	open[0].Body.Close()
	Await(t, "the closed follow's slot to be free again", func() error {
		resp := s.follow(t, e.ws, "talker", s.token)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	for _, resp := range open[1:] {
		resp.Body.Close()
	}
	require.NoError(t, os.WriteFile(filepath.Join(s.JobWorkDir(t, "talker"), "go"), nil, 0o644))
	e.awaitJob(t, "talker", "Completed")
}

// TestLimitsSignedTokenWithoutExpiry: a token signed with the server's
// own key but without exp (which the token endpoint never issues) is
// refused with 401, not a panic; the same claims with exp are accepted.
func TestLimitsSignedTokenWithoutExpiry(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	req := s.NewRequest(t, http.MethodGet, "/identity/token?resource=https://management.azure.com", nil)
	req.Header.Del("Authorization")
	req.Header.Set("X-IDENTITY-HEADER", s.token)
	r := s.Send(t, req)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	issued := r.JSON(t)["access_token"].(string)
	require.Equal(t, http.StatusOK, s.as(t, issued, http.MethodGet, "/mlw/v1/me", nil).StatusCode)

	var claims jwt.MapClaims
	_, _, err := jwt.NewParser().ParseUnverified(issued, &claims)
	require.NoError(t, err)
	require.Contains(t, claims, "exp")
	delete(claims, "exp")
	b, err := os.ReadFile(filepath.Join(s.Dir, "signing.key"))
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	require.NoError(t, err)
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(key)
	require.NoError(t, err)

	r = s.as(t, noExp, http.MethodGet, "/mlw/v1/me", nil)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
	require.Equal(t, "AuthenticationFailed", r.Error(t).Code)
	require.Contains(t, r.Error(t).Message, "no expiry")
	require.True(t, s.Running(), "the server survived")
	require.NotContains(t, s.Log(), "panic")
}

// TestLimitsDataDirPrivate: the data directory of a real server is 0700,
// and every file in it but the public certificates is 0600 — keys, the
// admin token, the database and its journal files included.
func TestLimitsDataDirPrivate(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "eastus") // the database has been written
	fi, err := os.Stat(s.Dir)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), "the data directory")
	ents, err := os.ReadDir(s.Dir)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, ent := range ents {
		if !ent.Type().IsRegular() {
			continue
		}
		info, err := ent.Info()
		require.NoError(t, err)
		seen[ent.Name()] = true
		if strings.HasSuffix(ent.Name(), ".crt") {
			continue // certificates are public
		}
		require.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), "%s is readable by others", ent.Name())
	}
	for _, want := range []string{"ca.key", "server.key", "signing.key", "sas.key", "token", "mlw.db"} {
		require.True(t, seen[want], "%s is in the data directory", want)
	}
}

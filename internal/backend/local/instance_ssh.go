package local

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/mlw-project/mlw/internal/backend"
)

// ensureSSH starts the instance's SSH endpoint in this server process (key
// authentication only, one user) unless it runs already. The port is kept
// in the handle so that it survives restarts of the server.
func (l *Instances) ensureSSH(spec *backend.InstanceSpec, h *instanceHandle) (string, error) {
	signer, err := hostKey(filepath.Join(h.Root, "ssh_host_ed25519_key"))
	if err != nil {
		return "", err
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	li := l.liveFor(spec.ID, spec.Key)
	l.mu.Lock()
	running := li.ssh != nil
	l.mu.Unlock()
	if running {
		return pub, nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(spec.SSH.PublicKey))
	if err != nil {
		return "", fmt.Errorf("the SSH public key is not valid: %w", err)
	}
	user := spec.SSH.User
	if user == "" {
		user = InstanceUser
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == user && string(k.Marshal()) == string(key.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("unknown key or user %q", c.User())
		},
	}
	cfg.AddHostKey(signer)
	host := "127.0.0.1"
	if h, _, err := net.SplitHostPort(spec.ServerAddr); err == nil && h != "" {
		host = h
	}
	port := h.SSHPort
	if port == 0 {
		port = spec.SSH.Port
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil && port != 0 {
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return "", err
	}
	h.SSHPort = ln.Addr().(*net.TCPAddr).Port
	l.mu.Lock()
	li.ssh = ln
	l.mu.Unlock()
	raw := encodeHandle(h)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.serveSSH(c, cfg, spec, raw)
		}
	}()
	return pub, nil
}

func hostKey(path string) (ssh.Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		return ssh.ParsePrivateKey(b)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "mlw instance host key")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

func (l *Instances) serveSSH(c net.Conn, cfg *ssh.ServerConfig, spec *backend.InstanceSpec, raw backend.InstanceHandle) {
	// A connection must finish its handshake and authenticate within the
	// handshake timeout, and is closed after the idle timeout without
	// traffic (ssh_limits.go).
	ic := &idleConn{Conn: c, idle: l.SSH.idle()}
	_ = c.SetDeadline(time.Now().Add(l.SSH.handshake()))
	sc, chans, reqs, err := ssh.NewServerConn(ic, cfg)
	if err != nil {
		_ = c.Close()
		return
	}
	ic.arm()
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go l.sshSession(ch, creqs, spec, raw)
	}
}

// sshSession serves one session channel: pty-req, window-change, env,
// shell and exec.
func (l *Instances) sshSession(ch ssh.Channel, reqs <-chan *ssh.Request, spec *backend.InstanceSpec, raw backend.InstanceHandle) {
	defer ch.Close()
	var cols, rows int
	var sh *ptyShell
	var mu sync.Mutex
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			cols, rows = parsePtyReq(req.Payload)
			_ = req.Reply(true, nil)
		case "window-change":
			if len(req.Payload) >= 8 {
				c, r := int(binary.BigEndian.Uint32(req.Payload)), int(binary.BigEndian.Uint32(req.Payload[4:]))
				mu.Lock()
				if sh != nil {
					_ = sh.Resize(c, r)
				}
				mu.Unlock()
			}
		case "env":
			_ = req.Reply(true, nil)
		case "shell", "exec":
			mu.Lock()
			started := sh != nil
			mu.Unlock()
			if started {
				_ = req.Reply(false, nil)
				continue
			}
			var command []string
			if req.Type == "exec" && len(req.Payload) >= 4 {
				n := binary.BigEndian.Uint32(req.Payload)
				if int(n) <= len(req.Payload)-4 {
					command = []string{"/bin/bash", "-lc", string(req.Payload[4 : 4+n])}
				}
			}
			s, err := l.openSession(spec, raw, "ssh", command, cols, rows)
			if err != nil {
				_ = req.Reply(false, nil)
				_, _ = io.WriteString(ch.Stderr(), "mlw: "+err.Error()+"\r\n")
				return
			}
			mu.Lock()
			sh = s
			mu.Unlock()
			_ = req.Reply(true, nil)
			go func() { _, _ = io.Copy(s, ch) }()
			go func() {
				_, _ = io.Copy(ch, s)
				<-s.Done()
				code := 0
				if s.cmd.ProcessState != nil {
					code = s.cmd.ProcessState.ExitCode()
				}
				_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
				_ = ch.Close()
			}()
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	mu.Lock()
	if sh != nil {
		_ = sh.Close()
	}
	mu.Unlock()
}

func parsePtyReq(p []byte) (cols, rows int) {
	if len(p) < 4 {
		return 0, 0
	}
	n := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if len(p) < n+8 {
		return 0, 0
	}
	p = p[n:]
	return int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:]))
}

// ensureBridge makes the mlw server reachable from an instance whose
// network is isolated: a listener on the server's port inside the
// instance's network namespace, relayed to the server outside.
func (l *Instances) ensureBridge(spec *backend.InstanceSpec, h *instanceHandle) error {
	if !h.Sandbox || h.NSPid == 0 {
		return errNoSandbox
	}
	if spec.ServerAddr == "" {
		return errors.New("the server's address is unknown")
	}
	li := l.liveFor(spec.ID, spec.Key)
	l.mu.Lock()
	running := li.bridge != nil
	l.mu.Unlock()
	if running {
		return nil
	}
	_, port, err := net.SplitHostPort(spec.ServerAddr)
	if err != nil {
		return err
	}
	ln, err := listenInNetns(h.NSPid, "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	l.mu.Lock()
	li.bridge = ln
	l.mu.Unlock()
	target := spec.ServerAddr
	if strings.HasPrefix(target, "0.0.0.0:") || strings.HasPrefix(target, "[::]:") {
		target = "127.0.0.1:" + port
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var d net.Dialer
				up, err := d.DialContext(context.Background(), "tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); _ = up.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return nil
}

// listenInNetns opens a TCP listener inside the network namespace of pid.
// The socket keeps its namespace after the thread that made it is gone; the
// thread itself is discarded (never unlocked), since it changed namespace.
func listenInNetns(pid int, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter the instance's network namespace: %w", err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

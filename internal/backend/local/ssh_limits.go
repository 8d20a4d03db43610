package local

import (
	"net"
	"sync/atomic"
	"time"
)

// Defaults of SSHLimits (docs/security.md, "Limits and timeouts").
const (
	// DefaultSSHHandshakeTimeout bounds the SSH handshake and
	// authentication of a new connection (OpenSSH's LoginGraceTime).
	DefaultSSHHandshakeTimeout = 30 * time.Second
	// DefaultSSHIdleTimeout closes an SSH connection on which nothing was
	// sent or received for this long (client keepalives count:
	// ServerAliveInterval keeps a quiet session open).
	DefaultSSHIdleTimeout = 30 * time.Minute
)

// SSHLimits bound the connections of compute instances' SSH endpoints,
// so that connections that never authenticate, or stay open and silent,
// cannot pile up in the server. Zero fields take the defaults above.
type SSHLimits struct {
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
}

func (l SSHLimits) handshake() time.Duration {
	if l.HandshakeTimeout > 0 {
		return l.HandshakeTimeout
	}
	return DefaultSSHHandshakeTimeout
}

func (l SSHLimits) idle() time.Duration {
	if l.IdleTimeout > 0 {
		return l.IdleTimeout
	}
	return DefaultSSHIdleTimeout
}

// idleConn closes (by deadline) a connection that has been silent in both
// directions for idle: each read or write pushes the deadline of both
// back, so a pending read survives while output flows and the other way
// round. Until armed (the handshake), it leaves the caller's deadline
// alone.
type idleConn struct {
	net.Conn
	idle  time.Duration
	armed atomic.Bool
}

// arm starts the idle timeout (after the handshake).
func (c *idleConn) arm() {
	c.armed.Store(true)
	_ = c.Conn.SetDeadline(time.Now().Add(c.idle))
}

func (c *idleConn) Read(b []byte) (int, error) {
	if c.armed.Load() {
		_ = c.Conn.SetDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	if c.armed.Load() {
		_ = c.Conn.SetDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Write(b)
}

package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/identity"
)

// interceptProxy is the optional HTTPS proxy of `mlw server --proxy-listen`
// (azureml-protocol §5.4). Clients set HTTPS_PROXY to it; it answers
// CONNECT for the hosts the Azure ML SDK cannot be pointed elsewhere —
// management.azure.com (workspace creation through ARM deployments) and
// {account}.blob.core.windows.net — by terminating TLS itself with a
// certificate from mlw's CA, and serves those requests from the API:
// host-style blob requests become the path-style /blob/{account}/…
// routes; management.azure.com requests keep their paths. CONNECT to the
// mlw server's own address is served the same way, so NO_PROXY is
// optional. Every other host is refused: mlw is not an open proxy.
type interceptProxy struct {
	ca      *identity.CA
	handler http.Handler
	self    string // host:port of the server's URL
	log     *slog.Logger

	outer *http.Server
	inner *http.Server
	conns *chanListener
}

func newInterceptProxy(ca *identity.CA, handler http.Handler, self string, log *slog.Logger) *interceptProxy {
	p := &interceptProxy{ca: ca, handler: handler, self: self, log: log, conns: newChanListener()}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	p.outer = &http.Server{Handler: http.HandlerFunc(p.connect), ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	p.inner = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	return p
}

// intercepted reports whether the proxy answers CONNECT to host:port.
func (p *interceptProxy) intercepted(host, port string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case h == "management.azure.com" && port == "443":
		return true
	case strings.HasSuffix(h, ".blob.core.windows.net") && port == "443":
		acct := strings.TrimSuffix(h, ".blob.core.windows.net")
		return acct != "" && !strings.Contains(acct, ".")
	}
	return net.JoinHostPort(host, port) == p.self
}

func proxyError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// connect answers CONNECT on the proxy port.
func (p *interceptProxy) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		proxyError(w, http.StatusMethodNotAllowed, "ProxyHTTPSOnly",
			"mlw's proxy intercepts HTTPS (CONNECT) to management.azure.com and *.blob.core.windows.net only; set it as HTTPS_PROXY, not HTTP_PROXY.")
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	if !p.intercepted(host, port) {
		proxyError(w, http.StatusForbidden, "ProxyHostNotServed",
			"mlw's proxy serves management.azure.com, *.blob.core.windows.net and the mlw server itself, not "+r.Host+". Add that host to NO_PROXY.")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		proxyError(w, http.StatusInternalServerError, "ProxyError", "The connection cannot be taken over.")
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		conn.Close()
		return
	}
	var raw net.Conn = conn
	if rw.Reader.Buffered() > 0 {
		raw = &bufferedConn{Conn: conn, r: rw.Reader}
	}
	tc := tls.Server(raw, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" {
				name = host
			}
			return p.ca.CertFor(name)
		},
	})
	if !p.conns.push(tc) {
		tc.Close()
	}
}

// serve handles one intercepted request.
func (p *interceptProxy) serve(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if acct, ok := strings.CutSuffix(strings.ToLower(host), ".blob.core.windows.net"); ok {
		r.URL.Path = "/blob/" + acct + r.URL.Path
		if r.URL.RawPath != "" {
			r.URL.RawPath = "/blob/" + acct + r.URL.RawPath
		}
	}
	p.handler.ServeHTTP(w, r)
}

// Serve runs the proxy on l until Shutdown.
func (p *interceptProxy) Serve(l net.Listener) error {
	go func() { _ = p.inner.Serve(p.conns) }()
	err := p.outer.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for in-flight requests.
func (p *interceptProxy) Shutdown(ctx context.Context) error {
	err := p.outer.Shutdown(ctx)
	if e := p.inner.Shutdown(ctx); err == nil {
		err = e
	}
	return err
}

// chanListener is a net.Listener fed with connections taken over by CONNECT.
type chanListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// bufferedConn replays bytes the HTTP server read past the CONNECT request.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// listenProxy binds the proxy's port when --proxy-listen is set.
func (s *Server) listenProxy() error {
	if s.opts.ProxyListen == "" {
		return nil
	}
	l, err := net.Listen("tcp", s.opts.ProxyListen)
	if err != nil {
		return fmt.Errorf("proxy: listen on %s: %w (use --proxy-listen to pick another address)", s.opts.ProxyListen, err)
	}
	self := strings.TrimPrefix(strings.TrimPrefix(s.url, "https://"), "http://")
	s.proxy = newInterceptProxy(s.ca, s.api, self, s.log)
	for _, srv := range []*http.Server{s.proxy.outer, s.proxy.inner} {
		srv.ReadHeaderTimeout, srv.IdleTimeout = s.opts.HTTPReadHeaderTimeout, s.opts.HTTPIdleTimeout
	}
	s.proxyL = l
	return nil
}

// ProxyURL is the proxy's URL for HTTPS_PROXY ("" without --proxy-listen).
func (s *Server) ProxyURL() string {
	if s.proxyL == nil {
		return ""
	}
	return "http://" + s.proxyL.Addr().String()
}

func (s *Server) serveProxy(errc chan<- error) {
	if s.proxy == nil {
		return
	}
	s.log.Info("intercepting proxy ready", "url", s.ProxyURL(), "hosts", "management.azure.com, *.blob.core.windows.net")
	go func() {
		if err := s.proxy.Serve(s.proxyL); err != nil {
			select {
			case errc <- fmt.Errorf("proxy: %w", err):
			default:
			}
		}
	}()
}

func (s *Server) stopProxy(ctx context.Context) {
	if s.proxy == nil {
		return
	}
	if err := s.proxy.Shutdown(ctx); err != nil {
		s.log.Warn("proxy: in-flight requests did not finish in time", "err", err)
	}
}

// Package server is the composition root of `mlw server`: it opens the store,
// initialises the data directory, builds the service, the reconcilers and
// the HTTP API, and shuts them down in order.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/controller"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/httpapi"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/reconciler"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/postgres"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// DefaultListen is the documented default address of `mlw server`.
const DefaultListen = "127.0.0.1:7443"

// Options configure a server.
type Options struct {
	DataDir string
	Listen  string
	// Database is empty for SQLite in the data directory, or a postgres:// URL.
	Database string
	// InsecureHTTP serves plain HTTP; only allowed on loopback addresses.
	InsecureHTTP bool
	// Hostnames are extra names for the server certificate.
	Hostnames []string
	// TLSCert and TLSKey, when set, are PEM files of a certificate (and
	// its chain) and key to serve instead of one from mlw's local CA: a
	// team's real certificate, which browsers trust without set-up.
	TLSCert, TLSKey string
	Log             *slog.Logger
	Version         string
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// ProxyListen, when set, is the address of the intercepting HTTPS
	// proxy for management.azure.com and *.blob.core.windows.net (proxy.go).
	ProxyListen string
	// AllowUnsandboxedJobs runs jobs without a sandbox, as the server's own
	// user, where this host cannot sandbox them (not root, no bubblewrap);
	// without it such jobs fail with SandboxUnavailable (docs/security.md).
	AllowUnsandboxedJobs bool

	// Limits and timeouts (docs/security.md, "Limits and timeouts"); zero
	// values take the defaults below.
	//
	// HTTPReadHeaderTimeout bounds a connection's TLS handshake and the
	// reading of each request's headers; HTTPIdleTimeout closes a
	// keep-alive connection that waits that long for its next request.
	// There is no read or write timeout on whole requests: uploads, log
	// follows and watches may take as long as they need.
	HTTPReadHeaderTimeout, HTTPIdleTimeout time.Duration
	// SSHHandshakeTimeout and SSHIdleTimeout bound compute instances' SSH
	// connections: the handshake with authentication, and silence.
	SSHHandshakeTimeout, SSHIdleTimeout time.Duration
	// MaxStreamsPerUser bounds each user's concurrent log follows,
	// watches and terminals on this server.
	MaxStreamsPerUser int
}

// Defaults of the limits and timeouts in Options.
const (
	DefaultHTTPReadHeaderTimeout = 30 * time.Second
	DefaultHTTPIdleTimeout       = 2 * time.Minute
	DefaultSSHHandshakeTimeout   = local.DefaultSSHHandshakeTimeout
	DefaultSSHIdleTimeout        = local.DefaultSSHIdleTimeout
	DefaultMaxStreamsPerUser     = httpapi.DefaultMaxStreamsPerUser
)

// Server is a running mlw control plane.
type Server struct {
	opts Options
	// slurm runs Slurm-backed clusters (nil: no Slurm; slurm.go).
	slurm    *reconciler.Slurm
	st       store.Store
	svc      *service.Service
	api      *httpapi.API
	auth     *identity.Authenticator
	ca       *identity.CA
	log      *slog.Logger
	httpSrv  *http.Server
	listener net.Listener
	url      string
	proxy    *interceptProxy
	proxyL   net.Listener
	holder   string
	// leading is set while this replica runs the reconcilers.
	leading atomic.Bool
	// notifier passes keys between replicas on PostgreSQL (nil on SQLite).
	notifier *postgres.Notifier

	lock *os.File

	controllers map[string]*controller.Controller
	resync      map[string]func(ctx context.Context) error
	// periodic are housekeeping tasks run while this replica leads.
	periodic []periodicTask
}

// Settings keys written on first start.
const (
	settingTenant       = "tenant_id"
	settingSubscription = "default_subscription"
	adminUser           = "admin"
)

// New prepares a server: data directory, store, identity, API. It does not
// listen yet.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&opts.HTTPReadHeaderTimeout, DefaultHTTPReadHeaderTimeout}, {&opts.HTTPIdleTimeout, DefaultHTTPIdleTimeout},
		{&opts.SSHHandshakeTimeout, DefaultSSHHandshakeTimeout}, {&opts.SSHIdleTimeout, DefaultSSHIdleTimeout}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if opts.MaxStreamsPerUser <= 0 {
		opts.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if opts.InsecureHTTP && !isLoopback(opts.Listen) {
		return nil, fmt.Errorf("--insecure-http serves plain HTTP and is only allowed on a loopback address (127.0.0.1, ::1 or localhost), not %q", opts.Listen)
	}
	if err := secureDataDir(opts.DataDir, opts.Database == ""); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Log, holder: uuid.NewString(),
		controllers: map[string]*controller.Controller{}, resync: map[string]func(context.Context) error{}}
	lock, err := lockDataDir(opts.DataDir, opts.Database != "")
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if opts.Database == "" {
		s.st, err = sqlite.Open(ctx, filepath.Join(opts.DataDir, "mlw.db"))
	} else if strings.HasPrefix(opts.Database, "postgres://") || strings.HasPrefix(opts.Database, "postgresql://") {
		s.st, err = postgres.Open(ctx, opts.Database)
	} else {
		return nil, fmt.Errorf("--database must be a postgres:// URL (or empty for SQLite in the data directory), not %q", opts.Database)
	}
	if err != nil {
		return nil, err
	}
	if opts.Database == "" {
		// SQLite lives in this data directory and serves one server, so
		// its leader lease has one stable holder: a restart, even after a
		// crash, leads at once instead of waiting out its predecessor's
		// lease (LeaderLeaseTTL) before any reconciler runs.
		s.holder = "local"
	}
	if err := s.init(ctx); err != nil {
		s.st.Close()
		s.lock.Close()
		return nil, err
	}
	return s, nil
}

// lockDataDir locks the data directory. With SQLite the lock is
// exclusive: the database serves one server, and two would both run
// reconcilers over the same processes. Replicas on PostgreSQL share the
// directory (one leads, by the lease in the database) and take it shared,
// which still keeps a SQLite server off it. The kernel drops the lock when
// the process dies.
func lockDataDir(dir string, replicas bool) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, api.LocalLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	how := syscall.LOCK_EX
	if replicas {
		how = syscall.LOCK_SH
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if replicas {
			return nil, fmt.Errorf("an mlw server with SQLite is using the data directory %s; replicas on PostgreSQL may share a data directory only with each other", dir)
		}
		return nil, fmt.Errorf("another mlw server is already using the data directory %s; stop it, or give this one its own --data-dir (servers share one only as replicas on PostgreSQL, --database)", dir)
	}
	return f, nil
}

// init creates what a first start needs and loads the rest.
func (s *Server) init(ctx context.Context) error {
	tenant, err := s.setting(ctx, settingTenant, uuid.NewString)
	if err != nil {
		return err
	}
	sub, err := s.setting(ctx, settingSubscription, uuid.NewString)
	if err != nil {
		return err
	}
	s.ca, err = identity.LoadOrCreateCA(s.opts.DataDir)
	if err != nil {
		return err
	}
	s.auth, err = identity.NewAuthenticator(s.st, s.opts.DataDir, tenant)
	if err != nil {
		return err
	}
	s.periodic = append(s.periodic, periodicTask{name: "remove expired sign-in links and browser sessions", every: 10 * time.Minute,
		run: func(ctx context.Context) error {
			_, err := s.st.DeleteExpiredSessions(ctx, time.Now())
			return err
		}})
	s.svc = service.New(s.st, resource.EnqueueFunc(s.enqueue), s.log)
	s.svc.DataDir = s.opts.DataDir
	s.svc.TenantID = tenant
	s.svc.DefaultSubscription = sub
	s.svc.Blobs = blob.NewStore(s.opts.DataDir)
	s.svc.ServerURLFunc = func() string { return s.url }
	s.svc.CAPEM = s.ca.CertPEM
	s.svc.IssueTokenFunc = s.auth.Issue
	if s.svc.SAS, err = identity.LoadOrCreateSASSigner(s.opts.DataDir); err != nil {
		return err
	}
	if err := s.svc.EnsureSubscription(ctx, sub, "mlw local subscription"); err != nil {
		return fmt.Errorf("create default subscription: %w", err)
	}
	admin, err := s.st.GetUserByName(ctx, adminUser)
	if errors.Is(err, store.ErrNotFound) {
		admin = &resource.User{ID: uuid.NewString(), Name: adminUser, Role: identity.RoleOwner}
		if err := s.st.CreateUser(ctx, admin); err != nil {
			return fmt.Errorf("create admin user: %w", err)
		}
	} else if err != nil {
		return err
	}
	tokenPath := filepath.Join(s.opts.DataDir, api.LocalTokenFile)
	if _, err := os.Stat(tokenPath); errors.Is(err, os.ErrNotExist) {
		plain, hash := identity.NewToken()
		if err := s.st.CreateToken(ctx, &resource.Token{Hash: hash, UserID: admin.ID, Label: "local CLI"}); err != nil {
			return fmt.Errorf("create CLI token: %w", err)
		}
		if err := os.WriteFile(tokenPath, []byte(plain+"\n"), 0o600); err != nil {
			return fmt.Errorf("write CLI token: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.api = httpapi.New(httpapi.Config{Service: s.svc, Auth: s.auth, Log: s.log, Registry: reg, Version: s.opts.Version,
		MaxStreamsPerUser: s.opts.MaxStreamsPerUser})
	return s.buildControllers()
}

func (s *Server) setting(ctx context.Context, key string, gen func() string) (string, error) {
	v, err := s.st.GetSetting(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		v = gen()
		if err := s.st.PutSetting(ctx, key, v); err != nil {
			return "", err
		}
		return v, nil
	}
	return v, err
}

// buildControllers registers one controller per reconciled kind.
func (s *Server) buildControllers() error {
	containers := &reconciler.Containers{Store: s.st, Queue: resource.EnqueueFunc(s.enqueue), Log: s.log, DataDir: s.opts.DataDir,
		Finalized: []string{core.KindCompute, core.KindJob}}
	s.register(core.KindResourceGroup, containers.Group(), 2)
	s.register(core.KindWorkspace, containers.Workspace(), 2)

	// Computes: one controller; each computeType has its own reconciler.
	computes := &reconciler.ComputeDispatch{Store: s.st, Types: map[string]controller.Reconciler{}}
	capacity, err := parseCapacity(os.Getenv(NodeCapacityEnv))
	if err != nil {
		return err
	}
	if s.slurm, err = slurmFromEnv(resource.EnqueueFunc(s.enqueue)); err != nil {
		return err
	}
	// One local backend runs nodes and job processes, also those of jobs
	// that run inside compute instances.
	procs := local.NewCluster(filepath.Join(s.opts.DataDir, "cluster"), capacity)
	procs.HideDirs, procs.SandboxedJobs, procs.AllowUnsandboxed = []string{s.opts.DataDir}, true, s.opts.AllowUnsandboxedJobs
	switch ok, reason := local.JobSandboxSupport(); {
	case ok:
		s.log.Info("jobs and compute instances run sandboxed, each as its user's own unprivileged uid")
	case s.opts.AllowUnsandboxedJobs:
		s.log.Warn("jobs and compute instances run WITHOUT a sandbox, as the server's own user (--allow-unsandboxed-jobs): they can read the data directory", "reason", reason)
	default:
		s.log.Warn("jobs and compute instances cannot be sandboxed on this host and will fail with SandboxUnavailable; fix this, or start the server with --allow-unsandboxed-jobs", "reason", reason)
	}
	instances := s.buildInstances(computes, procs)
	kube, err := s.kubeFromEnv(resource.EnqueueFunc(s.enqueue))
	if err != nil {
		return err
	}
	s.buildJobs(computes, procs, instances, kube)
	s.register(core.KindCompute, computes, 4)
	return nil
}

// register adds a controller for kind; on (re)start every resource of that
// kind that is being deleted or is not settled is enqueued again.
func (s *Server) register(kind string, rec controller.Reconciler, workers int) {
	c := controller.New(kind, rec, workers, s.log)
	s.controllers[kind] = c
	s.resync[kind] = func(ctx context.Context) error {
		rs, err := s.st.List(ctx, store.ListOptions{Kind: kind})
		if err != nil {
			return err
		}
		for _, r := range rs {
			c.Enqueue(resource.Key(r))
		}
		return nil
	}
}

func (s *Server) enqueue(kind, key string) {
	s.enqueueHere(kind, key)
	if s.notifier != nil && !s.leading.Load() {
		s.notifier.Send(kind, key) // for the leader, at once
	}
}

// enqueueHere queues a key on this replica's own controller (idle unless
// it leads).
func (s *Server) enqueueHere(kind, key string) {
	if c := s.controllers[kind]; c != nil {
		c.Enqueue(key)
	}
}

// URL is the base URL clients use (set once Serve listens).
func (s *Server) URL() string { return s.url }

// Listen binds the listening socket.
func (s *Server) Listen() error {
	l, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another mlw server may be running; use --listen to pick another address)", s.opts.Listen, err)
	}
	s.listener = l
	host := hostForURL(l.Addr().(*net.TCPAddr), s.opts.Listen)
	if s.opts.InsecureHTTP {
		s.url = "http://" + host
		return nil
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, s.opts.Hostnames...)
	if hn, err := os.Hostname(); err == nil && hn != "" {
		hosts = append(hosts, hn)
	}
	if h, _, err := net.SplitHostPort(s.opts.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		hosts = append(hosts, h)
	}
	cert, err := s.serverCertificate(hosts)
	if err != nil {
		l.Close()
		return err
	}
	s.listener = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	s.url = "https://" + host
	return nil
}

// serverCertificate is --tls-cert/--tls-key when given, else one from
// mlw's local CA for hosts.
func (s *Server) serverCertificate(hosts []string) (tls.Certificate, error) {
	if s.opts.TLSCert == "" && s.opts.TLSKey == "" {
		return s.ca.ServerCertificate(s.opts.DataDir, dedupe(hosts))
	}
	if s.opts.TLSCert == "" || s.opts.TLSKey == "" {
		return tls.Certificate{}, fmt.Errorf("give both --tls-cert and --tls-key (PEM files of the certificate chain and its private key)")
	}
	cert, err := tls.LoadX509KeyPair(s.opts.TLSCert, s.opts.TLSKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load --tls-cert %s and --tls-key %s: %w", s.opts.TLSCert, s.opts.TLSKey, err)
	}
	return cert, nil
}

// Run serves until ctx ends, then shuts down gracefully: the listener
// closes, in-flight requests finish (up to ShutdownTimeout), the
// reconcilers stop, and the database closes.
func (s *Server) Run(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.httpSrv = &http.Server{Handler: s.api, ReadHeaderTimeout: s.opts.HTTPReadHeaderTimeout, IdleTimeout: s.opts.HTTPIdleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if err := s.listenProxy(); err != nil {
		return err
	}
	if err := s.writeServerFile(); err != nil {
		return err
	}
	ctrlCtx, stopCtrl := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if s.opts.Database != "" {
		s.notifier = postgres.NewNotifier(s.opts.Database, s.log.Warn)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.lead(ctrlCtx)
	}()
	if s.notifier != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.notifier.Run(ctrlCtx, s.enqueueHere)
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.httpSrv.Serve(s.listener) }()
	s.serveProxy(errc)
	s.log.Info("mlw server ready", "url", s.url, "data_dir", s.opts.DataDir, "database", s.dbName())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	s.api.BeginShutdown()
	if err := s.httpSrv.Shutdown(sctx); err != nil {
		s.log.Warn("in-flight requests did not finish in time", "err", err)
	}
	s.stopProxy(sctx)
	stopCtrl()
	wg.Wait()
	s.removeServerFile()
	err := s.st.Close()
	s.lock.Close()
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	s.log.Info("mlw server stopped")
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// The leader lease: the leader renews it every LeaderRenew for
// LeaderLeaseTTL, and every replica tries to take it as often. A leader
// that dies is replaced within LeaderLeaseTTL + LeaderRenew. The leader
// picks up the other replicas' writes every LeaderResync.
const (
	LeaderLeaseTTL = 3 * time.Second
	LeaderRenew    = time.Second
	LeaderResync   = 5 * time.Second
)

// lead runs the reconcilers while this replica holds the leader lease.
// With SQLite there is one replica and the lease is always won.
func (s *Server) lead(ctx context.Context) {
	const ttl = LeaderLeaseTTL
	var stop context.CancelFunc
	var wg sync.WaitGroup
	tick := time.NewTicker(LeaderRenew)
	defer tick.Stop()
	lastResync := time.Now()
	for {
		// A renewal that cannot finish before the next one is due counts
		// as lost: the lease may expire while it hangs.
		tctx, cancel := context.WithTimeout(ctx, LeaderRenew)
		ok, err := s.st.TryLease(tctx, "controllers", s.holder, ttl)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("leader lease", "err", err)
		}
		switch {
		case ok && stop == nil:
			var cctx context.Context
			cctx, stop = context.WithCancel(ctx)
			s.leading.Store(true)
			s.log.Info("leading: reconcilers started")
			for kind, c := range s.controllers {
				wg.Add(1)
				go func() { defer wg.Done(); _ = c.Run(cctx) }()
				if err := s.resync[kind](cctx); err != nil {
					s.log.Warn("resync", "kind", kind, "err", err)
				}
			}
			for _, t := range s.periodic {
				wg.Add(1)
				go func() { defer wg.Done(); s.runPeriodic(cctx, t) }()
			}
		case ok && s.opts.Database != "" && time.Since(lastResync) >= LeaderResync:
			// Other replicas write desired state too but enqueue only on
			// their own (idle) controllers; the leader picks their changes
			// up here.
			lastResync = time.Now()
			for kind := range s.controllers {
				if err := s.resync[kind](ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("resync", "kind", kind, "err", err)
				}
			}
		case !ok && stop != nil && ctx.Err() == nil:
			s.log.Warn("lost the leader lease: reconcilers stopped")
			s.leading.Store(false)
			stop()
			wg.Wait()
			stop = nil
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
				wg.Wait()
				s.releaseLease(ttl)
			}
			return
		case <-tick.C:
		}
	}
}

// periodicTask is housekeeping the leader runs at once and then every so
// often.
type periodicTask struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) error
}

func (s *Server) runPeriodic(ctx context.Context, t periodicTask) {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		if err := t.run(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn(t.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// releaseLease hands the leader lease over on shutdown, so that another
// replica (or this one, restarted) leads at once rather than after the
// lease expires. Renewing it to a time already past is releasing it: the
// holder's row expires and any TryLease takes it.
func (s *Server) releaseLease(ttl time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.st.TryLease(ctx, "controllers", s.holder, -ttl); err != nil {
		s.log.Warn("release the leader lease", "err", err)
	}
}

func (s *Server) dbName() string {
	if s.opts.Database == "" {
		return "sqlite"
	}
	return "postgres"
}

// writeServerFile records where this server listens, so that the CLI on
// this machine finds it without configuration.
func (s *Server) writeServerFile() error {
	b, _ := json.MarshalIndent(api.LocalServer{URL: s.url, PID: os.Getpid(), Subscription: s.svc.DefaultSubscription}, "", "  ")
	path := filepath.Join(s.opts.DataDir, api.LocalServerFile)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid()) // replicas may write it at once
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removeServerFile removes server.json on shutdown if it is still this
// server's: a replica sharing the data directory may have written its own
// since.
func (s *Server) removeServerFile() {
	path := filepath.Join(s.opts.DataDir, api.LocalServerFile)
	var local api.LocalServer
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &local) == nil && local.PID != os.Getpid() {
		return
	}
	_ = os.Remove(path)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hostForURL(a *net.TCPAddr, listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	switch {
	case host == "" || host == "0.0.0.0" || host == "::":
		host = "127.0.0.1"
	case host == "localhost":
	default:
		host = a.IP.String()
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

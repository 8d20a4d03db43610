package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/server"
)

func serverCmd() *cobra.Command {
	var opts server.Options
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the mlw control plane",
		Long: `Run the mlw control plane: the Azure ML-compatible REST API, the reconcilers
and the local compute backend.

The first start initialises the data directory ($MLW_HOME, default ~/.mlw):
the SQLite database, a local certificate authority (ca.crt) and the server
certificate, an admin user, a subscription, and a token for the local CLI
(file "token", mode 0600). The server listens with HTTPS on ` + server.DefaultListen + `.

` + "`mlw server status`" + ` says whether a server runs from the data directory;
` + "`mlw server stop`" + ` stops it (that one process, found by the lock it holds on
the data directory).`,
		Example: `  mlw server
  mlw server --data-dir /srv/mlw --listen 0.0.0.0:7443 --hostname mlw.example.org
  mlw server --listen 0.0.0.0:443 --tls-cert /etc/mlw/tls.crt --tls-key /etc/mlw/tls.key
  mlw server --database postgres://mlw:secret@db:5432/mlw
  mlw server status
  mlw server stop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", logLevel)
			}
			hopts := &slog.HandlerOptions{Level: level}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
			if strings.EqualFold(logFormat, "json") {
				h = slog.NewJSONHandler(os.Stderr, hopts)
			}
			opts.Log = slog.New(h)
			opts.Version = version
			if opts.DataDir == "" {
				opts.DataDir = api.Home()
			}
			if opts.Database == "" {
				opts.Database = os.Getenv("MLW_DATABASE")
			}
			if err := limitsFromEnv(cmd, &opts); err != nil {
				return err
			}
			s, err := server.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := s.Listen(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "mlw server listening on %s (data directory %s)\n", s.URL(), opts.DataDir)
			return s.Run(cmd.Context())
		},
	}
	// The CLI's global flags (--output, --server, ...) mean nothing to the
	// server; keep them out of its help.
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c != cmd { // server status|stop: --output applies
			c.Root().HelpFunc()(c, args)
			return
		}
		for _, name := range []string{"output", "server", "token", "ca-file", "subscription"} {
			if f := c.Root().PersistentFlags().Lookup(name); f != nil {
				f.Hidden = true
			}
		}
		c.Root().HelpFunc()(c, args)
	})
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", "", "data directory (default $MLW_HOME or ~/.mlw)")
	f.StringVar(&opts.Listen, "listen", server.DefaultListen, "address to listen on")
	f.StringVar(&opts.Database, "database", "", "postgres://… URL for PostgreSQL (default: SQLite in the data directory; also $MLW_DATABASE)")
	f.BoolVar(&opts.InsecureHTTP, "insecure-http", false, "serve plain HTTP (loopback addresses only; the Azure ML SDK needs HTTPS)")
	f.StringSliceVar(&opts.Hostnames, "hostname", nil, "extra host names for the server certificate")
	f.StringVar(&opts.TLSCert, "tls-cert", "", "PEM certificate (with its chain) to serve instead of one from mlw's local CA, e.g. your team's certificate")
	f.StringVar(&opts.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&opts.ProxyListen, "proxy-listen", "", "also run an intercepting HTTPS proxy on this address (e.g. 127.0.0.1:7444) for management.azure.com and *.blob.core.windows.net; clients set HTTPS_PROXY=http://<address>")
	f.BoolVar(&opts.AllowUnsandboxedJobs, "allow-unsandboxed-jobs", os.Getenv("MLW_ALLOW_UNSANDBOXED_JOBS") == "1", "where this host cannot sandbox jobs (not root, no bubblewrap), run them anyway as the server's own user, able to read the data directory (also $MLW_ALLOW_UNSANDBOXED_JOBS=1)")
	f.DurationVar(&opts.HTTPReadHeaderTimeout, "http-read-header-timeout", server.DefaultHTTPReadHeaderTimeout, "time a client has for the TLS handshake and each request's headers (also $MLW_HTTP_READ_HEADER_TIMEOUT)")
	f.DurationVar(&opts.HTTPIdleTimeout, "http-idle-timeout", server.DefaultHTTPIdleTimeout, "close a keep-alive connection idle this long between requests (also $MLW_HTTP_IDLE_TIMEOUT)")
	f.DurationVar(&opts.SSHHandshakeTimeout, "ssh-handshake-timeout", server.DefaultSSHHandshakeTimeout, "time a compute instance's SSH client has to connect and authenticate (also $MLW_SSH_HANDSHAKE_TIMEOUT)")
	f.DurationVar(&opts.SSHIdleTimeout, "ssh-idle-timeout", server.DefaultSSHIdleTimeout, "close an SSH connection with no traffic for this long; client keepalives (ServerAliveInterval) count as traffic (also $MLW_SSH_IDLE_TIMEOUT)")
	f.IntVar(&opts.MaxStreamsPerUser, "max-streams-per-user", server.DefaultMaxStreamsPerUser, "most log follows, watches and terminals one user may have open at once; more are refused with 429 (also $MLW_MAX_STREAMS_PER_USER)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// limitsFromEnv reads the limit and timeout flags left unset from their
// MLW_* variables (defaults < environment < flags).
func limitsFromEnv(cmd *cobra.Command, opts *server.Options) error {
	durations := []struct {
		flag, env string
		v         *time.Duration
	}{
		{"http-read-header-timeout", "MLW_HTTP_READ_HEADER_TIMEOUT", &opts.HTTPReadHeaderTimeout},
		{"http-idle-timeout", "MLW_HTTP_IDLE_TIMEOUT", &opts.HTTPIdleTimeout},
		{"ssh-handshake-timeout", "MLW_SSH_HANDSHAKE_TIMEOUT", &opts.SSHHandshakeTimeout},
		{"ssh-idle-timeout", "MLW_SSH_IDLE_TIMEOUT", &opts.SSHIdleTimeout},
	}
	for _, d := range durations {
		v, ok := os.LookupEnv(d.env)
		if cmd.Flags().Changed(d.flag) || !ok || v == "" {
			continue
		}
		x, err := time.ParseDuration(v)
		if err != nil || x <= 0 {
			return fmt.Errorf("$%s must be a positive duration such as 30s or 2m, not %q", d.env, v)
		}
		*d.v = x
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"http-read-header-timeout", opts.HTTPReadHeaderTimeout}, {"http-idle-timeout", opts.HTTPIdleTimeout},
		{"ssh-handshake-timeout", opts.SSHHandshakeTimeout}, {"ssh-idle-timeout", opts.SSHIdleTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("--%s must be a positive duration such as 30s or 2m, not %v", d.flag, d.v)
		}
	}
	if v, ok := os.LookupEnv("MLW_MAX_STREAMS_PER_USER"); ok && v != "" && !cmd.Flags().Changed("max-streams-per-user") {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("$MLW_MAX_STREAMS_PER_USER must be a positive number, not %q", v)
		}
		opts.MaxStreamsPerUser = n
	}
	if opts.MaxStreamsPerUser <= 0 {
		return fmt.Errorf("--max-streams-per-user must be a positive number, not %d", opts.MaxStreamsPerUser)
	}
	return nil
}

// Package bench measures mlw's speed. Its benchmarks start an in-process
// server (internal/server: HTTPS on loopback, SQLite in a temporary
// directory) and drive it over real TLS connections, so that what they
// measure includes routing, authentication, the store and JSON, as a
// client sees them. See README.md for how to run them.
package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/server"
	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// target is a running in-process server and an authenticated client.
type target struct {
	url, token, sub string
	client          *http.Client
}

// serverOptions are a benchmark's server's: its data directory, and its
// state in SQLite there or, with MLW_BENCH_POSTGRES=1, in a PostgreSQL
// database of its own (MLW_TEST_POSTGRES, or a throwaway cluster of the
// host's binaries).
func serverOptions(b *testing.B, dir string) server.Options {
	opts := server.Options{DataDir: dir, Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)}
	if os.Getenv("MLW_BENCH_POSTGRES") == "1" {
		opts.Database = pgtest.URL(b)
	}
	return opts
}

// openDB opens the database of a server started with opts. Its queries
// write placeholders as $1, $2, …, which both SQLite and PostgreSQL read.
func openDB(b *testing.B, opts server.Options) *sql.DB {
	b.Helper()
	driver, dsn := "sqlite", "file:"+filepath.Join(opts.DataDir, "mlw.db")+"?_pragma=busy_timeout(10000)"
	if opts.Database != "" {
		driver, dsn = "pgx", opts.Database
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func startServer(b *testing.B) *target {
	b.Helper()
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, serverOptions(b, dir))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("server: %v", err)
		}
	})

	tok, err := os.ReadFile(filepath.Join(dir, api.LocalTokenFile))
	if err != nil {
		b.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, api.LocalCAFile))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// HTTP/1.1 keep-alive connections, one per client goroutine, as a
	// pool of SDK clients would hold them.
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}
	t := &target{url: s.URL(), token: strings.TrimSpace(string(tok)), client: &http.Client{Transport: tr}}
	b.Cleanup(tr.CloseIdleConnections)

	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	t.mustDo(b, http.MethodGet, "/subscriptions", "", http.StatusOK, &subs)
	t.sub = subs.Value[0].SubscriptionID
	return t
}

// do sends one authenticated request and drains the answer.
func (t *target) do(method, path, body string) (int, []byte, error) {
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, t.url+path, rdr)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (t *target) mustDo(b *testing.B, method, path, body string, want int, out any) {
	b.Helper()
	code, raw, err := t.do(method, path, body)
	if err != nil || code != want {
		b.Fatalf("%s %s: %d %v %s", method, path, code, err, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatal(err)
		}
	}
}

func (t *target) wsPath(rg, ws string) string {
	return "/subscriptions/" + t.sub + "/resourceGroups/" + rg + "/providers/Microsoft.MachineLearningServices/workspaces/" + ws + "?api-version=2022-10-01-preview"
}

// BenchmarkWorkspaceGet measures authenticated GETs of one workspace from
// parallel keep-alive clients: the request the SDK makes most (every
// MLClient call starts with it).
func BenchmarkWorkspaceGet(b *testing.B) {
	t := startServer(b)
	t.mustDo(b, http.MethodPut, "/subscriptions/"+t.sub+"/resourceGroups/rg1?api-version=2020-06-01", `{"location": "eastus"}`, http.StatusCreated, nil)
	t.mustDo(b, http.MethodPut, t.wsPath("rg1", "ws1"), `{"properties": {"description": "bench"}}`, http.StatusOK, nil)
	path := t.wsPath("rg1", "ws1")

	// Several clients per core keep the server busy while others wait
	// on the network.
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			code, raw, err := t.do(http.MethodGet, path, "")
			if err != nil || code != http.StatusOK {
				b.Errorf("GET: %d %v %s", code, err, raw)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkWorkspacePut measures the latency of workspace PUTs from one
// client: "create" makes a new workspace and its four datastores in one
// transaction; "update" changes an existing one.
func BenchmarkWorkspacePut(b *testing.B) {
	b.Run("create", func(b *testing.B) {
		t := startServer(b)
		t.mustDo(b, http.MethodPut, "/subscriptions/"+t.sub+"/resourceGroups/rg1?api-version=2020-06-01", `{"location": "eastus"}`, http.StatusCreated, nil)
		i := 0
		measure(b, func() (int, error) {
			i++
			code, _, err := t.do(http.MethodPut, t.wsPath("rg1", fmt.Sprintf("ws-%d", i)), `{"properties": {"description": "bench"}}`)
			return code, err
		})
	})
	b.Run("update", func(b *testing.B) {
		t := startServer(b)
		t.mustDo(b, http.MethodPut, "/subscriptions/"+t.sub+"/resourceGroups/rg1?api-version=2020-06-01", `{"location": "eastus"}`, http.StatusCreated, nil)
		t.mustDo(b, http.MethodPut, t.wsPath("rg1", "ws1"), `{}`, http.StatusOK, nil)
		i := 0
		measure(b, func() (int, error) {
			i++
			code, _, err := t.do(http.MethodPut, t.wsPath("rg1", "ws1"), fmt.Sprintf(`{"tags": {"run": "%d"}}`, i))
			return code, err
		})
	})
}

// measure runs op b.N times and reports the 50th and 99th percentile
// latencies in milliseconds.
func measure(b *testing.B, op func() (int, error)) {
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		code, err := op()
		lat = append(lat, time.Since(start))
		if err != nil || code != http.StatusOK {
			b.Fatalf("PUT: %d %v", code, err)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

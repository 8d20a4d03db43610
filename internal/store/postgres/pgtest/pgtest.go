// Package pgtest gives tests a fresh PostgreSQL database. It uses the server
// named by MLW_TEST_POSTGRES (a postgres:// URL, as CI sets it) or else starts
// a throwaway cluster from the host's PostgreSQL binaries. Without either the
// test is skipped, unless MLW_REQUIRE_POSTGRES=1 (CI), where it fails.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver
)

var (
	once    sync.Once
	baseURL string
	bootErr error
	stopFn  func()
)

// Main runs the tests and stops a cluster that this package started.
func Main(m interface{ Run() int }) {
	code := m.Run()
	if stopFn != nil {
		stopFn()
	}
	os.Exit(code)
}

// URL returns the URL of a new, empty database for this test.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseURL, bootErr = boot() })
	if bootErr != nil {
		if os.Getenv("MLW_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (MLW_REQUIRE_POSTGRES=1): %v", bootErr)
		}
		t.Skipf("no PostgreSQL for this test: %v (set MLW_TEST_POSTGRES=postgres://… to use one)", bootErr)
	}
	name := "mlwtest_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	db, err := sql.Open("pgx", baseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", baseURL)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return replaceDB(baseURL, name)
}

func replaceDB(u, name string) string {
	q := ""
	if i := strings.Index(u, "?"); i >= 0 {
		u, q = u[:i], u[i:]
	}
	i := strings.LastIndex(u, "/")
	if i < len("postgres://") {
		return u + "/" + name + q
	}
	return u[:i+1] + name + q
}

func boot() (string, error) {
	if u := os.Getenv("MLW_TEST_POSTGRES"); u != "" {
		return u, nil
	}
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		return "", fmt.Errorf("MLW_TEST_POSTGRES is not set and no PostgreSQL server binaries are installed")
	}
	bin := filepath.Dir(initdbs[len(initdbs)-1])
	dir, err := os.MkdirTemp("", "mlw-pgtest-")
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	// PostgreSQL refuses to run as root; run it as the postgres user then.
	var asUser []string
	if os.Geteuid() == 0 {
		if err := exec.Command("chown", "postgres:postgres", dir).Run(); err != nil {
			return "", fmt.Errorf("chown %s: %w", dir, err)
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		full := append(append([]string{}, asUser...), args...)
		out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		return "", err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c fsync=off -c unix_socket_directories=%s -c max_connections=300", port, dir)
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		return "", err
	}
	stopFn = func() {
		_ = run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
		_ = os.RemoveAll(dir)
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		db, err := sql.Open("pgx", u)
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
			if err == nil {
				return u, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("throwaway PostgreSQL did not answer on port %d", port)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

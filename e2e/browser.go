package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Chromium is Debian's browser, which the browser tests drive with
// playwright-core (e2e/browser, an npm project with a lockfile).
const Chromium = "/usr/bin/chromium"

// RequireBrowserEnv, set to 1 (as scripts/test.sh does), makes a missing
// browser or Node.js a failure instead of a skip.
const RequireBrowserEnv = "MLW_REQUIRE_BROWSER"

// BrowserTimeout bounds one browser driver run.
const BrowserTimeout = 8 * time.Minute

var drivers struct {
	once sync.Once
	err  error
}

// browserDir is the npm project of the browser drivers.
func browserDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "browser")
}

// RequireBrowser skips the test (or fails it, under MLW_REQUIRE_BROWSER=1)
// without chromium and Node.js, and builds the TypeScript drivers once per
// test process (npm ci first when node_modules is missing).
func RequireBrowser(t testing.TB) {
	t.Helper()
	missing := ""
	if _, err := os.Stat(Chromium); err != nil {
		missing = "Debian's chromium (apt-get install chromium)"
	} else if _, err := exec.LookPath("npm"); err != nil {
		missing = "Node.js and npm"
	}
	if missing != "" {
		if os.Getenv(RequireBrowserEnv) == "1" {
			t.Fatalf("%s is not installed, and %s=1", missing, RequireBrowserEnv)
		}
		t.Skipf("browser tests need %s", missing)
	}
	drivers.once.Do(func() {
		dir := browserDir()
		run := func(args ...string) error {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
			if drivers.err = run("npm", "ci", "--no-audit", "--no-fund"); drivers.err != nil {
				return
			}
		}
		drivers.err = run("npx", "--no-install", "tsc", "-p", ".")
	})
	if drivers.err != nil {
		t.Fatal(drivers.err)
	}
}

// Artifacts returns a folder the test run keeps, for screenshots:
// $MLW_E2E_ARTIFACTS/<test name> (default e2e/artifacts/<test name>),
// emptied first.
func Artifacts(t testing.TB) string {
	t.Helper()
	root := os.Getenv("MLW_E2E_ARTIFACTS")
	if root == "" {
		root = filepath.Join(filepath.Dir(browserDir()), "artifacts")
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// RunBrowser runs the driver e2e/browser/src/<driver>.ts with in as its
// input and decodes what it prints into out. Its progress log is shown
// when the test fails.
func RunBrowser(t testing.TB, driver string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	require.NoError(t, err)
	input := filepath.Join(t.TempDir(), "input.json")
	require.NoError(t, os.WriteFile(input, b, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), BrowserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(browserDir(), "dist", driver+".js"), input)
	cmd.Env = append(os.Environ(), "MLW_CHROMIUM="+Chromium)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("browser driver %s:\n%s", driver, stderr.String())
	require.NoError(t, err, "browser driver %s failed", driver)
	require.NoError(t, json.Unmarshal(stdout.Bytes(), out), "driver output: %s", stdout.String())
}

// SignInLink asks the server, as the holder of token, for a one-time
// sign-in link to target (a path); it returns the response.
func (s *Server) SignInLink(t testing.TB, token, target string) *Response {
	t.Helper()
	req := s.NewRequest(t, http.MethodPost, "/mlw/v1/signin", map[string]string{"target": target})
	req.Header.Set("Authorization", "Bearer "+token)
	return s.Send(t, req)
}

// OpenLink opens a sign-in link as a browser would (no Authorization
// header) and returns the response; a session cookie comes with a 200.
func (s *Server) OpenLink(t testing.TB, link string) *Response {
	t.Helper()
	req := s.NewRequest(t, http.MethodGet, strings.TrimPrefix(link, s.URL), nil)
	req.Header.Del("Authorization")
	req.Header.Set("Accept", "text/html")
	return s.Send(t, req)
}

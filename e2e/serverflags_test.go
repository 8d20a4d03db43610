package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInsecureHTTPOnlyOnLoopback: plain HTTP would send tokens in clear
// text over a network, so --insecure-http is refused on any address but
// loopback, before the data directory is touched.
func TestInsecureHTTPOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0", "example.org:0"} {
		dataDir := filepath.Join(t.TempDir(), "data")
		stdout, stderr, code := RunMLW(t, dataDir, t.TempDir(), "server", "--insecure-http", "--listen", addr, "--data-dir", dataDir)
		require.NotZero(t, code, "--insecure-http --listen %s must be refused", addr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "loopback", addr)
		require.NoDirExists(t, dataDir, "a refused start must not create the data directory")
	}

	// On loopback it works, and the CLI follows the http:// URL.
	s := StartServer(t, Options{InsecureHTTP: true})
	require.True(t, strings.HasPrefix(s.URL, "http://127.0.0.1:"), s.URL)
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "eastus")
	r := s.Do(t, http.MethodGet, s.GroupPath("rg1"), nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
}

// TestServerFlagErrors: a bad flag value stops the server at once with a
// message that says what is allowed.
func TestServerFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--database", "mysql://x"}, "postgres://"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--listen", "127.0.0.1:notaport"}, "listen"},
	} {
		dataDir := t.TempDir()
		stdout, stderr, code := RunMLW(t, dataDir, t.TempDir(), append([]string{"server", "--data-dir", dataDir}, tc.args...)...)
		require.NotZero(t, code, tc.args)
		require.Empty(t, stdout)
		require.Contains(t, stderr, tc.want, tc.args)
	}
}

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/identity"
)

// RequireStudio skips the test (or fails it, under MLW_REQUIRE_BROWSER=1)
// when the mlw under test was built without the studio's assets
// (web/studio: `npm ci && npm run build`, which scripts/test.sh runs).
func RequireStudio(t testing.TB, s *Server) {
	t.Helper()
	req := s.NewRequest(t, http.MethodGet, "/studio/", nil)
	req.Header.Del("Authorization")
	req.Header.Set("Accept", "text/html")
	if r := s.Send(t, req); r.StatusCode != http.StatusOK {
		if os.Getenv(RequireBrowserEnv) == "1" {
			t.Fatalf("the mlw under test has no studio (GET /studio/ -> %d), and %s=1: build it with `cd web/studio && npm ci && npm run build`", r.StatusCode, RequireBrowserEnv)
		}
		t.Skipf("the mlw under test has no studio (GET /studio/ -> %d); build it with `cd web/studio && npm ci && npm run build`", r.StatusCode)
	}
}

// StudioSignIn opens a one-time studio link as the holder of token, as a
// browser would, and returns the studio session cookie.
func (s *Server) StudioSignIn(t testing.TB, token string) *http.Cookie {
	t.Helper()
	r := s.SignInLink(t, token, "/studio/")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var link struct{ URL string }
	r.Decode(t, &link)
	open := s.OpenLink(t, link.URL)
	require.Equal(t, http.StatusOK, open.StatusCode, open)
	return sessionCookie(t, open)
}

func sessionCookie(t testing.TB, r *Response) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == identity.SessionCookie && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", identity.SessionCookie, r.Header)
	return nil
}

// AsBrowser sends a request as the studio does: the session cookie, no
// token, and the CSRF token when csrf is not empty.
func (s *Server) AsBrowser(t testing.TB, method, path string, body any, c *http.Cookie, csrf string) *Response {
	t.Helper()
	req := s.NewRequest(t, method, path, body)
	req.Header.Del("Authorization")
	if c != nil {
		req.AddCookie(c)
	}
	if csrf != "" {
		req.Header.Set(identity.CSRFHeader, csrf)
	}
	return s.Send(t, req)
}

// StudioSession returns GET /mlw/v1/session for a cookie.
func (s *Server) StudioSession(t testing.TB, c *http.Cookie) map[string]any {
	t.Helper()
	r := s.AsBrowser(t, http.MethodGet, "/mlw/v1/session", nil, c, "")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	return r.JSON(t)
}

// CreateUserWithPassword creates a user with `mlw user create
// --password-stdin` and returns their token.
func (s *Server) CreateUserWithPassword(t testing.TB, name, role, password string) string {
	t.Helper()
	cmd := s.Command(t.Context(), "user", "create", "--name", name, "--role", role, "--password-stdin", "-o", "json")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	require.NoError(t, err, "mlw user create: %s", out)
	var u struct{ Token string }
	require.NoError(t, json.Unmarshal(out, &u))
	require.NotEmpty(t, u.Token)
	return u.Token
}

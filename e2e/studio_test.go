package e2e

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/identity"
)

// TestStudioSessions: the studio's sign-in and what a studio session may
// do with the API: one-time links and passwords give an HttpOnly, Secure,
// SameSite=Strict cookie for "/"; writes need the CSRF token; bearer
// tokens work unchanged; sign-out ends the session; the role still rules.
func TestStudioSessions(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	RequireStudio(t, s)
	rg := s.GroupPath("rg-studio")

	// The studio itself is public (it signs in by itself) and locked down.
	req := s.NewRequest(t, http.MethodGet, "/studio/compute", nil)
	req.Header.Del("Authorization")
	page := s.Send(t, req)
	require.Equal(t, http.StatusOK, page.StatusCode)
	require.Contains(t, string(page.Body), `<div id="root">`)
	require.Contains(t, page.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "DENY", page.Header.Get("X-Frame-Options"))

	// A one-time link gives a studio session: the cookie covers the API.
	c := s.StudioSignIn(t, s.Token())
	require.Equal(t, "/", c.Path)
	require.True(t, c.HttpOnly)
	require.True(t, c.Secure)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	me := s.StudioSession(t, c)
	require.Equal(t, "admin", me["user"].(map[string]any)["name"])
	require.Equal(t, true, me["canWrite"])
	csrf, _ := me["csrfToken"].(string)
	require.NotEmpty(t, csrf)
	require.NotContains(t, c.Value, csrf)

	// Reads need no CSRF token; writes do.
	r := s.AsBrowser(t, http.MethodGet, "/subscriptions", nil, c, "")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	r = s.AsBrowser(t, http.MethodPut, rg, map[string]any{"location": "eastus"}, c, "")
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	require.Equal(t, "CsrfTokenMismatch", r.Error(t).Code)
	r = s.AsBrowser(t, http.MethodPut, rg, map[string]any{"location": "eastus"}, c, "forged")
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	r = s.AsBrowser(t, http.MethodPut, rg, map[string]any{"location": "eastus"}, c, csrf)
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	// The CLI's bearer token works as before, and is not asked for CSRF.
	require.Equal(t, http.StatusOK, s.Do(t, http.MethodPut, rg, map[string]any{"location": "eastus"}).StatusCode)

	// A watch (server-sent events) says when the answer to a GET changes.
	wreq := s.NewRequest(t, http.MethodGet, "/mlw/v1/watch?path="+url.QueryEscape(rg+"?api-version=2024-10-01"), nil)
	wreq.Header.Del("Authorization")
	wreq.AddCookie(c)
	ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
	defer cancel()
	resp, err := s.HTTPClient().Do(wreq.WithContext(ctx))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := bufio.NewScanner(resp.Body)
	next := func() string {
		for events.Scan() {
			if d, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				return d
			}
		}
		t.Fatalf("the watch ended: %v", events.Err())
		return ""
	}
	require.Equal(t, `{"status":200}`, next(), "the first event says what GET answers now")
	require.Equal(t, http.StatusOK, s.Do(t, http.MethodPut, rg, map[string]any{"location": "eastus", "tags": map[string]string{"lab": "04"}}).StatusCode)
	require.Equal(t, `{"status":200}`, next(), "a change is an event")
	r = s.AsBrowser(t, http.MethodGet, "/mlw/v1/watch?path="+url.QueryEscape(rg+"/nothing/here/terminal"), nil, c, "")
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r)

	// Passwords: users created with one sign in with it; the answer to a
	// wrong name or password is the same; only JSON is accepted.
	readerToken := s.CreateUserWithPassword(t, "rita", "Reader", "rita-pass-1")
	signIn := func(body any, ctype string) *Response {
		req := s.NewRequest(t, http.MethodPost, "/mlw/v1/session", body)
		req.Header.Del("Authorization")
		req.Header.Set("Content-Type", ctype)
		return s.Send(t, req)
	}
	for _, bad := range []map[string]string{{"username": "rita", "password": "wrong-pass"}, {"username": "nobody", "password": "rita-pass-1"}} {
		r := signIn(bad, "application/json")
		require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
		require.Contains(t, r.Error(t).Message, "user name or password is wrong")
		require.Empty(t, r.Header.Values("Set-Cookie"))
	}
	r = signIn("username=rita&password=rita-pass-1", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusUnsupportedMediaType, r.StatusCode, r)
	r = signIn(map[string]string{"username": "rita", "password": "rita-pass-1"}, "application/json")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	rc := sessionCookie(t, r)
	require.Equal(t, "/", rc.Path)
	require.True(t, rc.HttpOnly)
	rme := r.JSON(t)
	require.Equal(t, false, rme["canWrite"], "a Reader")
	// A Reader's session writes nothing, CSRF token or not.
	r = s.AsBrowser(t, http.MethodDelete, rg, nil, rc, rme["csrfToken"].(string))
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	require.NotEqual(t, "CsrfTokenMismatch", r.Error(t).Code)

	// Users set their own password; a short one is refused with the rule.
	cmd := s.Command(context.Background(), "user", "set-password", "--token", readerToken)
	cmd.Stdin = strings.NewReader("short\n")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "at least 8")
	cmd = s.Command(context.Background(), "user", "set-password", "--token", readerToken)
	cmd.Stdin = strings.NewReader("rita-pass-2\n")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, http.StatusOK, signIn(map[string]string{"username": "rita", "password": "rita-pass-2"}, "application/json").StatusCode)

	// Sign-out ends the session at once and clears the cookie.
	r = s.AsBrowser(t, http.MethodDelete, "/mlw/v1/session", nil, c, csrf)
	require.Equal(t, http.StatusNoContent, r.StatusCode, r)
	cleared := false
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		cleared = cleared || ck.Name == identity.SessionCookie && ck.MaxAge < 0
	}
	require.True(t, cleared, "the cookie is cleared: %v", r.Header)
	r = s.AsBrowser(t, http.MethodGet, "/subscriptions", nil, c, "")
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
	require.Contains(t, r.Error(t).Message, "sign in again")

	// `mlw studio` prints a link that opens the studio: the workspaces, or
	// a page of a workspace (-g/-w, else the CLI's defaults), where the
	// studio's pages live.
	var link struct{ URL, Target string }
	s.MustRunJSON(t, &link, "studio", "--no-browser")
	require.Equal(t, "/studio/", link.Target)
	require.Equal(t, http.StatusOK, s.OpenLink(t, link.URL).StatusCode)
	_, stderr, code := s.Run("studio", "--no-browser", "--page", "compute")
	require.NotZero(t, code, "no workspace to open the page of")
	require.Contains(t, stderr, "--page compute opens a page of a workspace")
	require.Contains(t, stderr, "mlw configure --defaults")
	_, stderr, code = s.Run("studio", "--no-browser", "--page", "computes")
	require.NotZero(t, code)
	require.Contains(t, stderr, "no such page; use one of home, notebooks, compute, jobs, environments")
	s.MustRun(t, "workspace", "create", "-n", "ws-studio", "-g", "rg-studio", "-o", "none")
	wsPage := "/studio/ws/" + s.Subscription + "/rg-studio/ws-studio"
	s.MustRunJSON(t, &link, "studio", "--no-browser", "--page", "compute", "-g", "rg-studio", "-w", "ws-studio")
	require.Equal(t, wsPage+"/compute", link.Target)
	s.MustRun(t, "configure", "--defaults", "group=rg-studio", "workspace=ws-studio")
	s.MustRunJSON(t, &link, "studio", "--no-browser", "--page", "jobs/job 1")
	require.Equal(t, wsPage+"/jobs/job%201", link.Target)
	s.MustRunJSON(t, &link, "studio", "--no-browser", "--page", "home")
	require.Equal(t, wsPage, link.Target)
	s.MustRunJSON(t, &link, "studio", "--no-browser", "--page", "resource-groups")
	require.Equal(t, "/studio/resource-groups", link.Target)
	// The link signs in and goes on to the page, which the studio serves.
	s.MustRunJSON(t, &link, "studio", "--no-browser", "--page", "compute")
	open := s.OpenLink(t, link.URL)
	require.Equal(t, http.StatusOK, open.StatusCode, open)
	require.Contains(t, string(open.Body), `url=`+wsPage+`/compute"`)
	page = s.AsBrowser(t, http.MethodGet, wsPage+"/compute", nil, sessionCookie(t, open), "")
	require.Equal(t, http.StatusOK, page.StatusCode, page)
	require.Contains(t, string(page.Body), `<div id="root">`)
}

// TestStudioTerminalAccess: the terminal WebSocket takes a studio session
// from a page of this server only, and only for the instance's assigned
// user.
func TestStudioTerminalAccess(t *testing.T) {
	t.Parallel()
	e := startInstanceEnv(t)
	RequireStudio(t, e.Server)
	bobToken := e.CreateUserWithPassword(t, "bob", "Contributor", "bob-pass-1")
	e.mustCLI(t, "compute", "create", "--name", "ci-admin", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2", "-o", "none")
	require.Equal(t, "Running", e.state(t, "ci-admin"))
	admin := e.StudioSignIn(t, e.Token())
	bob := e.StudioSignIn(t, bobToken)
	url := "wss" + strings.TrimPrefix(e.URL, "https") + e.computePath("ci-admin") + "/terminal?cols=80&rows=24"
	dial := func(c *http.Cookie, origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		h.Set("Cookie", c.Name+"="+c.Value)
		if origin != "" {
			h.Set("Origin", origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
		defer cancel()
		return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: e.HTTPClient(), HTTPHeader: h})
	}
	_, resp, err := dial(bob, e.URL)
	require.Error(t, err, "bob is not the instance's user")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, resp, err = dial(admin, "https://evil.example")
	require.Error(t, err, "another site's page may not use admin's session")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, resp, err = dial(admin, "")
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	conn, _, err := dial(admin, e.URL)
	require.NoError(t, err)
	defer conn.CloseNow()
	require.Contains(t, termRun(t, conn, "echo studio-$((40+2))", "studio-42"), "studio-42")
}

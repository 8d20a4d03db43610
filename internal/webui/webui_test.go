package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, path string, gzip bool) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

// TestStudioServing: the application's routes get index.html, assets are
// served compressed and cached, missing assets are 404s, and the first
// visit downloads at most 500 KB (compressed). Without a build the studio
// says how to build it.
func TestStudioServing(t *testing.T) {
	t.Parallel()
	h := Handler()
	if !Built() {
		r := get(t, h, "/studio/", false)
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
		b, _ := io.ReadAll(r.Body)
		require.Contains(t, string(b), "npm ci &amp;&amp; npm run build")
		t.Skip("the studio is not built (cd web/studio && npm ci && npm run build); checked the page that says so")
	}
	r := get(t, h, "/studio/ws/s/rg/ws/compute", false)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, "no-cache", r.Header.Get("Cache-Control"))
	require.Contains(t, r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	index, _ := io.ReadAll(r.Body)
	require.Contains(t, string(index), `<div id="root">`)
	require.Equal(t, http.StatusNotFound, get(t, h, "/studio/assets/missing.js", false).StatusCode)

	// What the first visit loads: index.html and what it names.
	total := 0
	r = get(t, h, "/studio/", true)
	b, _ := io.ReadAll(r.Body)
	total += len(b)
	refs := regexp.MustCompile(`(?:src|href)="(/studio/assets/[^"]+)"`).FindAllStringSubmatch(string(index), -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		r := get(t, h, m[1], true)
		require.Equal(t, http.StatusOK, r.StatusCode, m[1])
		require.Equal(t, "gzip", r.Header.Get("Content-Encoding"), m[1])
		require.True(t, strings.HasPrefix(r.Header.Get("Cache-Control"), "public, max-age=31536000"), m[1])
		b, _ := io.ReadAll(r.Body)
		total += len(b)
	}
	t.Logf("initial download: %d bytes compressed (%d files)", total, len(refs)+1)
	require.LessOrEqual(t, total, 500<<10, "the studio's first load must stay within 500 KB compressed")
}

func TestServeTitled(t *testing.T) {
	t.Parallel()
	if !Built() {
		t.Skip("the studio is not built")
	}
	w := httptest.NewRecorder()
	require.True(t, ServeTitled(w, httptest.NewRequest(http.MethodGet, "/studio/runs/x", nil), "Job <b>x</b>"))
	body := w.Body.String()
	require.Contains(t, body, "<title>Job &lt;b&gt;x&lt;/b&gt; · mlw studio</title>")
	require.Contains(t, body, `<div id="root"><noscript>`)
}

// Package webui embeds the studio, mlw's web UI, and serves it at /studio.
// The front end is an npm project in web/studio (React, Vite); `npm run
// build` there writes its assets into build/studio, which this package
// embeds. A binary built without them still serves /studio: a page that
// says how to build the studio.
package webui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed all:build
var embedded embed.FS

// Prefix is where the studio is served.
const Prefix = "/studio"

// Assets returns the built studio, or nil when this binary has none.
func Assets() fs.FS {
	sub, err := fs.Sub(embedded, "build/studio")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}

// Built reports whether the binary carries the studio's assets.
func Built() bool { return Assets() != nil }

// Handler serves the studio: files under /studio/assets/ as they are
// (hashed names: cached for a year), every other path the application's
// index.html (it routes in the browser). Responses are gzip-compressed
// when the browser accepts it; compressed files are kept in memory.
func Handler() http.Handler {
	assets := Assets()
	if assets == nil {
		return http.HandlerFunc(notBuilt)
	}
	return &handler{fs: assets, gz: map[string][]byte{}}
}

type handler struct {
	fs fs.FS
	mu sync.Mutex
	gz map[string][]byte
}

// security headers for the studio's pages: scripts only from this
// origin; styles inline too (the editor and terminal inject them).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "The studio serves GET requests only.", http.StatusMethodNotAllowed)
		return
	}
	rel := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, Prefix)), "/")
	immutable := strings.HasPrefix(rel, "assets/")
	if _, err := fs.Stat(h.fs, rel); rel == "" || err != nil {
		if immutable {
			http.NotFound(w, r)
			return
		}
		rel = "index.html"
	}
	b, err := fs.ReadFile(h.fs, rel)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	securityHeaders(hd)
	ctype := mime.TypeByExtension(path.Ext(rel))
	if ctype == "" {
		ctype = http.DetectContentType(b)
	}
	hd.Set("Content-Type", ctype)
	if immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Add("Vary", "Accept-Encoding")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && compressible(ctype) {
		hd.Set("Content-Encoding", "gzip")
		b = h.gzipped(rel, b)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// ServeTitled serves the studio's index.html for a page whose title the
// server knows (a job's page, linked from the SDK's studio_url), so that
// the title, and a reader without scripts, name it at once. It reports
// false when the studio is not built.
func ServeTitled(w http.ResponseWriter, r *http.Request, title string) bool {
	assets := Assets()
	if assets == nil {
		return false
	}
	b, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		return false
	}
	t := template.HTMLEscapeString(title)
	page := strings.Replace(string(b), "<title>mlw studio</title>", "<title>"+t+" · mlw studio</title>", 1)
	page = strings.Replace(page, `<div id="root"></div>`, `<div id="root"><noscript>`+t+`: the studio needs JavaScript.</noscript></div>`, 1)
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, page)
	}
	return true
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") || strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

func (h *handler) gzipped(name string, b []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if z, ok := h.gz[name]; ok {
		return z
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	h.gz[name] = buf.Bytes()
	return buf.Bytes()
}

var notBuiltPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Studio not built · mlw</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b;background:#fff}
code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}pre{padding:.75rem}
@media (prefers-color-scheme: dark){body{color:#eee;background:#1b1b1b}code,pre{background:#333}}</style></head>
<body><h1>The studio is not built into this mlw</h1>
<p>This <code>mlw</code> binary was built without the studio's web assets. Build them (Node.js 20 and npm), then build mlw again:</p>
<pre>cd web/studio &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ../..
go build -o bin/mlw ./cmd/mlw</pre>
<p><code>./scripts/quickstart.sh</code> does both. The API and the CLI work without the studio.</p>
</body></html>
`))

func notBuilt(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = notBuiltPage.Execute(w, nil)
}

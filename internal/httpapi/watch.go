package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// watchInterval is how often a watch re-reads what it watches.
const watchInterval = 250 * time.Millisecond

// watchRoutes: live updates for the studio as server-sent events.
//
//	GET /mlw/v1/watch?path=<an API GET path with its query>
//	  → text/event-stream; "event: change" whenever the answer to GET
//	    path changes (and once at the start), with {"status": <code>}
//
// The server reads path as the caller every 250 ms and compares what it
// would answer, so a watch sees exactly what a GET would, with the same
// rights; the client fetches the new answer when told. One connection
// replaces a client's polling, and a change reaches the page within a
// quarter of a second.
func (a *API) watchRoutes() {
	a.Handle("GET", "/mlw/v1/watch", a.watch)
}

func (a *API) watch(r *Request) (any, error) {
	target, err := url.Parse(r.URL.Query().Get("path"))
	if err != nil || !strings.HasPrefix(target.Path, "/") || target.IsAbs() {
		return nil, core.Invalid("path", "path must be the path (and query) of an API GET call, such as /subscriptions/{id}/resourcegroups.")
	}
	rt, params, _ := a.rt.match(http.MethodGet, target.Path)
	if rt == nil || rt.public || strings.HasPrefix(rt.pattern, "/mlw/v1/watch") || strings.Contains(rt.pattern, "/logs") ||
		strings.HasSuffix(rt.pattern, "/terminal") {
		return nil, core.Invalid("path", "%s cannot be watched: watch API GET calls that answer JSON (logs have their own stream, ?follow=true).", target.Path)
	}
	release, err := a.beginStream(r)
	if err != nil {
		return nil, err
	}
	defer release()
	w := r.W
	w.Header().Set("X-Accel-Buffering", "no")
	rc := openStream(w, "text/event-stream")
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	_ = rc.Flush()
	var last [32]byte
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for first := true; ; first = false {
		status, body := a.answer(r, rt, params, target)
		if sum := sha256.Sum256(body); first || sum != last {
			last = sum
			if _, err := fmt.Fprintf(w, "event: change\ndata: {\"status\":%d}\n\n", status); err != nil {
				return handled, nil
			}
			_ = rc.Flush()
		}
		select {
		case <-r.Context().Done():
			return handled, nil
		case <-a.stopping:
			return handled, nil
		case <-tick.C:
		}
	}
}

// openStream starts an endless 200 answer (a log follow, a watch): no
// caching, no write deadline. Headers set before it are kept.
func openStream(w http.ResponseWriter, contentType string) *http.ResponseController {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	return rc
}

// answer runs a GET route as the watching caller and returns what it
// would send.
func (a *API) answer(r *Request, rt *route, params map[string]string, target *url.URL) (int, []byte) {
	hr := r.Request.Clone(r.Context())
	hr.URL = &url.URL{Path: target.Path, RawQuery: target.RawQuery}
	hr.RequestURI = target.RequestURI()
	hr.Method = http.MethodGet
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	cp := make(map[string]string, len(params))
	for k, v := range params {
		cp[k] = v
	}
	sub := &Request{Request: hr, W: rec, Params: cp, Principal: r.Principal, api: a, session: r.session, route: rt}
	// The target is read with the caller's rights at its own scope.
	err := a.authorize(sub, rt)
	var out any
	if err == nil {
		out, err = rt.h(sub)
	}
	switch {
	case err != nil:
		e, ok := core.AsError(err)
		if !ok {
			e = core.Internal(err)
		}
		b, _ := json.Marshal(errorBody{Error: detail(e)})
		return e.Status, b
	case out == handled:
		return rec.status, rec.body.Bytes()
	}
	status := http.StatusOK
	if resp, ok := out.(*Response); ok {
		status, out = resp.Status, resp.Body
	}
	b, _ := json.Marshal(out)
	return status, b
}

// recorder keeps what a handler that writes its own answer wrote.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *recorder) WriteHeader(code int)        { w.status = code }

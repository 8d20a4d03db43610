// Package httpapi serves mlw's HTTP API in the shape of Azure Resource
// Manager and Azure ML: routing (case-insensitive literal segments), bearer
// authentication, ARM error envelopes, long-running operations and paging.
// Handlers hold only request decoding and rendering; admission lives in
// service and execution in the reconcilers, never here.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/service"
)

// maxBody bounds JSON request bodies.
const maxBody = 8 << 20

// Config wires the API to the rest of the server.
type Config struct {
	Service *service.Service
	Auth    *identity.Authenticator
	Log     *slog.Logger
	// Registry receives the API's metrics; nil gives a private registry.
	Registry *prometheus.Registry
	// Version is reported by /healthz.
	Version string
	// MaxStreamsPerUser bounds each user's concurrent endless streams
	// (log follows, watches, terminals); 0 is DefaultMaxStreamsPerUser.
	MaxStreamsPerUser int
}

// API is the http.Handler for everything mlw serves.
type API struct {
	cfg      Config
	svc      *service.Service
	auth     *identity.Authenticator
	log      *slog.Logger
	rt       router
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	metrics  http.Handler

	computeRenderers map[string]ComputeRenderer

	// stopping closes when shutdown begins, so that endless streams (log
	// follow, watches) end and in-flight requests can finish.
	stopping  chan struct{}
	stopOnce  sync.Once
	instances *InstanceAccess
	// accounts finds the workspace of a storage account (access.go).
	accounts accounts
	streams  streams
}

// New builds the API and registers every route.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxStreamsPerUser <= 0 {
		cfg.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	a := &API{cfg: cfg, svc: cfg.Service, auth: cfg.Auth, log: cfg.Log, stopping: make(chan struct{}),
		streams: streams{max: cfg.MaxStreamsPerUser, open: map[string]int{}}}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mlw_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	a.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mlw_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	cfg.Registry.MustRegister(a.requests, a.latency)
	a.metrics = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	a.routes()
	return a
}

// BeginShutdown ends long-lived streams; call it before http.Server.Shutdown.
func (a *API) BeginShutdown() { a.stopOnce.Do(func() { close(a.stopping) }) }

// Stopping is closed when shutdown begins.
func (a *API) Stopping() <-chan struct{} { return a.stopping }

// Handle registers a handler that needs a bearer token.
func (a *API) Handle(method, pattern string, h handlerFunc) {
	pol, ok := policyOf(method, pattern)
	a.rt.add(&route{method: method, pattern: pattern, h: h, access: pol, classified: ok})
}

// HandlePublic registers a handler that needs no token (it must do its own
// checks when it serves anything private: SAS, signed URLs, ...).
func (a *API) HandlePublic(method, pattern string, h handlerFunc) {
	pol, ok := policyOf(method, pattern)
	a.rt.add(&route{method: method, pattern: pattern, h: h, public: true, access: pol, classified: ok})
}

// Request is what a handler gets: the HTTP request, path parameters and
// the authenticated caller.
type Request struct {
	*http.Request
	W         http.ResponseWriter
	Params    map[string]string
	Principal *identity.Principal
	api       *API
	// session is the secret of the studio session that authenticated the
	// request ("" for a bearer token).
	session string
	// route is the route the request matched.
	route *route
}

// setPrincipal records the authenticated caller, for handlers and (through
// the context) the service.
func (r *Request) setPrincipal(p *identity.Principal) {
	r.Principal = p
	r.Request = r.Request.WithContext(service.WithPrincipal(r.Context(), p))
}

// Param returns a path parameter as sent.
func (r *Request) Param(name string) string { return r.Params[name] }

// Ctx returns the request context, carrying the principal for the service.
func (r *Request) Ctx() context.Context { return r.Context() }

// Body decodes the JSON request body.
func (r *Request) Body() (*service.Body, error) { return service.ReadBody(r.Request.Body, maxBody) }

// Scheme is "https" unless the server runs plain HTTP.
func (r *Request) Scheme() string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// BaseURL is the URL clients used to reach this server.
func (r *Request) BaseURL() string { return r.Scheme() + "://" + r.Host }

// APIVersion returns the api-version query parameter (any value is accepted).
func (r *Request) APIVersion() string { return r.URL.Query().Get("api-version") }

// Workspace returns the workspace named by the path.
func (r *Request) Workspace() core.WorkspaceRef {
	return core.WorkspaceRef{Subscription: r.Param("sub"), ResourceGroup: r.Param("rg"), Workspace: r.Param("ws")}
}

// Page returns the paging request of a list call.
func (r *Request) Page() service.Page {
	q := r.URL.Query()
	p := service.Page{Skip: q.Get("$skipToken")}
	for _, k := range []string{"$top", "count"} {
		if v, err := strconv.Atoi(q.Get(k)); err == nil && v > 0 {
			p.Top = v
		}
	}
	return p
}

// Response lets a handler choose the status code and headers.
type Response struct {
	Status int
	Header http.Header
	Body   any
}

// handled tells the wrapper that the handler wrote the response itself.
var handled = &Response{}

type handlerFunc func(*Request) (any, error)

// ServeHTTP routes, authenticates, calls the handler and encodes the result.
func (a *API) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	start := time.Now()
	rt, params, found := a.rt.match(hr.Method, hr.URL.Path)
	pattern := "unmatched"
	if rt != nil {
		pattern = rt.pattern
	}
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if id := hr.Header.Get("x-ms-client-request-id"); id != "" {
		rw.Header().Set("x-ms-client-request-id", id)
	}
	rw.Header().Set("x-ms-request-id", uuid.NewString())
	defer func() {
		a.requests.WithLabelValues(pattern, hr.Method, strconv.Itoa(rw.status)).Inc()
		a.latency.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
		if hr.Method != http.MethodGet && hr.Method != http.MethodHead || rw.status >= 500 {
			a.log.Info("request", "method", hr.Method, "path", hr.URL.Path, "status", rw.status, "ms", time.Since(start).Milliseconds())
		}
	}()
	// Runs before the one above, which therefore also counts requests that
	// end in a panic.
	defer func() {
		if rec := recover(); rec != nil {
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			// A bug, never the client's fault: 500 with the ARM envelope
			// (when nothing was sent yet) and the stack in the log, where
			// the request id the client got finds it.
			a.log.Error("handler panic", "method", hr.Method, "path", hr.URL.Path, "route", pattern,
				"request_id", rw.Header().Get("x-ms-request-id"), "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			if !rw.wrote {
				a.writeError(rw, hr, &core.Error{Status: http.StatusInternalServerError, Code: "InternalServerError",
					Message: "The server hit an unexpected error (a bug in mlw) while answering this request; the details are in the server log under request id " +
						rw.Header().Get("x-ms-request-id") + ". Please report it.", Cause: fmt.Errorf("panic: %v", rec)})
			} else {
				// Part of the answer is out: cut the connection so the
				// client sees a failure, not a truncated success.
				panic(http.ErrAbortHandler)
			}
		}
	}()
	if rt == nil {
		if found {
			a.writeError(rw, hr, &core.Error{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed",
				Message: "The method " + hr.Method + " is not supported on " + hr.URL.Path + "."})
			return
		}
		a.writeError(rw, hr, core.NotFound("NoRegisteredProviderFound", "No API at %s. Paths look like /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{name}.", hr.URL.Path))
		return
	}
	req := &Request{Request: hr, W: rw, Params: params, api: a, route: rt}
	if !rt.public {
		if err := a.authenticate(req); err != nil {
			a.writeError(rw, hr, err)
			return
		}
		if err := a.authorize(req, rt); err != nil {
			a.writeError(rw, hr, err)
			return
		}
	}
	out, err := rt.h(req)
	if err != nil {
		a.writeError(rw, hr, err)
		return
	}
	if out == handled {
		return
	}
	status := http.StatusOK
	if resp, ok := out.(*Response); ok {
		for k, vs := range resp.Header {
			rw.Header()[k] = vs
		}
		status = resp.Status
		out = resp.Body
	}
	if out == nil {
		if status == http.StatusOK {
			status = http.StatusNoContent
		}
		rw.WriteHeader(status)
		return
	}
	writeJSON(rw, hr, status, out)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalServerError","message":"The response could not be encoded."}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// errorBody is the ARM error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Target  string        `json:"target,omitempty"`
	Details []errorDetail `json:"details,omitempty"`
}

func detail(e *core.Error) errorDetail {
	d := errorDetail{Code: e.Code, Message: e.Message, Target: e.Target}
	for _, x := range e.Details {
		d.Details = append(d.Details, detail(x))
	}
	return d
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := core.AsError(err)
	if !ok {
		e = core.Internal(err)
	}
	if e.Status >= 500 {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if e.Cause != nil {
		a.log.Warn("request refused", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", e.Cause)
	}
	w.Header().Set("x-ms-error-code", e.Code)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(e.RetryAfter)))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mlw"`)
	}
	if isMLflowPath(r.URL.Path) {
		writeMLflowError(w, r, e)
		return
	}
	writeJSON(w, r, e.Status, errorBody{Error: detail(e)})
}

// retrySeconds is d in whole seconds for Retry-After, rounded up, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers push bytes.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController
// (hijacking for WebSockets, deadlines for long streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routes registers every handler group.
func (a *API) routes() {
	a.HandlePublic("GET", "/healthz", a.healthz)
	a.HandlePublic("GET", "/metrics", func(r *Request) (any, error) {
		a.metrics.ServeHTTP(r.W, r.Request)
		return handled, nil
	})
	a.subscriptionRoutes()
	a.groupRoutes()
	a.workspaceRoutes()
	a.datastoreRoutes()
	a.operationRoutes()
	a.locationRoutes()
	a.computeRoutes()
	a.userRoutes()
	a.instanceRoutes()
	a.blobRoutes()
	a.codeRoutes()
	a.environmentRoutes()
	a.modelRoutes()
	a.fileRoutes()
	a.tokenRoutes()
	a.deploymentRoutes()
	a.jobRoutes()
	a.runHistoryRoutes()
	a.mlflowRoutes()
	a.signinRoutes()
	a.metadataRoutes()
	a.armRoutes()
	a.studioRoutes()
	a.watchRoutes()
	a.roleAssignmentRoutes()
	a.existenceRoutes() // last: a HEAD for every ARM GET above
}

func (a *API) healthz(r *Request) (any, error) {
	return map[string]any{"status": "ok", "version": a.cfg.Version}, nil
}

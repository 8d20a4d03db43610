package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
)

// TerminalSession is a shell on a PTY inside a compute instance.
type TerminalSession interface {
	io.ReadWriteCloser
	Resize(cols, rows int) error
	Done() <-chan struct{}
}

// InstanceAccess reaches into running compute instances. The server wires
// it to the instance reconciler (handlers never touch backends).
type InstanceAccess struct {
	// OpenShellFunc opens a login shell on a PTY inside the instance.
	OpenShellFunc func(ctx context.Context, ws, c *resource.Object, cols, rows int) (TerminalSession, error)
	// DialJupyterFunc connects to the instance's notebook server; it
	// returns the token the notebook server expects.
	DialJupyterFunc func(ctx context.Context, ws, c *resource.Object) (net.Conn, error)
	// JupyterBaseFunc is the path the notebook server serves under.
	JupyterBaseFunc func(ws, c *resource.Object) string
}

// SetInstanceAccess wires the terminal and Jupyter endpoints.
func (a *API) SetInstanceAccess(x *InstanceAccess) { a.instances = x }

// instanceRoutes: the terminal WebSocket, the Jupyter proxy and the setup
// script logs of compute instances (docs/instances.md).
func (a *API) instanceRoutes() {
	const base = wsPath + "/computes/{name}"
	a.RegisterComputeRenderer(resource.ComputeInstance, a.renderInstance)
	// The terminal and Jupyter authenticate themselves: browsers cannot
	// set an Authorization header on a WebSocket or on the pages and
	// scripts Jupyter loads (see browserAuth and jupyterAuth).
	a.HandlePublic("GET", base+"/terminal", a.browserAuth(a.terminal))
	a.Handle("GET", base+"/logs", func(r *Request) (any, error) {
		logs, err := a.svc.InstanceLogs(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"value": logs}, nil
	})
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		a.HandlePublic(m, base+"/jupyter/{path...}", a.jupyter)
	}
}

// browserAuth authenticates a request with the bearer header, or (for
// browsers, which cannot set headers on a WebSocket) an access_token query
// parameter.
func (a *API) browserAuth(h handlerFunc) handlerFunc {
	return func(r *Request) (any, error) {
		tok := bearer(r.Request)
		if tok == "" {
			tok = r.URL.Query().Get("access_token")
		}
		if tok == "" {
			// The studio's terminal: its session cookie, from a page of
			// this server only (a WebSocket has no CSRF defence of its own).
			if _, p, ok, err := a.studioSession(r); ok {
				if err != nil {
					return nil, err
				}
				if !sameOrigin(r.Request) {
					return nil, core.Forbidden("A browser session opens the terminal only from the studio of this server (the Origin header names another site).")
				}
				r.setPrincipal(p)
				if err := a.authorize(r, r.route); err != nil {
					return nil, err
				}
				return h(r)
			}
		}
		p, err := a.auth.Authenticate(r.Ctx(), tok)
		if err != nil {
			return nil, err
		}
		r.setPrincipal(p)
		if err := a.authorize(r, r.route); err != nil {
			return nil, err
		}
		return h(r)
	}
}

// jupyterAuth authenticates a request to an instance's Jupyter: an API
// token in the Authorization header (scripts), or a browser session for
// this path (after a sign-in link; identity/sessions.go), which it returns.
func (a *API) jupyterAuth(r *Request) (*resource.Session, error) {
	if tok := bearer(r.Request); tok != "" {
		p, err := a.auth.Authenticate(r.Ctx(), tok)
		if err != nil {
			return nil, err
		}
		r.setPrincipal(p)
		return nil, nil
	}
	var refused error
	for _, c := range r.Cookies() {
		if c.Name != identity.SessionCookie {
			continue
		}
		p, s, err := a.auth.AuthenticateSession(r.Ctx(), c.Value, r.URL.Path)
		if err == nil {
			r.setPrincipal(p)
			return s, nil
		}
		if refused == nil {
			refused = err
		}
	}
	if refused != nil {
		return nil, refused
	}
	return nil, core.Unauthorized("Sign in to the Jupyter of compute instance '%s' with a one-time link: run `mlw compute open-jupyter --name %s` and open the link it prints.", r.Param("name"), r.Param("name"))
}

// renderInstance adds what depends on the request: application URLs,
// schedule ids.
func (a *API) renderInstance(r *Request, ws, c *resource.Object, props map[string]any) {
	st := resource.InstanceStatusOf(c)
	if a, ok := st.PendingAction(c.Spec); ok {
		// A start, stop or restart the reconciler has yet to make.
		act := resource.InstanceActions[a.Name]
		props["state"] = act.To
		props["lastOperation"] = map[string]any{"operationName": act.Op, "operationTime": a.At.Format(time.RFC3339),
			"operationStatus": "InProgress", "operationTrigger": resource.TriggerUser}
	}
	if c.Deleting {
		props["state"] = resource.InstanceDeleting
	}
	prefix := r.BaseURL() + "/" + strings.TrimPrefix(resource.ComputeARMID(ws, c), "/")
	wsBase := "wss" + strings.TrimPrefix(prefix, "https")
	if r.Scheme() == "http" {
		wsBase = "ws" + strings.TrimPrefix(prefix, "http")
	}
	apps := []any{map[string]any{"displayName": "Terminal", "endpointUri": wsBase + "/terminal"}}
	if st.Internal.Jupyter {
		apps = append([]any{map[string]any{"displayName": "Jupyter", "endpointUri": prefix + "/jupyter/tree"}}, apps...)
	}
	props["applications"] = apps
	m := renderObserved(props, &st.Internal)
	// Who the instance is for and since when it idles, for the studio's
	// compute list ("idle for 12 min, stops at 18:00").
	if st.Internal.AssignedUserName != "" {
		m["assignedUser"] = map[string]any{"name": st.Internal.AssignedUserName, "objectId": st.Internal.AssignedUserID}
	}
	if !st.Internal.IdleSince.IsZero() {
		m["idleSince"] = armTime(st.Internal.IdleSince)
	}
	if len(m) > 0 {
		props["mlw"] = m
	}
	if sch, ok := props["schedules"].(map[string]any); ok {
		if list, ok := sch["computeStartStop"].([]any); ok {
			out := make([]any, 0, len(list))
			for i, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					out = append(out, e)
					continue
				}
				cp := map[string]any{}
				for k, v := range m {
					cp[k] = v
				}
				cp["id"] = uuid.NewSHA1(uuid.NameSpaceOID, []byte(c.UID+"/schedule/"+strconv.Itoa(i))).String()
				cp["provisioningStatus"] = "Completed"
				out = append(out, cp)
			}
			sch["computeStartStop"] = out
		}
	}
}

// renderObserved renders what the backend applied at the instance's last
// boot in Azure's shapes (sshSettings, connectivityEndpoints,
// osImageMetadata) and mlw's (properties.properties.mlw, returned for
// more). Before a first boot the request's settings show.
func renderObserved(props map[string]any, in *resource.InstanceInternal) map[string]any {
	m := map[string]any{}
	if !in.Observed {
		return m
	}
	m["limits"], m["isolation"], m["network"] = in.Limits, in.Isolation, in.Network
	if len(in.Environments) > 0 {
		var envs []any
		_ = json.Unmarshal(in.Environments, &envs)
		m["environments"] = envs
	}
	ssh := map[string]any{"sshPublicAccess": "Disabled", "adminUserName": "azureuser", "sshPort": nil}
	if in.SSHPort > 0 {
		ssh["sshPublicAccess"] = "Enabled"
		ssh["sshPort"] = in.SSHPort
		ssh["hostPublicKey"] = in.SSHHostKey
	}
	resource.Merge(props, map[string]any{
		"sshSettings":           ssh, // over the request's (adminPublicKey stays)
		"connectivityEndpoints": map[string]any{"publicIpAddress": "127.0.0.1", "privateIpAddress": "127.0.0.1"},
		"osImageMetadata":       map[string]any{"currentImageVersion": "mlw-local", "latestImageVersion": "mlw-local", "isLatestOsImageVersion": true},
	})
	return m
}

// Terminal wire protocol (docs/instances.md): binary frames carry raw
// bytes both ways (keystrokes in, terminal output out, UTF-8 as the shell
// writes it); the client sends text frames with JSON control messages
// {"type":"resize","cols":120,"rows":40} or {"type":"input","data":"ls\n"};
// when the shell exits the server sends {"type":"exit"} and closes with
// status 1000. ?cols=&rows= give the initial size.
type termControl struct {
	Type string `json:"type"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
	Data string `json:"data"`
}

func (a *API) terminal(r *Request) (any, error) {
	ws, c, err := a.svc.InstanceForAccess(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	if a.instances == nil || a.instances.OpenShellFunc == nil {
		return nil, &core.Error{Status: http.StatusNotImplemented, Code: "NotSupported", Message: "This server has no instance backend."}
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return nil, core.Invalid("Upgrade", "The terminal is a WebSocket endpoint: connect with a WebSocket client (`mlw compute terminal --name %s`).", c.Name)
	}
	release, err := a.beginStream(r)
	if err != nil {
		return nil, err
	}
	defer release()
	cols, _ := strconv.Atoi(r.URL.Query().Get("cols"))
	rows, _ := strconv.Atoi(r.URL.Query().Get("rows"))
	// The shell outlives this handler's context only until it returns.
	sh, err := a.instances.OpenShellFunc(context.WithoutCancel(r.Ctx()), ws, c, cols, rows)
	if err != nil {
		return nil, err
	}
	conn, err := websocket.Accept(r.W, r.Request, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		_ = sh.Close()
		return handled, nil
	}
	conn.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // shell → client
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := sh.Read(buf)
			if n > 0 {
				if werr := conn.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
					cancel()
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // client → shell
		defer cancel()
		for {
			typ, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				if _, err := sh.Write(b); err != nil {
					return
				}
				continue
			}
			var ctl termControl
			if json.Unmarshal(b, &ctl) != nil {
				continue
			}
			switch ctl.Type {
			case "resize":
				_ = sh.Resize(ctl.Cols, ctl.Rows)
			case "input":
				if _, err := io.WriteString(sh, ctl.Data); err != nil {
					return
				}
			}
		}
	}()
	select {
	case <-sh.Done():
		wg.Wait()
		_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"exit"}`))
		_ = conn.Close(websocket.StatusNormalClosure, "the shell exited")
	case <-ctx.Done():
		_ = sh.Close()
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}
	return handled, nil
}

// jupyter proxies HTTP and WebSocket requests to the instance's notebook
// server, after mlw has authenticated the caller as its assigned user.
func (a *API) jupyter(r *Request) (any, error) {
	sess, err := a.jupyterAuth(r)
	if err != nil {
		return a.pageError(r, "Not signed in", err)
	}
	if err := a.authorize(r, r.route); err != nil {
		return a.pageError(r, "Cannot open Jupyter", err)
	}
	ws, c, err := a.svc.InstanceForAccess(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return a.pageError(r, "Cannot open Jupyter", err)
	}
	// A studio session (no resource) opens the Jupyter of any instance
	// assigned to its user (InstanceForAccess checked that).
	if sess != nil && sess.Resource != "" && sess.Resource != c.UID {
		return a.pageError(r, "Cannot open Jupyter", core.Forbidden("This browser session was opened for an earlier compute instance named '%s', which has been deleted; sign in again with `mlw compute open-jupyter --name %s`.", c.Name, c.Name))
	}
	if sess != nil && r.Param("path") == "logout" {
		// Jupyter's Logout button ends the mlw session (Jupyter's own token
		// never reaches the browser).
		for _, ck := range r.Cookies() {
			if ck.Name == identity.SessionCookie {
				_ = a.auth.EndSession(r.Ctx(), ck.Value)
			}
		}
		clearSessionCookie(r, sess.Scope)
		writePage(r.W, http.StatusOK, page{Title: "Signed out", Text: "You are signed out of the Jupyter of compute instance '" + c.Name + "'.",
			Hint: "Sign in again with `mlw compute open-jupyter --name " + c.Name + "`."})
		return handled, nil
	}
	if a.instances == nil || a.instances.DialJupyterFunc == nil {
		return nil, &core.Error{Status: http.StatusNotImplemented, Code: "NotSupported", Message: "This server has no instance backend."}
	}
	st := resource.InstanceStatusOf(c)
	if !st.Internal.Jupyter {
		return nil, core.NotFound("JupyterNotAvailable", "Jupyter is not installed on this mlw host (install Debian's jupyter-notebook package); the compute instance '%s' has only its terminal.", c.Name)
	}
	base := a.instances.JupyterBaseFunc(ws, c)
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		// The notebook server may still be starting: wait for it a while.
		deadline := time.Now().Add(20 * time.Second)
		for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
			conn, err := a.instances.DialJupyterFunc(ctx, ws, c)
			if err == nil || time.Now().After(deadline) {
				return conn, err
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
		}
	}
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	token := st.Internal.JupyterToken
	rp := &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "jupyter"
			pr.Out.URL.Path = base + r.Param("path")
			pr.Out.URL.RawPath = ""
			q := pr.Out.URL.Query()
			q.Del("api-version")
			pr.Out.URL.RawQuery = q.Encode()
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("Authorization", "token "+token)
			removeCookie(pr.Out.Header, identity.SessionCookie)
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			a.writeError(w, req, &core.Error{Status: http.StatusBadGateway, Code: "JupyterUnavailable",
				Message: "The Jupyter server of compute instance '" + c.Name + "' did not answer; try again in a moment, or restart the instance.", Cause: err})
		},
	}
	rp.ServeHTTP(r.W, r.Request)
	return handled, nil
}

// removeCookie drops one cookie from a request's Cookie headers (mlw's
// token must not reach the notebook server).
func removeCookie(h http.Header, name string) {
	var keep []string
	for _, line := range h.Values("Cookie") {
		var parts []string
		for _, c := range strings.Split(line, ";") {
			if k, _, _ := strings.Cut(strings.TrimSpace(c), "="); k != name && strings.TrimSpace(c) != "" {
				parts = append(parts, strings.TrimSpace(c))
			}
		}
		if len(parts) > 0 {
			keep = append(keep, strings.Join(parts, "; "))
		}
	}
	h.Del("Cookie")
	for _, v := range keep {
		h.Add("Cookie", v)
	}
}

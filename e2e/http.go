package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
)

// newHTTPClient returns a client that trusts only the CA of the data
// directory dir, as a user's client configured with ca.crt would.
func newHTTPClient(dir string) (*http.Client, error) {
	pem, err := os.ReadFile(filepath.Join(dir, api.LocalCAFile))
	if err != nil {
		return nil, fmt.Errorf("read the server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", api.LocalCAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: AwaitTimeout}, nil
}

// HTTPClient returns an HTTP client that trusts the server's CA. It sends
// no token by itself; NewRequest adds one.
func (s *Server) HTTPClient() *http.Client { return s.client }

// Token returns the admin token from the data directory's "token" file.
func (s *Server) Token() string { return s.token }

// CAFile returns the path of the server's CA certificate, for clients in
// other processes (REQUESTS_CA_BUNDLE for the Azure ML SDK, --ca-file).
func (s *Server) CAFile() string { return filepath.Join(s.Dir, api.LocalCAFile) }

// API returns mlw's public Go client, connected to this server.
func (s *Server) API(t testing.TB) *api.Client {
	t.Helper()
	c, err := api.Connect(api.Connection{Server: s.URL, Token: s.token, CAFile: s.CAFile(), Subscription: s.Subscription})
	if err != nil {
		t.Fatalf("e2e: connect the api client: %v", err)
	}
	return c
}

// GroupPath is the ARM path of a resource group of the server's subscription.
func (s *Server) GroupPath(rg string) string { return api.GroupPath(s.Subscription, rg) }

// WorkspacePath is the ARM path of a workspace.
func (s *Server) WorkspacePath(rg, ws string) string {
	return api.WorkspacePath(s.Subscription, rg, ws)
}

// NewRequest builds an authenticated request. path is relative to the
// server's URL or absolute (a nextLink or an operation URL); api-version is
// added when missing, as the Azure SDKs always send one. body is sent as
// is when it is a string, []byte or json.RawMessage, and as JSON otherwise;
// nil sends no body. Change the request (headers, token) before Send.
func (s *Server) NewRequest(t testing.TB, method, path string, body any) *http.Request {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = s.URL + path
	}
	if !strings.Contains(u, "api-version=") {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "api-version=" + url.QueryEscape(api.DefaultAPIVersion)
	}
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = strings.NewReader(b)
	case []byte:
		rdr = bytes.NewReader(b)
	case json.RawMessage:
		rdr = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("e2e: encode request body: %v", err)
		}
		rdr = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, u, rdr)
	if err != nil {
		t.Fatalf("e2e: new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	return req
}

// Send sends req with the server's client and reads the whole answer.
func (s *Server) Send(t testing.TB, req *http.Request) *Response {
	t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("e2e: %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("e2e: read the answer to %s %s: %v", req.Method, req.URL, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b, Method: req.Method, URL: req.URL.String()}
}

// Do sends an authenticated request (see NewRequest) and returns the answer.
func (s *Server) Do(t testing.TB, method, path string, body any) *Response {
	t.Helper()
	return s.Send(t, s.NewRequest(t, method, path, body))
}

// Response is a whole HTTP answer. Its String form (status, request and
// body) makes a useful failure message: require.Equal(t, 200, r.StatusCode, r).
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Method and URL are those of the request, for messages.
	Method, URL string
}

func (r *Response) String() string {
	return fmt.Sprintf("%s %s -> %d: %s", r.Method, r.URL, r.StatusCode, bytes.TrimSpace(r.Body))
}

// Decode decodes the JSON body into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("e2e: %v: the body is not the expected JSON: %v", r, err)
	}
}

// JSON decodes the body as a JSON object.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.Decode(t, &m)
	return m
}

// ARMError is the ARM error envelope's inner object.
type ARMError struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Target  string     `json:"target"`
	Details []ARMError `json:"details"`
}

// Error decodes the body as an ARM error envelope ({"error": {...}}) and
// fails the test when it is not one.
func (r *Response) Error(t testing.TB) ARMError {
	t.Helper()
	var env struct {
		Error *ARMError `json:"error"`
	}
	r.Decode(t, &env)
	if env.Error == nil || env.Error.Code == "" || env.Error.Message == "" {
		t.Fatalf("e2e: %v: not an ARM error envelope with a code and a message", r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("e2e: %v: an error with Content-Type %q, want application/json", r, ct)
	}
	return *env.Error
}

// AwaitTimeout bounds every Await. Conditions normally hold within
// milliseconds; the bound only turns a hang into a failure.
const AwaitTimeout = 30 * time.Second

// errNotYet is what an Await condition returns while it does not hold and
// there is nothing more useful to say.
var errNotYet = errors.New("not yet")

// Await polls cond until it returns nil, and fails the test with what and
// cond's last error when it still fails after AwaitTimeout.
func Await(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(AwaitTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2e: gave up waiting for %s after %v: %v", what, AwaitTimeout, err)
		}
		time.Sleep(delay)
	}
}

// AwaitResponding waits until /healthz answers 200.
func (s *Server) AwaitResponding(t testing.TB) {
	t.Helper()
	Await(t, "the server to answer /healthz", func() error {
		resp, err := s.client.Get(s.URL + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// AwaitStatus polls GET path until it answers want (for example 404 once a
// deletion has finished) and returns that answer.
func (s *Server) AwaitStatus(t testing.TB, path string, want int) *Response {
	t.Helper()
	var last *Response
	Await(t, fmt.Sprintf("GET %s to answer %d", path, want), func() error {
		last = s.Do(t, http.MethodGet, path, nil)
		if last.StatusCode != want {
			return fmt.Errorf("last answer: %v", last)
		}
		return nil
	})
	return last
}

// AwaitDoc polls GET path until it answers 200 with a document for which
// cond returns nil, and returns that document. Use it to wait for a state:
//
//	s.AwaitDoc(t, path, func(d map[string]any) error {
//		if st := d["properties"].(map[string]any)["provisioningState"]; st != "Succeeded" {
//			return fmt.Errorf("provisioningState %v", st)
//		}
//		return nil
//	})
func (s *Server) AwaitDoc(t testing.TB, path string, cond func(doc map[string]any) error) map[string]any {
	t.Helper()
	var doc map[string]any
	Await(t, "GET "+path+" to reach the wanted state", func() error {
		r := s.Do(t, http.MethodGet, path, nil)
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("last answer: %v", r)
		}
		doc = r.JSON(t)
		return cond(doc)
	})
	return doc
}

// AwaitOperation polls an Azure-AsyncOperation URL until the operation
// is no longer InProgress and returns the last status document.
func (s *Server) AwaitOperation(t testing.TB, asyncURL string) map[string]any {
	t.Helper()
	var doc map[string]any
	Await(t, "operation "+asyncURL+" to finish", func() error {
		r := s.Do(t, http.MethodGet, asyncURL, nil)
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("last answer: %v", r)
		}
		doc = r.JSON(t)
		if doc["status"] == "InProgress" {
			return fmt.Errorf("still InProgress")
		}
		return nil
	})
	return doc
}

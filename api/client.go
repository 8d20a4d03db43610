// Package api is mlw's public Go client and wire types. The CLI uses nothing
// else of mlw's; any Go program may use it to drive a server.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Provider is the resource provider of Azure ML paths.
const Provider = "Microsoft.MachineLearningServices"

// DefaultAPIVersion is sent with every management call.
const DefaultAPIVersion = "2022-10-01-preview"

// Client talks to one mlw server.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
	// Subscription is the subscription id used in paths; Subscriptions
	// discovers it when empty.
	Subscription string
	// UserAgent is sent with every request.
	UserAgent string
}

// NewClient returns a client that trusts the system roots plus the PEM CA
// certificates in caPEM (mlw's own CA), if any.
func NewClient(baseURL, token string, caPEM []byte) (*Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(caPEM) > 0 && !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the CA file holds no PEM certificate: pass the server's ca.crt (in its data directory, ~/.mlw/ca.crt by default)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 16
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"), Token: token,
		HTTP: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, UserAgent: "mlw-cli",
	}, nil
}

// Error is an API error in the ARM envelope.
type Error struct {
	StatusCode int           `json:"-"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	Target     string        `json:"target,omitempty"`
	Details    []ErrorDetail `json:"details,omitempty"`
}

// ErrorDetail is one entry of Error.Details.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

func (e *Error) Error() string {
	s := e.Message
	if e.Code != "" {
		s = "(" + e.Code + ") " + s
	}
	return s
}

// IsNotFound reports a 404 from the server.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// Response is the raw outcome of a call, for LRO headers.
type Response struct {
	StatusCode int
	Header     http.Header
}

// Do sends a JSON request to path (relative to BaseURL, or absolute) and
// decodes a JSON answer into out, if out is not nil. Non-2xx answers come
// back as *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (*Response, error) {
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.BaseURL + path
	}
	if !strings.Contains(u, "api-version=") {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "api-version=" + DefaultAPIVersion
	}
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rdr)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the mlw server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{StatusCode: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode >= 300 {
		var env struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil && env.Error != nil {
			env.Error.StatusCode = resp.StatusCode
			return r, env.Error
		}
		return r, &Error{StatusCode: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return r, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return r, nil
}

// OperationStatus is the body of an Azure-AsyncOperation poll.
type OperationStatus struct {
	Status string `json:"status"`
	Error  *Error `json:"error,omitempty"`
}

// Wait polls a long-running operation started by resp until it ends.
// progress, if not nil, is called with each status seen.
func (c *Client) Wait(ctx context.Context, resp *Response, progress func(status string)) error {
	async := resp.Header.Get("Azure-AsyncOperation")
	if async == "" {
		return nil
	}
	for {
		var st OperationStatus
		r, err := c.Do(ctx, http.MethodGet, async, nil, &st)
		if err != nil {
			return err
		}
		if progress != nil {
			progress(st.Status)
		}
		switch strings.ToLower(st.Status) {
		case "succeeded":
			return nil
		case "failed", "canceled":
			if st.Error != nil {
				return st.Error
			}
			return &Error{Code: st.Status, Message: "The operation ended " + st.Status + "."}
		}
		delay := 200 * time.Millisecond
		if ra := r.Header.Get("Retry-After"); ra == "0" {
			delay = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// List is a page of results.
type List[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// ListAll follows nextLink until the end.
func ListAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	for path != "" {
		var page List[T]
		if _, err := c.Do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		path = page.NextLink
	}
	return all, nil
}

// Subscriptions lists the subscriptions the server holds.
func (c *Client) Subscriptions(ctx context.Context) ([]Subscription, error) {
	return ListAll[Subscription](ctx, c, "/subscriptions")
}

// SubscriptionID returns c.Subscription, discovering it on first use.
func (c *Client) SubscriptionID(ctx context.Context) (string, error) {
	if c.Subscription != "" {
		return c.Subscription, nil
	}
	subs, err := c.Subscriptions(ctx)
	if err != nil {
		return "", err
	}
	if len(subs) == 0 {
		return "", errors.New("no subscription is visible to you: ask an Owner of this server for a role assignment (`mlw role assignment create`), or pass --subscription")
	}
	c.Subscription = subs[0].SubscriptionID
	return c.Subscription, nil
}

// GroupPath is the path of a resource group.
func GroupPath(sub, rg string) string {
	return "/subscriptions/" + url.PathEscape(sub) + "/resourceGroups/" + url.PathEscape(rg)
}

// WorkspacePath is the path of a workspace.
func WorkspacePath(sub, rg, ws string) string {
	return GroupPath(sub, rg) + "/providers/" + Provider + "/workspaces/" + url.PathEscape(ws)
}

// ReadCAFile reads a PEM file, or returns nil when path is empty.
func ReadCAFile(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	return b, nil
}

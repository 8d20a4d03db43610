package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

// TestConflictRetryAfter: a 409 whose cause passes by itself (a name being
// deleted, an instance between two states) carries Retry-After; one that
// repeating cannot fix (a name taken) carries none (docs/security.md,
// "Limits and timeouts").
func TestConflictRetryAfter(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	rg := core.GroupPath(testSub, "rg-r")
	b.mustDo(t, b.admin, "PUT", rg, map[string]any{"location": "eastus"}, http.StatusCreated)
	ws := core.WorkspacePath(testSub, "rg-r", "ws-r")
	b.mustDo(t, b.admin, "PUT", ws, map[string]any{"location": "eastus"}, http.StatusOK)
	ci := ws + "/computes/ci1"
	body := map[string]any{"properties": map[string]any{"computeType": "ComputeInstance",
		"properties": map[string]any{"vmSize": "STANDARD_DS1_V2"}}}
	require.Less(t, b.do(t, b.admin, "PUT", ci, body).Code, 300)

	for _, tc := range []struct {
		what, method, path string
		body               any
		code, retryAfter   string
	}{
		// No reconciler runs here: the instance stays Creating.
		{"start while creating", "POST", ci + "/start", nil, "UnableToPerformOperation", "3"},
		{"a name taken", "PUT", ci, body, "Conflict", ""},
	} {
		rec := b.do(t, b.admin, tc.method, tc.path, tc.body)
		require.Equal(t, http.StatusConflict, rec.Code, "%s: %s", tc.what, rec.Body.String())
		require.Equal(t, tc.code, rec.Header().Get("x-ms-error-code"), tc.what)
		require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"), tc.what)
	}

	// A group being deleted (nothing finishes the deletion here).
	require.Less(t, b.do(t, b.admin, "DELETE", rg, nil).Code, 300)
	rec := b.do(t, b.admin, "PUT", rg, map[string]any{"location": "eastus"})
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	require.Equal(t, "ResourceGroupBeingDeleted", rec.Header().Get("x-ms-error-code"))
	require.Equal(t, "3", rec.Header().Get("Retry-After"))
}

// syncLog is a log destination safe for the server's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestHandlerPanic: a handler that panics answers 500 InternalServerError
// with the request id in its message and a log line with the stack under
// that id; one that panics after its answer began cuts the connection (no
// truncated success); the server goes on serving. The handlers are the
// test's own: the wrapper around every route is the real one.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	logs := &syncLog{}
	api := New(Config{Service: b.svc, Auth: b.auth, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	api.HandlePublic("GET", "/mlw/v1/test-panic", func(*Request) (any, error) {
		var m map[string]int
		m["boom"]++ // a nil map: a real runtime panic
		return nil, nil
	})
	api.HandlePublic("GET", "/mlw/v1/test-panic-late", func(r *Request) (any, error) {
		r.W.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(r.W, "partial")
		r.W.(http.Flusher).Flush()
		panic("late")
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/mlw/v1/test-panic")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	var e errorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	id := resp.Header.Get("x-ms-request-id")
	require.NotEmpty(t, id)
	require.Equal(t, "InternalServerError", e.Error.Code)
	require.Contains(t, e.Error.Message, id, "the message names the request id")
	require.Contains(t, e.Error.Message, "server log")
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"handler panic"`) && strings.Contains(l, id) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.NotNil(t, line, "a log line for the panic, under its request id:\n%s", logs)
	require.Contains(t, line["panic"], "nil map")
	require.Contains(t, line["stack"], "TestHandlerPanic", "the stack is logged")

	resp, err = http.Get(srv.URL + "/mlw/v1/test-panic-late")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	require.Error(t, err, "a panic after the answer began must not look like a success")

	resp, err = http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the server goes on serving")
}

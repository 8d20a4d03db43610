package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// TestMain lets the test binary act as the process supervisor of compute
// instances (the server re-executes its own binary for that), and stops
// the PostgreSQL cluster that MLW_BENCH_POSTGRES=1 started.
func TestMain(m *testing.M) {
	local.MaybeRunShim()
	pgtest.Main(m)
}

func (t *target) computesPath() string {
	return "/subscriptions/" + t.sub + "/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes"
}

func (t *target) setupWorkspace(b *testing.B) {
	t.mustDo(b, http.MethodPut, "/subscriptions/"+t.sub+"/resourceGroups/rg1?api-version=2020-06-01", `{"location": "eastus"}`, http.StatusCreated, nil)
	t.mustDo(b, http.MethodPut, t.wsPath("rg1", "ws1"), `{}`, http.StatusOK, nil)
}

// createInstance PUTs an instance and polls its operation every
// millisecond until it has finished; it returns how long that took.
func (t *target) createInstance(b *testing.B, name string) time.Duration {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPut, t.url+t.computesPath()+"/"+name+"?api-version=2022-10-01-preview",
		strings.NewReader(`{"properties": {"computeType": "ComputeInstance", "properties": {"vmSize": "STANDARD_DS1_V2"}}}`))
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("PUT instance: %v %v", resp, err)
	}
	resp.Body.Close()
	async := resp.Header.Get("Azure-AsyncOperation")
	for {
		var st struct {
			Status string `json:"status"`
		}
		t.mustDo(b, http.MethodGet, strings.TrimPrefix(async, t.url), "", http.StatusOK, &st)
		if st.Status == "Succeeded" {
			return time.Since(start)
		}
		if st.Status != "InProgress" {
			b.Fatalf("create %s: %s", name, st.Status)
		}
		time.Sleep(time.Millisecond)
	}
}

func (t *target) deleteInstance(b *testing.B, name string) {
	path := t.computesPath() + "/" + name + "?api-version=2022-10-01-preview"
	t.mustDo(b, http.MethodDelete, path, "", http.StatusAccepted, nil)
	for {
		code, _, err := t.do(http.MethodGet, path, "")
		if err != nil {
			b.Fatal(err)
		}
		if code == http.StatusNotFound {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func report(b *testing.B, lat []time.Duration, unit string, scale time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(scale) }
	b.ReportMetric(pct(0.50), "p50-"+unit)
	b.ReportMetric(pct(0.99), "p99-"+unit)
}

// BenchmarkInstanceCreate measures create → Running of a compute instance
// without a setup script on the local backend (home, cgroup, namespaces,
// the Jupyter process started), as a client polling its operation sees it.
func BenchmarkInstanceCreate(b *testing.B) {
	t := startServer(b)
	t.setupWorkspace(b)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("ci-%d", i)
		lat = append(lat, t.createInstance(b, name))
		b.StopTimer()
		t.deleteInstance(b, name)
		b.StartTimer()
	}
	// The first instance on a fresh data directory makes the Python
	// environments' templates (an interpreter run inside the instance).
	b.ReportMetric(float64(lat[0])/float64(time.Millisecond), "first-ms")
	report(b, lat, "ms", time.Millisecond)
}

// BenchmarkTerminalKeystroke measures the round trip of one keystroke
// through the terminal WebSocket on loopback: the byte goes in, the shell
// (bash's line editor, on a PTY inside the instance) echoes it back.
func BenchmarkTerminalKeystroke(b *testing.B) {
	t := startServer(b)
	t.setupWorkspace(b)
	t.createInstance(b, "ci-term")
	b.Cleanup(func() { t.deleteInstance(b, "ci-term") })
	hc := &http.Client{Transport: t.client.Transport}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+t.token)
	ctx := context.Background()
	u := "wss" + strings.TrimPrefix(t.url, "https") + t.computesPath() + "/ci-term/terminal?api-version=2022-10-01-preview"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseNow()
	// Set a known prompt and wait for it after the command's output.
	if err := conn.Write(ctx, websocket.MessageBinary, []byte("PS1='P> '; echo ready-$((1+1))\n")); err != nil {
		b.Fatal(err)
	}
	var seen bytes.Buffer
	for {
		_, m, err := conn.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		seen.Write(m)
		if i := bytes.Index(seen.Bytes(), []byte("ready-2")); i >= 0 && bytes.Contains(seen.Bytes()[i:], []byte("P> ")) {
			break
		}
	}
	var lat []time.Duration
	n := 0
	for b.Loop() {
		n++
		if n%500 == 0 {
			b.StopTimer()
			// Clear the line (Ctrl-U) so that it does not grow forever.
			_ = conn.Write(ctx, websocket.MessageBinary, []byte{0x15})
			if _, _, err := conn.Read(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		start := time.Now()
		if err := conn.Write(ctx, websocket.MessageBinary, []byte("x")); err != nil {
			b.Fatal(err)
		}
		for {
			_, m, err := conn.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if bytes.Contains(m, []byte("x")) {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	report(b, lat, "µs", time.Microsecond)
}

package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// MLflow tracking (docs/mlflow.md) against the anchors of issue 16: the
// stock MLflow server handles about 341 log-batch requests (10 metrics) per
// second and mlflow-go-backend about 1,094 (k6, 20 clients, PostgreSQL);
// mlw aims at ≥ 2,000/s on 2 cores with SQLite, search_runs over 10,000
// runs with a metric filter and order in ≤ 50 ms, and a metric history of
// 100,000 points in ≤ 100 ms.

// mlflowTarget is a server with a workspace, and its tracking URI's path.
type mlflowTarget struct {
	*target
	base string // …/api/2.0/mlflow/
}

func startMLflow(b *testing.B) *mlflowTarget {
	b.Helper()
	t := startServer(b)
	t.mustDo(b, http.MethodPut, "/subscriptions/"+t.sub+"/resourceGroups/rg1?api-version=2020-06-01", `{"location": "eastus"}`, http.StatusCreated, nil)
	t.mustDo(b, http.MethodPut, t.wsPath("rg1", "ws1"), `{}`, http.StatusOK, nil)
	ws := strings.TrimSuffix(t.wsPath("rg1", "ws1"), "?api-version=2022-10-01-preview")
	return &mlflowTarget{target: t, base: "/mlflow/v1.0" + ws + "/api/2.0/mlflow/"}
}

func (m *mlflowTarget) post(b *testing.B, endpoint string, body any, out any) {
	b.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	m.mustDo(b, http.MethodPost, m.base+endpoint, string(j), http.StatusOK, out)
}

func (m *mlflowTarget) experiment(b *testing.B, name string) string {
	var out struct {
		ID string `json:"experiment_id"`
	}
	m.post(b, "experiments/create", map[string]any{"name": name}, &out)
	return out.ID
}

func (m *mlflowTarget) run(b *testing.B, exp string) string {
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	m.post(b, "runs/create", map[string]any{"experiment_id": exp}, &out)
	return out.Run.Info.RunID
}

// batchBody is a log-batch of n metrics at one step.
func batchBody(run string, n, step int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"run_id":%q,"metrics":[`, run)
	now := time.Now().UnixMilli()
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"key":"m%d","value":%g,"timestamp":%d,"step":%d}`, i, float64(step)/7, now, step)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

// BenchmarkMLflowLogBatch: log-batch requests of 10 metrics from 20
// concurrent keep-alive clients, each logging to a run of its own.
func BenchmarkMLflowLogBatch(b *testing.B) {
	m := startMLflow(b)
	exp := m.experiment(b, "bench")
	const clients = 20
	runs := make(chan string, clients*4)
	for range cap(runs) {
		runs <- m.run(b, exp)
	}
	var step atomic.Int64
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	cpu0 := selfCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		run := <-runs
		for pb.Next() {
			code, raw, err := m.do(http.MethodPost, m.base+"runs/log-batch", batchBody(run, 10, int(step.Add(1))))
			if err != nil || code != http.StatusOK {
				b.Errorf("log-batch: %d %v %s", code, err, raw)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	// The machine is shared: what a request costs in CPU (server and
	// clients, in this process) says what 2 cores of our own would do.
	perReq := (selfCPU() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(perReq.Microseconds())/1000, "cpu-ms/req")
	b.ReportMetric(2/perReq.Seconds(), "req/s-at-2-cores")
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// seedRuns makes n runs in exp, each with the metrics acc and loss, two
// params and a tag, from 20 concurrent clients.
func seedRuns(b *testing.B, m *mlflowTarget, exp string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				run := m.run(b, exp)
				m.post(b, "runs/log-batch", map[string]any{"run_id": run,
					"metrics": []map[string]any{{"key": "acc", "value": float64(i%1000) / 1000, "timestamp": 1, "step": 0},
						{"key": "loss", "value": float64(i%97) / 97, "timestamp": 1, "step": 0}},
					"params": []map[string]any{{"key": "lr", "value": fmt.Sprint(i % 10)}, {"key": "model", "value": []string{"svm", "tree"}[i%2]}},
					"tags":   []map[string]any{{"key": "team", "value": "bench"}}}, nil)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkMLflowSearchRuns: runs/search over an experiment of 10,000
// runs with a metric filter (half of them pass) and a metric order, one
// page of 100 and one of 1,000 runs with their data.
func BenchmarkMLflowSearchRuns(b *testing.B) {
	m := startMLflow(b)
	exp := m.experiment(b, "bench")
	start := time.Now()
	seedRuns(b, m, exp, 10000)
	b.Logf("seeded 10,000 runs in %v", time.Since(start).Round(time.Millisecond))
	for _, page := range []int{100, 1000} {
		b.Run(fmt.Sprintf("page%d", page), func(b *testing.B) {
			body, _ := json.Marshal(map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.acc > 0.5 AND params.model = 'svm'",
				"order_by": []string{"metrics.acc DESC"}, "max_results": page})
			measure(b, func() (int, error) {
				code, raw, err := m.do(http.MethodPost, m.base+"runs/search", string(body))
				if err == nil && code == http.StatusOK && !strings.Contains(string(raw), `"next_page_token"`) {
					return 0, fmt.Errorf("expected a full page: %.200s", raw)
				}
				return code, err
			})
		})
	}
}

// BenchmarkMLflowMetricHistory: metrics/get-history of one metric with
// 100,000 points (logged as 100 batches of 1,000).
func BenchmarkMLflowMetricHistory(b *testing.B) {
	m := startMLflow(b)
	exp := m.experiment(b, "bench")
	run := m.run(b, exp)
	now := time.Now().UnixMilli()
	for i := range 100 {
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"run_id":%q,"metrics":[`, run)
		for j := range 1000 {
			if j > 0 {
				sb.WriteByte(',')
			}
			step := i*1000 + j
			fmt.Fprintf(&sb, `{"key":"loss","value":%g,"timestamp":%d,"step":%d}`, 1/float64(step+1), now+int64(step), step)
		}
		sb.WriteString(`]}`)
		m.mustDo(b, http.MethodPost, m.base+"runs/log-batch", sb.String(), http.StatusOK, nil)
	}
	path := m.base + "metrics/get-history?" + url.Values{"run_id": {run}, "metric_key": {"loss"}}.Encode()
	measure(b, func() (int, error) {
		code, raw, err := m.do(http.MethodGet, path, "")
		if err == nil && code == http.StatusOK && strings.Count(string(raw), `"step"`) != 100000 {
			return 0, fmt.Errorf("expected 100,000 points, got %d", strings.Count(string(raw), `"step"`))
		}
		return code, err
	})
}

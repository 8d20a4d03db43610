package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/server"
)

// Job benchmarks: an in-process server with the local backend runs real
// job processes (the test binary is their supervisor, see TestMain), so
// the figures include admission, the reconcilers, SQLite, process spawn
// and the job's own bash. A job's command records when it started
// ($EPOCHREALTIME) in its log; latencies are measured from just before
// the PUT is sent to that moment.

// jobTarget is a server ready for jobs.
type jobTarget struct {
	*target
	dir string
	db  *sql.DB // the server's database, for reading (and a benchmark's seeding)
}

// startJobServer starts a server whose nodes may use capacity
// (MLW_NODE_CAPACITY, e.g. "cpus=8": more than a small machine has, so
// that four 1-vCPU nodes fit on 2 cores; the benchmark says so), and a
// workspace with a cluster.
func startJobServer(b *testing.B, capacity string, cluster string) *jobTarget {
	b.Helper()
	b.Setenv(server.NodeCapacityEnv, capacity)
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	opts := serverOptions(b, dir)
	s, err := server.New(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("server: %v", err)
		}
		// Node agents outlive servers by design; not a benchmark's.
		agents, _ := filepath.Glob(filepath.Join(dir, "cluster", "nodes", "*", "agent.pid"))
		for _, a := range agents {
			if b, err := os.ReadFile(a); err == nil {
				if pid, err := strconv.Atoi(strings.Fields(string(b))[0]); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	tok, err := os.ReadFile(filepath.Join(dir, api.LocalTokenFile))
	if err != nil {
		b.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, api.LocalCAFile))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	t := &jobTarget{target: &target{url: s.URL(), token: strings.TrimSpace(string(tok)), client: &http.Client{Transport: tr}}, dir: dir}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	t.mustDo(b, http.MethodGet, "/subscriptions", "", http.StatusOK, &subs)
	t.sub = subs.Value[0].SubscriptionID
	t.setupWorkspace(b)
	t.db = openDB(b, opts)
	b.Cleanup(func() { t.db.Close() })

	code, raw, err := t.do(http.MethodPut, t.computesPath()+"/c1?api-version=2022-10-01-preview",
		`{"properties": {"computeType": "AmlCompute", "properties": `+cluster+`}}`)
	if err != nil || code != http.StatusCreated {
		b.Fatalf("create cluster: %d %v %s", code, err, raw)
	}
	// A first job warms what is cached for every later one (the curated
	// environment's import check).
	t.submit(b, "warmup", "true")
	t.awaitEnded(b, 1)
	return t
}

func (t *jobTarget) jobsPath() string {
	return "/subscriptions/" + t.sub + "/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1/jobs"
}

func (t *jobTarget) submit(b *testing.B, name, command string) {
	body := fmt.Sprintf(`{"properties": {"jobType": "Command", "command": %q, "environmentId": "azureml:AzureML-sklearn-1.5@latest", "computeId": "c1"}}`, command)
	code, raw, err := t.do(http.MethodPut, t.jobsPath()+"/"+name+"?api-version=2022-10-01-preview", body)
	if err != nil || code != http.StatusCreated {
		b.Errorf("PUT job %s: %d %v %s", name, code, err, raw)
	}
}

// follow reads a job's log until the job ends (mlw's follow stream) and
// returns the START time its command printed.
func (t *jobTarget) follow(b *testing.B, name string) time.Time {
	req, _ := http.NewRequest(http.MethodGet, t.url+t.jobsPath()+"/"+name+"/logs/user_logs/std_log.txt?follow=true&api-version=2022-10-01-preview", nil)
	req.Header.Set("Authorization", "Bearer "+t.token)
	resp, err := t.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var started time.Time
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "START "); ok {
			f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
			if err == nil {
				started = time.Unix(0, int64(f*1e9))
			}
		}
	}
	if st := resp.Trailer.Get("Mlw-Job-Status"); st != "Completed" {
		b.Fatalf("job %s ended %q", name, st)
	}
	if started.IsZero() {
		b.Fatalf("job %s printed no START line", name)
	}
	return started
}

// ended counts jobs in a terminal state.
func (t *jobTarget) ended(b *testing.B) int {
	var n int
	if err := t.db.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'job' AND state IN ('Completed', 'Failed', 'Canceled')`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func (t *jobTarget) awaitEnded(b *testing.B, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for t.ended(b) < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d jobs ended after 5 minutes", t.ended(b), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (t *jobTarget) nodes(b *testing.B) int {
	var n int
	if err := t.db.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'node'`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkJobStartWarm measures submit → user process started on a warm
// node (the cluster keeps one: minNodeCount 1). Aim: p50 ≤ 50 ms, p99 ≤
// 200 ms.
func BenchmarkJobStartWarm(b *testing.B) {
	t := startJobServer(b, "", `{"vmSize": "STANDARD_DS1_V2", "scaleSettings": {"minNodeCount": 1, "maxNodeCount": 1}}`)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("warm_%d", i)
		start := time.Now()
		t.submit(b, name, `echo START $EPOCHREALTIME`)
		lat = append(lat, t.follow(b, name).Sub(start))
	}
	report(b, lat, "ms", time.Millisecond)
}

// BenchmarkJobStartEmptyCluster measures submit → user process started on
// a cluster with no node (minNodeCount 0, idle time 0: the node goes as
// soon as the job ends). Aim: ≤ 500 ms.
func BenchmarkJobStartEmptyCluster(b *testing.B) {
	t := startJobServer(b, "", `{"vmSize": "STANDARD_DS1_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT0S"}}`)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		for t.nodes(b) > 0 {
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
		i++
		name := fmt.Sprintf("cold_%d", i)
		start := time.Now()
		t.submit(b, name, `echo START $EPOCHREALTIME`)
		lat = append(lat, t.follow(b, name).Sub(start))
	}
	report(b, lat, "ms", time.Millisecond)
}

// BenchmarkJobThroughput pushes 1,000 trivial jobs through a 4-node
// cluster (nodes of 1 vCPU; the host's node capacity is raised to 8 CPUs
// so that four fit on a 2-core machine) from 16 concurrent clients, and
// reports completed jobs per second, submission included. Aim: ≥ 200/s
// on 2 cores.
func BenchmarkJobThroughput(b *testing.B) {
	const jobs, clients = 1000, 16
	t := startJobServer(b, "cpus=8", `{"vmSize": "STANDARD_DS1_V2", "scaleSettings": {"minNodeCount": 4, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT10M"}}`)
	for t.nodes(b) < 4 {
		time.Sleep(time.Millisecond)
	}
	round := 0
	var total, cpu time.Duration
	for b.Loop() {
		round++
		base := t.ended(b)
		parts0 := t.cpuParts()
		cpu0 := parts0.total()
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > jobs {
						return
					}
					t.submit(b, fmt.Sprintf("r%d_job_%d", round, i), "true")
				}
			}()
		}
		wg.Wait()
		submitted := time.Since(start)
		t.awaitEnded(b, base+jobs)
		elapsed := time.Since(start)
		total += elapsed
		parts := t.cpuParts()
		cpu += parts.total() - cpu0
		if os.Getenv("MLW_BENCH_VERBOSE") != "" {
			per := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000/jobs) }
			b.Logf("CPU per job: this process (server and clients) %s user + %s sys; reaped children %s; node agents and their jobs %s user + %s sys",
				per(parts.selfUser-parts0.selfUser), per(parts.selfSys-parts0.selfSys), per(parts.children-parts0.children),
				per(parts.agentUser-parts0.agentUser), per(parts.agentSys-parts0.agentSys))
		}
		b.ReportMetric(float64(jobs)/submitted.Seconds(), "submitted/s")
	}
	var failed int
	if err := t.db.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'job' AND state <> 'Completed'`).Scan(&failed); err != nil {
		b.Fatal(err)
	}
	if failed > 0 {
		var st string
		_ = t.db.QueryRow(`SELECT status FROM resources WHERE kind = 'job' AND state <> 'Completed' LIMIT 1`).Scan(&st)
		var s map[string]any
		_ = json.Unmarshal([]byte(st), &s)
		b.Fatalf("%d jobs did not complete: %v", failed, s)
	}
	b.ReportMetric(float64(jobs*round)/total.Seconds(), "jobs/s")
	// What the work costs, whatever else the machine runs: CPU time of
	// the server, the clients and every job process, per job; and what
	// two cores could do at that cost.
	perJob := cpu / time.Duration(jobs*round)
	b.ReportMetric(float64(perJob.Microseconds())/1000, "cpu-ms/job")
	b.ReportMetric(2/perJob.Seconds(), "jobs/s-at-2-cores")
}

// cpuParts is the CPU time of this process and its reaped children, plus
// that of the server's node agents and the jobs they ran (the agents live
// on, so their time is not in RUSAGE_CHILDREN).
type cpuParts struct {
	selfUser, selfSys, children, agentUser, agentSys time.Duration
}

func (p cpuParts) total() time.Duration {
	return p.selfUser + p.selfSys + p.children + p.agentUser + p.agentSys
}

func (t *jobTarget) cpuParts() cpuParts {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	p := cpuParts{selfUser: tv(self.Utime), selfSys: tv(self.Stime), children: tv(children.Utime) + tv(children.Stime)}
	agents, _ := filepath.Glob(filepath.Join(t.dir, "cluster", "nodes", "*", "agent.pid"))
	for _, a := range agents {
		b, err := os.ReadFile(a)
		if err != nil {
			continue
		}
		pid := strings.Fields(string(b))[0]
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
		// utime, stime, cutime, cstime: fields 14-17 of stat, in clock ticks.
		ticks := func(v string) time.Duration {
			n, _ := strconv.ParseInt(v, 10, 64)
			return time.Duration(n) * time.Second / 100
		}
		p.agentUser += ticks(f[11]) + ticks(f[13])
		p.agentSys += ticks(f[12]) + ticks(f[14])
	}
	return p
}

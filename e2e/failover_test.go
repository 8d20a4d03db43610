package e2e

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// TestFailoverPostgres: two replicas share one PostgreSQL database and
// one data directory. Both serve the API; the first leads. With 200 jobs
// submitted through both, queued and running, the leader is killed
// (SIGKILL): the other takes the lease over and every job reaches
// Completed, each having run exactly once, read through the survivor.
func TestFailoverPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	a := StartServer(t, Options{Database: dsn})
	a.AwaitLog(t, "leading: reconcilers started")
	ea := newJobsEnv(t, a)
	ea.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2",
		"scaleSettings": map[string]any{"maxNodeCount": 4, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT60S"}})
	b := StartServer(t, Options{Database: dsn, DataDir: a.Dir})
	eb := &jobsEnv{s: b, ws: ea.ws, rg: ea.rg, name: ea.name}
	t.Cleanup(func() { stopAndKillJobs(b) })
	require.NotContains(t, b.Log(), "leading: reconcilers started", "one leader at a time")

	const n = 200
	name := func(i int) string { return fmt.Sprintf("ha_%03d", i) }
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Server{a, b}[i%2]
			body := map[string]any{"properties": map[string]any{"jobType": "Command", "command": `echo "ran $AZUREML_RUN_ID"; sleep 0.2`,
				"environmentId": "azureml:AzureML-sklearn-1.5@latest", "computeId": "c1"}}
			if r := s.Do(t, http.MethodPut, ea.ws+"/jobs/"+name(i), body); r.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("%s through replica %d: %v", name(i), i%2, r)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Kill the leader while jobs run and others wait.
	count := func(s *Server, status string) int {
		r := s.Do(t, http.MethodGet, ea.ws+"/jobs?$top=500", nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		k := 0
		for _, j := range r.JSON(t)["value"].([]any) {
			if jobStatus(j.(map[string]any)) == status {
				k++
			}
		}
		return k
	}
	Await(t, "some jobs to complete", func() error {
		if count(b, "Completed") < 20 {
			return errNotYet
		}
		return nil
	})
	done := count(b, "Completed")
	killed := time.Now()
	a.Kill()
	b.AwaitLog(t, "leading: reconcilers started")
	led := time.Since(killed)
	Await(t, "a job to complete under the new leader", func() error {
		if count(b, "Completed") <= done {
			return errNotYet
		}
		return nil
	})
	t.Logf("failover: leader killed with %d of %d jobs completed; the other replica led after %v, and a job completed %v after the kill",
		done, n, led.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	for i := range n {
		eb.awaitJob(t, name(i), "Completed")
	}
	for i := range n {
		require.Equal(t, 1, strings.Count(eb.userLog(t, name(i)), "ran "+name(i)+"\n"), "%s ran exactly once", name(i))
	}
}

// BenchmarkJobsThroughReplicas: 1,000 trivial jobs submitted by 16
// clients, through one replica on PostgreSQL and through two (alternating)
// on one database and data directory, until all have completed, on a
// 4-node cluster. Not in the default suite (go test -bench).
//
//	go test -run '^$' -bench JobsThroughReplicas -benchtime 1x ./e2e/
func BenchmarkJobsThroughReplicas(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			dsn := pgtest.URL(b)
			db, err := sql.Open("pgx", dsn) // to count completed jobs cheaply
			require.NoError(b, err)
			b.Cleanup(func() { db.Close() })
			env := []string{"MLW_NODE_CAPACITY=cpus=8"}
			srv := []*Server{StartServer(b, Options{Database: dsn, Env: env})}
			srv[0].AwaitLog(b, "leading: reconcilers started")
			b.Cleanup(func() { stopAndKillJobs(srv[0]) })
			srv[0].MustRun(b, "group", "create", "-n", "rg-b", "-l", "eastus")
			srv[0].MustRun(b, "workspace", "create", "-n", "ws-b", "-g", "rg-b")
			ws := srv[0].WorkspacePath("rg-b", "ws-b")
			r := srv[0].Do(b, http.MethodPut, ws+"/computes/c1", map[string]any{"location": "eastus", "properties": map[string]any{
				"computeType": "AmlCompute", "properties": map[string]any{"vmSize": "STANDARD_DS1_V2",
					"scaleSettings": map[string]any{"maxNodeCount": 4, "minNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT10M"}}}})
			require.Contains(b, []int{http.StatusOK, http.StatusCreated}, r.StatusCode, r)
			if replicas == 2 {
				s2 := StartServer(b, Options{Database: dsn, DataDir: srv[0].Dir, Env: env})
				b.Cleanup(func() { stopAndKillJobs(s2) })
				srv = append(srv, s2)
			}
			const jobs, clients = 1000, 16
			round := 0
			var total time.Duration
			for b.Loop() {
				round++
				start := time.Now()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1); i <= jobs; i = next.Add(1) {
							s := srv[int(i)%len(srv)]
							body := map[string]any{"properties": map[string]any{"jobType": "Command", "command": "true",
								"environmentId": "azureml:AzureML-sklearn-1.5@latest", "computeId": "c1"}}
							if r := s.Do(b, http.MethodPut, fmt.Sprintf("%s/jobs/r%d_%d", ws, round, i), body); r.StatusCode != http.StatusCreated {
								b.Errorf("submit: %v", r)
								return
							}
						}
					}()
				}
				wg.Wait()
				deadline := time.Now().Add(10 * time.Minute)
				for {
					var done int
					require.NoError(b, db.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'job' AND state = 'Completed'`).Scan(&done))
					if done >= jobs*round {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("jobs did not complete within 10 minutes")
					}
					time.Sleep(100 * time.Millisecond)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(jobs*round)/total.Seconds(), "jobs/s")
		})
	}
}

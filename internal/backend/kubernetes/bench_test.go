package kubernetes_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/kubernetes"
	"github.com/mlw-project/mlw/internal/backend/kubernetes/ktest"
)

// BenchmarkKwokJobs: one-pod Jobs submitted through the client from 16
// goroutines to a real control plane with 10 kwok nodes, until every Job
// is Complete (the Job controller made its pod, the scheduler bound it,
// kwok ran it to Succeeded, the controller saw that). Reports Jobs per
// second end to end.
//
//	go test -run '^$' -bench KwokJobs -benchtime 1x ./internal/backend/kubernetes/
func BenchmarkKwokJobs(b *testing.B) {
	var nodes []ktest.Node
	for i := range 10 {
		nodes = append(nodes, ktest.Node{Name: fmt.Sprintf("kwok-%d", i), CPU: "32", Memory: "256Gi"})
	}
	cl := ktest.Start(b, nodes...)
	ctx := context.Background()
	c, err := kubernetes.New(cl.Kubeconfig, "default")
	if err != nil {
		b.Fatal(err)
	}
	for c.Check(ctx) != nil {
		time.Sleep(100 * time.Millisecond)
	}
	const jobs = 500
	round := 0
	var total time.Duration
	for b.Loop() {
		round++
		start := time.Now()
		names := make(chan string, jobs)
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < jobs; i += 16 {
					uid := fmt.Sprintf("r%d-%d", round, i)
					spec := &kubernetes.JobSpec{Name: kubernetes.JobName(uid, 1), JobName: uid, JobUID: uid, Attempt: 1, Image: "img",
						Command: "true", Nodes: 1, PerNode: backend.Resources{MilliCPU: 100}}
					if err := c.Submit(ctx, spec); err != nil {
						b.Error(err)
						return
					}
					names <- spec.Name
				}
			}()
		}
		wg.Wait()
		close(names)
		want := map[string]bool{}
		for name := range names {
			want[name] = true
		}
		for len(want) > 0 {
			states, err := c.States(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for name := range want {
				if states[name].Kind == kubernetes.Completed {
					delete(want, name)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(jobs*round)/total.Seconds(), "jobs/s")
}

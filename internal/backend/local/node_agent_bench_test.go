package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
)

// agentCPU is the CPU time of a node's agent and the jobs it reaped.
func agentCPU(c *Cluster, node string) time.Duration {
	pid, _, ok := c.agentPID(node)
	if !ok {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
	var total time.Duration
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += time.Duration(n) * time.Second / 100
	}
	return total
}

// BenchmarkNodeAgentJob runs trivial jobs (`true`, with an environment
// the size of a job's) one after another on one node's agent, and reports
// the agent's CPU time per job: its fork of the job's subshell, the job's
// shell and the files both write. It is the part of a job's cost that no
// server change reaches (see bench/README.md).
func BenchmarkNodeAgentJob(b *testing.B) {
	dir := b.TempDir()
	c := NewCluster(filepath.Join(dir, "cluster"), backend.Resources{})
	node := "n-bench-agent"
	ctx := context.Background()
	if _, err := c.StartNode(ctx, backend.NodeSpec{ID: node, Limits: backend.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.StopNode(ctx, node) })
	env := os.Environ()
	for i := range 15 {
		env = append(env, fmt.Sprintf("AZUREML_VAR_%d=some value of variable %d", i, i))
	}
	cpu0 := agentCPU(c, node)
	i := 0
	for b.Loop() {
		i++
		id := "p" + strconv.Itoa(i)
		h, err := c.Start(ctx, backend.ProcessSpec{ID: id, Node: node, Command: "true", Dir: dir, Env: env, Log: filepath.Join(dir, "logs", id+".txt")})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Wait(ctx, h); err != nil {
			b.Fatal(err)
		}
		if err := c.Release(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((agentCPU(c, node)-cpu0).Microseconds())/1000/float64(i), "agent-cpu-ms/job")
}

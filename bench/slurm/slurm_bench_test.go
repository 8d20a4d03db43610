// Package slurmbench measures plain Slurm on this machine, the baseline
// that mlw on Slurm is to be compared with (docs/slurm.md): how long
// `sbatch` takes to start a batch script, and how many trivial jobs a
// single-node cluster runs per second. It needs a running Slurm
// (scripts/setup-slurm.sh); without sbatch the benchmarks are skipped.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/slurm/
package slurmbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/backend/slurm"
)

// startJobs is the number of jobs of a latency run: 50, or
// MLW_BENCH_SLURM_STARTS.
func startJobs() int {
	if v, err := strconv.Atoi(os.Getenv("MLW_BENCH_SLURM_STARTS")); err == nil && v > 0 {
		return v
	}
	return 50
}

// throughputJobs is the number of jobs of a throughput run: 200, or
// MLW_BENCH_SLURM_JOBS.
func throughputJobs() int {
	if v, err := strconv.Atoi(os.Getenv("MLW_BENCH_SLURM_JOBS")); err == nil && v > 0 {
		return v
	}
	return 200
}

func requireSlurm(b *testing.B) {
	b.Helper()
	if _, err := exec.LookPath("sbatch"); err != nil {
		b.Skip("sbatch is not installed: run scripts/setup-slurm.sh (as root)")
	}
	if err := exec.Command("sinfo", "-h").Run(); err != nil {
		b.Skipf("Slurm does not answer (%v): run scripts/setup-slurm.sh", err)
	}
}

func tag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sbatch submits script as a user would, and returns the job id.
func sbatch(b *testing.B, script string, args ...string) string {
	b.Helper()
	cmd := exec.Command("sbatch", append([]string{"--parsable"}, args...)...)
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("sbatch: %v: %s", err, stderr.String())
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	return id
}

// active reports whether any of ids is pending, running or completing.
func active(b *testing.B, ids ...string) bool {
	b.Helper()
	out, err := exec.Command("squeue", "-h", "-t", "PD,CF,R,CG", "-j", strings.Join(ids, ","), "-o", "%i").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && bytes.Contains(ee.Stderr, []byte("Invalid job id")) {
		return false // slurmctld has forgotten them all
	}
	if err != nil {
		b.Fatalf("squeue: %v", err)
	}
	return len(bytes.TrimSpace(out)) > 0
}

// startedAt waits for the file a job's script writes $EPOCHREALTIME to as
// its first command, and returns that time.
func startedAt(b *testing.B, path string) time.Time {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		data, err := os.ReadFile(path)
		if err == nil && bytes.HasSuffix(data, []byte("\n")) {
			sec, frac, _ := strings.Cut(strings.TrimSpace(string(data)), ".")
			s, err1 := strconv.ParseInt(sec, 10, 64)
			us, err2 := strconv.ParseInt((frac + "000000")[:6], 10, 64)
			if err1 != nil || err2 != nil {
				b.Fatalf("%s holds %q", path, data)
			}
			return time.Unix(s, us*1000)
		}
		if time.Now().After(deadline) {
			b.Fatalf("no job wrote %s", path)
		}
		time.Sleep(time.Millisecond)
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkSbatchStart: `sbatch` → the batch script's first command, one
// job at a time, each waited to its end so that every job finds the node
// free (what a user submitting one job sees). slurmctld starts batch jobs
// in a scheduling pass about once a second (docs/slurm.md), so the figure
// depends on when in that second a job arrives: back-to-back submits each
// job right after the previous one ended, which always lands just after a
// pass (the worst case, and what a script submitting jobs in a loop
// sees); random-phase waits a random fraction of a second first (what
// independent users see).
func BenchmarkSbatchStart(b *testing.B) {
	requireSlurm(b)
	for _, mode := range []string{"back-to-back", "random-phase"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			name := "bench-start-" + tag()
			for b.Loop() {
				var lat []time.Duration
				for i := range startJobs() {
					if mode == "random-phase" {
						time.Sleep(time.Duration(mrand.Int64N(int64(time.Second))))
					}
					mark := filepath.Join(dir, fmt.Sprintf("start-%d", i))
					script := fmt.Sprintf("#!/bin/bash\necho $EPOCHREALTIME > %s\n", mark)
					t0 := time.Now()
					id := sbatch(b, script, "--job-name="+name, "--output=/dev/null", "--mem=50M")
					lat = append(lat, startedAt(b, mark).Sub(t0))
					for active(b, id) {
						time.Sleep(20 * time.Millisecond)
					}
				}
				report(b, lat)
			}
		})
	}
}

func report(b *testing.B, lat []time.Duration) {
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(slices.Min(lat)), "min-ms")
}

// BenchmarkClientStart is BenchmarkSbatchStart through mlw's Slurm client
// (slurm.Client.Submit: the same sbatch, with the job's environment, its
// resources and output file spelled out), back to back, to show what the
// client adds.
func BenchmarkClientStart(b *testing.B) {
	requireSlurm(b)
	dir := b.TempDir()
	c := slurm.New(slurm.ExecRunner{})
	name := "bench-client-" + tag()
	ctx := context.Background()
	for b.Loop() {
		var lat []time.Duration
		for i := range startJobs() {
			mark := filepath.Join(dir, fmt.Sprintf("start-%d", i))
			t0 := time.Now()
			id, err := c.Submit(ctx, slurm.JobSpec{Name: name, Script: fmt.Sprintf("#!/bin/bash\necho $EPOCHREALTIME > %s\n", mark),
				Output: "/dev/null", WorkDir: dir, Resources: slurm.Resources{CPUsPerTask: 1, MemoryMB: 50}})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, startedAt(b, mark).Sub(t0))
			for active(b, id) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		report(b, lat)
	}
}

// BenchmarkSbatchThroughput: 200 trivial jobs (`true`, one CPU and 50 MiB
// each) submitted one after another with sbatch, until the last has
// ended; jobs/s counts from the first submission.
func BenchmarkSbatchThroughput(b *testing.B) {
	requireSlurm(b)
	name := "bench-tp-" + tag()
	throughputJobs := throughputJobs()
	for b.Loop() {
		ids := make([]string, 0, throughputJobs)
		t0 := time.Now()
		for range throughputJobs {
			ids = append(ids, sbatch(b, "#!/bin/bash\ntrue\n", "--job-name="+name, "--output=/dev/null", "--mem=50M"))
		}
		submitted := time.Since(t0)
		for active(b, ids...) {
			time.Sleep(50 * time.Millisecond)
		}
		elapsed := time.Since(t0)
		// Every job must have completed: ask the completion log.
		out, err := exec.Command("sacct", "-c", "-n", "-P", "-o", "state", "-j", strings.Join(ids, ",")).Output()
		if err != nil {
			b.Fatalf("sacct -c: %v", err)
		}
		states := strings.Fields(string(out))
		if n := strings.Count(string(out), "COMPLETED"); n != throughputJobs {
			b.Fatalf("%d of %d jobs completed: %v", n, throughputJobs, states)
		}
		b.ReportMetric(float64(throughputJobs)/elapsed.Seconds(), "jobs/s")
		b.ReportMetric(float64(throughputJobs)/submitted.Seconds(), "submitted/s")
	}
}

package bench

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/server"
)

// Benchmarks of mlw on Slurm (docs/benchmarks.md): the same jobs as
// BenchmarkJobStartWarm and BenchmarkJobThroughput, on a cluster backed by
// the real Slurm that scripts/setup-slurm.sh starts, to be read beside
// bench/slurm's plain sbatch figures from the same session. They need root
// (jobs run as nobody through sbatch --uid) and are skipped without Slurm.

// startSlurmJobServer is startJobServer with a Slurm-backed cluster of
// 1-vCPU nodes (STANDARD_DS1_V2, as the local benchmarks), letting up to
// 48 of mlw's jobs into Slurm at once (the family's default quota).
func startSlurmJobServer(b *testing.B) *jobTarget {
	b.Helper()
	if _, err := exec.LookPath("sbatch"); err != nil {
		b.Skip("sbatch is not installed: run scripts/setup-slurm.sh (as root)")
	}
	if err := exec.Command("sinfo", "-h").Run(); err != nil {
		b.Skipf("Slurm does not answer (%v): run scripts/setup-slurm.sh", err)
	}
	if os.Geteuid() != 0 {
		b.Skip("mlw submits as the job's account (sbatch --uid): run as root")
	}
	shared := b.TempDir()
	for d := shared; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			b.Fatal(err)
		}
	}
	b.Setenv(server.SlurmSharedDirEnv, shared)
	b.Setenv(server.SlurmAccountsEnv, "*=nobody")
	return startJobServer(b, "", `{"vmSize": "STANDARD_DS1_V2", "scaleSettings": {"maxNodeCount": 48}, "backend": {"type": "slurm"}}`)
}

// percentile is the nearest-rank percentile, as bench/slurm reports
// plain sbatch's.
func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// slurmSubmitted is when mlw ran sbatch for a job (its status).
func (t *jobTarget) slurmSubmitted(b *testing.B, name string) time.Time {
	var raw string
	if err := t.db.QueryRow(`SELECT status FROM resources WHERE kind = 'job' AND name = $1`, name).Scan(&raw); err != nil {
		b.Fatal(err)
	}
	var st struct {
		Slurm struct {
			Submitted time.Time `json:"submitted"`
		} `json:"slurm"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Slurm.Submitted.IsZero() {
		b.Fatalf("job %s: no Slurm submission in its status (%v): %s", name, err, raw)
	}
	return st.Slurm.Submitted
}

// BenchmarkSlurmJobStart: job PUT → the user's command started
// ($EPOCHREALTIME) on a Slurm-backed cluster, one job at a time, each
// followed to its end through the log stream. Like bench/slurm's
// BenchmarkSbatchStart, back-to-back submits as soon as the previous job
// ended (for mlw: when the stream ends, which is later in slurmctld's 1 s
// pass than sbatch's back-to-back, so it is not the same phase), and
// random-phase waits a random fraction of a second first: the fair
// comparison. 50 jobs each, or MLW_BENCH_SLURM_STARTS. mlw-ms is mlw's own part (PUT → sbatch run, from the job's
// status), slurm-ms the rest (sbatch → the command's start).
func BenchmarkSlurmJobStart(b *testing.B) {
	starts := 50
	if v, err := strconv.Atoi(os.Getenv("MLW_BENCH_SLURM_STARTS")); err == nil && v > 0 {
		starts = v
	}
	t := startSlurmJobServer(b)
	for _, mode := range []string{"back-to-back", "random-phase"} {
		b.Run(mode, func(b *testing.B) {
			n := 0
			for b.Loop() {
				var lat, own, rest []time.Duration
				for range starts {
					n++
					if mode == "random-phase" {
						time.Sleep(time.Duration(mrand.Int64N(int64(time.Second))))
					}
					name := fmt.Sprintf("slurm_%s_%d", mode[:4], n)
					start := time.Now()
					t.submit(b, name, `echo START $EPOCHREALTIME`)
					began := t.follow(b, name)
					sub := t.slurmSubmitted(b, name)
					lat, own, rest = append(lat, began.Sub(start)), append(own, sub.Sub(start)), append(rest, began.Sub(sub))
				}
				b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
				b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
				b.ReportMetric(ms(percentile(own, 0.5)), "mlw-p50-ms")
				b.ReportMetric(ms(percentile(own, 0.99)), "mlw-p99-ms")
				b.ReportMetric(ms(percentile(rest, 0.5)), "slurm-p50-ms")
			}
		})
	}
}

// BenchmarkSlurmJobThroughput: trivial jobs (`true`) from 16 concurrent
// clients through a Slurm-backed cluster until all have ended (200, or
// MLW_BENCH_SLURM_JOBS), as BenchmarkJobThroughput does on the local
// backend; jobs/s counts from the first PUT.
func BenchmarkSlurmJobThroughput(b *testing.B) {
	jobs := 200
	if v, err := strconv.Atoi(os.Getenv("MLW_BENCH_SLURM_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	const clients = 16
	t := startSlurmJobServer(b)
	round := 0
	for b.Loop() {
		round++
		base := t.ended(b)
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(jobs) {
						return
					}
					t.submit(b, fmt.Sprintf("r%d_slurm_%d", round, i), "true")
				}
			}()
		}
		wg.Wait()
		submitted := time.Since(start)
		deadline := time.Now().Add(time.Duration(jobs) * time.Second * 2)
		for t.ended(b) < base+jobs {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d jobs ended", t.ended(b)-base, jobs)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.ReportMetric(float64(jobs)/time.Since(start).Seconds(), "jobs/s")
		b.ReportMetric(float64(jobs)/submitted.Seconds(), "submitted/s")
	}
	var failed int
	if err := t.db.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'job' AND state <> 'Completed'`).Scan(&failed); err != nil {
		b.Fatal(err)
	}
	if failed > 0 {
		b.Fatalf("%d jobs did not complete", failed)
	}
}

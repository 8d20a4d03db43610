// Command record runs a fixed scenario against the real single-node Slurm
// that scripts/setup-slurm.sh starts, through the slurm package's client,
// and writes every command the client ran, with its exit code, stdout and
// stderr, to testdata/<step>.rec. The package's unit tests replay those
// recordings. It cancels jobs, drains and downs the node, and switches the
// configuration to --no-cgroup and back: run it only on a test cluster.
//
//	go run ./internal/backend/slurm/testdata/record   (as root, from the module root)
//
// Jobs are named after what the unit tests expect of them
// ("rec-failed-3": Failed with exit code 3), so that the tests do not
// depend on the job ids of one recording.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/backend/slurm"
)

const outDir = "internal/backend/slurm/testdata"

// recorder runs commands and keeps them for the step being recorded.
type recorder struct {
	mu      sync.Mutex
	entries []string
	on      bool
}

func (r *recorder) Run(ctx context.Context, c slurm.Command) ([]byte, error) {
	out, err := slurm.ExecRunner{}.Run(ctx, c)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return out, err
	}
	code, stderr := 0, ""
	var ce *slurm.CommandError
	if errors.As(err, &ce) {
		// CommandError's message is stderr, or stdout when stderr was
		// empty.
		code = ce.ExitCode
		if ce.Message != strings.TrimSpace(string(out)) {
			stderr = ce.Message + "\n"
		}
	} else if err != nil {
		log.Fatalf("%s: %v", c, err)
	}
	var b strings.Builder
	b.WriteString("== run\n")
	for _, a := range append([]string{c.Name}, c.Args...) {
		b.WriteString(a + "\n")
	}
	fmt.Fprintf(&b, "== exit %d\n== stdout\n%s", code, out)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "== stderr\n%s", stderr)
	r.entries = append(r.entries, b.String())
	return out, err
}

// step records what fn runs as testdata/<name>.rec.
func (r *recorder) step(name string, fn func()) {
	r.mu.Lock()
	r.entries, r.on = nil, true
	r.mu.Unlock()
	fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	head := fmt.Sprintf("# Recorded by testdata/record from %s on %s.\n", slurmVersion(), time.Now().UTC().Format("2006-01-02"))
	if err := os.WriteFile(filepath.Join(outDir, name+".rec"), []byte(head+strings.Join(r.entries, "")), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("recorded %s (%d commands)", name, len(r.entries))
}

func slurmVersion() string {
	out, _ := exec.Command("sinfo", "--version").Output()
	return strings.TrimSpace(string(out))
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func sh(args ...string) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%v: %v", args, err)
	}
}

type scenario struct {
	ctx  context.Context
	rec  *recorder
	c    *slurm.Client
	dir  string
	part string
}

func (s *scenario) submit(name, script string, mod func(*slurm.JobSpec)) string {
	spec := slurm.JobSpec{Name: name, Script: "#!/bin/bash\n" + script + "\n", WorkDir: s.dir,
		Output: filepath.Join(s.dir, name+".out"), Resources: slurm.Resources{CPUsPerTask: 1, MemoryMB: 100},
		Env: []string{"HOME=" + s.dir}}
	if mod != nil {
		mod(&spec)
	}
	return must(s.c.Submit(s.ctx, spec))
}

// await polls (unrecorded) until every job satisfies ok.
func (s *scenario) await(what string, ids []string, ok func(slurm.Job) bool) {
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		jobs := must(s.c.Jobs(s.ctx, ids))
		all := true
		for _, id := range ids {
			if j, found := jobs[id]; !found || !ok(j) {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	log.Fatalf("timed out waiting for %s", what)
}

func (s *scenario) nodeState(want string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		p := must(s.c.Partition(s.ctx, s.part))
		if len(p.Nodes) == 1 && p.Nodes[0].SlurmState == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log.Fatalf("node never %s", want)
}

func main() {
	log.SetFlags(0)
	if _, err := os.Stat(outDir); err != nil {
		log.Fatal("run from the module root: ", err)
	}
	ctx := context.Background()
	rec := &recorder{}
	dir := must(os.MkdirTemp("", "slurm-record-"))
	defer os.RemoveAll(dir)
	must(0, os.Chmod(dir, 0o777))
	s := &scenario{ctx: ctx, rec: rec, c: slurm.New(rec), dir: dir}
	sh("scripts/setup-slurm.sh")
	host := strings.TrimSpace(string(must(exec.Command("hostname", "-s").Output())))
	s.part = must(s.c.Partition(ctx, "")).Name

	blocker := s.recordSubmissions()
	ended := s.recordOutcomes()
	nodefail := s.recordNodeStates(host)
	s.recordHistory(append(append([]string(nil), ended...), nodefail))
	omk := s.recordOverMemoryKill()
	log.Printf("done: jobs %s to %s", blocker, omk)
}

// recordSubmissions records the partition, submission errors, and pending
// and running jobs (a job on every CPU, two behind it); it returns the
// first job's id.
func (s *scenario) recordSubmissions() string {
	ctx, rec := s.ctx, s.rec
	rec.step("partition-idle", func() { must(s.c.Partition(ctx, s.part)) })
	rec.step("partition-default", func() { must(s.c.Partition(ctx, "")) })
	rec.step("partition-missing", func() { _, _ = s.c.Partition(ctx, "no-such-partition") })

	// Submission errors.
	rec.step("sbatch-gres", func() {
		_, _ = s.c.Submit(ctx, slurm.JobSpec{Name: "rec-gres", Script: "#!/bin/sh\ntrue\n", Resources: slurm.Resources{GPUsPerNode: 1}})
	})
	rec.step("sbatch-no-partition", func() {
		_, _ = s.c.Submit(ctx, slurm.JobSpec{Name: "rec-nopart", Partition: "no-such-partition", Script: "#!/bin/sh\ntrue\n"})
	})
	rec.step("sbatch-unknown-uid", func() {
		_, _ = s.c.Submit(ctx, slurm.JobSpec{Name: "rec-uid", Script: "#!/bin/sh\ntrue\n", UID: 1999999999, GID: 1999999999})
	})

	cpus := must(s.c.Partition(ctx, s.part)).Nodes[0].CPUs
	var blocker string
	rec.step("sbatch", func() {
		blocker = s.submit("rec-running", "echo started; sleep 120", func(j *slurm.JobSpec) {
			j.Resources.CPUsPerTask = cpus
			j.Comment = "mlw job | with spaces"
			j.TimeLimit = 10 * time.Minute
		})
	})
	res := s.submit("rec-pending-resources", "true", nil)
	prio := s.submit("rec-pending-priority", "true", nil)
	s.await("the blocker to run", []string{blocker}, func(j slurm.Job) bool { return j.Status.Kind == slurm.Running })
	s.await("pending reasons", []string{res, prio}, func(j slurm.Job) bool { return j.Status.Reason != "" })
	rec.step("jobs-active", func() { must(s.c.Jobs(ctx, []string{blocker, res, prio})) })
	rec.step("show-running", func() { must(s.c.Show(ctx, blocker)) })
	rec.step("partition-busy", func() { must(s.c.Partition(ctx, s.part)) })
	rec.step("find-running", func() { must(s.c.FindByName(ctx, "rec-running")) })
	rec.step("cancel", func() { must(0, s.c.Cancel(ctx, blocker, res, prio)) })
	s.await("cancels", []string{blocker, res, prio}, func(j slurm.Job) bool { return j.Status.Kind.Ended() })
	return blocker
}

// recordOutcomes records every way a job ends. The time limit takes a
// minute or more; the others are submitted so that all end together,
// before slurmctld forgets any. It returns the jobs' ids.
func (s *scenario) recordOutcomes() []string {
	ctx, rec := s.ctx, s.rec
	timeout := s.submit("rec-timeout", "echo started; sleep 600", func(j *slurm.JobSpec) { j.TimeLimit = time.Minute })
	s.await("the timeout job to run", []string{timeout}, func(j slurm.Job) bool { return j.Status.Kind == slurm.Running })
	start := must(s.c.Job(ctx, timeout)).Started
	time.Sleep(time.Until(start.Add(55 * time.Second)))
	ended := []string{timeout,
		s.submit("rec-completed-0", "echo ok", nil),
		s.submit("rec-failed-3", "exit 3", nil),
		s.submit("rec-failed-127", "no-such-command-here", nil),
		s.submit("rec-failed-139", "kill -SEGV $$", nil),
		s.submit("rec-outofmemory", `python3 -c 'import time; b = b"x" * (400 << 20); time.sleep(30)'`, nil),
	}
	cancelled := s.submit("rec-cancelled", "sleep 300", nil)
	s.await("the job to cancel to run", []string{cancelled}, func(j slurm.Job) bool { return j.Status.Kind == slurm.Running })
	must(0, s.c.Cancel(ctx, cancelled))
	ended = append(ended, cancelled)
	s.await("every outcome", ended, func(j slurm.Job) bool { return j.Status.Kind.Ended() })
	rec.step("jobs-ended", func() { must(s.c.Jobs(ctx, ended)) })
	rec.step("show-failed", func() { must(s.c.Show(ctx, ended[2])) })
	return ended
}

// recordNodeStates records a node failing under a job that may not
// requeue, then draining and drained; it returns the node-failed job.
func (s *scenario) recordNodeStates(host string) string {
	ctx, rec := s.ctx, s.rec
	// slurmd is stopped first: with ReturnToService=2 a node whose slurmd
	// answers comes straight back.
	nodefail := s.submit("rec-nodefail", "sleep 300", nil)
	s.await("the node-fail job to run", []string{nodefail}, func(j slurm.Job) bool { return j.Status.Kind == slurm.Running })
	sh("sh", "-c", "kill $(cat /run/slurm/slurmd.pid)")
	sh("scontrol", "update", "nodename="+host, "state=down", "reason=recorded down")
	s.await("node failure", []string{nodefail}, func(j slurm.Job) bool { return j.Status.Kind.Ended() })
	s.nodeState("down")
	rec.step("partition-down", func() { must(s.c.Partition(ctx, s.part)) })
	rec.step("jobs-nodefail", func() { must(s.c.Jobs(ctx, []string{nodefail})) })
	sh("scripts/setup-slurm.sh") // starts slurmd again; the node returns
	s.nodeState("idle")

	drainJob := s.submit("rec-drain", "sleep 300", nil)
	s.await("the drain job to run", []string{drainJob}, func(j slurm.Job) bool { return j.Status.Kind == slurm.Running })
	sh("scontrol", "update", "nodename="+host, "state=drain", "reason=recorded drain")
	rec.step("partition-draining", func() { must(s.c.Partition(ctx, s.part)) })
	must(0, s.c.Cancel(ctx, drainJob))
	s.nodeState("drained")
	rec.step("partition-drained", func() { must(s.c.Partition(ctx, s.part)) })
	sh("scontrol", "update", "nodename="+host, "state=resume")
	s.nodeState("idle")
	return nodefail
}

// recordHistory records what sacct -c answers once slurmctld has
// forgotten the jobs.
func (s *scenario) recordHistory(all []string) {
	ctx, rec := s.ctx, s.rec
	log.Printf("waiting for slurmctld to forget jobs %v (MinJobAge)", all)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := s.c.Show(ctx, all[len(all)-1]); errors.Is(err, slurm.ErrNoJob) {
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("slurmctld never forgot the jobs")
		}
		time.Sleep(2 * time.Second)
	}
	rec.step("jobs-history", func() { must(s.c.Jobs(ctx, all)) })
	rec.step("find-history", func() { must(s.c.FindByName(ctx, "rec-failed-3")) })
	rec.step("find-none", func() { must(s.c.FindByName(ctx, "rec-no-such-name")) })
	rec.step("jobs-unknown", func() { must(s.c.Jobs(ctx, []string{"999999"})) })
}

// recordOverMemoryKill records, without cgroups, OverMemoryKill's polling
// kill, which Slurm reports as FAILED, and keeps the job's output.
func (s *scenario) recordOverMemoryKill() string {
	ctx, rec := s.ctx, s.rec
	sh("scripts/setup-slurm.sh", "--no-cgroup")
	omk := s.submit("rec-overmemorykill", `python3 -c 'import time; b = b"x" * (400 << 20); time.sleep(30)'`, nil)
	s.await("the over-memory job", []string{omk}, func(j slurm.Job) bool { return j.Status.Kind.Ended() })
	rec.step("jobs-overmemorykill", func() { must(s.c.Jobs(ctx, []string{omk})) })
	out := must(os.ReadFile(filepath.Join(s.dir, "rec-overmemorykill.out")))
	must(0, os.WriteFile(filepath.Join(outDir, "overmemorykill.out"), out, 0o644))
	sh("scripts/setup-slurm.sh")
	return omk
}

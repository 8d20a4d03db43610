package reconciler

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Slurm is what the job and cluster reconcilers share to run Slurm-backed
// clusters (docs/slurm.md): the batch backend, the shared directory, the
// accounts jobs run as, and one poller that asks Slurm about every
// submitted job at once.
//
// The poller runs while jobs are watched: each pass is one Batch.Jobs
// call (one squeue, plus one sacct -c for jobs slurmctld has forgotten)
// whatever the number of jobs; it copies what the jobs' ranks appended to
// their logs into the jobs' artifacts, where mlw streams logs from, and
// enqueues a job whose Slurm state changed. Job reconcilers read the last
// answer (State) and never run squeue themselves.
type Slurm struct {
	Batch backend.Batch
	// SharedDir is mounted at the same path on the mlw host and on every
	// node of the partition (MLW_SLURM_SHARED_DIR): jobs' working
	// directories, checkpoints, batch scripts and logs live in its jobs/.
	SharedDir string
	// Accounts maps mlw users (by name or object id; "*" for anyone
	// else) to the account their jobs run as on the cluster
	// (MLW_SLURM_ACCOUNTS). A user without one runs as their mlw host uid
	// if that uid has an account, and is refused otherwise.
	Accounts map[string]string
	// Poll is the poller's period (default 250 ms: Slurm starts jobs
	// once a second, and a poll costs one squeue).
	Poll  time.Duration
	Queue resource.Enqueuer
	// Env prepares Python environments where the nodes see them (the
	// shared directory's envs/; nil: the server's own, which only a
	// single-host setup can use).
	Env EnvPreparer

	mu      sync.Mutex
	watched map[string]*slurmWatch // by Slurm job id
	polling bool
	pollers sync.WaitGroup
	// partitions are the last answers of Batch.Partition, by cluster
	// (each mirrors its own rows) and partition name: a cluster step that a job's arrival or end triggers reuses one younger
	// than slurmMirror instead of running scontrol and sinfo again.
	partitions map[string]cachedPartition
}

type cachedPartition struct {
	p  backend.BatchPartition
	at time.Time
}

// partition reads a partition for a cluster, or returns the last answer
// when it is younger than slurmMirror (fresh is false then).
func (s *Slurm) partition(ctx context.Context, cluster, name string, now time.Time) (p backend.BatchPartition, fresh bool, err error) {
	key := cluster + "\x00" + name
	s.mu.Lock()
	c, ok := s.partitions[key]
	s.mu.Unlock()
	if ok && now.Sub(c.at) >= 0 && now.Sub(c.at) < slurmMirror {
		return c.p, false, nil
	}
	if p, err = s.Batch.Partition(ctx, name); err != nil {
		return p, false, err
	}
	s.mu.Lock()
	if s.partitions == nil {
		s.partitions = map[string]cachedPartition{}
	}
	s.partitions[key] = cachedPartition{p: p, at: now}
	s.mu.Unlock()
	return p, true, nil
}

// slurmWatch is one watched Slurm job: the mlw job's key, what the poller
// last saw, and the logs it copies.
type slurmWatch struct {
	key   string
	ref   backend.BatchRef
	logs  []logCopy
	state backend.BatchState
	seen  bool
}

// logCopy is a log a rank appends to on the shared directory (src) and
// its copy in the job's artifacts (dst).
type logCopy struct{ src, dst string }

func (s *Slurm) period() time.Duration {
	if s.Poll > 0 {
		return s.Poll
	}
	return 250 * time.Millisecond
}

// watch starts watching a Slurm job for the job key (idempotent), and the
// poller if it does not run.
func (s *Slurm) watch(ctx context.Context, key string, ref backend.BatchRef, logs []logCopy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watched == nil {
		s.watched = map[string]*slurmWatch{}
	}
	if _, ok := s.watched[ref.ID]; !ok {
		s.watched[ref.ID] = &slurmWatch{key: key, ref: ref, logs: logs}
	}
	if !s.polling {
		s.polling = true
		s.pollers.Add(1)
		go s.poll(context.WithoutCancel(ctx), ctx.Done())
	}
}

// stopPolling forgets every job and waits for the poller to end (a test's
// cleanup, so that no copy writes into its directories afterwards).
func (s *Slurm) stopPolling() {
	s.mu.Lock()
	s.watched = nil
	s.mu.Unlock()
	s.pollers.Wait()
}

// unwatch stops watching a job (its last logs copied first).
func (s *Slurm) unwatch(id string) {
	s.mu.Lock()
	w := s.watched[id]
	delete(s.watched, id)
	s.mu.Unlock()
	if w != nil {
		copyLogs(w.logs)
	}
}

// State is the poller's last answer for a job (false: not seen yet).
func (s *Slurm) State(id string) (backend.BatchState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watched[id]
	if w == nil || !w.seen {
		return backend.BatchState{}, false
	}
	return w.state, true
}

// poll runs until nothing is watched or done is closed.
func (s *Slurm) poll(ctx context.Context, done <-chan struct{}) {
	defer s.pollers.Done()
	t := time.NewTicker(s.period())
	defer t.Stop()
	for {
		select {
		case <-done:
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
			return
		case <-t.C:
		}
		s.mu.Lock()
		if len(s.watched) == 0 {
			s.polling = false
			s.mu.Unlock()
			return
		}
		refs := make([]backend.BatchRef, 0, len(s.watched))
		var logs []logCopy
		for _, w := range s.watched {
			refs = append(refs, w.ref)
			logs = append(logs, w.logs...)
		}
		s.mu.Unlock()
		copyLogs(logs)
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		states, err := s.Batch.Jobs(qctx, refs)
		cancel()
		if err != nil {
			continue // Slurm does not answer: the next pass asks again
		}
		s.observe(states)
	}
}

// observe records the poller's answer and enqueues the jobs whose state
// changed.
func (s *Slurm) observe(states map[string]backend.BatchState) {
	var changed []string
	s.mu.Lock()
	for id, st := range states {
		w := s.watched[id]
		if w == nil {
			continue
		}
		if !w.seen || w.state.Kind != st.Kind || w.state.State != st.State || w.state.Reason != st.Reason {
			changed = append(changed, w.key)
		}
		w.state, w.seen = st, true
	}
	s.mu.Unlock()
	for _, k := range changed {
		s.Queue.Enqueue(core.KindJob, k)
	}
}

// copyLogs appends to each copy what its source has beyond the copy's
// size: the copy only grows, so a restart resumes where it was.
func copyLogs(logs []logCopy) {
	for _, l := range logs {
		copyLog(l)
	}
}

func copyLog(l logCopy) {
	src, err := os.Open(l.src)
	if err != nil {
		return
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	var have int64
	if di, err := os.Stat(l.dst); err == nil {
		have = di.Size()
	}
	if fi.Size() <= have {
		return
	}
	dst, err := openAppend(l.dst)
	if err != nil {
		return
	}
	defer dst.Close()
	if _, err := src.Seek(have, io.SeekStart); err != nil {
		return
	}
	_, _ = io.CopyN(dst, src, fi.Size()-have)
}

// jobsDir is the shared directory's jobs/.
func (s *Slurm) jobsDir() string { return filepath.Join(s.SharedDir, "jobs") }

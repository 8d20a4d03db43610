package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Scheduler keeps, per compute, the queue of jobs waiting for it in
// submission order, and a lock that serialises scheduling decisions on
// one compute (the cluster reconciler's key already does for clusters; the
// job reconciler takes it for compute instances).
//
// The queue is an index, not the truth: it is loaded from the store (jobs
// with Owner = the compute and State = Queued) the first time it is
// needed, kept up to date as jobs are queued and assigned, and every
// assignment re-checks the job's row under a version guard. So a restart
// (or a missed update) costs a reload, never a lost or doubled job; and
// the scheduler never lists every job of a cluster on each decision.
type Scheduler struct {
	mu       sync.Mutex
	computes map[string]*computeSched
}

// QueuedJob is one entry of a compute's queue.
type QueuedJob struct {
	Key     string // the job's queue key
	Name    string
	Created time.Time
	// Nodes is how many nodes the job needs (resources.instanceCount).
	Nodes int
}

type computeSched struct {
	lock sync.Mutex // held while scheduling on this compute

	mu     sync.Mutex
	loaded bool
	queue  []QueuedJob
	// pending are jobs pushed while the queue was not loaded: a load that
	// read the store before they were queued merges them.
	pending []QueuedJob
	// maxNodes and shrinking are the cluster's maxNodeCount and whether
	// it has more nodes than that (max was lowered), as the cluster
	// reconciler last saw them (SetSize); 0 and false until then.
	maxNodes  int
	shrinking bool
}

// NewScheduler returns an empty scheduler.
func NewScheduler() *Scheduler { return &Scheduler{computes: map[string]*computeSched{}} }

func (s *Scheduler) get(owner string) *computeSched {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.computes[owner]
	if c == nil {
		c = &computeSched{}
		s.computes[owner] = c
	}
	return c
}

// Lock takes the scheduling lock of a compute; call the result to unlock.
// The cluster reconciler holds it while it assigns nodes, and the job
// reconciler while it hands a freed node to the next job, so that the two
// do not pick the same job (the rows' versions would catch it, at the
// cost of a retry).
func (s *Scheduler) Lock(owner string) func() {
	c := s.get(owner)
	c.lock.Lock()
	return c.lock.Unlock
}

func queuedBefore(ca time.Time, na string, cb time.Time, nb string) bool {
	if !ca.Equal(cb) {
		return ca.Before(cb)
	}
	return na < nb
}

// Push adds a job to a compute's queue (a no-op until the queue is loaded,
// since loading will find it).
func (s *Scheduler) Push(owner string, q QueuedJob) {
	c := s.get(owner)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		c.pending = append(c.pending, q)
		return
	}
	c.insertLocked(q)
}

func (c *computeSched) insertLocked(q QueuedJob) {
	for _, x := range c.queue {
		if x.Key == q.Key {
			return
		}
	}
	i := len(c.queue)
	for i > 0 && queuedBefore(q.Created, q.Name, c.queue[i-1].Created, c.queue[i-1].Name) {
		i--
	}
	c.queue = slices.Insert(c.queue, i, q)
}

// Remove drops a job from a compute's queue.
func (s *Scheduler) Remove(owner, key string) {
	c := s.get(owner)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = slices.DeleteFunc(c.queue, func(x QueuedJob) bool { return x.Key == key })
	c.pending = slices.DeleteFunc(c.pending, func(x QueuedJob) bool { return x.Key == key })
}

// Drop forgets a compute (deleted).
func (s *Scheduler) Drop(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.computes, owner)
}

// Queue returns a compute's queued jobs, oldest first, loading them from
// the store when needed. An empty queue is double-checked against the
// store with a one-row query, so a job queued behind the scheduler's back
// is found.
func (s *Scheduler) Queue(ctx context.Context, st store.Store, owner string) ([]QueuedJob, error) {
	c := s.get(owner)
	c.mu.Lock()
	loaded, n := c.loaded, len(c.queue)
	c.mu.Unlock()
	if loaded && n == 0 {
		probe, err := st.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: owner, State: resource.JobQueued, Limit: 1})
		if err != nil {
			return nil, err
		}
		loaded = len(probe) == 0
	}
	if !loaded {
		jobs, err := st.List(ctx, store.ListOptions{Kind: core.KindJob, Owner: owner, State: resource.JobQueued})
		if err != nil {
			return nil, err
		}
		q := make([]QueuedJob, 0, len(jobs))
		for _, j := range jobs {
			n := 1
			if spec, err := resource.JobSpecOf(j); err == nil {
				n = spec.InstanceCount()
			}
			q = append(q, QueuedJob{Key: resource.Key(j), Name: j.Name, Created: j.CreatedAt, Nodes: n})
		}
		slices.SortStableFunc(q, func(a, b QueuedJob) int {
			if queuedBefore(a.Created, a.Name, b.Created, b.Name) {
				return -1
			}
			if queuedBefore(b.Created, b.Name, a.Created, a.Name) {
				return 1
			}
			return 0
		})
		c.mu.Lock()
		c.queue, c.loaded = q, true
		for _, p := range c.pending {
			c.insertLocked(p)
		}
		c.pending = nil
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.queue), nil
}

// SetSize records a cluster's maxNodeCount and its count of usable nodes,
// for hand-offs (HandOffLimit).
func (s *Scheduler) SetSize(owner string, maxNodes, nodes int) {
	c := s.get(owner)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maxNodes, c.shrinking = maxNodes, nodes > maxNodes
}

// HandOffLimit says whether a node freed on a cluster may go straight to
// a queued job (not while the cluster has more nodes than its max: the
// node must go), and the most nodes a job may get (0: not known yet).
func (s *Scheduler) HandOffLimit(owner string) (ok bool, maxNodes int) {
	c := s.get(owner)
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.shrinking, c.maxNodes
}

// Loaded returns a compute's queued jobs, oldest first, if its queue is
// loaded, without reading the store (nil otherwise).
func (s *Scheduler) Loaded(owner string) []QueuedJob {
	c := s.get(owner)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		return nil
	}
	return slices.Clone(c.queue)
}

// assignJob moves the queued job key to Preparing on nodes, in tx: the
// nodes' rows name the job, the job's row its nodes and a new attempt. It
// reports false, writing nothing, when the job is no longer queued on
// owner (canceled, deleted, or assigned meanwhile). waited is the
// cluster's queue reason (ClusterStatus.QueueReason), which the job's
// Queued phase keeps as why it waited.
func assignJob(ctx context.Context, tx store.Resources, owner, key string, nodes []*resource.Object, now time.Time, waited string) (bool, error) {
	parent, name := resource.ParseKey(key)
	job, err := tx.Get(ctx, core.KindJob, parent, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if job.State != resource.JobQueued || job.Deleting || job.Owner != owner || resource.IntentOf(job.Spec).Cancel != nil {
		return false, nil // a job about to be canceled gets no node
	}
	st := resource.JobStatusOf(job)
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.Name
		ns := resource.NodeStatusOf(n)
		ns.Job = job.Name
		n.Status = resource.Encode(ns)
		n.State = resource.NodeRunning
		n.Owner = key
		if err := tx.Update(ctx, n); err != nil {
			return false, err
		}
	}
	st.Attempt++
	st.Nodes = ids
	st.Procs = nil
	if waited != "" {
		st.Reason = resource.WaitingForNode(waited)
	}
	st.Enter(resource.JobPreparing, now)
	st.Reason = fmt.Sprintf("Preparing on %s (attempt %d).", strings.Join(ids, ", "), st.Attempt)
	job.Status = resource.Encode(st)
	job.State = resource.JobPreparing
	if err := tx.Update(ctx, job); err != nil {
		return false, err
	}
	return true, nil
}

package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/mlw-project/mlw/internal/backend"
)

// Cluster implements backend.Nodes and backend.Processes in memory: nodes
// and processes that exist only in maps, whose processes end when the
// test says so. Real behaviour (processes, cgroups, restarts) is tested
// against the local backend; this one lets the cluster and job
// reconcilers' logic run fast and deterministically.
type Cluster struct {
	mu       sync.Mutex
	capacity backend.Resources
	nodes    map[string]backend.NodeSpec
	procs    map[string]*Process
	// StartNodeErr, when set, is returned by StartNode.
	StartNodeErr error
	// StartErr, when set, is returned by Start.
	StartErr error
	// NoSandbox simulates a host that cannot sandbox: Start of a process
	// with a Sandbox fails with backend.ErrNoSandbox, unless
	// AllowUnsandboxed (the server's --allow-unsandboxed-jobs).
	NoSandbox, AllowUnsandboxed bool

	changed chan struct{}
}

// NewCluster returns an empty fake with the given capacity.
func NewCluster(capacity backend.Resources) *Cluster {
	return &Cluster{capacity: capacity, nodes: map[string]backend.NodeSpec{}, procs: map[string]*Process{}, changed: make(chan struct{})}
}

// notifyLocked wakes everyone waiting for a change.
func (c *Cluster) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change (for tests that
// await a condition on the fake).
func (c *Cluster) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Capacity implements backend.Nodes.
func (c *Cluster) Capacity() backend.Resources { return c.capacity }

// StartNode implements backend.Nodes.
func (c *Cluster) StartNode(ctx context.Context, spec backend.NodeSpec) (backend.NodeInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.StartNodeErr != nil {
		return backend.NodeInfo{}, c.StartNodeErr
	}
	c.nodes[spec.ID] = spec
	c.notifyLocked()
	return backend.NodeInfo{PrivateIP: "10.0.0.1", PublicIP: "10.0.0.1", Port: 50000 + spec.Index, Enforced: true}, nil
}

// StopNode implements backend.Nodes: processes still on the node end.
func (c *Cluster) StopNode(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, id)
	for _, p := range c.procs {
		if p.Spec.Node == id && p.running {
			p.finishLocked(137, "SIGKILL")
		}
	}
	c.notifyLocked()
	return nil
}

// Nodes returns the ids of the nodes that exist, sorted.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.nodes {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// String describes the fake's state for failure messages.
func (c *Cluster) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fmt.Sprintf("nodes %d:", len(c.nodes))
	for id := range c.nodes {
		s += " " + id
	}
	s += "; processes:"
	for id, p := range c.procs {
		s += fmt.Sprintf(" %s(running=%v code=%d)", id, p.running, p.code)
	}
	return s
}

package backend

import (
	"context"
	"errors"
)

// Resources is an amount of CPU, memory and GPUs.
type Resources struct {
	MilliCPU    int
	MemoryBytes int64
	GPUs        int
}

// Fits reports whether r fits in free.
func (r Resources) Fits(free Resources) bool {
	return r.MilliCPU <= free.MilliCPU && r.MemoryBytes <= free.MemoryBytes && r.GPUs <= free.GPUs
}

// Sub returns r minus o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, MemoryBytes: r.MemoryBytes - o.MemoryBytes, GPUs: r.GPUs - o.GPUs}
}

// Add returns r plus o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, MemoryBytes: r.MemoryBytes + o.MemoryBytes, GPUs: r.GPUs + o.GPUs}
}

// NodeSpec describes one cluster node: a slot with its VM size's budget.
type NodeSpec struct {
	// ID is unique among all nodes of the backend and stable for the
	// node's life (Azure-style, e.g. tvm-1234567890_3-20260102t030405z).
	ID string
	// Index is the node's number within its cluster (0, 1, ...); it picks
	// the nominal SSH port (50000+Index) that listNodes reports.
	Index int
	// Limits is the size's budget, enforced where the backend can.
	Limits Resources
}

// NodeInfo is what a started node reports. It is plain data, saved in the
// store, so that a restarted server knows its nodes.
type NodeInfo struct {
	PrivateIP string `json:"privateIpAddress"`
	PublicIP  string `json:"publicIpAddress"`
	Port      int    `json:"port"`
	// Enforced says whether the budget is enforced (cgroups), and Note
	// why not when it is not.
	Enforced bool   `json:"limitsEnforced"`
	Note     string `json:"note,omitempty"`
}

// ErrNoCapacity: the node does not fit on the backend now.
var ErrNoCapacity = errors.New("not enough capacity")

// Nodes runs the nodes of compute clusters.
//
// StartNode is idempotent: starting a node that runs (or ran before a
// restart of mlw server) returns its info again. StopNode is idempotent
// and ends everything still running on the node. Neither waits for user
// work.
// Isolator is implemented by node backends that can say, in words, how
// jobs on their nodes are kept apart from the server and from each other
// (shown by `mlw compute show` for clusters).
type Isolator interface {
	Isolation() string
}

type Nodes interface {
	// Capacity is what the backend offers to nodes in total (the host's
	// CPUs and memory on the local backend). Admission of new nodes is
	// the reconciler's: it sums the nodes it knows against this.
	Capacity() Resources
	StartNode(ctx context.Context, spec NodeSpec) (NodeInfo, error)
	StopNode(ctx context.Context, id string) error
}

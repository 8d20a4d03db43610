package resource

import (
	"encoding/json"
	"sort"
	"time"
)

// Node rows: each node of a cluster is a row of kind "node" whose parent is
// the cluster's operation key (ResourceOpKey), so that deleting the
// workspace's tree removes them. State is the node state as listNodes
// reports it (idle, running, preparing, leaving, preempted); Owner is the
// queue key of the job it runs ("" when idle). Spec holds what admission
// asks of the node (preemption); Status what the reconciler observed.
const KindNode = "node"

// Node states, as listNodes reports them (nodeState) and the node row's
// State column holds them. Who moves each (the cluster reconciler unless
// said otherwise):
//
//	preparing  created: the backend starts the node
//	idle       the node is up and runs no job; the job reconciler puts a
//	           node back here when its job ends
//	running    the scheduler assigned it a job
//	leaving    scaled down: the backend stops it, then the row goes
//	preempted  a low-priority node taken back (admission asks, with
//	           NodeSpec.Preempt); its job is requeued
//	unusable   reported by listNodes' counts; mlw's backends never make one
const (
	NodePreparing = "preparing"
	NodeIdle      = "idle"
	NodeRunning   = "running"
	NodeLeaving   = "leaving"
	NodePreempted = "preempted"
	NodeUnusable  = "unusable"
)

// NodeSpec is the desired state of a node.
type NodeSpec struct {
	// Preempt asks the cluster reconciler to preempt the node (low-priority
	// clusters only): its job is stopped and requeued, the node removed.
	Preempt     bool       `json:"preempt,omitempty"`
	PreemptedAt *time.Time `json:"preemptRequestedAt,omitempty"`
	PreemptBy   string     `json:"preemptRequestedBy,omitempty"`
}

// NodeStatus is the observed state of a node.
type NodeStatus struct {
	Index     int       `json:"index"`
	PrivateIP string    `json:"privateIpAddress"`
	PublicIP  string    `json:"publicIpAddress"`
	Port      int       `json:"port"`
	CreatedAt time.Time `json:"createdAt"`
	// IdleSince is when the node last became idle.
	IdleSince time.Time `json:"idleSince"`
	// Job is the name of the job the node runs (runId in listNodes).
	Job string `json:"job,omitempty"`
	// LimitsEnforced says whether the size's budget is enforced (cgroups);
	// Note says why not.
	LimitsEnforced bool   `json:"limitsEnforced"`
	Note           string `json:"note,omitempty"`
	// The size's budget, which the node holds of the host's capacity.
	MilliCPU    int   `json:"milliCpu"`
	MemoryBytes int64 `json:"memoryBytes"`
	GPUs        int   `json:"gpus,omitempty"`
}

// NodeSpecOf decodes a node's spec.
func NodeSpecOf(r *Object) NodeSpec {
	var s NodeSpec
	_ = json.Unmarshal(r.Spec, &s)
	return s
}

// NodeStatusOf decodes a node's status.
func NodeStatusOf(r *Object) NodeStatus {
	var s NodeStatus
	_ = json.Unmarshal(r.Status, &s)
	return s
}

// NodeStateCounts counts nodes by state in Azure's nodeStateCounts shape.
func NodeStateCounts(nodes []*Object) map[string]any {
	counts := map[string]int{}
	for _, n := range nodes {
		counts[n.State]++
	}
	return map[string]any{
		"idleNodeCount": counts[NodeIdle], "runningNodeCount": counts[NodeRunning], "preparingNodeCount": counts[NodePreparing],
		"unusableNodeCount": counts[NodeUnusable], "leavingNodeCount": counts[NodeLeaving], "preemptedNodeCount": counts[NodePreempted],
	}
}

// CurrentNodeCount is Azure's currentNodeCount: the nodes that exist and
// are not leaving or preempted.
func CurrentNodeCount(nodes []*Object) int {
	n := 0
	for _, r := range nodes {
		if r.State != NodeLeaving && r.State != NodePreempted {
			n++
		}
	}
	return n
}

// SortNodes orders nodes by their index (creation order).
func SortNodes(nodes []*Object) {
	sort.SliceStable(nodes, func(a, b int) bool {
		return NodeStatusOf(nodes[a]).Index < NodeStatusOf(nodes[b]).Index
	})
}

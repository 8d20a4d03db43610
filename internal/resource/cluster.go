package resource

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// ScaleSettings of a cluster, decoded.
type ScaleSettings struct {
	Min      int
	Max      int
	IdleTime time.Duration
}

// ClusterScale decodes and validates a cluster's scaleSettings.
func ClusterScale(props map[string]any) (ScaleSettings, error) {
	raw, _ := props["scaleSettings"].(map[string]any)
	var ss struct {
		Max  *json.Number `json:"maxNodeCount"`
		Min  *json.Number `json:"minNodeCount"`
		Idle *string      `json:"nodeIdleTimeBeforeScaleDown"`
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &ss); err != nil {
		return ScaleSettings{}, core.Invalid("properties.properties.scaleSettings", "scaleSettings must hold whole numbers maxNodeCount and minNodeCount and an ISO 8601 nodeIdleTimeBeforeScaleDown: %v", err)
	}
	var out ScaleSettings
	num := func(n *json.Number, field string, def int) (int, error) {
		if n == nil {
			return def, nil
		}
		v, err := n.Int64()
		if err != nil || v < 0 || v > 1000 {
			return 0, core.Invalid("properties.properties.scaleSettings."+field, "%s must be a whole number from 0 to 1000, not %s.", field, n.String())
		}
		return int(v), nil
	}
	if ss.Max == nil {
		return out, core.Invalid("properties.properties.scaleSettings.maxNodeCount", "A cluster needs scaleSettings.maxNodeCount, the most nodes it may grow to (max_instances in YAML).")
	}
	var err error
	if out.Max, err = num(ss.Max, "maxNodeCount", 0); err != nil {
		return out, err
	}
	if out.Min, err = num(ss.Min, "minNodeCount", 0); err != nil {
		return out, err
	}
	if out.Min > out.Max {
		return out, core.Invalid("properties.properties.scaleSettings.minNodeCount", "minNodeCount (%d) may not exceed maxNodeCount (%d).", out.Min, out.Max)
	}
	idle := DefaultClusterIdleTime
	if ss.Idle != nil && *ss.Idle != "" {
		idle = *ss.Idle
	}
	d, err := core.ParseISODuration(idle)
	if err != nil {
		return out, core.Invalid("properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown", "%v", err)
	}
	out.IdleTime = d
	return out, nil
}

// isLowPriority reports whether a cluster's nodes may be preempted.
func isLowPriority(props map[string]any) bool {
	p, _ := props["vmPriority"].(string)
	return strings.EqualFold(p, "LowPriority")
}

// ClusterStatus is the server-owned part of a cluster that the cluster
// reconciler writes: properties.properties of the rendered compute, plus
// mlw's reasons. Live figures (currentNodeCount, nodeStateCounts) are
// computed from the node rows when the compute is rendered.
type ClusterStatus struct {
	AllocationState               string    `json:"allocationState"`
	AllocationStateTransitionTime time.Time `json:"allocationStateTransitionTime"`
	TargetNodeCount               int       `json:"targetNodeCount"`
	// Conditions: ConditionNodesFit (False while nodes wait for room on
	// the host); the renderer shows the failing ones as Azure's errors[].
	Conditions []Condition `json:"conditions,omitempty"`
	// ScaleReason is the autoscaler's last decision in words.
	ScaleReason string `json:"scaleReason,omitempty"`
	// LastScaleTime is when that decision changed the node count.
	LastScaleTime *time.Time `json:"lastScaleTime,omitempty"`
	// QueueReason says why queued jobs wait ("aml-cluster at 2/2 nodes,
	// all busy"); a queued job's reason is rendered from it.
	QueueReason string `json:"queueReason,omitempty"`
	// NodeSeq numbers the nodes created so far (for node ids).
	NodeSeq int `json:"nodeSeq,omitempty"`
	// ObservedGeneration is the spec generation the status reflects.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Isolation says how the backend keeps jobs apart from the server and
	// from each other (rendered as properties.properties.mlw.isolation).
	Isolation string `json:"isolation,omitempty"`
}

// WaitingForNode is a queued cluster job's reason, from its cluster's
// QueueReason.
func WaitingForNode(queueReason string) string {
	return "Waiting for a node: " + queueReason + "."
}

// ConditionNodesFit is the cluster condition that its nodes fit on the
// host (reason HostCapacityExceeded when some wait).
const ConditionNodesFit = "NodesFit"

// clusterStatusDoc is a cluster's stored status: its provisioning state
// and its own status.
type clusterStatusDoc struct {
	Properties struct {
		ProvisioningState string        `json:"provisioningState"`
		Properties        ClusterStatus `json:"properties"`
	} `json:"properties"`
}

// ClusterStatusOf decodes a cluster's status: its provisioning state and
// what the cluster reconciler observed.
func ClusterStatusOf(c *Object) (provisioning string, cs ClusterStatus) {
	var doc clusterStatusDoc
	_ = json.Unmarshal(c.Status, &doc)
	return doc.Properties.ProvisioningState, doc.Properties.Properties
}

// EncodeClusterStatus is the stored status of a cluster.
func EncodeClusterStatus(provisioning string, cs ClusterStatus) json.RawMessage {
	var doc clusterStatusDoc
	doc.Properties.ProvisioningState, doc.Properties.Properties = provisioning, cs
	return Encode(doc)
}

// ClusterQueueReason reads a cluster's QueueReason ("" for anything else).
func ClusterQueueReason(c *Object) string {
	if c == nil || ComputeTypeOf(c) != AmlCompute {
		return ""
	}
	_, cs := ClusterStatusOf(c)
	return cs.QueueReason
}

// Cluster defaults, as `az ml compute create --type AmlCompute` has them.
const (
	DefaultClusterSize     = "STANDARD_DS3_V2"
	DefaultClusterIdleTime = "PT2M"
)

// ClusterErrors are a cluster's failing conditions in words
// ("HostCapacityExceeded: 1 node(s) … do not fit on this host …"), which a
// queued job's reason repeats; nil for anything but a cluster.
func ClusterErrors(c *Object) []string {
	if c == nil || ComputeTypeOf(c) != AmlCompute {
		return nil
	}
	_, cs := ClusterStatusOf(c)
	var out []string
	for _, cond := range cs.Conditions {
		if cond.Status == ConditionFalse && (cond.Reason != "" || cond.Message != "") {
			out = append(out, strings.TrimPrefix(cond.Reason+": "+cond.Message, ": "))
		}
	}
	return out
}

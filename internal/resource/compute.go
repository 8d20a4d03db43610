package resource

import (
	"encoding/json"
)

// Compute types mlw runs.
const (
	ComputeInstance = "ComputeInstance"
	AmlCompute      = "AmlCompute"
	// Kubernetes is an attached Kubernetes cluster (docs/kubernetes.md).
	Kubernetes = "Kubernetes"
)

// NestedProps returns doc.properties.properties (a compute's own
// properties), creating it if needed.
func NestedProps(doc map[string]any) map[string]any {
	outer, ok := doc["properties"].(map[string]any)
	if !ok {
		outer = map[string]any{}
		doc["properties"] = outer
	}
	inner, ok := outer["properties"].(map[string]any)
	if !ok {
		inner = map[string]any{}
		outer["properties"] = inner
	}
	return inner
}

// ComputeTypeOf returns the computeType of a stored compute.
// It decodes that one field, not the document.
func ComputeTypeOf(r *Object) string {
	var doc struct {
		Properties struct {
			ComputeType string `json:"computeType"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(r.Spec, &doc)
	return doc.Properties.ComputeType
}

// ComputeARMID returns the ARM id of a compute (lowercase key form is used
// for operations).
func ComputeARMID(ws, c *Object) string {
	return WorkspaceRefOf(ws).ID() + "/computes/" + c.Name
}

// Provisioning states shared by ARM resources.
const (
	StateSucceeded = "Succeeded"
	StateDeleting  = "Deleting"
	StateCreating  = "Creating"
	StateFailed    = "Failed"
)

package resource

import "github.com/mlw-project/mlw/internal/store"

// Compute types mlw runs.
const (
	ComputeInstance = "ComputeInstance"
	AmlCompute      = "AmlCompute"
)

// ComputeSpec decodes the stored spec of a compute: the document and its
// properties.properties.
func ComputeSpec(r *store.Resource) (doc, props map[string]any) {
	doc = Decode(r.Spec)
	props = NestedProps(doc)
	return doc, props
}

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
func ComputeTypeOf(r *store.Resource) string {
	doc := Decode(r.Spec)
	outer, _ := doc["properties"].(map[string]any)
	t, _ := outer["computeType"].(string)
	return t
}

// ComputeARMID returns the ARM id of a compute (lowercase key form is used
// for operations).
func ComputeARMID(ws, c *store.Resource) string {
	return WorkspaceRefOf(ws).ID() + "/computes/" + c.Name
}

// Provisioning states shared by ARM resources.
const (
	StateSucceeded = "Succeeded"
	StateDeleting  = "Deleting"
	StateCreating  = "Creating"
	StateFailed    = "Failed"
)

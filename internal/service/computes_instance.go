package service

import (
	"context"

	"github.com/mlw-project/mlw/internal/core"
)

// DefaultInstanceSize is the SDK's default compute instance size.
const DefaultInstanceSize = "STANDARD_DS3_V2"

type instanceType struct{}

// Quota: an instance holds its size's vCPUs, running or stopped.
func (instanceType) Quota(props map[string]any, size core.VMSize) (int, bool) { return size.VCPUs, false }

func (instanceType) Admit(ctx context.Context, a *ComputeAdmission) error {
	p := a.Props
	if a.Old != nil {
		return core.Conflict("Conflict", "The compute instance '%s' already exists. Delete it first, or use start, stop and restart to change its state.", a.Old.Name)
	}
	if v, ok := p["vmSize"]; !ok || v == nil || v == "" {
		p["vmSize"] = DefaultInstanceSize
	}
	if _, ok := p["vmSize"].(string); !ok {
		return core.Invalid("properties.properties.vmSize", "vmSize must be a string such as STANDARD_DS11_V2.")
	}
	a.State = "Creating"
	a.Status = map[string]any{"state": "Creating"}
	return nil
}

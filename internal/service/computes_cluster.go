package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// clusterImmutable are AmlCompute properties fixed at creation. A PUT that
// carries other values (clients fill in their own defaults) keeps the
// first ones, as Azure does, rather than failing.
var clusterImmutable = []string{"vmSize", "vmPriority", "osType", "virtualMachineImage", "subnet", "isolatedNetwork",
	"userAccountCredentials", "enableNodePublicIp", "remoteLoginPortPublicAccess", "backend"}

type clusterType struct{}

func (clusterType) Quota(spec *resource.ComputeSpec) (int, bool) {
	return spec.Cluster.Scale.Max * spec.Size.VCPUs, spec.Cluster.LowPriority
}

func (clusterType) Admit(ctx context.Context, a *ComputeAdmission) error {
	p := a.Props
	if a.Old != nil {
		for _, k := range clusterImmutable {
			if v, ok := a.OldProps[k]; ok {
				p[k] = v
			} else {
				delete(p, k)
			}
		}
		// Scale settings the request leaves out (or sends as null) keep
		// their values: clients send only what they change, or fill in
		// their own defaults for the rest (minNodeCount 0).
		oldScale, _ := a.OldProps["scaleSettings"].(map[string]any)
		scale, ok := p["scaleSettings"].(map[string]any)
		if !ok {
			scale = map[string]any{}
			p["scaleSettings"] = scale
		}
		for k, v := range oldScale {
			if cur, sent := scale[k]; !sent || cur == nil || cur == "" {
				scale[k] = v
			}
		}
	}
	if v, ok := p["vmSize"]; !ok || v == nil || v == "" {
		p["vmSize"] = resource.DefaultClusterSize
	}
	if _, ok := p["vmSize"].(string); !ok {
		return core.Invalid("properties.properties.vmSize", "vmSize must be a string such as STANDARD_DS11_V2.")
	}
	if v, ok := p["osType"]; !ok || v == nil {
		p["osType"] = "Linux"
	} else if s, _ := v.(string); !strings.EqualFold(s, "Linux") {
		return core.Invalid("properties.properties.osType", "mlw runs Linux nodes only; osType %v is not supported.", v)
	}
	switch pr, _ := p["vmPriority"].(string); {
	case p["vmPriority"] == nil || pr == "":
		p["vmPriority"] = "Dedicated"
	case strings.EqualFold(pr, "Dedicated"):
		p["vmPriority"] = "Dedicated"
	case strings.EqualFold(pr, "LowPriority"), strings.EqualFold(pr, "low_priority"):
		p["vmPriority"] = "LowPriority"
	default:
		return core.Invalid("properties.properties.vmPriority", "vmPriority must be Dedicated or LowPriority (YAML tier: dedicated or low_priority), not %q.", pr)
	}
	if b, err := resource.ClusterBackendOf(p); err != nil {
		return err
	} else if b.Slurm() {
		p["backend"] = map[string]any{"type": b.Type, "partition": b.Partition}
	}
	ss, err := resource.ClusterScale(p)
	if err != nil {
		return err
	}
	scale := p["scaleSettings"].(map[string]any)
	scale["minNodeCount"] = ss.Min
	if v, _ := scale["nodeIdleTimeBeforeScaleDown"].(string); v == "" {
		scale["nodeIdleTimeBeforeScaleDown"] = resource.DefaultClusterIdleTime
	}
	if v, _ := p["remoteLoginPortPublicAccess"].(string); v == "" || v == "NotSpecified" {
		p["remoteLoginPortPublicAccess"] = "Disabled"
	}
	if _, ok := p["enableNodePublicIp"]; !ok {
		p["enableNodePublicIp"] = true
	}
	if a.Old == nil {
		// The cluster's status is the reconciler's; until its first step
		// the renderer shows it steady at its minimum.
		a.State = "Steady"
		return nil
	}
	old, err := resource.ClusterScale(a.OldProps)
	if err != nil {
		return fmt.Errorf("stored scale settings: %w", err)
	}
	a.Changed = old != ss
	return nil
}

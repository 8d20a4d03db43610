package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// Cluster defaults, as `az ml compute create --type AmlCompute` has them.
const (
	DefaultClusterSize     = "STANDARD_DS3_V2"
	DefaultClusterIdleTime = "PT2M"
)

// clusterImmutable are AmlCompute properties fixed at creation. A PUT that
// carries other values (clients fill in their own defaults) keeps the
// first ones, as Azure does, rather than failing.
var clusterImmutable = []string{"vmSize", "vmPriority", "osType", "virtualMachineImage", "subnet", "isolatedNetwork",
	"userAccountCredentials", "enableNodePublicIp", "remoteLoginPortPublicAccess"}

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

// IsLowPriority reports whether a cluster's nodes may be preempted.
func IsLowPriority(props map[string]any) bool {
	p, _ := props["vmPriority"].(string)
	return strings.EqualFold(p, "LowPriority")
}

type clusterType struct{}

func (clusterType) Quota(props map[string]any, size core.VMSize) (int, bool) {
	ss, err := ClusterScale(props)
	if err != nil {
		return 0, false
	}
	return ss.Max * size.VCPUs, IsLowPriority(props)
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
		p["vmSize"] = DefaultClusterSize
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
	ss, err := ClusterScale(p)
	if err != nil {
		return err
	}
	scale := p["scaleSettings"].(map[string]any)
	scale["minNodeCount"] = ss.Min
	if v, _ := scale["nodeIdleTimeBeforeScaleDown"].(string); v == "" {
		scale["nodeIdleTimeBeforeScaleDown"] = DefaultClusterIdleTime
	}
	if v, _ := p["remoteLoginPortPublicAccess"].(string); v == "" || v == "NotSpecified" {
		p["remoteLoginPortPublicAccess"] = "Disabled"
	}
	if _, ok := p["enableNodePublicIp"]; !ok {
		p["enableNodePublicIp"] = true
	}
	if a.Old == nil {
		a.State = "Steady"
		a.Status = map[string]any{
			"allocationState": "Steady", "allocationStateTransitionTime": time.Now().UTC().Format(time.RFC3339Nano),
			"currentNodeCount": 0, "targetNodeCount": ss.Min, "errors": nil,
			"nodeStateCounts": map[string]any{"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
				"unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0},
		}
		return nil
	}
	old, err := ClusterScale(a.OldProps)
	if err != nil {
		return fmt.Errorf("stored scale settings: %w", err)
	}
	a.Changed = old != ss
	return nil
}

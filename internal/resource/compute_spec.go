package resource

import (
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/schedule"
)

// ComputeSpec is a compute's spec, decoded once: the fields the server acts
// on, typed and validated. Doc is the whole stored document, fields mlw
// does not read included, for the renderers that echo it to clients.
type ComputeSpec struct {
	// Type is properties.computeType (ComputeInstance or AmlCompute).
	Type string
	// Location is the region the compute lives in ("" before admission
	// placed it).
	Location string
	// Size is properties.properties.vmSize, looked up.
	Size core.VMSize
	// Cluster is set for an AmlCompute, Instance for a ComputeInstance.
	Cluster    *ClusterSpec
	Instance   *InstanceSpec
	Kubernetes *KubernetesSpec
	Doc        map[string]any
}

// ClusterSpec is what a cluster's spec asks for.
type ClusterSpec struct {
	Scale ScaleSettings
	// LowPriority: its nodes may be preempted (vmPriority LowPriority).
	LowPriority bool
}

// InstanceSpec is what an instance's spec asks for.
type InstanceSpec struct {
	// Creation and Startup are the setup scripts (nil when absent).
	Creation, Startup *ScriptRef
	Schedules         []schedule.Schedule
	// IdleShutdown is idleTimeBeforeShutdown (0: never).
	IdleShutdown time.Duration
	// SSH: SSH public access is enabled, with SSHKey.
	SSH    bool
	SSHKey string
	// Subnet is the subnet id ("" without a virtual network).
	Subnet string
}

// ComputeSpecOf decodes and validates a stored compute's spec. An error
// means the stored document is one admission would refuse.
func ComputeSpecOf(c *Object) (*ComputeSpec, error) {
	return ParseComputeSpec(Decode(c.Spec))
}

// ParseComputeSpec reads a compute document (as admission holds it, or as
// stored). Its errors are core.Invalid errors that name the field.
func ParseComputeSpec(doc map[string]any) (*ComputeSpec, error) {
	outer, _ := doc["properties"].(map[string]any)
	s := &ComputeSpec{Doc: doc}
	s.Type, _ = outer["computeType"].(string)
	s.Location, _ = doc["location"].(string)
	props := NestedProps(doc)
	if s.Type == Kubernetes {
		// Its pods' sizes are instance types, not a VM size.
		var err error
		if s.Kubernetes, err = ParseKubernetesSpec(props); err != nil {
			return nil, err
		}
		return s, nil
	}
	name, ok := props["vmSize"].(string)
	if s.Size, ok = core.LookupVMSize(name); !ok {
		return nil, core.InvalidCode("InvalidVmSize", "properties.properties.vmSize",
			"The VM size %q is not available. Choose one of: %s (see `mlw compute list-sizes`).", name, core.VMSizeNames())
	}
	var err error
	switch s.Type {
	case AmlCompute:
		s.Cluster, err = parseClusterSpec(props)
	case ComputeInstance:
		s.Instance, err = parseInstanceSpec(props)
	default:
		err = core.Invalid("properties.computeType", "computeType %q is not supported by mlw; use ComputeInstance, AmlCompute or Kubernetes.", s.Type)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func parseClusterSpec(props map[string]any) (*ClusterSpec, error) {
	ss, err := ClusterScale(props)
	if err != nil {
		return nil, err
	}
	return &ClusterSpec{Scale: ss, LowPriority: isLowPriority(props)}, nil
}

func parseInstanceSpec(props map[string]any) (*InstanceSpec, error) {
	in := &InstanceSpec{}
	var err error
	if in.Creation, in.Startup, err = instanceScripts(props); err != nil {
		return nil, err
	}
	if in.Schedules, err = schedule.Parse(props); err != nil {
		return nil, err
	}
	if in.IdleShutdown, err = idleShutdownOf(props); err != nil {
		return nil, err
	}
	in.SSHKey, in.SSH = instanceSSH(props)
	if v, ok := props["subnet"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, core.Invalid("properties.properties.subnet", "subnet must be an object like {\"id\": \"<subnet resource id>\"}.")
		}
		in.Subnet, _ = m["id"].(string)
	}
	return in, nil
}

// ComputeDoc decodes a stored compute's whole document, for the code that
// edits it (an update's merge) or echoes it (the renderers).
func ComputeDoc(c *Object) map[string]any { return Decode(c.Spec) }

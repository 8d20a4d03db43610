package resource

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
)

// KubernetesSpec is what an attached Kubernetes compute's spec says
// (Azure's KubernetesProperties): the namespace its jobs' pods run in and
// the instance types a job picks its pods' size from. The kubeconfig is
// not part of it: admission keeps it in the compute's internal status,
// which no client sees (KubeconfigOf).
type KubernetesSpec struct {
	Namespace           string
	DefaultInstanceType string
	InstanceTypes       map[string]InstanceType
	// Images maps environments (curated names, name:version or name) to
	// the container images their jobs run in on this compute.
	Images map[string]string
}

// InstanceType is the size of a job's pods: what each pod requests and
// is limited to (requests = limits, as Guaranteed pods), and the nodes it
// may run on.
type InstanceType struct {
	NodeSelector map[string]string
	MilliCPU     int
	MemoryBytes  int64
	GPUs         int
}

// DefaultInstanceType is the instance type of a compute that defines none
// (Azure's defaultinstancetype: two CPUs and 2 GiB per pod).
const DefaultInstanceType = "defaultinstancetype"

var defaultInstanceType = InstanceType{MilliCPU: 2000, MemoryBytes: 2 << 30}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ParseKubernetesSpec reads a Kubernetes compute's properties.properties.
func ParseKubernetesSpec(props map[string]any) (*KubernetesSpec, error) {
	const at = "properties.properties."
	s := &KubernetesSpec{Namespace: "default", InstanceTypes: map[string]InstanceType{}, Images: map[string]string{}}
	if v, ok := props["namespace"]; ok && v != nil && v != "" {
		ns, _ := v.(string)
		if !dnsLabel.MatchString(ns) || len(ns) > 63 {
			return nil, core.Invalid(at+"namespace", "namespace %v is not a Kubernetes namespace name: lowercase letters, digits and '-', at most 63 characters.", v)
		}
		s.Namespace = ns
	}
	if raw, ok := props["instanceTypes"]; ok && raw != nil {
		types, ok := raw.(map[string]any)
		if !ok {
			return nil, core.Invalid(at+"instanceTypes", `instanceTypes must be an object of instance types by name, for example {"cpu-small": {"resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}}.`)
		}
		for name, v := range types {
			it, err := parseInstanceType(at+"instanceTypes."+name, v)
			if err != nil {
				return nil, err
			}
			s.InstanceTypes[strings.ToLower(name)] = it
		}
	}
	if len(s.InstanceTypes) == 0 {
		s.InstanceTypes[DefaultInstanceType] = defaultInstanceType
	}
	s.DefaultInstanceType, _ = props["defaultInstanceType"].(string)
	s.DefaultInstanceType = strings.ToLower(s.DefaultInstanceType)
	if s.DefaultInstanceType == "" {
		names := slices.Sorted(maps.Keys(s.InstanceTypes))
		s.DefaultInstanceType = names[0]
		if _, ok := s.InstanceTypes[DefaultInstanceType]; ok {
			s.DefaultInstanceType = DefaultInstanceType
		}
	}
	if _, ok := s.InstanceTypes[s.DefaultInstanceType]; !ok {
		return nil, core.Invalid(at+"defaultInstanceType", "defaultInstanceType %q is not one of the compute's instance types (%s).", s.DefaultInstanceType, strings.Join(s.InstanceTypeNames(), ", "))
	}
	if raw, ok := props["images"]; ok && raw != nil {
		images, ok := raw.(map[string]any)
		if !ok {
			return nil, core.Invalid(at+"images", `images must be an object of container images by environment, for example {"AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": "registry.example/sklearn:1.0"}.`)
		}
		for env, v := range images {
			img, _ := v.(string)
			if strings.TrimSpace(img) == "" || strings.ContainsAny(img, " \t\n") {
				return nil, core.Invalid(at+"images."+env, "The image for %s must be an image reference such as registry.example/sklearn:1.0, not %v.", env, v)
			}
			s.Images[env] = img
		}
	}
	return s, nil
}

// InstanceTypeNames are the instance types' names, sorted.
func (s *KubernetesSpec) InstanceTypeNames() []string {
	return slices.Sorted(maps.Keys(s.InstanceTypes))
}

// InstanceType finds the instance type a job asks for ("" for the
// compute's default): one of the compute's, or a VM size of the catalogue,
// whose vCPUs, memory and GPUs each pod then requests. The error names
// the job's field.
func (s *KubernetesSpec) InstanceType(name string) (string, InstanceType, error) {
	if name == "" {
		name = s.DefaultInstanceType
	}
	if it, ok := s.InstanceTypes[strings.ToLower(name)]; ok {
		return strings.ToLower(name), it, nil
	}
	if size, ok := core.LookupVMSize(name); ok {
		return size.Name, InstanceType{MilliCPU: size.VCPUs * 1000, MemoryBytes: size.MemoryMB() << 20, GPUs: size.GPUs}, nil
	}
	return "", InstanceType{}, core.Invalid("properties.resources.instanceType",
		"instance_type %q is neither an instance type of this Kubernetes compute (%s) nor a VM size (`mlw compute list-sizes`).", name, strings.Join(s.InstanceTypeNames(), ", "))
}

// parseInstanceType reads one instance type: {"nodeSelector": {...},
// "resources": {"requests": {...}, "limits": {...}}}; limits win over
// requests, and a pod asks for both the same.
func parseInstanceType(field string, v any) (InstanceType, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return InstanceType{}, core.Invalid(field, `An instance type must be an object such as {"resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}.`)
	}
	it := InstanceType{}
	if sel, ok := m["nodeSelector"].(map[string]any); ok {
		it.NodeSelector = map[string]string{}
		for k, v := range sel {
			it.NodeSelector[k] = fmt.Sprint(v)
		}
	}
	res, _ := m["resources"].(map[string]any)
	for _, part := range []string{"requests", "limits"} {
		q, _ := res[part].(map[string]any)
		for k, v := range q {
			if v == nil {
				continue
			}
			f := field + ".resources." + part + "." + k
			var err error
			switch k {
			case "cpu":
				var n int64
				n, err = ParseQuantity(f, v, true)
				it.MilliCPU = int(n)
			case "memory":
				it.MemoryBytes, err = ParseQuantity(f, v, false)
			case "nvidia.com/gpu", "gpu":
				var n int64
				n, err = ParseQuantity(f, v, false)
				it.GPUs = int(n)
			default:
				err = core.Invalid(f, "mlw knows the resources cpu, memory and nvidia.com/gpu of an instance type, not %q.", k)
			}
			if err != nil {
				return InstanceType{}, err
			}
		}
	}
	if it.MilliCPU <= 0 || it.MemoryBytes <= 0 {
		return InstanceType{}, core.Invalid(field+".resources", `An instance type needs a cpu and a memory, for example {"limits": {"cpu": "2", "memory": "4Gi"}}.`)
	}
	return it, nil
}

var quantityRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)

var quantityUnits = map[string]float64{"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}

// ParseQuantity reads a Kubernetes quantity ("2", "500m", "4Gi", 1.5):
// in thousandths when milli (CPUs), else whole units (bytes, GPUs).
func ParseQuantity(field string, v any, milli bool) (int64, error) {
	s := strings.TrimSpace(fmt.Sprint(v))
	m := quantityRE.FindStringSubmatch(s)
	if m == nil {
		return 0, core.Invalid(field, "%v is not a Kubernetes quantity: write a number with an optional unit, such as 2, 500m or 4Gi.", v)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	n *= quantityUnits[m[2]]
	if milli {
		n *= 1000
	}
	return int64(n + 0.5), nil
}

// KubeRun is a job attempt's Kubernetes Job, recorded in the job's status
// (JobStatus.Kube) by the job reconciler.
type KubeRun struct {
	// Name is the Job's name (kubernetes.JobName of the job's UID and the
	// attempt): created once, found again after a restart.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Container is the blob container of the attempt's code archive and
	// uploaded outputs (the only one its SAS opens).
	Container string `json:"container"`
	// InstanceType and Image are what its pods run as and in.
	InstanceType string `json:"instanceType"`
	Image        string `json:"image"`
	// Submitted: the Job was created.
	Submitted bool `json:"submitted,omitempty"`
	// State is the last kind seen and Message its meaning.
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
	// LogStart is, by node, how long its log artifact was when this
	// attempt began (after the earlier attempts' logs).
	LogStart []int64 `json:"logStart,omitempty"`
}

// KubeInternalKey is where a Kubernetes compute's status document keeps
// its kubeconfig, apart from what clients see.
const KubeInternalKey = "kube"

// KubeconfigOf is a Kubernetes compute's kubeconfig (nil when none).
func KubeconfigOf(c *Object) []byte {
	in, _ := Decode(c.Status)[KubeInternalKey].(map[string]any)
	s, _ := in["kubeconfig"].(string)
	if s == "" {
		return nil
	}
	return []byte(s)
}

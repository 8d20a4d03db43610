package resource

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

func TestParseKubernetesSpec(t *testing.T) {
	s, err := ParseKubernetesSpec(map[string]any{})
	require.NoError(t, err)
	require.Equal(t, "default", s.Namespace)
	require.Equal(t, DefaultInstanceType, s.DefaultInstanceType)
	name, it, err := s.InstanceType("")
	require.NoError(t, err)
	require.Equal(t, DefaultInstanceType, name)
	require.Equal(t, InstanceType{MilliCPU: 2000, MemoryBytes: 2 << 30}, it)

	s, err = ParseKubernetesSpec(map[string]any{"namespace": "ml", "instanceTypes": map[string]any{
		"GPU": map[string]any{"nodeSelector": map[string]any{"pool": "gpu"},
			"resources": map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}, "limits": map[string]any{"cpu": 8, "memory": "32Gi", "nvidia.com/gpu": 1}}},
	}, "images": map[string]any{"my-env": "registry.example/env:1"}})
	require.NoError(t, err)
	require.Equal(t, "ml", s.Namespace)
	require.Equal(t, "gpu", s.DefaultInstanceType, "the only type is the default; names are lowercase")
	_, it, err = s.InstanceType("gpu")
	require.NoError(t, err)
	require.Equal(t, InstanceType{NodeSelector: map[string]string{"pool": "gpu"}, MilliCPU: 8000, MemoryBytes: 32 << 30, GPUs: 1}, it, "limits win")
	name, it, err = s.InstanceType("Standard_DS3_v2")
	require.NoError(t, err, "a VM size works as an instance type")
	require.Equal(t, "Standard_DS3_v2", name, "the catalogue's spelling")
	require.Equal(t, 4000, it.MilliCPU)
	_, _, err = s.InstanceType("nope")
	require.ErrorContains(t, err, `instance_type "nope" is neither an instance type of this Kubernetes compute (gpu)`)
	require.Equal(t, "registry.example/env:1", s.Images["my-env"])
}

func TestParseKubernetesSpecErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		props      map[string]any
		field, msg string
	}{
		{map[string]any{"namespace": "Bad_NS"}, "properties.properties.namespace", "not a Kubernetes namespace name"},
		{map[string]any{"instanceTypes": "small"}, "properties.properties.instanceTypes", "must be an object"},
		{map[string]any{"instanceTypes": map[string]any{"a": map[string]any{"resources": map[string]any{"limits": map[string]any{"cpu": "two", "memory": "1Gi"}}}}},
			"properties.properties.instanceTypes.a.resources.limits.cpu", "not a Kubernetes quantity"},
		{map[string]any{"instanceTypes": map[string]any{"a": map[string]any{"resources": map[string]any{"limits": map[string]any{"cpu": "1"}}}}},
			"properties.properties.instanceTypes.a.resources", "needs a cpu and a memory"},
		{map[string]any{"instanceTypes": map[string]any{"a": map[string]any{"resources": map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}}}}},
			"properties.properties.instanceTypes.a.resources.limits.ephemeral-storage", "cpu, memory and nvidia.com/gpu"},
		{map[string]any{"defaultInstanceType": "big"}, "properties.properties.defaultInstanceType", "not one of the compute's instance types (defaultinstancetype)"},
		{map[string]any{"images": map[string]any{"env": ""}}, "properties.properties.images.env", "image reference"},
	} {
		_, err := ParseKubernetesSpec(tc.props)
		require.Error(t, err, tc.field)
		require.Contains(t, err.Error(), tc.msg)
		require.Contains(t, errTarget(err), tc.field)
	}
}

func TestParseQuantity(t *testing.T) {
	for in, want := range map[any]int64{"2": 2000, "500m": 500, 1.5: 1500, "0.25": 250} {
		got, err := ParseQuantity("cpu", in, true)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	for in, want := range map[string]int64{"4Gi": 4 << 30, "512Mi": 512 << 20, "2G": 2e9, "1024": 1024, "1Ti": 1 << 40} {
		got, err := ParseQuantity("memory", in, false)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1", "1 Gi", "1Xi", "Gi"} {
		_, err := ParseQuantity("memory", bad, false)
		require.Error(t, err, bad)
	}
}

func errTarget(err error) string {
	if e, ok := core.AsError(err); ok {
		return e.Target
	}
	return ""
}

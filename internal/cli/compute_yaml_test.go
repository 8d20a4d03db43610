package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The fields every compute YAML has land in the same places of the REST
// body for clusters and instances; unknown fields are refused by line.
func TestComputeYAMLBodies(t *testing.T) {
	common := `name: c1
description: lab compute
location: westus2
tags: {team: ml}
identity: {type: system_assigned}
network_settings: {vnet_name: v, subnet: /subnets/default}
`
	cl, err := clusterFromYAML("cluster.yml", []byte(common+"type: amlcompute\nsize: STANDARD_DS11_V2\nmax_instances: 2\n"))
	require.NoError(t, err)
	in, err := instanceFromYAML("instance.yml", []byte(common+"type: computeinstance\nsize: STANDARD_DS11_V2\n"))
	require.NoError(t, err)
	for typ, body := range map[string]Doc{"AmlCompute": cl, "ComputeInstance": in} {
		require.Equal(t, "westus2", body["location"], typ)
		require.Equal(t, map[string]string{"team": "ml"}, body["tags"], typ)
		require.Equal(t, map[string]any{"type": "system_assigned"}, body["identity"], typ)
		p := body["properties"].(Doc)
		require.Equal(t, typ, p["computeType"])
		require.Equal(t, "lab compute", p["description"], typ)
		require.Equal(t, Doc{"id": "/subnets/default"}, p["properties"].(Doc)["subnet"], typ)
	}
	_, err = clusterFromYAML("cluster.yml", []byte(common+"type: amlcompute\nmax_instancs: 2\n"))
	require.ErrorContains(t, err, "line 8")
	require.ErrorContains(t, err, "max_instancs")
	_, err = clusterFromYAML("cluster.yml", []byte(common+"type: amlcompute\nmax_instances: two\n"))
	require.EqualError(t, err, `cluster.yml: line 8: max_instances: expected a number, not "two"`)
	_, err = instanceFromYAML("instance.yml", []byte(common+"type: computeinstance\nssh_public_access_enabled: sometimes\n"))
	require.EqualError(t, err, `instance.yml: line 8: ssh_public_access_enabled: expected true or false, not "sometimes"`)
}

// backend (mlw's own field) goes to properties.properties.backend as
// written: the server validates it.
func TestClusterYAMLBackend(t *testing.T) {
	body, err := clusterFromYAML("cluster.yml", []byte("name: c1\ntype: amlcompute\nbackend:\n  type: slurm\n  partition: gpu\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"type": "slurm", "partition": "gpu"}, body["properties"].(Doc)["properties"].(Doc)["backend"])
	body, err = clusterFromYAML("cluster.yml", []byte("name: c1\ntype: amlcompute\n"))
	require.NoError(t, err)
	require.NotContains(t, body["properties"].(Doc)["properties"].(Doc), "backend", "no backend: the local one")
}

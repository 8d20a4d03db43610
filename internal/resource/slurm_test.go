package resource

import (
	"testing"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/stretchr/testify/require"
)

func TestClusterBackendOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		props  map[string]any
		want   ClusterBackend
		target string // the field an error names
		says   string
	}{
		{name: "absent", props: map[string]any{}, want: ClusterBackend{Type: BackendLocal}},
		{name: "null", props: map[string]any{"backend": nil}, want: ClusterBackend{Type: BackendLocal}},
		{name: "local", props: map[string]any{"backend": map[string]any{"type": "local"}}, want: ClusterBackend{Type: BackendLocal}},
		{name: "slurm", props: map[string]any{"backend": map[string]any{"type": "Slurm", "partition": " debug "}}, want: ClusterBackend{Type: BackendSlurm, Partition: "debug"}},
		{name: "slurm default partition", props: map[string]any{"backend": map[string]any{"type": "slurm"}}, want: ClusterBackend{Type: BackendSlurm}},
		{name: "not an object", props: map[string]any{"backend": "slurm"}, target: "properties.properties.backend", says: "{type: slurm, partition: <partition>}"},
		{name: "unknown type", props: map[string]any{"backend": map[string]any{"type": "kubernetes"}}, target: "properties.properties.backend.type", says: "use local (the default) or slurm"},
		{name: "type not a string", props: map[string]any{"backend": map[string]any{"type": 3}}, target: "properties.properties.backend.type", says: "local or slurm"},
		{name: "partition not a string", props: map[string]any{"backend": map[string]any{"type": "slurm", "partition": []any{"a"}}}, target: "properties.properties.backend.partition", says: "sinfo -s"},
		{name: "two partitions", props: map[string]any{"backend": map[string]any{"type": "slurm", "partition": "a,b"}}, target: "properties.properties.backend.partition", says: "write one name"},
		{name: "partition on local", props: map[string]any{"backend": map[string]any{"partition": "gpu"}}, target: "properties.properties.backend.partition", says: "backend: {type: slurm, partition: gpu}"},
		{name: "unknown field", props: map[string]any{"backend": map[string]any{"type": "slurm", "queue": "gpu"}}, target: "properties.properties.backend.queue", says: `no field "queue"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClusterBackendOf(tc.props)
			if tc.target == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			e, ok := core.AsError(err)
			require.True(t, ok, "a core error: %v", err)
			require.Equal(t, 400, e.Status)
			require.Equal(t, tc.target, e.Target)
			require.Contains(t, e.Message, tc.says)
		})
	}
}

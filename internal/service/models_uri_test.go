package service

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

func TestParseLongDatastoreURI(t *testing.T) {
	t.Parallel()
	ws := core.WorkspaceRef{Subscription: "sub", ResourceGroup: "rg", Workspace: "ws"}
	for _, tc := range []struct {
		uri  string
		want longDatastoreURI
		ok   bool
	}{
		{"azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/LocalUpload/h/model/",
			longDatastoreURI{ws, "workspaceblobstore", "LocalUpload/h/model/"}, true},
		{"AzureML://subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/datastores/d/paths/a/b",
			longDatastoreURI{ws, "d", "a/b"}, true},
		{"azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/datastores/d/paths", longDatastoreURI{ws, "d", ""}, true},
		{"azureml://subscriptions/sub/resourcegroups/rg/providers/Other/workspaces/ws/datastores/d/paths/a", longDatastoreURI{}, false},
		{"azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/codes/d/paths/a", longDatastoreURI{}, false},
		{"azureml://datastores/d/paths/a", longDatastoreURI{}, false},
		{"https://example.com/a", longDatastoreURI{}, false},
	} {
		got, ok := parseLongDatastoreURI(tc.uri)
		require.Equal(t, tc.ok, ok, tc.uri)
		require.Equal(t, tc.want, got, tc.uri)
	}
	require.Equal(t, "azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/datastores/d/paths/a/b", longURI(ws, "d", "a/b"))
}

func TestModelType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"custom_model": "custom_model", "MLFlowModel": "mlflow_model", "TRITON_MODEL": "triton_model", "CustomModel": "custom_model"} {
		got, ok := modelType(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "uri_folder", "mlflow"} {
		_, ok := modelType(in)
		require.False(t, ok, in)
	}
}

package resource_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

func TestRefKeysRoundTrip(t *testing.T) {
	ws := core.WorkspaceRef{Subscription: "sub1", ResourceGroup: "RG-1", Workspace: "WS1"}
	c := &resource.Object{Kind: core.KindCompute, Parent: ws.Key(), Name: "CPU-Cluster"}
	ref := resource.RefOf(c)

	parent, name := resource.ParseKey(ref.Key())
	require.Equal(t, c.Parent, parent)
	require.Equal(t, "cpu-cluster", name, "keys are lower case")

	back, ok := resource.ParseOpKey(core.KindCompute, ref.OpKey())
	require.True(t, ok)
	require.Equal(t, resource.Ref{Kind: core.KindCompute, Parent: c.Parent, Name: "cpu-cluster"}, back)
	require.Equal(t, resource.ResourceOpKey(c), ref.OpKey())

	_, ok = resource.ParseOpKey(core.KindJob, ref.OpKey())
	require.False(t, ok, "a compute's key is not a job's")

	w, ok := resource.ParentRef(core.KindWorkspace, c.Parent)
	require.True(t, ok)
	require.Equal(t, ws.GroupKey(), w.Parent)
	require.Equal(t, "ws1", w.Name)
	_, ok = resource.ParentRef(core.KindWorkspace, "/subscriptions/sub1")
	require.False(t, ok)
}

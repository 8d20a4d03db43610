package resource_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/resource"
)

// An instance stored by an older server kept its internals under
// properties.properties._mlw; they are read from there and written back
// beside properties, out of what clients see.
func TestInstanceInternalsMoveOutOfProperties(t *testing.T) {
	c := &resource.Object{Status: json.RawMessage(`{"properties":{"provisioningState":"Succeeded","properties":{"state":"Running","_mlw":{"tokenHash":"h1","hostUid":4001}}}}`)}
	st := resource.InstanceStatusOf(c)
	require.Equal(t, "h1", st.Internal.TokenHash)
	require.Equal(t, 4001, st.Internal.HostUID)
	st.Encode(c)

	var doc map[string]any
	require.NoError(t, json.Unmarshal(c.Status, &doc))
	props, err := json.Marshal(doc["properties"])
	require.NoError(t, err)
	require.NotContains(t, string(props), "h1", "the token hash is not among the client's properties")
	require.NotContains(t, string(props), "_mlw")
	require.Equal(t, "h1", resource.InstanceStatusOf(c).Internal.TokenHash, "read back from its new place")
	require.Equal(t, "Running", c.State)
}

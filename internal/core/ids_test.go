package core

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWorkspaceRef(t *testing.T) {
	t.Parallel()
	ref := WorkspaceRef{Subscription: "Sub", ResourceGroup: "MyGroup", Workspace: "MyWS"}
	require.Equal(t, "/subscriptions/Sub/resourceGroups/MyGroup/providers/Microsoft.MachineLearningServices/workspaces/MyWS", ref.ID())
	require.Equal(t, "/subscriptions/sub/resourcegroups/mygroup/providers/microsoft.machinelearningservices/workspaces/myws", ref.Key())
	require.Equal(t, "/subscriptions/sub/resourcegroups/mygroup", ref.GroupKey())
}

func TestParseWorkspaceID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		ref  WorkspaceRef
		rest string
		ok   bool
	}{
		{"/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w", WorkspaceRef{"s", "g", "w"}, "", true},
		{"/subscriptions/s/resourcegroups/g/providers/microsoft.machinelearningservices/workspaces/w/computes/c", WorkspaceRef{"s", "g", "w"}, "computes/c", true},
		{"subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/", WorkspaceRef{"s", "g", "w"}, "", true},
		{"/subscriptions/s/resourceGroups/g", WorkspaceRef{}, "", false},
		{"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a", WorkspaceRef{}, "", false},
		{"", WorkspaceRef{}, "", false},
	} {
		ref, rest, ok := ParseWorkspaceID(tc.id)
		require.Equal(t, tc.ok, ok, tc.id)
		require.Equal(t, tc.ref, ref, tc.id)
		require.Equal(t, tc.rest, rest, tc.id)
	}
}

func TestStripAzureMLPrefix(t *testing.T) {
	t.Parallel()
	require.Equal(t, "env:1", StripAzureMLPrefix("azureml:env:1"))
	require.Equal(t, "env:1", StripAzureMLPrefix("AzureML:env:1"))
	require.Equal(t, "azureml://datastores/x", StripAzureMLPrefix("azureml://datastores/x"), "a URI keeps its scheme")
	require.Equal(t, "env", StripAzureMLPrefix("env"))
}

func TestNormalizeLocation(t *testing.T) {
	t.Parallel()
	require.Equal(t, "eastus", NormalizeLocation("East US"))
	require.Equal(t, "westeurope", NormalizeLocation("westeurope"))
}

func TestErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk full")
	e := Internal(cause)
	require.Equal(t, http.StatusInternalServerError, e.Status)
	require.NotContains(t, e.Message, "disk full", "the cause stays out of the public message")
	require.ErrorIs(t, e, cause)

	wrapped := fmt.Errorf("create workspace: %w", NotFound("ResourceGroupNotFound", "Resource group '%s' could not be found.", "rg1"))
	got, ok := AsError(wrapped)
	require.True(t, ok)
	require.Equal(t, http.StatusNotFound, got.Status)
	require.Equal(t, "Resource group 'rg1' could not be found.", got.Message)
	_, ok = AsError(cause)
	require.False(t, ok)

	inv := InvalidCode("InvalidVmSize", "vmSize", "Size %q is unknown.", "STANDARD_X")
	require.Equal(t, "BadRequest", inv.Code)
	require.Equal(t, "vmSize", inv.Target)
	require.Len(t, inv.Details, 1)
	require.Equal(t, "InvalidVmSize", inv.Details[0].Code)
	require.Contains(t, inv.Error(), "vmSize")

	c := Conflict("Conflict", "x").WithCause(cause)
	require.ErrorIs(t, c, cause)
	require.Equal(t, http.StatusConflict, c.Status)
	require.Equal(t, http.StatusUnauthorized, Unauthorized("x").Status)
	require.Equal(t, http.StatusForbidden, Forbidden("x").Status)
}

package core

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireInvalid checks that err is a 400 that names target.
func requireInvalid(t *testing.T, err error, target string) {
	t.Helper()
	require.Error(t, err)
	e, ok := AsError(err)
	require.True(t, ok, "want a *core.Error, got %T", err)
	require.Equal(t, http.StatusBadRequest, e.Status)
	require.Equal(t, target, e.Target)
	require.NotEmpty(t, e.Message)
}

func TestValidateGroupName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"rg", "r", "rg-dp100-labs", "RG_1", "rg.(1)", "DefaultResourceGroup-eastus", "grüppe", strings.Repeat("g", 90)} {
		require.NoError(t, ValidateGroupName(ok), ok)
	}
	for _, bad := range []string{"", "rg.", "bad name", "rg/x", "rg!", "rg#", strings.Repeat("g", 91)} {
		requireInvalid(t, ValidateGroupName(bad), "resourceGroupName")
	}
}

func TestValidateWorkspaceName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ws1", "mlw-dp100-labs", "WS_2", "0ws", strings.Repeat("w", 33)} {
		require.NoError(t, ValidateWorkspaceName(ok), ok)
	}
	for _, bad := range []string{"", "ws", "-ws1", "_ws1", "ws.1", "ws 1", "wsé1", strings.Repeat("w", 34)} {
		requireInvalid(t, ValidateWorkspaceName(bad), "workspaceName")
	}
}

func TestValidateComputeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		instance bool
		ok       bool
	}{
		{"ci-alice", true, true},
		{"abc", true, true},
		{"ab", true, false},
		{strings.Repeat("c", 24), true, true},
		{strings.Repeat("c", 25), true, false},
		{"ab", false, true},
		{"a", false, false},
		{strings.Repeat("c", 16), false, true},
		{strings.Repeat("c", 17), false, false},
		{"1cluster", false, false},
		{"cluster-", false, false},
		{"clus_ter", false, false},
		{"aml-cluster", false, true},
	} {
		err := ValidateComputeName(tc.name, tc.instance)
		if tc.ok {
			require.NoError(t, err, tc.name)
		} else {
			requireInvalid(t, err, "name")
		}
	}
}

func TestValidateJobAndAssetNames(t *testing.T) {
	t.Parallel()
	require.NoError(t, ValidateJobName("olive_kettle_x1y2"))
	require.NoError(t, ValidateJobName(strings.Repeat("j", 255)))
	requireInvalid(t, ValidateJobName(strings.Repeat("j", 256)), "name")
	requireInvalid(t, ValidateJobName("job.1"), "name")
	requireInvalid(t, ValidateJobName(""), "name")

	require.NoError(t, ValidateAssetName("sklearn-env.v2"))
	requireInvalid(t, ValidateAssetName(".hidden"), "name")
	require.NoError(t, ValidateAssetVersion("1"))
	require.NoError(t, ValidateAssetVersion("2023.01.15-rc1"))
	// azure-ai-ml versions anonymous environments with a 32-hex MD5.
	require.NoError(t, ValidateAssetVersion("0f2b7cfd3a5c4e29a1b6c8d9e0f1a2b3"))
	requireInvalid(t, ValidateAssetVersion(strings.Repeat("1", 256)), "version")
	requireInvalid(t, ValidateAssetVersion("v 1"), "version")
}

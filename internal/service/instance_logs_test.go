package service_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/stretchr/testify/require"
)

// TestInstanceLogsNeverThroughLinks: an instance's setup script logs are
// read from the workspace file share, where users can plant links; the
// server (root) must not serve what a link out of the share points at
// (here a file standing for its admin token), whether the log itself or
// its Logs/<instance> folder is the link.
func TestInstanceLogsNeverThroughLinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ref := b.workspaceRef(t)
	ws, _, err := b.svc.PutWorkspace(b.ctx, ref, body(t, `{}`))
	require.NoError(t, err)
	for _, name := range []string{"ci1", "ci2"} {
		_, _, _, err = b.svc.PutCompute(b.ctx, ref, name, body(t, `{"properties":{"computeType":"ComputeInstance","properties":{"vmSize":"STANDARD_DS11_V2"}}}`))
		require.NoError(t, err)
	}
	secret := filepath.Join(b.svc.DataDir, "private")
	require.NoError(t, os.MkdirAll(secret, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(secret, "token"), []byte("mlw_admin_secret"), 0o600))
	logs := filepath.Join(resource.WorkspaceSharePath(b.svc.DataDir, ws), "Logs")
	require.NoError(t, os.MkdirAll(filepath.Join(logs, "ci1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "ci1", "creation-script.log"), []byte("hi\n"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(secret, "token"), filepath.Join(logs, "ci1", "startup-script.log")))
	require.NoError(t, os.Symlink(secret, filepath.Join(logs, "ci2")))

	got, err := b.svc.InstanceLogs(b.ctx, ref, "ci1")
	require.NoError(t, err)
	require.Len(t, got, 1, "the link out of the share is not served: %+v", got)
	require.Equal(t, "creation-script.log", got[0].Name)
	require.Equal(t, "hi\n", got[0].Content)

	got, err = b.svc.InstanceLogs(b.ctx, ref, "ci2")
	require.NoError(t, err)
	require.Empty(t, got, "a Logs folder that links out of the share is not served")
}

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSDKMore runs the remaining SDK flows of issue 5 (see
// testdata/sdk_more/sdk_more.py): an instance with a setup script, sizes
// and usage, environments and a job on a custom one, and the errors the SDK
// must raise with mlw's messages. Both SDK generations.
func TestSDKMore(t *testing.T) {
	t.Parallel()
	ForEachSDK(t, func(t *testing.T, sdk SDK) {
		s := StartServer(t, Options{})
		s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
		s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
		s.MustRun(t, "configure", "--defaults", "group=rg1", "workspace=ws1")
		s.MustRun(t, "workspace", "download-config", "--path", "cfg")
		setup, err := filepath.Abs(filepath.Join("testdata", "sdk_more", "setup", "setup.sh"))
		require.NoError(t, err)
		s.MustRun(t, "file", "upload", "--source", setup, "--path", "Users/admin/setup.sh")
		code, err := filepath.Abs(filepath.Join("testdata", "sdk_more", "code"))
		require.NoError(t, err)
		conda, err := filepath.Abs(filepath.Join("testdata", "sdk_data", "conda.yml"))
		require.NoError(t, err)
		out := s.RunPython(t, sdk.Env(t, s), "testdata/sdk_more/sdk_more.py", filepath.Join(s.WorkDir, "cfg"), code, conda)
		require.Contains(t, out, "SDK MORE OK", out)
	})
}

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSDKJobs drives clusters and jobs with Microsoft's SDK, unchanged:
// a cluster created and scaled as the DP-100 lab does, a training job from
// a local folder on AzureML-sklearn-1.5@latest, its studio link, its
// streamed log, jobs.get, jobs.list, jobs.download, list_nodes, and a
// failing job whose stream raises with mlw's error. Both SDK generations.
func TestSDKJobs(t *testing.T) {
	t.Parallel()
	ForEachSDK(t, func(t *testing.T, sdk SDK) {
		s := StartServer(t, Options{})
		s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
		s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
		s.MustRun(t, "workspace", "download-config", "-n", "ws1", "-g", "rg1", "--path", "cfg")
		t.Cleanup(func() { stopAndKillJobs(s) })
		src, err := filepath.Abs(filepath.Join("..", "examples", "diabetes-training", "src"))
		require.NoError(t, err)
		out := s.RunPython(t, sdk.Env(t, s), "testdata/sdk_jobs/sdk_jobs.py", filepath.Join(s.WorkDir, "cfg"), src, t.TempDir())
		require.Contains(t, out, "SDK JOBS OK", out)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "FLOWS 1+2") {
				t.Log(line)
			}
		}
	})
}

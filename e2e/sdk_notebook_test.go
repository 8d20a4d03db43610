package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSDKNotebook runs the SDK in a Jupyter kernel, where azure-ai-ml 1.28
// sets up Azure Monitor telemetry: offline it fails quietly, the cells run
// against mlw, and enable_telemetry=False turns it off. Both SDK
// generations.
func TestSDKNotebook(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/share/jupyter/kernels/python3/kernel.json"); err != nil {
		t.Skip("no Jupyter kernel here (apt-get install python3-ipykernel)")
	}
	ForEachSDK(t, func(t *testing.T, sdk SDK) {
		s := StartServer(t, Options{})
		s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
		s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
		s.MustRun(t, "workspace", "download-config", "-n", "ws1", "-g", "rg1", "--path", "cfg")
		out := s.RunPython(t, sdk.Env(t, s), "testdata/sdk_notebook/sdk_notebook.py", filepath.Join(s.WorkDir, "cfg"))
		require.Contains(t, out, "SDK NOTEBOOK OK", out)
	})
}

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
)

// SystemPython is Debian's interpreter, whose dist-packages hold
// python3-azure (azure-ai-ml 1.4.0): the SDK the tests drive, unchanged.
const SystemPython = "/usr/bin/python3"

// PythonTimeout bounds one SDK script (importing azure.ai.ml alone takes
// seconds on a small machine).
const PythonTimeout = 3 * time.Minute

// PydashStub is the directory to put on PYTHONPATH for the TEST-ONLY
// stand-in of pydash (testdata/pydash_stub): Debian does not package
// pydash, which azure-ai-ml imports, and CI cannot reach PyPI. Users
// install the real one: pip install "pydash<6".
func PydashStub(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "pydash_stub")
}

// RequireSDK skips the test when the Azure ML SDK cannot be imported
// (apt-get install python3-azure).
func RequireSDK(t testing.TB) {
	t.Helper()
	cmd := exec.Command(SystemPython, "-c", "import azure.ai.ml, azure.identity, azure.storage.blob")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+PydashStub(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("the Azure ML SDK is not usable here (apt-get install python3-azure): %v\n%s", err, out)
	}
}

// PythonEnv returns the environment of a Python process that uses the
// Azure ML SDK against s, set up as `eval "$(mlw env)"` would (the output
// of `mlw env --output json`), with the pydash stand-in on PYTHONPATH, a
// fresh HOME, and no proxy or AZURE_* credential variables of the test's
// own environment.
func (s *Server) PythonEnv(t testing.TB) []string {
	t.Helper()
	var env api.PythonEnv
	s.MustRunJSON(t, &env, "env")
	drop := map[string]bool{"PYTHONPATH": true, "HOME": true}
	for _, k := range env.Unset {
		drop[k] = true
	}
	for _, k := range api.PythonEnvNames {
		drop[k] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] && !strings.HasPrefix(k, "MLW_") && !strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			out = append(out, kv)
		}
	}
	return append(append(out, env.Environ()...), "PYTHONPATH="+PydashStub(t), "PYTHONDONTWRITEBYTECODE=1", "HOME="+t.TempDir())
}

// RunPython runs a Python script (a path relative to the e2e directory,
// such as testdata/sdk_data/sdk_data.py) with SystemPython in s.WorkDir
// and env (usually s.PythonEnv plus extras), fails the test unless it
// exits 0, and returns its combined output.
func (s *Server) RunPython(t testing.TB, env []string, script string, args ...string) string {
	t.Helper()
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), PythonTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, SystemPython, append([]string{abs}, args...)...)
	cmd.Env = env
	cmd.Dir = s.WorkDir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("e2e: python3 %s %s: %v\n%s", script, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/pycompat"
)

// SystemPython is Debian's interpreter, whose dist-packages hold
// python3-azure (azure-ai-ml 1.4.0): the SDK the tests drive, unchanged.
const SystemPython = "/usr/bin/python3"

// PythonTimeout bounds one SDK script (importing azure.ai.ml alone takes
// seconds on a small machine).
const PythonTimeout = 3 * time.Minute

var sdkVenv struct {
	once sync.Once
	dir  string // temporary directory, removed by Main
	venv *pycompat.Venv
	err  error
}

// SDKPython returns the interpreter the SDK tests run: a virtualenv on
// SystemPython's packages made by `mlw sdk venv`, as the README tells a
// user on Debian 12 to make one (Debian lacks pydash: the virtualenv has
// mlw's compatibility module). It is made once per test process.
func SDKPython(t testing.TB) string {
	t.Helper()
	sdkVenv.once.Do(func() {
		sdkVenv.dir, sdkVenv.err = os.MkdirTemp("", "mlw-e2e-venv-")
		if sdkVenv.err != nil {
			return
		}
		dir := filepath.Join(sdkVenv.dir, "venv")
		cmd := exec.Command(Binary(t), "sdk", "venv", "--dir", dir, "--python", SystemPython, "-o", "json")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			sdkVenv.err = fmt.Errorf("mlw sdk venv: %v\n%s", err, errOut.String())
			return
		}
		sdkVenv.venv = &pycompat.Venv{}
		sdkVenv.err = json.Unmarshal(out.Bytes(), sdkVenv.venv)
	})
	if sdkVenv.err != nil {
		t.Fatal(sdkVenv.err)
	}
	return filepath.Join(sdkVenv.venv.Path, "bin", "python")
}

// RequireSDK skips the test when the Azure ML SDK cannot be imported
// (apt-get install python3-azure).
func RequireSDK(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SystemPython); err != nil {
		t.Skipf("no %s here", SystemPython)
	}
	SDKPython(t)
	if sdkVenv.venv.AzureAIML == "" {
		t.Skipf("the Azure ML SDK is not usable here (apt-get install python3-azure): %s", sdkVenv.venv.ImportError)
	}
}

// PythonEnv returns the environment of a Python process that uses the
// Azure ML SDK against s, set up as `eval "$(mlw env)"` would (the output
// of `mlw env --output json`), with a fresh HOME, and no PYTHONPATH, proxy
// or AZURE_* credential variables of the test's own environment.
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
	return append(append(out, env.Environ()...), "PYTHONDONTWRITEBYTECODE=1", "HOME="+t.TempDir())
}

// RunPython runs a Python script (a path relative to the e2e directory,
// such as testdata/sdk_data/sdk_data.py) with SDKPython in s.WorkDir
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
	cmd := exec.CommandContext(ctx, SDKPython(t), append([]string{abs}, args...)...)
	cmd.Env = env
	cmd.Dir = s.WorkDir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("e2e: python3 %s %s: %v\n%s", script, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

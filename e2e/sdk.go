package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// SDK is one generation of Microsoft's azure-ai-ml that the SDK tests
// drive, unchanged, with Debian 12's /usr/bin/python3:
//
//   - 1.4.0, Debian 12's python3-azure (installed on the machine), with the
//     test-only pydash stand-in ([Server.PythonEnv]);
//   - 1.28.0, Debian 13's python3-azure with its pydash, msal and friends,
//     fetched once into a cache by scripts/azure-ai-ml-trixie.sh (nothing
//     is installed) and put first on PYTHONPATH, with the test-only
//     OpenTelemetry stand-in ([Server.PythonEnv128]).
type SDK struct {
	// Version is the azure-ai-ml version; subtests are named after it.
	Version string
	env     func(t testing.TB, s *Server) []string
}

// Env returns the environment of a Python process that uses this SDK
// against s, set up as `eval "$(mlw env)"` would.
func (sdk SDK) Env(t testing.TB, s *Server) []string { return sdk.env(t, s) }

// Is128 reports whether this is the newer generation (the scripts read
// azure.ai.ml.__version__ themselves where the two differ).
func (sdk SDK) Is128() bool { return sdk.Version != SDK14.Version }

// The SDK generations.
var (
	SDK14  = SDK{Version: "1.4.0", env: func(t testing.TB, s *Server) []string { return s.PythonEnv(t) }}
	SDK128 = SDK{Version: sdk128Version, env: func(t testing.TB, s *Server) []string { return s.PythonEnv128(t) }}
)

// sdk128Version is what scripts/azure-ai-ml-trixie.sh fetches.
const sdk128Version = "1.28.0"

// ForEachSDK runs f as a parallel subtest for each SDK generation, named
// after its version ("1.4.0", "1.28.0"). A generation that is not there
// is skipped (see [RequireSDK], [RequireSDK128]).
func ForEachSDK(t *testing.T, f func(t *testing.T, sdk SDK)) {
	t.Helper()
	for _, sdk := range []SDK{SDK14, SDK128} {
		t.Run(sdk.Version, func(t *testing.T) {
			t.Parallel()
			if sdk.Is128() {
				RequireSDK128(t)
			} else {
				RequireSDK(t)
			}
			f(t, sdk)
		})
	}
}

// OpenTelemetryStub is the directory to put on PYTHONPATH for the
// TEST-ONLY stand-in of the OpenTelemetry API (testdata/opentelemetry_stub):
// azure-ai-ml 1.28 imports opentelemetry.trace, which no Debian release
// packages, and CI cannot reach PyPI. Users install the real one:
// pip install opentelemetry-api.
func OpenTelemetryStub(t testing.TB) string {
	t.Helper()
	return filepath.Join(e2eDir(), "testdata", "opentelemetry_stub")
}

func e2eDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// fetchedSDK is an SDK generation fetched into a cache folder.
type fetchedSDK struct {
	once sync.Once
	path string // the dist-packages folder
	skip string // why it is not there
	err  error  // why it does not import
}

// sdk128 is the fetched azure-ai-ml 1.28 (once per test process).
var sdk128 fetchedSDK

// requireSDK128Env makes a missing azure-ai-ml 1.28 fail the tests rather
// than skip them (scripts/test.sh and CI set it).
const requireSDK128Env = "MLW_REQUIRE_SDK128"

// RequireSDK128 fetches Debian 13's azure-ai-ml 1.28 (once; cached across
// runs by scripts/azure-ai-ml-trixie.sh) and checks that it imports with
// SystemPython. It skips the test when the packages cannot be fetched
// (no Debian archive reachable), unless MLW_REQUIRE_SDK128=1; a fetched
// SDK that does not import fails it.
func RequireSDK128(t testing.TB) {
	t.Helper()
	SDK128Path(t)
}

// SDK128Path returns the dist-packages folder of Debian 13's
// azure-ai-ml 1.28 (see [RequireSDK128]).
func SDK128Path(t testing.TB) string {
	t.Helper()
	sdk128.once.Do(func() {
		out, err := exec.Command(filepath.Join(e2eDir(), "..", "scripts", "azure-ai-ml-trixie.sh")).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			sdk128.skip = fmt.Sprintf("Debian 13's azure-ai-ml could not be fetched (scripts/azure-ai-ml-trixie.sh): %v\n%s", err, stderr)
			return
		}
		sdk128.path = strings.TrimSpace(string(out))
		cmd := exec.Command(SystemPython, "-c", "import azure.ai.ml, azure.identity, azure.storage.blob, pydash, msal; "+
			"print(azure.ai.ml.__version__, azure.ai.ml.__file__)")
		cmd.Env = append(os.Environ(), "PYTHONPATH="+sdk128.pythonPath(t))
		got, err := cmd.CombinedOutput()
		if err == nil && !strings.HasPrefix(string(got), sdk128Version+" "+sdk128.path) {
			err = fmt.Errorf("imported %s", got)
		}
		if err != nil {
			sdk128.err = fmt.Errorf("azure-ai-ml %s from %s does not import with %s: %w\n%s", sdk128Version, sdk128.path, SystemPython, err, got)
		}
	})
	switch {
	case sdk128.skip != "" && os.Getenv(requireSDK128Env) != "":
		t.Fatalf("e2e: %s (%s is set)", sdk128.skip, requireSDK128Env)
	case sdk128.skip != "":
		t.Skip(sdk128.skip)
	case sdk128.err != nil:
		t.Fatalf("e2e: %v", sdk128.err)
	}
	return sdk128.path
}

// pythonPath is the PYTHONPATH of the 1.28 runs: Debian 13's packages
// first (they replace Debian 12's azure tree), then the OpenTelemetry
// stand-in.
func (x *fetchedSDK) pythonPath(t testing.TB) string {
	return x.path + string(os.PathListSeparator) + OpenTelemetryStub(t)
}

// PythonEnv128 is [Server.PythonEnv] for azure-ai-ml 1.28: the same
// exports of `mlw env`, with PYTHONPATH holding Debian 13's packages and
// the OpenTelemetry stand-in instead of Debian 12's helpers.
func (s *Server) PythonEnv128(t testing.TB) []string {
	t.Helper()
	SDK128Path(t)
	env := s.PythonEnv(t)
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PYTHONPATH=") {
			out = append(out, kv)
		}
	}
	return append(out, "PYTHONPATH="+sdk128.pythonPath(t))
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/api"
)

// RequireAzEnv, set to 1 (as scripts/test.sh does), makes a missing Azure
// CLI a failure instead of a skip.
const RequireAzEnv = "MLW_REQUIRE_AZ"

// AzTimeout bounds one az command. az starts a Python interpreter and
// imports its command modules: seconds, not minutes.
const AzTimeout = 2 * time.Minute

// RequireAz skips the test (or fails it, under MLW_REQUIRE_AZ=1) when
// Microsoft's Azure CLI (Debian's azure-cli) is not installed.
func RequireAz(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		if os.Getenv(RequireAzEnv) == "1" {
			t.Fatalf("the Azure CLI is not installed (apt-get install azure-cli), and %s=1", RequireAzEnv)
		}
		t.Skip("the Azure CLI tests need az (apt-get install azure-cli)")
	}
}

// Az runs Microsoft's Azure CLI as a user of s would after
// `eval "$(mlw env --az)"`: its own configuration directory (a new temp
// dir, so nothing of the machine's own az login is read or written), no
// telemetry, no colour, no prompts (stdin is empty), and no proxy unless
// Env adds one.
type Az struct {
	// Env is the environment of every command.
	Env []string
	// Dir is the AZURE_CONFIG_DIR.
	Dir string
}

// AzEnv returns an Az for s: the variables of `mlw env --az --output json`
// with a fresh AZURE_CONFIG_DIR, minus every one named in drop (to try
// another set-up, such as ARM_CLOUD_METADATA_URL for `az cloud register`).
func (s *Server) AzEnv(t testing.TB, drop ...string) *Az {
	t.Helper()
	var env api.PythonEnv
	s.MustRunJSON(t, &env, "env", "--az")
	az := &Az{Dir: t.TempDir()}
	env.Vars["AZURE_CONFIG_DIR"] = az.Dir
	for _, k := range drop {
		delete(env.Vars, k)
	}
	skip := map[string]bool{"HOME": true, "PYTHONPATH": true}
	for _, k := range append(append(env.Unset, api.PythonEnvNames...), api.AzureCLIEnvNames...) {
		skip[k] = true
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !skip[k] && !strings.HasPrefix(k, "MLW_") && !strings.HasPrefix(k, "AZURE_") && !strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			az.Env = append(az.Env, kv)
		}
	}
	az.Env = append(append(az.Env, env.Environ()...),
		"HOME="+t.TempDir(),
		"AZURE_CORE_COLLECT_TELEMETRY=false", // no background upload, offline or not
		"AZURE_CORE_NO_COLOR=true",
		"AZURE_CORE_SURVEY_MESSAGE=false",
		"AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no", // never offer to install an extension
		"PYTHONDONTWRITEBYTECODE=1",
	)
	return az
}

// Run runs `az args... --only-show-errors` and returns what it wrote and
// its exit code; it does not fail the test when az fails.
func (a *Az) Run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), AzTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "az", append(args, "--only-show-errors")...)
	cmd.Env = a.Env
	cmd.Dir = a.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, nil
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("e2e: az %s did not finish within %v (a prompt?)\nstderr: %s", strings.Join(args, " "), AzTimeout, errb.String())
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("e2e: run az %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// MustRun runs az, fails the test unless it exits 0 and wrote nothing to
// stderr (no warning either: --only-show-errors is given), and returns
// its stdout.
func (a *Az) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	stdout, stderr, code := a.Run(t, args...)
	if code != 0 || strings.TrimSpace(stderr) != "" {
		t.Fatalf("e2e: az %s exited %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), code, stderr, stdout)
	}
	return stdout
}

// MustRunJSON runs az with --output json and decodes its stdout into v.
func (a *Az) MustRunJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := a.MustRun(t, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("e2e: az %s printed something that is not the expected JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Config reads a file of the az configuration directory ("" when absent).
func (a *Az) Config(name string) string {
	b, _ := os.ReadFile(filepath.Join(a.Dir, name))
	return string(b)
}

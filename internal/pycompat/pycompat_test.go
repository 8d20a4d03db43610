package pycompat_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/pycompat"
)

const systemPython = "/usr/bin/python3"

// venv makes a virtualenv on the system's packages with the layer in it.
func venv(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Skip("no /usr/bin/python3 on this machine")
	}
	dir := filepath.Join(t.TempDir(), "venv")
	out, err := exec.Command(systemPython, "-m", "venv", "--without-pip", "--system-site-packages", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	site, err := pycompat.SitePackages(dir)
	require.NoError(t, err)
	require.NoError(t, pycompat.Install(site))
	return dir
}

func run(t *testing.T, venv string, env []string, code string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(venv, "bin", "python"), "-c", code)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}, env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.TrimSpace(string(out))
}

// realPydash reports whether the system has a real pydash (Debian 13).
func realPydash() bool {
	return exec.Command(systemPython, "-c", "import pydash").Run() == nil
}

func TestFallbackOnlyWhereMissing(t *testing.T) {
	t.Parallel()
	v := venv(t)
	if !realPydash() {
		require.Equal(t, "0+mlw.compat", run(t, v, nil, "import pydash; print(pydash.__version__)"))
	}
	// A real pydash anywhere on sys.path wins over the layer, even one
	// that comes after site-packages.
	real := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(real, "pydash"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(real, "pydash", "__init__.py"), []byte("__version__ = 'real'\n"), 0o644))
	got := run(t, v, nil, "import sys; sys.path.append("+pyStr(real)+"); import pydash; print(pydash.__version__)")
	require.Equal(t, "real", got)
	// Plain Debian Python (not an mlw environment) is left alone.
	if !realPydash() {
		cmd := exec.Command(systemPython, "-c", "import pydash")
		require.Error(t, cmd.Run(), "the layer must not leak outside the environments mlw makes")
	}
}

func pyStr(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func TestSemantics(t *testing.T) {
	t.Parallel()
	if realPydash() {
		t.Skip("this machine has the real pydash; the layer is not used")
	}
	v := venv(t)
	got := run(t, v, nil, `
import pydash
from pydash import objects, get
d = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x": 3}
assert get(d, "a.b.1.c") == 2
assert pydash.get(d, ["a", "b", 0, "c"]) == 1
assert pydash.get(d, "a.z", "dflt") == "dflt"
assert pydash.omit(d, "x") == {"a": {"b": [{"c": 1}, {"c": 2}]}}
assert "x" in d, "omit must not change its argument"
e = {}
objects.set_(e, "p.q.0", 5)
assert e == {"p": {"q": [5]}}, e
print("ok")
`)
	require.Equal(t, "ok", got)
}

func TestAzureMLImports(t *testing.T) {
	t.Parallel()
	if exec.Command(systemPython, "-c", "import azure.identity").Run() != nil {
		t.Skip("python3-azure is not installed (apt-get install python3-azure)")
	}
	v := venv(t)
	require.Equal(t, "ok", run(t, v, nil, "import azure.ai.ml; from azure.ai.ml import MLClient, command; print('ok')"))
}

func TestInstallIsIdempotent(t *testing.T) {
	t.Parallel()
	site := t.TempDir()
	require.NoError(t, pycompat.Install(site))
	pth := filepath.Join(site, pycompat.PthFile)
	st1, err := os.Stat(pth)
	require.NoError(t, err)
	require.NoError(t, pycompat.Install(site))
	st2, err := os.Stat(pth)
	require.NoError(t, err)
	require.Equal(t, st1.ModTime(), st2.ModTime(), "an unchanged file is not rewritten")
	b, err := os.ReadFile(filepath.Join(site, "_mlw_compat", "pydash", "objects.py"))
	require.NoError(t, err)
	require.Contains(t, string(b), "mlw's compatibility module")
	left, _ := filepath.Glob(filepath.Join(site, ".mlw-compat-*"))
	require.Empty(t, left)
}

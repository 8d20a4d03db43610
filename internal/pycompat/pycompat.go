// Package pycompat installs mlw's Python compatibility layer into the
// site-packages of a Python environment.
//
// Debian 12 packages the Azure ML SDK (python3-azure: azure-ai-ml 1.4.0)
// but not pydash, which the SDK imports, so `import azure.ai.ml` fails on a
// stock Debian 12 machine. The layer is mlw's own Python code (python/ in
// this package, embedded in the binary): a compatibility implementation of
// the three pydash functions the SDK calls, and a finder that Python
// consults only after every normal import has failed. A real pydash
// (pip, Debian 13's python3-pydash) therefore always wins; the layer never
// shadows an installed package, and it is inert where nothing is missing.
//
// mlw installs it into every Python environment it makes: the compute
// instance environments (azureml_py38, azureml_py310_sdkv2), the runtime of
// jobs on curated and custom environments, and `mlw sdk venv`.
package pycompat

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

//go:embed all:python
var files embed.FS

// PthFile is the name of the .pth file that activates the layer.
const PthFile = "mlw-compat.pth"

// pth is the .pth file: site.py executes lines that start with "import".
const pth = "import _mlw_compat; _mlw_compat.install()\n"

// Install writes the layer into siteDir (an environment's site-packages),
// creating it if needed. It is idempotent and rewrites only files whose
// content differs, so environments follow the running mlw's version.
func Install(siteDir string) error {
	if err := os.MkdirAll(siteDir, 0o755); err != nil {
		return fmt.Errorf("install mlw's Python compatibility layer: %w", err)
	}
	err := fs.WalkDir(files, "python", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := p[len("python"):]
		dst := filepath.Join(siteDir, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if path.Ext(p) != ".py" {
			return nil
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return writeIfChanged(dst, b)
	})
	if err == nil {
		err = writeIfChanged(filepath.Join(siteDir, PthFile), []byte(pth))
	}
	if err != nil {
		return fmt.Errorf("install mlw's Python compatibility layer in %s: %w", siteDir, err)
	}
	return nil
}

// writeIfChanged replaces path with b (atomically, by rename) unless it
// already holds b. Environments may be read by running interpreters.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".mlw-compat-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// SitePackages returns the site-packages directory of the virtualenv at
// venv (lib/pythonX.Y/site-packages), or an error when there is none.
func SitePackages(venv string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages"))
	if len(m) == 0 {
		return "", fmt.Errorf("%s has no lib/python3.*/site-packages: is it a virtualenv?", venv)
	}
	return m[0], nil
}

// pipWrapper is bin/pip of a virtualenv made without a pip of its own
// (`--without-pip`, which takes milliseconds instead of seconds): Debian's
// pip module (python3-pip), run by the environment's interpreter, installs
// into the environment. `pip install --upgrade pip` replaces it with a real
// pip script.
const pipWrapper = `#!/bin/sh
# Written by mlw: pip for this environment (Debian's pip, installing here).
exec "$(dirname "$0")/python" -m pip "$@"
`

// WritePip gives a virtualenv without pip the commands pip and pip3; it
// leaves a real pip alone.
func WritePip(venv string) error {
	for _, name := range []string{"pip", "pip3"} {
		p := filepath.Join(venv, "bin", name)
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			continue
		}
		if err := os.WriteFile(p, []byte(pipWrapper), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// Venv describes a virtualenv made by MakeVenv.
type Venv struct {
	Path string `json:"path"`
	// Python is the interpreter's version.
	Python string `json:"python"`
	// AzureAIML is the version of azure-ai-ml the environment imports, or
	// "" (then ImportError says why).
	AzureAIML   string `json:"azureAiMl"`
	ImportError string `json:"importError,omitempty"`
	// Pydash is the pydash the SDK gets: a version, or "mlw-compat".
	Pydash string `json:"pydash,omitempty"`
}

// probe reports what an environment imports.
const probe = `import json, platform
out = {"python": platform.python_version()}
try:
    import pydash
    out["pydash"] = "mlw-compat" if getattr(pydash, "__version__", "").endswith("+mlw.compat") else getattr(pydash, "__version__", "unknown")
except Exception:
    pass
try:
    from azure.ai.ml._version import VERSION
    import azure.ai.ml
    out["azureAiMl"] = VERSION
except Exception as e:
    out["importError"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
`

// MakeVenv makes (or refreshes) a virtualenv at dir on python's site
// packages (`--system-site-packages`: Debian's python3-azure and the rest
// are used in place), with the compatibility layer and pip, and reports
// whether the Azure ML SDK imports in it.
func MakeVenv(ctx context.Context, python, dir string) (*Venv, error) {
	if _, err := os.Stat(filepath.Join(dir, "pyvenv.cfg")); err != nil {
		out, err := exec.CommandContext(ctx, python, "-m", "venv", "--without-pip", "--system-site-packages", dir).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("create a virtualenv with %s: %v: %s", python, err, strings.TrimSpace(string(out)))
		}
	}
	site, err := SitePackages(dir)
	if err != nil {
		return nil, err
	}
	if err := Install(site); err != nil {
		return nil, err
	}
	if err := WritePip(dir); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "bin", "python"), "-c", probe).Output()
	if err != nil {
		return nil, fmt.Errorf("run the virtualenv's python: %w", err)
	}
	v := &Venv{Path: dir}
	if err := json.Unmarshal(out, v); err != nil {
		return nil, fmt.Errorf("read the virtualenv's probe: %w", err)
	}
	v.Path = dir
	return v, nil
}

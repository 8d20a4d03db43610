package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/pycompat"
)

// The Python environments of a compute instance, named as Azure ML names
// them, each with its Jupyter kernel. Each is a virtualenv on the system
// interpreter's site packages (Debian's python3-azure, scikit-learn,
// pandas, matplotlib, ipykernel are shared, read-only, by every instance),
// so creating one costs a few files (a copy of a template made once per
// host; see makeEnv), and what a user installs with
// pip goes into the environment in the instance's home: it survives stops
// and starts and is deleted with the instance. The first is the default:
// the terminal's python and pip, and Jupyter's default kernel.
var instanceEnvs = []struct {
	Name, Kernel, Display string
}{
	{"azureml_py38", "python38-azureml", "Python 3.8 - AzureML"},
	{"azureml_py310_sdkv2", "python310-sdkv2", "Python 3.10 - SDK v2"},
}

// envPython is the interpreter the environments are made from.
const envPython = "/usr/bin/python3"

// envsDir is where the environments live, relative to the home
// (/home/azureuser/.azureml/envs/<name> inside the instance).
const envsDir = ".azureml/envs"

// pythonVersion is envPython's version ("3.11.2"), or "" without one.
var pythonVersion = sync.OnceValue(func() string {
	out, err := exec.Command(envPython, "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

func (h *instanceHandle) envHost(name string) string {
	return filepath.Join(h.home(), filepath.FromSlash(envsDir), name)
}

func (h *instanceHandle) envInside(name string) string {
	return h.homeInside() + "/" + envsDir + "/" + name
}

// defaultEnvInside is the default environment's directory inside.
func (h *instanceHandle) defaultEnvInside() string { return h.envInside(instanceEnvs[0].Name) }

// ensureEnvs makes the instance's environments (once; later calls only
// refresh mlw's files in them) and their Jupyter kernels. It runs the
// interpreter inside the instance, so that the environments' own paths
// (bin/activate) are the paths the instance sees.
func (l *Instances) ensureEnvs(ctx context.Context, spec *backend.InstanceSpec, h *instanceHandle) ([]backend.PythonEnvironment, error) {
	if _, err := os.Stat(envPython); err != nil {
		return nil, nil
	}
	var out []backend.PythonEnvironment
	for i, e := range instanceEnvs {
		host := h.envHost(e.Name)
		if _, err := os.Stat(filepath.Join(host, "pyvenv.cfg")); err != nil {
			if err := l.makeEnv(ctx, spec, h, e.Name); err != nil {
				return nil, err
			}
		}
		site, err := pycompat.SitePackages(host)
		if err != nil {
			return nil, err
		}
		if err := pycompat.Install(site); err != nil {
			return nil, err
		}
		if err := pycompat.WritePip(host); err != nil {
			return nil, err
		}
		if spec.Jupyter && jupyterSupport() {
			if err := writeKernel(h, e.Name, e.Kernel, e.Display); err != nil {
				return nil, err
			}
		}
		out = append(out, backend.PythonEnvironment{Name: e.Name, Path: h.envInside(e.Name), Python: pythonVersion(),
			Kernel: e.Kernel, KernelDisplayName: e.Display, Default: i == 0})
	}
	if err := writeProfile(h); err != nil {
		return nil, err
	}
	if spec.Jupyter && jupyterSupport() {
		if err := writeCustomJS(h); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// customJS preselects the default kernel in the Notebook's "Kernel not
// found" prompt (it would offer the first kernel by name), so that a
// notebook naming a kernel this instance lacks falls back to the default.
// It is Notebook 6's documented custom.js hook (~/.jupyter/custom); a
// custom.js of the user's own (without the marker) is left alone.
const customJS = `// mlw: written at every start of the instance; delete this line to keep your own version.
(function () {
  // The prompt may open before this file has loaded: watch for it.
  function pick() {
    document.querySelectorAll('.modal-dialog select.form-control').forEach(function (sel) {
      if (!sel.dataset.mlwDefault && sel.querySelector('option[value="%[1]s"]')) {
        sel.dataset.mlwDefault = '1';
        sel.value = '%[1]s';
      }
    });
  }
  new MutationObserver(pick).observe(document.body, { childList: true, subtree: true });
  pick();
})();
`

func writeCustomJS(h *instanceHandle) error {
	p := filepath.Join(h.home(), ".jupyter", "custom", "custom.js")
	if b, err := os.ReadFile(p); err == nil && !strings.HasPrefix(string(b), "// mlw:") {
		return nil
	}
	if err := writeIfChanged(p, fmt.Sprintf(customJS, instanceEnvs[0].Kernel)); err != nil {
		return fmt.Errorf("write the Notebook's custom.js: %w", err)
	}
	return nil
}

// makeEnv makes one environment of the instance. Inside the sandbox every
// instance sees its environments at the same paths, so the first one made
// on this host (by the interpreter, inside an instance) is kept as a
// template and later instances get a copy: a few files instead of an
// interpreter start (milliseconds, not tens of them).
func (l *Instances) makeEnv(ctx context.Context, spec *backend.InstanceSpec, h *instanceHandle, name string) error {
	host := h.envHost(name)
	if err := h.mkdirHome(filepath.Dir(host)); err != nil {
		return fmt.Errorf("create the Python environment %s: %w", name, err)
	}
	_ = os.RemoveAll(host) // an incomplete one (no pyvenv.cfg)
	root := l.EnvTemplates
	if root == "" {
		root = filepath.Join(l.Dir, ".env-templates")
	}
	tmpl := filepath.Join(root, envTemplateKey(), name)
	if h.Sandbox {
		if _, err := os.Stat(filepath.Join(tmpl, "pyvenv.cfg")); err == nil {
			if err := os.CopyFS(host, os.DirFS(tmpl)); err == nil {
				return nil
			}
			_ = os.RemoveAll(host)
		}
	}
	argv := l.enter(h, "", envPython, "-m", "venv", "--without-pip", "--system-site-packages", "--prompt", name, h.envInside(name))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = l.env(spec, h, nil)
	cmd.Dir = h.home()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create the Python environment %s: %v: %s", name, err, strings.TrimSpace(string(b)))
	}
	if h.Sandbox {
		// Keep a template; a concurrent maker may win the rename.
		tmp := fmt.Sprintf("%s.tmp-%d-%d", tmpl, os.Getpid(), time.Now().UnixNano())
		if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err == nil {
			if err := os.CopyFS(tmp, os.DirFS(host)); err == nil {
				if os.Rename(tmp, tmpl) == nil {
					return nil
				}
			}
		}
		_ = os.RemoveAll(tmp)
	}
	return nil
}

// envTemplateKey names the interpreter the templates were made from: a
// Python upgrade (3.11 → 3.12) gives new templates.
func envTemplateKey() string {
	real, err := filepath.EvalSymlinks(envPython)
	if err != nil {
		real = envPython
	}
	sum := sha256.Sum256([]byte(real + "\x00" + pythonVersion()))
	return hex.EncodeToString(sum[:6])
}

// writeKernel writes the Jupyter kernel of an environment into the home
// (~/.local/share/jupyter/kernels/<kernel>/kernel.json), where Jupyter
// looks for a user's kernels.
func writeKernel(h *instanceHandle, env, kernel, display string) error {
	dir := h.envInside(env)
	ks := map[string]any{
		"argv":         []string{dir + "/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"},
		"display_name": display,
		"language":     "python",
		"metadata":     map[string]any{"debugger": true},
		// `!pip install` and `!python` in a notebook use the environment.
		"env": map[string]string{"PATH": dir + "/bin:" + defaultPath, "VIRTUAL_ENV": dir, "CONDA_DEFAULT_ENV": env, "CONDA_PREFIX": dir},
	}
	b, _ := json.MarshalIndent(ks, "", "  ")
	p := filepath.Join(h.home(), ".local", "share", "jupyter", "kernels", kernel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("write the Jupyter kernel %s: %w", kernel, err)
	}
	return os.WriteFile(filepath.Join(p, "kernel.json"), b, 0o644)
}

// defaultPath is the PATH of an instance's processes after the default
// environment's bin directory.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// profileFile is sourced by the instance's shells (~/.profile, ~/.bashrc):
// it activates the default environment, as Azure ML's `conda activate
// azureml_py38` does, after /etc/profile has reset PATH.
const profileFile = ".mlw/profile.sh"

// profileLine is what mlw adds, once, to ~/.profile and ~/.bashrc.
const profileLine = `[ -f "$HOME/` + profileFile + `" ] && . "$HOME/` + profileFile + `"  # mlw: the azureml_py38 environment`

func writeProfile(h *instanceHandle) error {
	dir := h.defaultEnvInside()
	body := fmt.Sprintf(`# Written by mlw at every start of the instance: the default Python
# environment (%[1]s) comes first on PATH, as after `+"`conda activate %[1]s`"+`.
# The environments are in ~/%[3]s; activate another with
# . ~/%[3]s/<name>/bin/activate
case ":$PATH:" in
  *":%[2]s/bin:"*) ;;
  *) PATH="%[2]s/bin:$PATH" ;;
esac
export PATH VIRTUAL_ENV="%[2]s" CONDA_DEFAULT_ENV="%[1]s" CONDA_PREFIX="%[2]s"
`, instanceEnvs[0].Name, dir, envsDir)
	if err := writeIfChanged(filepath.Join(h.home(), filepath.FromSlash(profileFile)), body); err != nil {
		return fmt.Errorf("write the shell profile: %w", err)
	}
	for _, rc := range []string{".profile", ".bashrc"} {
		p := filepath.Join(h.home(), rc)
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			b, _ = os.ReadFile(filepath.Join("/etc/skel", rc))
		} else if err != nil {
			return err
		}
		if strings.Contains(string(b), profileLine) {
			continue
		}
		s := string(b)
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if err := os.WriteFile(p, []byte(s+profileLine+"\n"), 0o644); err != nil {
			return fmt.Errorf("write ~/%s: %w", rc, err)
		}
	}
	return nil
}

func writeIfChanged(path, body string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == body {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

package envbuild

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Conda is what a conda environment file asks for, translated for pip:
// the local backend has no conda, so conda packages become pip
// requirements where a Python package of that name exists, and the rest
// (compilers, CUDA, MPI, …) is reported as skipped.
type Conda struct {
	// Name is the file's `name:` (informational).
	Name string
	// Channels are the conda channels (informational: pip uses its index).
	Channels []string
	// Python is the version the file asks for (`python=3.10` → "3.10"), or "".
	Python string
	// Requirements are pip requirement lines: conda dependencies first
	// (translated), then the `pip:` sub-list as written.
	Requirements []string
	// Skipped are the conda dependencies that have no pip equivalent.
	Skipped []string
}

// condaSkip are conda packages that are not Python distributions (or that
// the interpreter itself provides): they are noted and skipped.
var condaSkip = map[string]bool{
	"cudatoolkit": true, "cudnn": true, "cuda": true, "cuda-toolkit": true, "nccl": true,
	"mkl": true, "mkl-include": true, "intel-openmp": true, "openmpi": true, "mpich": true,
	"openssl": true, "ca-certificates": true, "libgcc": true, "libgcc-ng": true, "libstdcxx-ng": true,
	"libgomp": true, "gcc": true, "gxx": true, "make": true, "cmake": true, "git": true,
	"blas": true, "openblas": true, "libblas": true, "liblapack": true, "ffmpeg": true,
	"pytorch-cuda": true, "cpuonly": true, "pytorch-mutex": true, "ncurses": true, "readline": true,
	"sqlite": true, "tk": true, "xz": true, "zlib": true, "libffi": true, "bzip2": true,
}

// libPython are Python packages whose names start with "lib" (other
// lib* conda packages are native libraries).
var libPython = map[string]bool{"librosa": true, "libclang": true, "libsass": true, "libcst": true}

// condaQuiet are conda packages the interpreter already brings.
var condaQuiet = map[string]bool{"pip": true, "setuptools": true, "wheel": true}

// condaToPip renames conda packages whose pip distribution has another name.
var condaToPip = map[string]string{
	"pytorch":         "torch",
	"py-xgboost":      "xgboost",
	"py-lightgbm":     "lightgbm",
	"matplotlib-base": "matplotlib",
	"pytorch-cpu":     "torch",
	"tensorflow-cpu":  "tensorflow",
	"pyqt":            "PyQt5",
	"msgpack-python":  "msgpack",
	"pytables":        "tables",
	"pyyaml":          "PyYAML",
}

// condaSpecRE splits a conda match spec: name, then an optional version
// part separated by "=", "==", ">", "<", "!", "~" or a space, then an
// optional build string.
var condaSpecRE = regexp.MustCompile(`^([A-Za-z0-9_.\-]+)\s*(.*)$`)

// ParseConda reads a conda environment file (the text of a conda_file).
// It accepts the layout Azure ML documents:
//
//	name: sklearn-env
//	channels: [conda-forge]
//	dependencies:
//	  - python=3.10
//	  - scikit-learn=1.5
//	  - pip
//	  - pip:
//	      - mlflow==2.9
//
// Errors name the line.
func ParseConda(text string) (*Conda, error) {
	var doc struct {
		Name         string            `yaml:"name"`
		Channels     []string          `yaml:"channels"`
		Dependencies []yaml.Node       `yaml:"dependencies"`
		Prefix       string            `yaml:"prefix"`
		Variables    map[string]string `yaml:"variables"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				if j := strings.Index(e, " not found in type "); j >= 0 {
					e = e[:j] + " is not a conda file field (name, channels, dependencies, prefix, variables)"
				}
				msgs[i] = e
			}
			return nil, fmt.Errorf("conda file: %s", strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("conda file: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c := &Conda{Name: doc.Name, Channels: doc.Channels}
	for _, n := range doc.Dependencies {
		switch n.Kind {
		case yaml.ScalarNode:
			if err := c.addConda(n.Value); err != nil {
				return nil, fmt.Errorf("conda file: line %d: %w", n.Line, err)
			}
		case yaml.MappingNode:
			var m map[string][]string
			if err := n.Decode(&m); err != nil {
				return nil, fmt.Errorf("conda file: line %d: a mapping in dependencies must be `pip:` followed by a list of requirements", n.Line)
			}
			for k, reqs := range m {
				if k != "pip" {
					return nil, fmt.Errorf("conda file: line %d: unknown dependency group %q: only `pip:` is supported", n.Line, k)
				}
				for _, r := range reqs {
					if r = strings.TrimSpace(r); r != "" {
						c.Requirements = append(c.Requirements, r)
					}
				}
			}
		default:
			return nil, fmt.Errorf("conda file: line %d: a dependency must be a package spec (numpy=1.24) or a `pip:` list", n.Line)
		}
	}
	return c, nil
}

// addConda translates one conda match spec ("numpy=1.24", "conda-forge::
// scikit-learn>=1.0", "numpy 1.24.*", "numpy=1.24=py311h…") into a pip
// requirement.
func (c *Conda) addConda(spec string) error {
	spec = strings.TrimSpace(spec)
	if i := strings.LastIndex(spec, "::"); i >= 0 {
		spec = spec[i+2:] // channel prefix
	}
	m := condaSpecRE.FindStringSubmatch(spec)
	if m == nil {
		return fmt.Errorf("cannot read the conda package spec %q", spec)
	}
	name, ver := strings.ToLower(m[1]), strings.TrimSpace(m[2])
	pipVer, err := condaVersion(ver)
	if err != nil {
		return fmt.Errorf("package %s: %w", name, err)
	}
	if name == "python" {
		c.Python = strings.TrimPrefix(strings.TrimPrefix(pipVer, "=="), "~=")
		c.Python = strings.TrimSuffix(c.Python, ".*")
		return nil
	}
	if condaQuiet[name] {
		return nil
	}
	if condaSkip[name] || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "lib") && !libPython[name] {
		c.Skipped = append(c.Skipped, spec)
		return nil
	}
	if p, ok := condaToPip[name]; ok {
		name = p
	}
	c.Requirements = append(c.Requirements, name+pipVer)
	return nil
}

// condaVersion turns a conda version constraint into a PEP 440 one:
// "=1.2" (and "1.2") means 1.2.*, "==1.2" is exact, ">=1,<2" passes
// through, and a trailing build string ("=1.2=py311h…") is dropped.
func condaVersion(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	// A build string follows a second "=" or a space: "1.2.3=py311h_0".
	if strings.HasPrefix(v, "=") && !strings.HasPrefix(v, "==") {
		v = v[1:]
		if i := strings.IndexAny(v, "= "); i >= 0 {
			v = v[:i]
		}
		if v == "" {
			return "", errors.New(`"=" must be followed by a version, e.g. numpy=1.24`)
		}
		return "==" + wildcard(v), nil
	}
	if i := strings.Index(v, " "); i >= 0 {
		v = v[:i] // "1.2.* py311_0"
	}
	switch {
	case strings.HasPrefix(v, "=="), strings.HasPrefix(v, ">"), strings.HasPrefix(v, "<"),
		strings.HasPrefix(v, "!="), strings.HasPrefix(v, "~="):
		if strings.Count(v, "==") == 1 && strings.HasPrefix(v, "==") {
			if i := strings.Index(v[2:], "="); i >= 0 {
				v = v[:2+i]
			}
		}
		return v, nil
	case v[0] >= '0' && v[0] <= '9':
		return "==" + wildcard(v), nil
	}
	return "", fmt.Errorf("cannot read the version constraint %q", v)
}

// wildcard makes a conda "=1.2" prefix match a PEP 440 "==1.2.*".
func wildcard(v string) string {
	if strings.HasSuffix(v, "*") {
		if !strings.HasSuffix(v, ".*") {
			v = strings.TrimSuffix(v, "*") + ".*"
			v = strings.ReplaceAll(v, "..*", ".*")
		}
		return v
	}
	return v + ".*"
}

// ParseRequirements splits requirements.txt text into lines, dropping
// comments and blank lines. Option lines (--extra-index-url …) are kept
// for pip.
func ParseRequirements(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

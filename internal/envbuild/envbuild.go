// Package envbuild prepares the Python runtime of an Azure ML environment
// on the local backend, where an environment is a Python interpreter with
// its packages rather than a Docker image.
//
// The job reconciler calls [Builder.Prepare] while a job is Preparing:
//
//   - A curated environment (AzureML-sklearn-1.5, …) runs on the system
//     interpreter (/usr/bin/python3). Prepare checks that its packages
//     import and otherwise fails with an [*Error] that names the missing
//     packages and the Debian packages that provide them. A successful
//     check is trusted for a short while (Options.CheckTTL).
//   - A custom environment (a conda file or pip requirements) is built once
//     into a virtualenv (`python3 -m venv --system-site-packages`) under
//     Options.Dir, keyed by the hash of what it asks for, and reused by
//     every later job. Requirements the system already satisfies (Debian's
//     python3-* packages) are not downloaded; the rest is installed with
//     pip, with short timeouts, so that an unreachable package index fails
//     quickly with a message that says so. The build log is kept beside
//     the virtualenv ([Builder.LogPath]) and is written while the build
//     runs; concurrent Prepare calls for the same environment wait on one
//     build and all receive its log.
//   - A Docker image is ignored on the local backend (Prepare notes it in
//     the log).
//
// One Builder serves one server process; two processes sharing a
// directory would each build (the marker file makes the second a cache hit
// once the first has finished).
package envbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlw-project/mlw/internal/pycompat"
)

// DefaultPython is the interpreter environments run on: Debian's, whose
// dist-packages hold the python3-* packages (a pyenv python3 earlier on
// PATH would not see them).
const DefaultPython = "/usr/bin/python3"

// Package is one Python distribution a curated environment promises.
type Package struct {
	// Name is the distribution name, e.g. "scikit-learn".
	Name string
	// Module is the name to import; empty means the built-in table's
	// ("scikit-learn" → "sklearn") or the name with "-" → "_".
	Module string
	// Debian is the Debian package that provides it; empty means the
	// built-in table's or "python3-<name>".
	Debian string
}

// Spec is an environment as the job reconciler resolved it.
type Spec struct {
	// Name and Version identify the environment in messages.
	Name, Version string
	// Curated environments run on the system interpreter; only Packages
	// are checked (nothing is installed).
	Curated bool
	// Packages a curated environment must be able to import. When empty,
	// the distributions named by CondaFile and PipRequirements are checked.
	Packages []Package
	// CondaFile is the text of a conda environment file.
	CondaFile string
	// PipRequirements is the text of a requirements.txt.
	PipRequirements string
	// Image is a Docker image; the local backend ignores it.
	Image string
}

func (s Spec) label() string {
	if s.Name == "" {
		return "the environment"
	}
	if s.Version == "" {
		return "environment " + s.Name
	}
	return "environment " + s.Name + ":" + s.Version
}

// Runtime is how to run a job's command in a prepared environment.
type Runtime struct {
	// Python is the absolute path of the interpreter.
	Python string
	// BinDir goes first on PATH: it holds `python` and `python3` (and, for
	// a virtualenv, the scripts its packages installed).
	BinDir string
	// Env are KEY=VALUE pairs to set (VIRTUAL_ENV for a virtualenv).
	Env []string
	// Dir is the virtualenv, or "" for the system interpreter.
	Dir string
	// Key identifies a custom environment's build ("" for the system).
	Key string
	// Cached is true when an earlier build was reused.
	Cached bool
}

// Environ returns base (KEY=VALUE pairs, e.g. os.Environ()) with the
// runtime's variables set and BinDir first on PATH.
func (r *Runtime) Environ(base []string) []string {
	set := map[string]string{}
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	path := ""
	out := make([]string, 0, len(base)+len(set)+1)
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			path = v
			continue
		}
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	if r.BinDir != "" {
		path = r.BinDir + string(os.PathListSeparator) + path
	}
	return append(out, "PATH="+path)
}

// Sentinel kinds of [*Error], for errors.Is.
var (
	// ErrMissingPackages: a curated environment's packages do not import.
	ErrMissingPackages = errors.New("environment packages are missing")
	// ErrIndexUnreachable: pip could not reach the package index.
	ErrIndexUnreachable = errors.New("package index unreachable")
	// ErrBuildFailed: building the virtualenv failed for another reason.
	ErrBuildFailed = errors.New("environment build failed")
)

// Error is a failure to prepare an environment. Its message is meant for
// the user (it becomes the job's error) and says what to do.
type Error struct {
	Kind    error
	Message string
	// Missing names the Python distributions that were missing or could
	// not be installed.
	Missing []string
	// Log is the build log's path, when there is one.
	Log string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Options configure a Builder. Zero values take the defaults.
type Options struct {
	// Dir holds the cached virtualenvs and their logs (the server passes
	// <data-dir>/envs). Required.
	Dir string
	// Python is the base interpreter (default DefaultPython).
	Python string
	// IndexURL is passed to pip as --index-url when set; otherwise pip's
	// own configuration (PIP_INDEX_URL, pip.conf) applies.
	IndexURL string
	// PipTimeout is pip's per-connection timeout (default 15 s); pip
	// retries once.
	PipTimeout time.Duration
	// BuildTimeout bounds one build (default 30 min).
	BuildTimeout time.Duration
	// CheckTTL is how long a curated environment's successful import check
	// is trusted (default 1 min); for checkStale after that, a job starts on
	// it while it runs again in the background. A failed check is never
	// cached, so a job retried after `apt-get install` sees the packages.
	CheckTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Builder prepares environments. It is safe for concurrent use.
type Builder struct {
	opts Options

	mu      sync.Mutex
	flights map[string]*flight   // builds and checks in progress, by key
	checked map[string]time.Time // curated checks: key → trusted until
	// systemReady: the system runtime's virtualenv was made or checked.
	systemReady bool
}

// New returns a Builder.
func New(opts Options) *Builder {
	if opts.Python == "" {
		opts.Python = DefaultPython
	}
	if opts.PipTimeout <= 0 {
		opts.PipTimeout = 15 * time.Second
	}
	if opts.BuildTimeout <= 0 {
		opts.BuildTimeout = 30 * time.Minute
	}
	if opts.CheckTTL <= 0 {
		opts.CheckTTL = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Builder{opts: opts, flights: map[string]*flight{}, checked: map[string]time.Time{}}
}

// Prepare makes spec's runtime ready and returns it. Progress and notes go
// to log (which may be nil); it is not written after Prepare returns.
// Failures that the user can fix are [*Error]s. Prepare blocks until the
// environment is ready or ctx ends; a build it started goes on after ctx
// ends (bounded by Options.BuildTimeout) so that the next job finds it.
func (b *Builder) Prepare(ctx context.Context, spec Spec, log io.Writer) (*Runtime, error) {
	if log == nil {
		log = io.Discard
	}
	if spec.Image != "" {
		fmt.Fprintf(log, "Note: the image %s is ignored on the local backend: jobs run on this machine's Python (%s).\n", spec.Image, b.opts.Python)
	}
	reqs, err := specRequirements(spec)
	if err != nil {
		return nil, &Error{Kind: ErrBuildFailed, Message: fmt.Sprintf("%s: %v", capitalize(spec.label()), err)}
	}
	if spec.Curated {
		if err := b.checkImports(ctx, spec, reqs, log); err != nil {
			return nil, err
		}
		return b.systemRuntime()
	}
	if len(reqs.pip) == 0 {
		for _, s := range reqs.skipped {
			fmt.Fprintf(log, "Note: conda package %s has no pip equivalent and is skipped.\n", s)
		}
		return b.systemRuntime()
	}
	return b.build(ctx, spec, reqs, log)
}

// requirements is what a custom environment asks pip for.
type requirements struct {
	pip     []string // requirement lines (options such as --extra-index-url included)
	python  string   // the conda file's python=…, if any
	skipped []string // conda packages with no pip equivalent
}

func specRequirements(spec Spec) (*requirements, error) {
	r := &requirements{}
	if strings.TrimSpace(spec.CondaFile) != "" {
		c, err := ParseConda(spec.CondaFile)
		if err != nil {
			return nil, err
		}
		r.pip = append(r.pip, c.Requirements...)
		r.python, r.skipped = c.Python, c.Skipped
	}
	r.pip = append(r.pip, ParseRequirements(spec.PipRequirements)...)
	return r, nil
}

// Key is the cache key of a custom environment: a hash of its requirements
// and of the interpreter it is built on.
func (b *Builder) Key(spec Spec) (string, error) {
	reqs, err := specRequirements(spec)
	if err != nil {
		return "", err
	}
	return b.key(reqs), nil
}

func (b *Builder) key(reqs *requirements) string {
	py := b.opts.Python
	if real, err := filepath.EvalSymlinks(py); err == nil {
		py = real // a Python upgrade (3.11 → 3.12) gives new builds
	}
	h := sha256.New()
	fmt.Fprintf(h, "mlw-envbuild-v1\n%s\n%s\n", py, b.opts.IndexURL)
	for _, r := range reqs.pip {
		fmt.Fprintf(h, "%s\n", r)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// LogPath returns where a custom environment's build log is (it may not
// exist yet), or "" for an environment that is not built.
func (b *Builder) LogPath(spec Spec) string {
	reqs, err := specRequirements(spec)
	if err != nil || spec.Curated || len(reqs.pip) == 0 {
		return ""
	}
	return filepath.Join(b.opts.Dir, b.key(reqs), "build.log")
}

// BuildState is what the builder knows of a custom environment's build,
// for people who ask how it went (the build log, without a job).
type BuildState struct {
	// Needed is false for environments that are never built: curated
	// ones, and custom ones with nothing to install with pip.
	Needed bool
	// Log is the build log's path (it may not exist yet).
	Log string
	// Building: a build of it runs in this process now.
	Building bool
	// Ready: a finished build is cached, built at BuiltAt.
	Ready   bool
	BuiltAt time.Time
}

// State returns what is known of spec's build. It reads the disk and the
// builds in flight; it never starts one.
func (b *Builder) State(spec Spec) BuildState {
	reqs, err := specRequirements(spec)
	if err != nil || spec.Curated || len(reqs.pip) == 0 {
		return BuildState{}
	}
	key := b.key(reqs)
	dir := filepath.Join(b.opts.Dir, key)
	st := BuildState{Needed: true, Log: filepath.Join(dir, "build.log")}
	b.mu.Lock()
	_, st.Building = b.flights["build\x00"+key]
	b.mu.Unlock()
	if raw, err := os.ReadFile(filepath.Join(dir, readyFile)); err == nil {
		var info readyInfo
		if json.Unmarshal(raw, &info) == nil && info.Key == key {
			st.Ready, st.BuiltAt = true, info.BuiltAt
		}
	}
	return st
}

// tmpSeq numbers temporary files of concurrent calls.
var tmpSeq atomic.Int64

// systemRuntime is the system interpreter's runtime: a virtualenv on its
// site packages (`--system-site-packages`, no packages of its own), made
// once, so that `python` and `python3` name it (Debian has no `python`, and
// PATH may find another python3 first) and mlw's compatibility layer is in
// it (internal/pycompat: the SDK's pydash where Debian lacks it). Where no
// virtualenv can be made, it is a bin directory of links to the interpreter.
func (b *Builder) systemRuntime() (*Runtime, error) {
	venv := filepath.Join(b.opts.Dir, "system", "venv")
	python := filepath.Join(venv, "bin", "python")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.systemReady {
		if _, err := os.Stat(python); err == nil {
			return &Runtime{Python: python, BinDir: filepath.Join(venv, "bin"), Dir: venv}, nil
		}
	}
	if err := b.makeSystemVenv(venv); err == nil {
		b.systemReady = true
		return &Runtime{Python: python, BinDir: filepath.Join(venv, "bin"), Dir: venv}, nil
	}
	return b.systemLinks()
}

// makeSystemVenv (re)makes the system runtime's virtualenv unless a
// complete one for this interpreter is there (its marker names the
// interpreter), and refreshes mlw's files in it.
func (b *Builder) makeSystemVenv(venv string) error {
	marker := filepath.Join(venv, "mlw-ready")
	if got, err := os.ReadFile(marker); err != nil || string(got) != b.opts.Python {
		if err := os.RemoveAll(venv); err != nil {
			return err
		}
		if err := b.run(context.Background(), io.Discard, nil, b.opts.Python, "-m", "venv", "--without-pip", "--system-site-packages", venv); err != nil {
			return err
		}
		if err := os.WriteFile(marker, []byte(b.opts.Python), 0o644); err != nil {
			return err
		}
	}
	return installCompat(venv)
}

// systemLinks is the fallback system runtime: a bin directory where
// `python` and `python3` link to the interpreter.
func (b *Builder) systemLinks() (*Runtime, error) {
	bin := filepath.Join(b.opts.Dir, "system", "bin")
	for _, name := range []string{"python", "python3"} {
		link := filepath.Join(bin, name)
		if target, err := os.Readlink(link); err == nil && target == b.opts.Python {
			continue
		}
		if err := os.MkdirAll(bin, 0o755); err != nil {
			return nil, fmt.Errorf("prepare the system runtime: %w", err)
		}
		// Unique per call: jobs prepare concurrently in one process.
		tmp := fmt.Sprintf("%s.tmp%d-%d", link, os.Getpid(), tmpSeq.Add(1))
		_ = os.Remove(tmp)
		if err := os.Symlink(b.opts.Python, tmp); err != nil {
			return nil, fmt.Errorf("prepare the system runtime: %w", err)
		}
		if err := os.Rename(tmp, link); err != nil {
			return nil, fmt.Errorf("prepare the system runtime: %w", err)
		}
	}
	return &Runtime{Python: b.opts.Python, BinDir: bin}, nil
}

// checkImports verifies that a curated environment's packages import with
// the system interpreter.
func (b *Builder) checkImports(ctx context.Context, spec Spec, reqs *requirements, log io.Writer) error {
	pkgs := spec.Packages
	if len(pkgs) == 0 {
		for _, r := range reqs.pip {
			if !strings.HasPrefix(r, "-") {
				pkgs = append(pkgs, Package{Name: distName(r)})
			}
		}
	}
	byModule := map[string]Package{}
	for _, p := range pkgs {
		info := packageInfo(p.Name)
		if p.Module == "" {
			p.Module = info.module
		}
		if p.Debian == "" {
			p.Debian = info.debian
		}
		if p.Module != "" {
			if _, dup := byModule[p.Module]; !dup {
				byModule[p.Module] = p
			}
		}
	}
	if len(byModule) == 0 {
		return nil
	}
	modules := make([]string, 0, len(byModule))
	for m := range byModule {
		modules = append(modules, m)
	}
	sort.Strings(modules)
	key := "check\x00" + b.opts.Python + "\x00" + strings.Join(modules, ",")

	now := b.opts.Now()
	b.mu.Lock()
	until, ok := b.checked[key]
	// A check that passed a little while ago (checkStale) is trusted for
	// this job while the check runs again in the background: the job does
	// not wait seconds for Python to import everything once a minute. If
	// that check fails, the next job checks before it runs and is told
	// what to install.
	stale := ok && !now.Before(until) && now.Before(until.Add(checkStale))
	if stale {
		b.checked[key] = now.Add(b.opts.CheckTTL) // one background check at a time
	}
	b.mu.Unlock()
	if ok && now.Before(until) {
		fmt.Fprintf(log, "%s: %s imports %s (checked recently).\n", capitalize(spec.label()), b.opts.Python, strings.Join(modules, ", "))
		return nil
	}
	check := func(ctx context.Context, log io.Writer) (*Runtime, error) {
		fmt.Fprintf(log, "Checking that %s can import the packages of %s: %s\n", b.opts.Python, spec.label(), strings.Join(modules, ", "))
		out, err := b.probe(ctx, b.opts.Python, probeInput{Modules: modules})
		if err != nil {
			return nil, err
		}
		if len(out.Missing) == 0 {
			b.mu.Lock()
			b.checked[key] = b.opts.Now().Add(b.opts.CheckTTL)
			b.mu.Unlock()
			fmt.Fprintf(log, "All packages import (Python %s).\n", out.Python)
			return nil, nil
		}
		return nil, missingError(spec, b.opts.Python, modules, byModule, out.Missing, log)
	}
	if stale {
		fmt.Fprintf(log, "%s: %s imported %s at the last check; checking again meanwhile.\n", capitalize(spec.label()), b.opts.Python, strings.Join(modules, ", "))
		go func() {
			if _, err := b.join(context.WithoutCancel(ctx), key, "", io.Discard, check); err != nil {
				b.mu.Lock()
				delete(b.checked, key)
				b.mu.Unlock()
			}
		}()
		return nil
	}
	_, err := b.join(ctx, key, "", log, check)
	return err
}

// checkStale is how long after a successful check's trust ends (CheckTTL)
// a job still starts on it while the check runs again in the background.
const checkStale = 10 * time.Minute

func missingError(spec Spec, python string, modules []string, byModule map[string]Package, missing map[string]string, log io.Writer) error {
	var names, apt, pip []string
	for _, m := range modules {
		why, ok := missing[m]
		if !ok {
			continue
		}
		p := byModule[m]
		fmt.Fprintf(log, "  cannot import %s (%s): %s\n", m, p.Name, why)
		names = append(names, p.Name)
		if p.Debian != "" {
			apt = append(apt, p.Debian)
		} else {
			pip = append(pip, p.Name)
		}
	}
	msg := fmt.Sprintf("%s needs Python packages that %s cannot import: %s.", capitalize(spec.label()), python, strings.Join(names, ", "))
	if len(apt) > 0 {
		msg += " Install them on the machine that runs mlw server with: apt-get install " + strings.Join(apt, " ")
		if len(pip) > 0 {
			msg += "; and with pip (no Debian package): " + strings.Join(pip, " ")
		}
	} else {
		msg += " Debian does not package them; install them for " + python + " with pip: " + strings.Join(pip, " ")
	}
	msg += ". Then submit the job again."
	fmt.Fprintln(log, msg)
	return &Error{Kind: ErrMissingPackages, Message: msg, Missing: names}
}

// build returns a custom environment's virtualenv, building it once.
func (b *Builder) build(ctx context.Context, spec Spec, reqs *requirements, log io.Writer) (*Runtime, error) {
	key := b.key(reqs)
	dir := filepath.Join(b.opts.Dir, key)
	if rt, ok := b.cached(dir, key); ok {
		fmt.Fprintf(log, "Using the cached build of %s (%s).\n", spec.label(), dir)
		return rt, nil
	}
	logPath := filepath.Join(dir, "build.log")
	rt, err := b.join(ctx, "build\x00"+key, logPath, log, func(ctx context.Context, log io.Writer) (*Runtime, error) {
		return b.buildVenv(ctx, spec, reqs, key, dir, log)
	})
	if err != nil {
		return nil, err
	}
	cp := *rt
	return &cp, nil
}

// readyFile marks a finished build; a directory without it is a build that
// was interrupted, and is built again.
const readyFile = "ready.json"

type readyInfo struct {
	Key          string    `json:"key"`
	Requirements []string  `json:"requirements"`
	Installed    []string  `json:"installed"`
	BuiltAt      time.Time `json:"builtAt"`
}

func (b *Builder) cached(dir, key string) (*Runtime, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, readyFile))
	if err != nil {
		return nil, false
	}
	var info readyInfo
	if json.Unmarshal(raw, &info) != nil || info.Key != key {
		return nil, false
	}
	rt := venvRuntime(dir, key)
	if _, err := os.Stat(rt.Python); err != nil {
		return nil, false
	}
	// Builds of an earlier mlw get this one's compatibility layer.
	if _, done := compatChecked.LoadOrStore(rt.Dir, true); !done {
		if err := installCompat(rt.Dir); err != nil {
			compatChecked.Delete(rt.Dir)
		}
	}
	rt.Cached = true
	return rt, true
}

// compatChecked holds the cached virtualenvs whose compatibility layer
// this process has installed or checked.
var compatChecked sync.Map

// installCompat installs mlw's Python compatibility layer into a virtualenv.
func installCompat(venv string) error {
	site, err := pycompat.SitePackages(venv)
	if err != nil {
		return err
	}
	return pycompat.Install(site)
}

func venvRuntime(dir, key string) *Runtime {
	venv := filepath.Join(dir, "venv")
	bin := filepath.Join(venv, "bin")
	return &Runtime{Python: filepath.Join(bin, "python"), BinDir: bin, Dir: venv, Key: key,
		Env: []string{"VIRTUAL_ENV=" + venv, "PYTHONNOUSERSITE=1"}}
}

// networkErrRE matches pip's output when the index cannot be reached.
var networkErrRE = regexp.MustCompile(`NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|ConnectTimeoutError|Connection refused|ProxyError|Read timed out|No route to host|SSLError|Max retries exceeded`)

func (b *Builder) buildVenv(ctx context.Context, spec Spec, reqs *requirements, key, dir string, log io.Writer) (*Runtime, error) {
	start := b.opts.Now()
	logPath := filepath.Join(dir, "build.log")
	fail := func(kind error, missing []string, format string, args ...any) (*Runtime, error) {
		msg := fmt.Sprintf(format, args...)
		if !strings.Contains(msg, logPath) {
			msg += " The build log is " + logPath + "."
		}
		fmt.Fprintln(log, "ERROR: "+msg)
		return nil, &Error{Kind: kind, Message: msg, Missing: missing, Log: logPath}
	}
	fmt.Fprintf(log, "Building %s into a virtualenv (%s) on %s.\n", spec.label(), dir, b.opts.Python)
	for _, s := range reqs.skipped {
		fmt.Fprintf(log, "Note: conda package %s has no pip equivalent and is skipped.\n", s)
	}
	venv := filepath.Join(dir, "venv")
	if err := os.RemoveAll(venv); err != nil {
		return fail(ErrBuildFailed, nil, "Cannot clear %s: %v.", venv, err)
	}
	if err := b.run(ctx, log, nil, b.opts.Python, "-m", "venv", "--system-site-packages", "--without-pip", venv); err != nil {
		return fail(ErrBuildFailed, nil, "Creating the virtualenv for %s failed: %v. Is the python3-venv Debian package installed?", spec.label(), err)
	}
	rt := venvRuntime(dir, key)
	if err := installCompat(rt.Dir); err != nil {
		return fail(ErrBuildFailed, nil, "%v.", err)
	}

	var opts, wanted []string
	for _, r := range reqs.pip {
		if strings.HasPrefix(r, "-") {
			opts = append(opts, r)
		} else {
			wanted = append(wanted, r)
		}
	}
	out, err := b.probe(ctx, rt.Python, probeInput{Requirements: wanted})
	if err != nil {
		return fail(ErrBuildFailed, nil, "Checking the installed packages of %s failed: %v.", spec.label(), err)
	}
	if reqs.python != "" && !strings.HasPrefix(out.Python+".", reqs.python+".") {
		fmt.Fprintf(log, "Note: the conda file asks for python=%s; the local backend runs Python %s (%s).\n", reqs.python, out.Python, b.opts.Python)
	}
	if len(out.Satisfied) > 0 {
		fmt.Fprintf(log, "Already installed on this machine (not downloaded): %s\n", strings.Join(out.Satisfied, ", "))
	}
	if len(out.Unsatisfied) > 0 {
		fmt.Fprintf(log, "Installing with pip: %s\n", strings.Join(out.Unsatisfied, ", "))
		reqFile := filepath.Join(dir, "requirements.txt")
		body := strings.Join(append(append([]string{}, opts...), out.Unsatisfied...), "\n") + "\n"
		if err := os.WriteFile(reqFile, []byte(body), 0o644); err != nil {
			return fail(ErrBuildFailed, nil, "Cannot write %s: %v.", reqFile, err)
		}
		args := []string{"-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
			"--timeout", fmt.Sprint(int(b.opts.PipTimeout.Seconds())), "--retries", "1", "-r", reqFile}
		index := "the package index (pip's configured index, https://pypi.org/simple by default)"
		if b.opts.IndexURL != "" {
			args = append(args, "--index-url", b.opts.IndexURL)
			index = "the package index " + b.opts.IndexURL
		}
		var pipOut bytes.Buffer
		env := []string{"PYTHONNOUSERSITE=1", "PIP_NO_INPUT=1"}
		if err := b.run(ctx, io.MultiWriter(log, &pipOut), env, rt.Python, args...); err != nil {
			if ctx.Err() != nil {
				return fail(ErrBuildFailed, out.Unsatisfied, "Building %s did not finish within %s.", spec.label(), b.opts.BuildTimeout)
			}
			if networkErrRE.Match(pipOut.Bytes()) {
				return fail(ErrIndexUnreachable, out.Unsatisfied,
					"Could not reach %s to install %s for %s. Point pip at a reachable mirror (PIP_INDEX_URL or pip.conf on the server machine), or install these packages from Debian (apt-get install %s) so that nothing needs downloading.",
					index, strings.Join(out.Unsatisfied, ", "), spec.label(), strings.Join(debianNames(out.Unsatisfied), " "))
			}
			return fail(ErrBuildFailed, out.Unsatisfied, "pip could not install %s for %s: %s", strings.Join(out.Unsatisfied, ", "), spec.label(), lastLines(pipOut.String(), 3))
		}
	}
	info := readyInfo{Key: key, Requirements: reqs.pip, Installed: out.Unsatisfied, BuiltAt: b.opts.Now().UTC()}
	raw, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, readyFile), raw, 0o644); err != nil {
		return fail(ErrBuildFailed, nil, "Cannot record the build: %v.", err)
	}
	fmt.Fprintf(log, "Environment ready in %s.\n", b.opts.Now().Sub(start).Round(time.Millisecond))
	return rt, nil
}

func debianNames(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if d := packageInfo(distName(r)).debian; d != "" {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		out = []string{"python3-<package>"}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// run runs a command with its output going to log.
func (b *Builder) run(ctx context.Context, log io.Writer, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd.Run()
}

// probeInput and probeOutput are the JSON exchanged with probeScript.
type probeInput struct {
	Modules      []string `json:"modules,omitempty"`
	Requirements []string `json:"requirements,omitempty"`
}

type probeOutput struct {
	Python      string            `json:"python"`
	Missing     map[string]string `json:"missing"`
	Satisfied   []string          `json:"satisfied"`
	Unsatisfied []string          `json:"unsatisfied"`
}

// probeScript imports modules and checks requirements against the
// installed distributions (importlib.metadata + packaging).
const probeScript = `
import sys, json, importlib
req = json.load(sys.stdin)
out = {"python": "%d.%d.%d" % sys.version_info[:3], "missing": {}, "satisfied": [], "unsatisfied": []}
for m in req.get("modules") or []:
    try:
        importlib.import_module(m)
    except BaseException as e:
        out["missing"][m] = "%s: %s" % (type(e).__name__, e)
reqs = req.get("requirements") or []
if reqs:
    import importlib.metadata as md
    try:
        from packaging.requirements import Requirement
    except ImportError:
        from pip._vendor.packaging.requirements import Requirement
    for line in reqs:
        ok = False
        try:
            r = Requirement(line)
            if r.marker is not None and not r.marker.evaluate():
                ok = True
            elif r.url is None:
                ok = r.specifier.contains(md.version(r.name), prereleases=True)
        except Exception:
            ok = False
        (out["satisfied"] if ok else out["unsatisfied"]).append(line)
json.dump(out, sys.stdout)
`

func (b *Builder) probe(ctx context.Context, python string, in probeInput) (*probeOutput, error) {
	raw, _ := json.Marshal(in)
	cmd := exec.CommandContext(ctx, python, "-c", probeScript)
	cmd.Stdin = bytes.NewReader(raw)
	cmd.Env = append(os.Environ(), "PYTHONNOUSERSITE=1", "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s failed: %v: %s", python, err, lastLines(stderr.String(), 3))
		}
		return nil, fmt.Errorf("cannot run %s: %w (install Debian's python3)", python, err)
	}
	var out probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("%s printed something unexpected: %q", python, lastLines(stdout.String(), 2))
	}
	return &out, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

package envbuild

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConda(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		text    string
		want    *Conda
		wantErr string
	}{
		{
			name: "azure sample",
			text: `name: sklearn-env
channels:
  - conda-forge
dependencies:
  - python=3.10
  - scikit-learn=1.5
  - pandas==1.5.3
  - numpy>=1.22,<2
  - conda-forge::scipy=1.10.1=py310h_0
  - pip
  - pip:
    - mlflow==2.9.2
    - azureml-mlflow
`,
			want: &Conda{Name: "sklearn-env", Channels: []string{"conda-forge"}, Python: "3.10",
				Requirements: []string{"scikit-learn==1.5.*", "pandas==1.5.3", "numpy>=1.22,<2", "scipy==1.10.1.*", "mlflow==2.9.2", "azureml-mlflow"}},
		},
		{
			name: "renames and native packages",
			text: "dependencies:\n  - pytorch\n  - py-xgboost 1.7.*\n  - cudatoolkit=11.8\n  - libgomp\n  - _openmp_mutex\n  - librosa\n",
			want: &Conda{Requirements: []string{"torch", "xgboost==1.7.*", "librosa"}, Skipped: []string{"cudatoolkit=11.8", "libgomp", "_openmp_mutex"}},
		},
		{name: "empty", text: "", want: &Conda{}},
		{name: "unknown group", text: "dependencies:\n  - npm:\n    - left-pad\n", wantErr: `conda file: line 2: unknown dependency group "npm"`},
		{name: "unknown field", text: "dependencies: []\nchanels: [x]\n", wantErr: "conda file: line 2: field chanels is not a conda file field"},
		{name: "bad version", text: "dependencies:\n  - numpy=\n", wantErr: "conda file: line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConda(tt.text)
			if tt.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseRequirements(t *testing.T) {
	t.Parallel()
	got := ParseRequirements("# comment\nnumpy>=1.2  # inline\n\n--extra-index-url https://x/simple\nscikit-learn\n")
	require.Equal(t, []string{"numpy>=1.2", "--extra-index-url https://x/simple", "scikit-learn"}, got)
}

func TestKeyIgnoresFormatting(t *testing.T) {
	t.Parallel()
	b := New(Options{Dir: t.TempDir()})
	k1, err := b.Key(Spec{CondaFile: "dependencies:\n  - numpy=1.24\n  - pip:\n    - mlflow\n"})
	require.NoError(t, err)
	k2, err := b.Key(Spec{CondaFile: "# same\ndependencies: [numpy=1.24, {pip: [mlflow]}]\n"})
	require.NoError(t, err)
	k3, err := b.Key(Spec{PipRequirements: "numpy==1.24.*\nmlflow\n"})
	require.NoError(t, err)
	require.Equal(t, k1, k2)
	require.Equal(t, k1, k3, "a conda file and the equivalent requirements share a build")
	k4, err := b.Key(Spec{PipRequirements: "numpy==1.25.*\nmlflow\n"})
	require.NoError(t, err)
	require.NotEqual(t, k1, k4)
}

func TestEnviron(t *testing.T) {
	t.Parallel()
	rt := &Runtime{BinDir: "/envs/x/bin", Env: []string{"VIRTUAL_ENV=/envs/x"}}
	got := rt.Environ([]string{"HOME=/root", "PATH=/usr/bin:/bin", "VIRTUAL_ENV=/old"})
	require.Equal(t, []string{"HOME=/root", "VIRTUAL_ENV=/envs/x", "PATH=/envs/x/bin:/usr/bin:/bin"}, got)
}

// needPython skips tests that run the real interpreter where there is none.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(DefaultPython); err != nil {
		t.Skipf("%s is not installed", DefaultPython)
	}
}

// countingPython writes a python3 stand-in that records each invocation's
// arguments (one line per call) and then runs the real interpreter.
func countingPython(t *testing.T) (python string, calls func(substr string) int) {
	t.Helper()
	dir := t.TempDir()
	record := filepath.Join(dir, "calls")
	python = filepath.Join(dir, "python3")
	script := "#!/bin/sh\necho \"$*\" >> " + record + "\nexec " + DefaultPython + " \"$@\"\n"
	writeExecutable(t, python, script)
	return python, func(substr string) int {
		b, _ := os.ReadFile(record)
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if line != "" && strings.Contains(line, substr) {
				n++
			}
		}
		return n
	}
}

func TestCuratedMissingPackages(t *testing.T) {
	t.Parallel()
	needPython(t)
	b := New(Options{Dir: t.TempDir()})
	var log bytes.Buffer
	_, err := b.Prepare(context.Background(), Spec{Name: "AzureML-sklearn-1.5", Version: "1", Curated: true, Packages: []Package{
		{Name: "json"}, // stdlib: imports
		{Name: "scikit-learn", Module: "mlw_test_no_such_module"},
		{Name: "mlw-test-missing-dist"},
	}}, &log)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrMissingPackages)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, []string{"mlw-test-missing-dist", "scikit-learn"}, e.Missing)
	require.Contains(t, err.Error(), "Environment AzureML-sklearn-1.5:1 needs Python packages that /usr/bin/python3 cannot import: mlw-test-missing-dist, scikit-learn.")
	require.Contains(t, err.Error(), "apt-get install python3-mlw-test-missing-dist python3-sklearn")
	require.Contains(t, log.String(), "No module named 'mlw_test_no_such_module'")
}

func TestCuratedCheckIsCachedBriefly(t *testing.T) {
	t.Parallel()
	needPython(t)
	python, calls := countingPython(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	dir := t.TempDir()
	b := New(Options{Dir: dir, Python: python, CheckTTL: time.Minute, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	spec := Spec{Name: "AzureML-test", Curated: true, Packages: []Package{{Name: "json"}, {Name: "azureml-core"}}}
	for range 3 {
		rt, err := b.Prepare(context.Background(), spec, nil)
		require.NoError(t, err)
		require.Equal(t, filepath.Join(dir, "system", "venv", "bin", "python"), rt.Python)
		require.FileExists(t, filepath.Join(rt.BinDir, "python"))
	}
	require.Equal(t, 1, calls("-c"), "the check ran once")
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	_, err := b.Prepare(context.Background(), spec, nil)
	require.NoError(t, err, "a check that expired a little while ago is trusted meanwhile")
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return calls("-c") == 2 && len(b.flights) == 0
	}, time.Minute, 10*time.Millisecond, "an expired check runs again, in the background")
	_, err = b.Prepare(context.Background(), spec, nil)
	require.NoError(t, err)
	require.Equal(t, 2, calls("-c"), "the background check is trusted")
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	_, err = b.Prepare(context.Background(), spec, nil)
	require.NoError(t, err)
	require.Equal(t, 3, calls("-c"), "a check long expired runs again before the job")

	bad := Spec{Name: "AzureML-bad", Curated: true, Packages: []Package{{Name: "mlw-test-missing"}}}
	for range 2 {
		_, err := b.Prepare(context.Background(), bad, nil)
		require.ErrorIs(t, err, ErrMissingPackages)
	}
	require.Equal(t, 5, calls("-c"), "a failed check is not cached")
}

func TestSystemRuntimeNamesPython(t *testing.T) {
	t.Parallel()
	needPython(t)
	b := New(Options{Dir: t.TempDir()})
	var log bytes.Buffer
	rt, err := b.Prepare(context.Background(), Spec{Name: "docker-image-example", Version: "1", Image: "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"}, &log)
	require.NoError(t, err)
	require.Contains(t, log.String(), "the image mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04 is ignored on the local backend")
	// Through sh, so that the runtime's PATH finds `python`, as it does
	// for a job's command.
	cmd := exec.Command("/bin/sh", "-c", "python -c 'import sys; print(sys.base_prefix)'")
	cmd.Env = rt.Environ(os.Environ())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, "/usr", strings.TrimSpace(string(out)), "`python` is Debian's interpreter")
}

// TestCustomEnvBuildsOfflineAndCaches builds a real virtualenv whose
// requirements the system already satisfies: nothing is downloaded (the
// index is unreachable on purpose), and the second Prepare reuses it.
func TestCustomEnvBuildsOfflineAndCaches(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := t.TempDir()
	b := New(Options{Dir: dir, IndexURL: "http://127.0.0.1:1/simple"})
	spec := Spec{Name: "my-env", Version: "1",
		CondaFile:       "name: my-env\nchannels: [conda-forge]\ndependencies:\n  - python=3.8\n  - pip\n  - pip:\n    - packaging>=20\n",
		PipRequirements: "# from Debian\npip\n"}
	before := b.State(spec)
	require.True(t, before.Needed)
	require.False(t, before.Ready)
	require.False(t, before.Building)
	require.NoFileExists(t, before.Log, "State never starts a build")
	require.False(t, b.State(Spec{Name: "AzureML-x", Curated: true}).Needed, "curated environments are not built")
	require.False(t, b.State(Spec{CondaFile: "dependencies:\n  - python=3.11\n"}).Needed, "nothing to install: nothing built")

	var log bytes.Buffer
	rt, err := b.Prepare(context.Background(), spec, &log)
	require.NoError(t, err, log.String())
	require.False(t, rt.Cached)
	after := b.State(spec)
	require.True(t, after.Ready)
	require.False(t, after.Building)
	require.False(t, after.BuiltAt.IsZero())
	require.Equal(t, before.Log, after.Log)
	require.Equal(t, filepath.Join(dir, rt.Key, "venv", "bin", "python"), rt.Python)
	require.Contains(t, log.String(), "Already installed on this machine (not downloaded): packaging>=20, pip")
	require.Contains(t, log.String(), "the conda file asks for python=3.8")
	require.NotContains(t, log.String(), "Installing with pip")

	logPath := b.LogPath(spec)
	require.Equal(t, filepath.Join(dir, rt.Key, "build.log"), logPath)
	kept, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Equal(t, log.String(), string(kept), "the build log is kept on disk")

	cmd := exec.Command("/bin/sh", "-c", "python -c 'import sys, packaging; print(sys.prefix)'")
	cmd.Env = rt.Environ(os.Environ())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, rt.Dir, strings.TrimSpace(string(out)))

	var log2 bytes.Buffer
	rt2, err := b.Prepare(context.Background(), spec, &log2)
	require.NoError(t, err)
	require.True(t, rt2.Cached)
	require.Equal(t, rt.Python, rt2.Python)
	require.Contains(t, log2.String(), "Using the cached build")

	// A new Builder (a restarted server) finds the build on disk.
	rt3, err := New(Options{Dir: dir, IndexURL: "http://127.0.0.1:1/simple"}).Prepare(context.Background(), spec, nil)
	require.NoError(t, err)
	require.True(t, rt3.Cached)
}

func TestConcurrentPreparesShareOneBuild(t *testing.T) {
	t.Parallel()
	needPython(t)
	python, calls := countingPython(t)
	b := New(Options{Dir: t.TempDir(), Python: python, IndexURL: "http://127.0.0.1:1/simple"})
	spec := Spec{Name: "shared", PipRequirements: "packaging\n"}
	const n = 4
	var wg sync.WaitGroup
	rts := make([]*Runtime, n)
	errs := make([]error, n)
	logs := make([]bytes.Buffer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rts[i], errs[i] = b.Prepare(context.Background(), spec, &logs[i])
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], logs[i].String())
		require.Equal(t, rts[0].Python, rts[i].Python)
		if !rts[i].Cached {
			require.Contains(t, logs[i].String(), "Building environment shared", "every waiter gets the build log")
		}
	}
	require.Equal(t, 1, calls("-m venv"), "one build for concurrent requests")
}

func TestUnreachableIndexFailsClearly(t *testing.T) {
	t.Parallel()
	needPython(t)
	b := New(Options{Dir: t.TempDir(), IndexURL: "http://127.0.0.1:1/simple", PipTimeout: 2 * time.Second})
	spec := Spec{Name: "needs-download", Version: "3", PipRequirements: "mlw-test-surely-not-installed==1.0\npackaging\n"}
	var log bytes.Buffer
	_, err := b.Prepare(context.Background(), spec, &log)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrIndexUnreachable, log.String())
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, []string{"mlw-test-surely-not-installed==1.0"}, e.Missing, "only what the system lacks")
	require.Contains(t, err.Error(), "Could not reach the package index http://127.0.0.1:1/simple to install mlw-test-surely-not-installed==1.0 for environment needs-download:3")
	require.Contains(t, err.Error(), b.LogPath(spec))
	require.FileExists(t, b.LogPath(spec))
	require.NoFileExists(t, filepath.Join(filepath.Dir(b.LogPath(spec)), readyFile), "a failed build is not cached")
	st := b.State(spec)
	require.True(t, st.Needed)
	require.False(t, st.Ready, "a failed build is not ready")
	require.False(t, st.Building)
}

func TestCanceledWaiterLeavesBuildRunning(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := t.TempDir()
	b := New(Options{Dir: dir, IndexURL: "http://127.0.0.1:1/simple"})
	spec := Spec{PipRequirements: "packaging\n"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Prepare(ctx, spec, nil)
	require.True(t, errors.Is(err, context.Canceled))
	// The build goes on; a later Prepare joins it or finds it done.
	rt, err := b.Prepare(context.Background(), spec, nil)
	require.NoError(t, err)
	require.FileExists(t, rt.Python)
}

// writeExecutable writes a script through a child process. Writing it from
// this process would race with parallel tests: a child forked while the
// file is open for writing keeps it open until it execs, and running the
// script then fails with ETXTBSY ("text file busy").
func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `cat > "$0" && chmod 0755 "$0"`, path)
	cmd.Stdin = strings.NewReader(content)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// The runtime of curated environments is Debian's interpreter and
// packages, with mlw's compatibility layer: the Azure ML SDK imports in a
// job even though Debian 12 lacks pydash.
func TestSystemRuntimeImportsTheSDK(t *testing.T) {
	t.Parallel()
	needPython(t)
	if exec.Command(DefaultPython, "-c", "import azure.identity").Run() != nil {
		t.Skip("python3-azure is not installed")
	}
	b := New(Options{Dir: t.TempDir()})
	spec := Spec{Name: "AzureML-test", Curated: true, Packages: []Package{{Name: "json"}}}
	rt, err := b.Prepare(context.Background(), spec, nil)
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(rt.BinDir, "python"), "-c", "import sys, azure.ai.ml, sklearn; print(sys.prefix != sys.base_prefix)")
	cmd.Env = rt.Environ([]string{"PATH=/usr/bin:/bin"})
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "True\n", string(out))
	// A second job reuses the same virtualenv.
	rt2, err := b.Prepare(context.Background(), spec, nil)
	require.NoError(t, err)
	require.Equal(t, rt.Python, rt2.Python)
}

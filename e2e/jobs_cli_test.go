package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The job CLI as a user drives it: `mlw job create|stream|show|list|
// cancel|download` against a real server, with a code folder on disk.

// jobCLIEnv starts a server with a workspace (the CLI's default) and a
// cluster, and returns the folder that holds the job's project.
func jobCLIEnv(t *testing.T) (*Server, string) {
	t.Helper()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg-cli", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-cli", "-g", "rg-cli")
	s.MustRun(t, "configure", "--defaults", "group=rg-cli", "workspace=ws-cli")
	s.MustRun(t, "compute", "create", "--name", "cpu-cluster", "--type", "AmlCompute", "--size", "STANDARD_DS11_V2",
		"--min-instances", "0", "--max-instances", "2")
	proj := filepath.Join(s.WorkDir, "proj")
	jcWrite(t, proj, map[string]string{
		"src/train.py": `import os, sys
print("hello from mlw", sys.argv[1:])
print("data:", open(sys.argv[2]).read().strip())
os.makedirs("outputs", exist_ok=True)
open("outputs/result.txt", "w").write("lr=" + sys.argv[1] + "\n")
print("GREETING=" + os.environ.get("GREETING", ""))
`,
		"src/.amlignore":      "*.tmp\nscratch/\n",
		"src/ignored.tmp":     "not uploaded",
		"src/scratch/big.bin": strings.Repeat("x", 4096),
		"data/rows.csv":       "a,b\n1,2\n",
		// An environment with nothing to install runs on the system
		// Python without any package check.
		"env.yml":   "name: local-python\nversion: 1\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\nconda_file: conda.yml\n",
		"conda.yml": "dependencies:\n  - python=3.11\n  - pip\n",
		"job.yml": `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: python train.py ${{inputs.lr}} ${{inputs.rows}}
environment: azureml:local-python:1
compute: azureml:cpu-cluster
experiment_name: cli-e2e
display_name: cli job
environment_variables:
  GREETING: hi
inputs:
  lr: 0.01
  rows:
    type: uri_file
    path: data/rows.csv
`,
	})
	s.MustRun(t, "environment", "create", "--file", filepath.Join(proj, "env.yml"))
	return s, proj
}

func jcWrite(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(body), 0o644))
	}
}

func TestJobCLISubmitStreamDownload(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	file := filepath.Join(proj, "job.yml")

	stdout, stderr, code := s.Run("job", "create", "--file", file, "--stream", "--name", "first_run")
	require.Zero(t, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "hello from mlw ['0.01', ")
	require.Contains(t, stdout, "data: a,b\n1,2")
	require.Contains(t, stdout, "GREETING=hi")
	require.NotContains(t, stdout, "Submitted", "stdout carries only the job's output")
	require.Contains(t, stderr, "Code uploaded: ")
	require.Contains(t, stderr, "in 2 files", "train.py and .amlignore; ignored files stay home")
	require.Contains(t, stderr, "Submitted job first_run to cpu-cluster")
	require.Contains(t, stderr, "job first_run completed")

	// Resubmitting unchanged code uploads nothing.
	var job map[string]any
	s.MustRunJSON(t, &job, "job", "create", "--file", file, "--set", "inputs.lr=0.5")
	_, stderr, code = s.Run("job", "create", "--file", file, "--name", "third_run")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "Code unchanged: 0 bytes uploaded")
	require.Contains(t, stderr, "Input rows unchanged: 0 bytes uploaded")
	name := job["name"].(string)
	require.Regexp(t, `^[a-z]+_[a-z]+_[a-z0-9]{10}$`, name, "a generated name looks like Azure's")
	require.Equal(t, "cli job", job["display_name"])
	require.Equal(t, "0.5", job["inputs"].(map[string]any)["lr"], "--set changed the input")

	// stream follows a job to its end, also one submitted earlier.
	stdout, stderr, code = s.Run("job", "stream", name)
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "hello from mlw ['0.5', ")
	require.Contains(t, stderr, "completed")

	var shown map[string]any
	s.MustRunJSON(t, &shown, "job", "show", "--name", "first_run")
	require.Equal(t, "Completed", shown["status"])
	require.Contains(t, shown["code"], "/codes/")
	s.MustRunREST(t, &shown, "job", "show", "--name", "first_run")
	require.Equal(t, "Completed", shown["properties"].(map[string]any)["status"])
	require.Contains(t, shown["properties"].(map[string]any)["codeId"], "/codes/")

	var list []map[string]any
	s.MustRunJSON(t, &list, "job", "list", "--experiment", "cli-e2e")
	require.Len(t, list, 3)
	s.MustRunJSON(t, &list, "job", "list", "--max-results", "1")
	require.Len(t, list, 1)
	s.MustRunJSON(t, &list, "job", "list", "--experiment", "nothing-here")
	require.Empty(t, list)

	dl := filepath.Join(s.WorkDir, "dl")
	stdout, stderr, code = s.Run("job", "download", "first_run", "--download-path", dl)
	require.Zero(t, code, stderr)
	require.Empty(t, stdout)
	b, err := os.ReadFile(filepath.Join(dl, "artifacts", "outputs", "result.txt"))
	require.NoError(t, err)
	require.Equal(t, "lr=0.01\n", string(b))
	log, err := os.ReadFile(filepath.Join(dl, "artifacts", "user_logs", "std_log.txt"))
	require.NoError(t, err)
	require.Contains(t, string(log), "hello from mlw")
}

func TestJobCLIErrors(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	const good = "command: python train.py\ncode: src\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:cpu-cluster\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"bad yaml field", "command: python train.py\ncode: src\nenviroment: azureml:AzureML-sklearn-1.5@latest\ncompute: cpu-cluster\n",
			[]string{"bad_yaml_field.yml: line 3: enviroment: not a known field (check its spelling and indentation)"}},
		{"bad yaml syntax", "command: python train.py\n  code: src\n", []string{"bad_yaml_syntax.yml: line 2: mapping values are not allowed"}},
		{"unknown compute", strings.Replace(good, "cpu-cluster", "gpu-cluster", 1),
			[]string{`unknown_compute.yml: line 4: compute: the compute "gpu-cluster" was not found in workspace ws-cli`, "mlw compute list"}},
		{"unknown environment", strings.Replace(good, "azureml:AzureML-sklearn-1.5@latest", "azureml:my-env:3", 1),
			[]string{"unknown_environment.yml: line 3: environment: the environment my-env:3 was not found in workspace ws-cli", "mlw environment list"}},
		{"unknown curated environment", strings.Replace(good, "AzureML-sklearn-1.5", "AzureML-tensorflow-9", 1),
			[]string{"unknown_curated_environment.yml: line 3: environment: ", "AzureML-tensorflow-9"}},
		{"missing code", strings.Replace(good, "code: src", "code: nowhere", 1),
			[]string{"missing_code.yml: line 2: code: the code folder nowhere does not exist"}},
	}
	for _, tt := range tests {
		file := filepath.Join(proj, strings.ReplaceAll(tt.name, " ", "_")+".yml")
		require.NoError(t, os.WriteFile(file, []byte(tt.doc), 0o644))
		stdout, stderr, code := s.Run("job", "create", "--file", file)
		require.NotZero(t, code, tt.name)
		require.Empty(t, stdout, "%s: errors go to stderr only", tt.name)
		require.Contains(t, stderr, "ERROR: ", tt.name)
		for _, w := range tt.want {
			require.Contains(t, stderr, w, tt.name)
		}
	}
	_, stderr, code := s.Run("job", "show", "no_such_job")
	require.NotZero(t, code)
	require.Contains(t, stderr, "no_such_job")
	_, stderr, code = s.Run("job", "stream")
	require.NotZero(t, code)
	require.Contains(t, stderr, "pass the job's name: mlw job stream NAME")
}

func TestJobCLIFailureAndCancel(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	jcWrite(t, proj, map[string]string{
		"fail.yml": "command: python -c \"import sys; print('about to fail'); sys.exit(3)\"\nenvironment: local-python@latest\ncompute: cpu-cluster\nname: failing\n",
		"long.yml": "command: echo started; sleep 300\nenvironment: azureml:local-python@latest\ncompute: cpu-cluster\nname: long\n",
	})
	stdout, stderr, code := s.Run("job", "create", "-f", filepath.Join(proj, "fail.yml"), "--stream")
	require.NotZero(t, code, "a failed job fails the command")
	require.Contains(t, stdout, "about to fail")
	require.Contains(t, stderr, "ERROR: job failing ended Failed")
	require.Contains(t, stderr, "3", "the exit code is in the message")

	s.MustRun(t, "job", "create", "-f", filepath.Join(proj, "long.yml"))
	Await(t, "the long job to run", func() error {
		var j map[string]any
		s.MustRunJSON(t, &j, "job", "show", "long")
		if st := j["status"]; st != "Running" {
			return fmt.Errorf("status %v", st)
		}
		return nil
	})
	var canceled map[string]any
	s.MustRunJSON(t, &canceled, "job", "cancel", "long")
	Await(t, "the job to be canceled", func() error {
		var j map[string]any
		s.MustRunJSON(t, &j, "job", "show", "long")
		if st := j["status"]; st != "Canceled" {
			return fmt.Errorf("status %v", st)
		}
		return nil
	})
	stdout, stderr, code = s.Run("job", "stream", "long")
	require.NotZero(t, code)
	require.Contains(t, stdout, "started")
	require.Contains(t, stderr, "job long was canceled")
}

// TestJobCLIInlineEnvironment: an environment written inside the job file
// is registered as an anonymous version of CliV2AnonymousEnvironment
// (version: azure-ai-ml's 32-hex hash) and used by the job.
func TestJobCLIInlineEnvironment(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	jcWrite(t, proj, map[string]string{"inline.yml": `command: python -c "print('inline env ok')"
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
  conda_file:
    dependencies: [python=3.11, pip]
compute: cpu-cluster
`})
	stdout, stderr, code := s.Run("job", "create", "-f", filepath.Join(proj, "inline.yml"), "--stream")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "inline env ok")
	var versions []map[string]any
	s.MustRunJSON(t, &versions, "environment", "list", "--name", "CliV2AnonymousEnvironment")
	require.Len(t, versions, 1)
	require.Equal(t, "CliV2AnonymousEnvironment", versions[0]["name"])
	require.Regexp(t, `^[0-9a-f]{32}$`, versions[0]["version"])
}

// TestJobCLIStreamSurvivesServerRestart: `mlw job stream` keeps following
// a job while the server restarts, and prints every line once.
func TestJobCLIStreamSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	jcWrite(t, proj, map[string]string{"gate.yml": "command: echo before; while [ ! -f go ]; do sleep 0.05; done; echo after\nenvironment: azureml:local-python:1\ncompute: cpu-cluster\nname: gated\n"})
	s.MustRun(t, "job", "create", "-f", filepath.Join(proj, "gate.yml"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*AwaitTimeout)
	defer cancel()
	cmd := s.Command(ctx, "job", "stream", "gated")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	Await(t, "the stream to print the first line", func() error {
		if !strings.Contains(stdout.String(), "before") {
			return fmt.Errorf("stdout so far: %q, stderr: %q", stdout.String(), stderr.String())
		}
		return nil
	})

	s.Restart()
	require.NoError(t, os.WriteFile(filepath.Join(s.JobWorkDir(t, "gated"), "go"), nil, 0o644))
	select {
	case err := <-done:
		require.NoError(t, err, "stderr: %s", stderr.String())
	case <-ctx.Done():
		t.Fatalf("mlw job stream did not return; stdout: %q, stderr: %q", stdout.String(), stderr.String())
	}
	require.Equal(t, "before\nafter\n", stdout.String())
	require.Contains(t, stderr.String(), "job gated completed")
}

// TestJobCLIStreamSaysWhyItWaits: a two-node job on a host with room for
// one node waits in Queued, and `job create --stream` says why as soon as
// the cluster knows (HostCapacityExceeded, and the MLW_NODE_CAPACITY knob),
// not only `job show`.
func TestJobCLIStreamSaysWhyItWaits(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Env: []string{"MLW_NODE_CAPACITY=cpus=3,memory=32GiB"}})
	s.MustRun(t, "group", "create", "-n", "rg-wait", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-wait", "-g", "rg-wait")
	s.MustRun(t, "configure", "--defaults", "group=rg-wait", "workspace=ws-wait")
	s.MustRun(t, "compute", "create", "--name", "cpu-cluster", "--type", "AmlCompute", "--size", "STANDARD_DS11_V2",
		"--min-instances", "0", "--max-instances", "2")
	file := filepath.Join(s.WorkDir, "wide.yml")
	require.NoError(t, os.WriteFile(file, []byte("command: echo never\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:cpu-cluster\nresources:\n  instance_count: 2\n"), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*AwaitTimeout)
	defer cancel()
	cmd := s.Command(ctx, "job", "create", "--file", file, "--name", "wide", "--stream")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	Await(t, "the stream to say why the job waits", func() error {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(line, "Queued: Waiting for a node: cpu-cluster at 1/2 nodes") &&
				strings.Contains(line, "HostCapacityExceeded") && strings.Contains(line, "MLW_NODE_CAPACITY") {
				return nil
			}
		}
		return fmt.Errorf("stderr so far: %q", stderr.String())
	})
	require.Contains(t, s.MustRun(t, "job", "show", "wide", "-o", "table"), "HostCapacityExceeded", "job show says it too")

	s.MustRun(t, "job", "cancel", "wide")
	select {
	case err := <-done:
		require.Error(t, err, "a canceled job's stream fails")
	case <-ctx.Done():
		t.Fatalf("mlw job create --stream did not return; stderr: %q", stderr.String())
	}
	require.Contains(t, stderr.String(), "job wide was canceled")
	require.Empty(t, stdout.String(), "the job printed nothing; the reasons are on stderr")
	seen := map[string]bool{}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(line, "Queued:") {
			require.False(t, seen[line], "a reason is printed when it changes, not at every poll:\n%s", stderr.String())
			seen[line] = true
		}
	}
}

// TestJobCLIEnvironmentBuildError: environment create does not call an
// environment ready before it is built, and a job whose environment
// cannot be built says the build's error once (not in the build log, the
// job's end and the command's error each).
func TestJobCLIEnvironmentBuildError(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	jcWrite(t, proj, map[string]string{
		"broken-env.yml": "name: broken\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\nconda_file:\n  dependencies:\n    - python=3.11\n    - pip\n    - pip: [mlw-e2e-no-such-package==0.0.1]\n",
		"broken.yml":     "command: echo never\nenvironment: azureml:broken:1\ncompute: azureml:cpu-cluster\n",
	})
	_, stderr, code := s.Run("environment", "create", "--file", filepath.Join(proj, "broken-env.yml"))
	require.Zero(t, code, stderr)
	require.NotContains(t, stderr, "ready")
	require.Contains(t, stderr, "not built yet. The first job that uses it builds it")

	_, stderr, code = s.Run("job", "create", "--file", filepath.Join(proj, "broken.yml"), "--name", "broken_run", "--stream")
	require.NotZero(t, code)
	var job map[string]any
	s.MustRunREST(t, &job, "job", "show", "broken_run")
	msg, _ := lookup(job, "properties", "mlw", "error", "message").(string)
	require.Contains(t, msg, "mlw-e2e-no-such-package==0.0.1")
	require.Equal(t, 1, strings.Count(stderr, msg), "the build's error, once:\n%s", stderr)
	require.Contains(t, stderr, "ERROR: job broken_run ended Failed (the error is above)")
}

// lookup follows keys into nested JSON objects.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestJobCLIShowCreateRoundTrip: what `job show -o yaml` and `compute show
// -o yaml` print is a file `create --file` takes: under a new name it
// makes the same job (and compute) again.
func TestJobCLIShowCreateRoundTrip(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	file := filepath.Join(proj, "job.yml")
	s.MustRun(t, "job", "create", "--file", file, "--name", "original", "--stream")

	shown := filepath.Join(s.WorkDir, "shown.yml")
	require.NoError(t, os.WriteFile(shown, []byte(s.MustRun(t, "job", "show", "original", "-o", "yaml")), 0o644))
	stdout, stderr, code := s.Run("job", "create", "--file", shown, "--name", "again", "--stream")
	require.Zero(t, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "hello from mlw ['0.01', ")

	var a, b map[string]any
	s.MustRunREST(t, &a, "job", "show", "original")
	s.MustRunREST(t, &b, "job", "show", "again")
	pa, pb := a["properties"].(map[string]any), b["properties"].(map[string]any)
	for _, k := range []string{"command", "codeId", "environmentId", "computeId", "displayName", "experimentName",
		"environmentVariables", "inputs", "resources", "tags", "jobType"} {
		require.Equal(t, pa[k], pb[k], k)
	}
	require.Equal(t, "Completed", pb["status"])
	require.Contains(t, pb["outputs"].(map[string]any)["default"].(map[string]any)["uri"], "dcid.again", "the new job has its own artifacts")

	// A cluster, the same way.
	cluster := filepath.Join(s.WorkDir, "cluster.yml")
	require.NoError(t, os.WriteFile(cluster, []byte(s.MustRun(t, "compute", "show", "--name", "cpu-cluster", "-o", "yaml")), 0o644))
	s.MustRun(t, "compute", "create", "--file", cluster, "--name", "cpu-cluster-2")
	var ca, cb map[string]any
	s.MustRunJSON(t, &ca, "compute", "show", "--name", "cpu-cluster")
	s.MustRunJSON(t, &cb, "compute", "show", "--name", "cpu-cluster-2")
	for _, k := range []string{"type", "size", "tier", "min_instances", "max_instances", "idle_time_before_scale_down", "ssh_public_access_enabled", "location"} {
		require.Equal(t, ca[k], cb[k], k)
	}
}

// TestJobCLIQuery: --query filters the shape az ml prints, before it is
// formatted; a bad query fails before the command acts.
func TestJobCLIQuery(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnv(t)
	s.MustRun(t, "job", "create", "--file", filepath.Join(proj, "job.yml"), "--name", "queried", "--stream")
	require.Equal(t, "Completed\n", s.MustRun(t, "job", "show", "queried", "--query", "status", "-o", "tsv"))
	require.Equal(t, "queried\tCompleted\tazureml:cpu-cluster\n",
		s.MustRun(t, "job", "list", "--query", "[].{n: name, s: status, c: compute}", "-o", "tsv"))
	require.Equal(t, "\"Completed\"\n", s.MustRun(t, "job", "show", "queried", "-o", "rest", "--query", "properties.status"), "-o rest: the query runs on the REST body")
	table := s.MustRun(t, "compute", "list", "--query", "[].{Name: name, Max: max_instances}", "-o", "table")
	require.Regexp(t, `^Name\s+Max\n-+\s+-+\ncpu-cluster\s+2\n$`, table)
	require.Empty(t, s.MustRun(t, "job", "show", "queried", "--query", "no_such_field"))

	stdout, stderr, code := s.Run("job", "create", "--file", filepath.Join(proj, "job.yml"), "--name", "never", "--query", "[?")
	require.NotZero(t, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "not a JMESPath query")
	_, _, code = s.Run("job", "show", "never")
	require.NotZero(t, code, "a refused command must not act")
}

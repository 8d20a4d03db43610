package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/backend/slurm/slurmtest"
	"github.com/stretchr/testify/require"
)

// RequireSlurm skips the test unless the real Slurm that
// scripts/setup-slurm.sh starts answers (or fails it, with
// MLW_REQUIRE_SLURM=1), and returns its default partition. The server
// must run as root to submit as the job's account (sbatch --uid).
func RequireSlurm(t testing.TB) string {
	t.Helper()
	_, p := slurmtest.Require(t)
	return p.Name
}

// SlurmSharedDir is a shared directory for a Slurm-backed server: on one
// machine, any directory that the jobs' account (nobody) may enter.
func SlurmSharedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o711)) // t.TempDir makes them 0700
	}
	return dir
}

// TestSlurmLab is the DP-100 lab on a Slurm-backed cluster with the real
// binary and the real Slurm: the cluster created from YAML with
// `backend: {type: slurm, partition: …}` (a bad backend refused with the
// YAML line and the fix), its nodes the partition's; a job whose log
// `mlw job stream` shows while it runs; the training job through
// `mlw job create --stream` and through the azure-ai-ml SDK.
func TestSlurmLab(t *testing.T) {
	t.Parallel()
	partition := RequireSlurm(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 with python3-sklearn and python3-pandas")
	}
	shared := SlurmSharedDir(t)
	s := StartServer(t, Options{Env: []string{"MLW_SLURM_SHARED_DIR=" + shared, "MLW_SLURM_ACCOUNTS=*=nobody"}})
	t.Cleanup(func() { stopAndKillJobs(s) })
	s.MustRun(t, "group", "create", "-n", "rg-slurm", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-slurm", "-g", "rg-slurm")
	s.MustRun(t, "configure", "--defaults", "group=rg-slurm", "workspace=ws-slurm")

	bad := filepath.Join(s.WorkDir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("name: bad\ntype: amlcompute\nsize: STANDARD_DS1_V2\nbackend:\n  type: kubernetes\n"), 0o644))
	_, stderr, code := s.Run("compute", "create", "--file", bad)
	require.NotZero(t, code)
	require.Contains(t, stderr, "line 4: backend")
	require.Contains(t, stderr, "use local (the default) or slurm")

	yml := filepath.Join(s.WorkDir, "cluster.yml")
	require.NoError(t, os.WriteFile(yml, []byte(`$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json
name: slurm-cluster
type: amlcompute
size: STANDARD_DS1_V2
min_instances: 0
max_instances: 2
backend:
  type: slurm
  partition: `+partition+"\n"), 0o644))
	s.MustRun(t, "compute", "create", "--file", yml)
	var c map[string]any
	s.MustRunJSON(t, &c, "compute", "show", "--name", "slurm-cluster")
	require.Equal(t, map[string]any{"type": "slurm", "partition": partition}, c["backend"], c)
	host, _ := os.Hostname()
	node := strings.Split(host, ".")[0]
	var nodes []map[string]any
	s.MustRunJSON(t, &nodes, "compute", "list-nodes", "--name", "slurm-cluster")
	require.Len(t, nodes, 1, "the partition's one node")
	require.Equal(t, node, nodes[0]["node_id"])

	t.Run("live log", func(t *testing.T) { slurmLiveLog(t, s, shared) })
	t.Run("restart", func(t *testing.T) { slurmRestart(t, s, shared) })

	src, err := filepath.Abs(filepath.Join("..", "examples", "diabetes-training", "src"))
	require.NoError(t, err)
	job := filepath.Join(s.WorkDir, "job.yml")
	require.NoError(t, os.WriteFile(job, []byte(`$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: `+src+`
command: python train.py
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:slurm-cluster
display_name: diabetes-train-slurm
experiment_name: diabetes-training
`), 0o644))
	stdout, stderr, code := s.Run("job", "create", "--file", job, "--stream", "--name", "lab_slurm")
	require.Zero(t, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "Accuracy:")
	require.Contains(t, stdout, "AUC:")
	var shown map[string]any
	s.MustRunJSON(t, &shown, "job", "show", "--name", "lab_slurm")
	require.Equal(t, "Completed", shown["status"], shown)

	t.Run("sdk", func(t *testing.T) {
		RequireSDK(t)
		s.MustRun(t, "workspace", "download-config", "-n", "ws-slurm", "-g", "rg-slurm", "--path", "cfg")
		out := s.RunPython(t, SDK14.Env(t, s), "testdata/sdk_slurm/sdk_slurm.py", filepath.Join(s.WorkDir, "cfg"), src, "slurm-cluster", node)
		require.Contains(t, out, "SDK SLURM OK", out)
	})
}

// slurmLiveLog: `mlw job stream` shows a Slurm job's first line while the
// job still runs (it waits for a file that the test creates only then).
func slurmLiveLog(t *testing.T, s *Server, shared string) {
	gate := filepath.Join(shared, "go")
	file := filepath.Join(s.WorkDir, "live.yml")
	require.NoError(t, os.WriteFile(file, []byte("command: 'echo first line; while [ ! -e "+gate+" ]; do sleep 0.1; done; echo second line'\n"+
		"environment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:slurm-cluster\n"), 0o644))
	s.MustRun(t, "job", "create", "--file", file, "--name", "live_slurm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := s.Command(ctx, "job", "stream", "live_slurm")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	var seen []string
	for lines.Scan() && !strings.Contains(lines.Text(), "first line") {
		seen = append(seen, lines.Text())
	}
	require.NoError(t, lines.Err())
	// The job cannot end before the gate exists, so the line came while
	// it ran; mlw may show it a poll before it shows the job Running.
	Await(t, "live_slurm Running", func() error {
		var job map[string]any
		s.MustRunJSON(t, &job, "job", "show", "--name", "live_slurm")
		if job["status"] != "Running" {
			return fmt.Errorf("status %v (stream so far: %v)", job["status"], seen)
		}
		return nil
	})
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	rest := ""
	for lines.Scan() {
		rest += lines.Text() + "\n"
	}
	require.NoError(t, cmd.Wait())
	require.Contains(t, rest, "second line")
}

// slurmRestart: a Slurm job keeps running through a restart of mlw
// server, which follows it again (its log goes on, it completes) and does
// not submit it again.
func slurmRestart(t *testing.T, s *Server, shared string) {
	gate := filepath.Join(shared, "go-restart")
	file := filepath.Join(s.WorkDir, "restart.yml")
	require.NoError(t, os.WriteFile(file, []byte("command: 'echo before; while [ ! -e "+gate+" ]; do sleep 0.1; done; echo after'\n"+
		"environment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:slurm-cluster\n"), 0o644))
	s.MustRun(t, "job", "create", "--file", file, "--name", "restart_slurm")
	Await(t, "restart_slurm Running", func() error {
		var job map[string]any
		s.MustRunJSON(t, &job, "job", "show", "--name", "restart_slurm")
		if job["status"] != "Running" {
			return fmt.Errorf("status %v", job["status"])
		}
		return nil
	})
	s.Restart()
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	stdout, stderr, code := s.Run("job", "stream", "restart_slurm")
	require.Zero(t, code, stderr)
	require.Equal(t, 1, strings.Count(stdout, "before"), stdout)
	require.Contains(t, stdout, "after")
	var job map[string]any
	s.MustRunJSON(t, &job, "job", "show", "--name", "restart_slurm")
	require.Equal(t, "Completed", job["status"])
	out, err := exec.Command("sacct", "-c", "-n", "-P", "-o", "jobname", "--starttime=1970-01-01").Output()
	require.NoError(t, err)
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "mlw-") {
			names = append(names, n)
		}
	}
	// Each attempt of every job of this server's ran once: no name twice.
	seen := map[string]bool{}
	for _, n := range names {
		require.False(t, seen[n], "Slurm job %s submitted twice", n)
		seen[n] = true
	}
}

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend/kubernetes/ktest"
)

// TestKubernetesCompute attaches a real control plane (kube-apiserver,
// etcd, scheduler, controller-manager) with kwok's fake nodes as a
// Kubernetes compute and runs jobs on it with the real binary: attach
// errors that name the field, the compute's status and nodes (its
// kubeconfig never read back), a job that kwok runs to Completed, a job too
// big for any node that stays Queued with the scheduler's words, and its
// pod's own scripts run here against mlw (kwok runs no container): the
// code archive fetched through the attempt's SAS, the command run with its
// inputs substituted, outputs uploaded; cancelling it deletes its Job and
// keeps the outputs as artifacts; detaching leaves no Job behind.
func TestKubernetesCompute(t *testing.T) {
	t.Parallel()
	cl := ktest.Start(t, ktest.Node{Name: "kwok-0", CPU: "4", Memory: "16Gi"}, ktest.Node{Name: "kwok-1", CPU: "4", Memory: "16Gi"})
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg-k8s", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-k8s", "-g", "rg-k8s")
	s.MustRun(t, "configure", "--defaults", "group=rg-k8s", "workspace=ws-k8s")
	kc := filepath.Join(s.WorkDir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, cl.Kubeconfig, 0o600))
	kubectl := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(filepath.Join(ktest.BinDir(), "kubectl"), append([]string{"--kubeconfig", kc}, args...)...).Output()
		require.NoError(t, err, "kubectl %v", args)
		return out
	}

	empty := filepath.Join(s.WorkDir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	_, stderr, code := s.Run("compute", "attach", "--name", "k8s", "--kubeconfig", empty)
	require.NotZero(t, code)
	require.Contains(t, stderr, "kubeconfig names no cluster")
	_, stderr, code = s.Run("compute", "attach", "--name", "k8s", "--kubeconfig", kc, "--instance-type", "x=cpu=two,memory=1Gi")
	require.NotZero(t, code)
	require.Contains(t, stderr, "instanceTypes.x.resources")
	require.Contains(t, stderr, "not a Kubernetes quantity")
	_, stderr, code = s.Run("compute", "attach", "--name", "k8s-nowhere", "--kubeconfig", kc, "--namespace", "nowhere")
	require.NotZero(t, code)
	require.Contains(t, stderr, `namespace "nowhere"`)

	s.MustRun(t, "compute", "attach", "--name", "k8s", "--kubeconfig", kc, "--namespace", "default",
		"--instance-type", "small=cpu=1,memory=1Gi", "--instance-type", "huge=cpu=64,memory=256Gi", "--default-instance-type", "small")
	raw := s.MustRun(t, "compute", "show", "--name", "k8s", "-o", "rest")
	require.NotContains(t, raw, "ktest-admin-token", "the kubeconfig is never read back")
	var c map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &c))
	props := c["properties"].(map[string]any)
	require.Equal(t, "Kubernetes", props["computeType"])
	require.Equal(t, "Succeeded", props["provisioningState"], raw)
	require.Equal(t, true, props["isAttachedCompute"])
	require.EqualValues(t, 2, props["properties"].(map[string]any)["readyNodeCount"], raw)
	require.Contains(t, props["properties"].(map[string]any)["instanceTypes"], "huge", "the instance types stay Azure's map")
	var shown map[string]any
	s.MustRunJSON(t, &shown, "compute", "show", "--name", "k8s")
	require.Equal(t, "default", shown["namespace"])
	require.Equal(t, "small", shown["default_instance_type"])

	proj := s.WorkDir
	jcWrite(t, proj, map[string]string{
		"src/train.py": "import os, sys\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('lr=' + sys.argv[2])\nprint('trained with lr', sys.argv[2])\n" +
			"if len(sys.argv) > 3:\n    rows = open(os.path.join(sys.argv[4], 'rows.csv')).read().count('\\n')\n    open(os.path.join(sys.argv[6], 'summary.txt'), 'w').write('rows=%d' % rows)\n    print('read', rows, 'rows')\n",
		"src/resume.py": "import os, time\np = os.path.join(os.environ['MLW_CHECKPOINT_DIR'], 'step')\n" +
			"if os.path.exists(p):\n    print('resumed at step', open(p).read())\n    raise SystemExit(0)\n" +
			"open(p, 'w').write('7')\nprint('saved step 7', flush=True)\ntime.sleep(300)\n",
		"data/rows.csv": "a,b\n1,2\n3,4\n",
		"job-io.yml": `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: python3 train.py --lr ${{inputs.lr}} --data ${{inputs.data}} --out ${{outputs.summary}}
inputs:
  lr: 0.25
  data:
    type: uri_folder
    path: ./data
outputs:
  summary:
    type: uri_folder
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:k8s
experiment_name: k8s-e2e
`,
		"job.yml": `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: python3 train.py --lr ${{inputs.lr}}
inputs:
  lr: 0.25
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:k8s
experiment_name: k8s-e2e
`,
	})
	job := filepath.Join(proj, "job.yml")
	s.MustRun(t, "job", "create", "--file", job, "--name", "k8s_ok")
	awaitJobState(t, s, "k8s_ok", "Completed", 90*time.Second)

	s.MustRun(t, "job", "create", "--file", filepath.Join(proj, "job-io.yml"), "--name", "k8s_big", "--set", "resources.instance_type=huge")
	queued := awaitJobState(t, s, "k8s_big", "Queued", 60*time.Second, "Insufficient cpu")
	require.Contains(t, queued, "Waiting for a node")

	// The pod's scripts, run here as the pod would run them.
	var jobs struct {
		Items []struct {
			Spec struct {
				Template struct {
					Spec podSpec
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal(kubectl("get", "jobs", "-l", "mlw.dev/job=k8s_big", "-o", "json"), &jobs))
	require.Len(t, jobs.Items, 1)
	pod := jobs.Items[0].Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1)
	require.Equal(t, "mcr.microsoft.com/azureml/curated/sklearn-1.0-ubuntu20.04-py38-cpu:"+curatedLatest(t, s), pod.Containers[0].Image)
	root := t.TempDir() // the pod's /mlw
	pod.InitContainers[0].run(t, root)
	require.FileExists(t, filepath.Join(root, "work", "train.py"), "the code archive was fetched through its SAS")
	require.FileExists(t, filepath.Join(root, "inputs", "data", "data", "rows.csv"), "the input's archive was fetched and unpacked")
	out := pod.Containers[0].run(t, root)
	require.Contains(t, out, "trained with lr 0.25")
	require.Contains(t, out, "read 3 rows")
	require.NotContains(t, out, "could not upload")

	checkpointAcrossAttempts(t, s, kubectl, proj)

	s.MustRun(t, "job", "cancel", "--name", "k8s_big")
	awaitJobState(t, s, "k8s_big", "Canceled", 30*time.Second)
	dl := filepath.Join(s.WorkDir, "dl")
	s.MustRun(t, "job", "download", "k8s_big", "--download-path", dl, "--all")
	model := findFile(t, dl, "model.txt")
	body, err := os.ReadFile(model)
	require.NoError(t, err)
	require.Equal(t, "lr=0.25", string(body), "the outputs the pod uploaded are the job's artifacts")
	summary, err := os.ReadFile(findFile(t, filepath.Join(dl, "named-outputs", "summary"), "summary.txt"))
	require.NoError(t, err)
	require.Equal(t, "rows=3", string(summary), "the named output the pod uploaded is in its datastore")
	// The attempt's container went with it, the properties of what was
	// uploaded too, and a pod that uploads late (a cancelled pod's grace
	// period) does not bring it back.
	container := attemptContainer(t, s, pod.Containers[0])
	require.NoDirExists(t, container)
	require.NoDirExists(t, filepath.Join(filepath.Dir(container), ".meta", filepath.Base(container)))
	require.Contains(t, pod.Containers[0].run(t, root), "could not upload")
	require.NoDirExists(t, container)

	require.Eventually(t, func() bool { return strings.TrimSpace(string(kubectl("get", "jobs", "-o", "name"))) == "" },
		30*time.Second, 200*time.Millisecond, "ended jobs leave no Kubernetes Job behind")
	s.MustRun(t, "compute", "delete", "--name", "k8s", "--yes")
	_, _, code = s.Run("compute", "show", "--name", "k8s")
	require.NotZero(t, code)
}

// checkpointAcrossAttempts: a job whose pod is told to stop (SIGTERM, as
// the kubelet does to a preempted pod) saves ./checkpoints; the pod marked
// preempted (DisruptionTarget), the Job controller fails the Job, mlw
// submits attempt 2, and its init container brings the checkpoint back.
// The job asks for the huge instance type, so that kwok never runs it
// and its pod's scripts run here instead.
func checkpointAcrossAttempts(t *testing.T, s *Server, kubectl func(...string) []byte, proj string) {
	// A command of two, so that bash stays the python's parent: stopping
	// must reach the python too (the rank's process group), or it would
	// outlive the pod's script.
	jcWrite(t, proj, map[string]string{"job-resume.yml": `code: src
command: python3 resume.py; echo resume.py ended
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:k8s
resources:
  instance_type: huge
`})
	s.MustRun(t, "job", "create", "--file", filepath.Join(proj, "job-resume.yml"), "--name", "k8s_resume")
	awaitJobState(t, s, "k8s_resume", "Queued", 60*time.Second, "Insufficient cpu")
	pod := func(attempt string) (name string, spec podSpec) {
		var pods struct {
			Items []struct {
				Metadata struct{ Name string }
				Spec     podSpec
			}
		}
		require.Eventually(t, func() bool {
			require.NoError(t, json.Unmarshal(kubectl("get", "pods", "-l", "mlw.dev/job=k8s_resume,mlw.dev/attempt="+attempt, "-o", "json"), &pods))
			return len(pods.Items) == 1
		}, 60*time.Second, 200*time.Millisecond, "attempt %s's pod", attempt)
		return pods.Items[0].Metadata.Name, pods.Items[0].Spec
	}
	name, first := pod("1")
	root := t.TempDir()
	first.InitContainers[0].run(t, root)
	run, out := first.Containers[0].start(t, root)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "saved step 7") }, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, run.Process.Signal(syscall.SIGTERM))
	ended := make(chan error, 1)
	go func() { ended <- run.Wait() }()
	var err error
	select {
	case err = <-ended:
	case <-time.After(30 * time.Second):
		t.Fatalf("the run script did not end within 30 s of SIGTERM (a process of the command outlived it?):\n%s", out)
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 143, exit.ExitCode(), "%s", out)
	require.Contains(t, out.String(), "./checkpoints saved for the next attempt")

	kubectl("patch", "pod", name, "--subresource=status", "-p",
		`{"status":{"phase":"Failed","conditions":[{"type":"DisruptionTarget","status":"True","reason":"PreemptionByScheduler","message":"preempted by a higher priority pod"}]}}`)
	_, second := pod("2")
	require.Len(t, second.InitContainers, 1)
	root2 := t.TempDir()
	second.InitContainers[0].run(t, root2)
	require.Contains(t, second.Containers[0].run(t, root2), "resumed at step 7")
	show := awaitJobState(t, s, "k8s_resume", "Queued", 30*time.Second, `"outcome": "Preempted"`)
	require.Contains(t, show, "preempted by a higher priority pod")
	s.MustRun(t, "job", "cancel", "--name", "k8s_resume")
}

// attemptContainer is the directory of the blob container that a job
// container's MLW_OUTPUTS_URL (…/blob/<account>/<container>/outputs?…)
// names.
func attemptContainer(t *testing.T, s *Server, c podContainer) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == "MLW_OUTPUTS_URL" {
			_, rest, ok := strings.Cut(e.Value, "/blob/")
			require.True(t, ok, e.Value)
			parts := strings.SplitN(rest, "/", 3)
			require.Len(t, parts, 3, e.Value)
			return filepath.Join(s.Dir, "storage", parts[0], parts[1])
		}
	}
	t.Fatal("the job container has no MLW_OUTPUTS_URL")
	return ""
}

// podSpec is what a test needs of a pod's spec.
type podSpec struct {
	InitContainers, Containers []podContainer
}

// podContainer is what a test needs of a container of a Job's pod.
type podContainer struct {
	Image   string
	Command []string
	Env     []struct{ Name, Value string }
}

// run runs the container's script on this host with root as its /mlw
// (the working directory root/work), with the variables that have values
// (their /mlw/ paths moved there too), and returns its output.
func (c podContainer) run(t *testing.T, root string) string {
	t.Helper()
	out, err := c.command(t, root).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// command is the container's script as a command of this host (run).
func (c podContainer) command(t *testing.T, root string) *exec.Cmd {
	t.Helper()
	require.Len(t, c.Command, 3)
	here := func(s string) string { return strings.ReplaceAll(s, "/mlw/", root+"/") }
	work := filepath.Join(root, "work")
	require.NoError(t, os.MkdirAll(work, 0o755))
	cmd := exec.Command(c.Command[0], c.Command[1], here(c.Command[2]))
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work}
	for _, e := range c.Env {
		if e.Value != "" {
			cmd.Env = append(cmd.Env, e.Name+"="+here(e.Value))
		}
	}
	return cmd
}

// start is run in the background: the script's process and its output
// so far.
func (c podContainer) start(t *testing.T, root string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := c.command(t, root)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, out
}

// awaitJobState waits for a job's status (and words in its REST body).
func awaitJobState(t *testing.T, s *Server, name, state string, within time.Duration, words ...string) string {
	t.Helper()
	var last string
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, _, code := s.Run("job", "show", "--name", name, "-o", "rest")
		last = out
		ok := code == 0 && strings.Contains(out, `"status": "`+state+`"`)
		for _, w := range words {
			ok = ok && strings.Contains(out, w)
		}
		if ok {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %s did not reach %s (%v) within %s:\n%s", name, state, words, within, last)
	return ""
}

// curatedLatest is the newest version of the lab's curated environment.
func curatedLatest(t *testing.T, s *Server) string {
	t.Helper()
	var env map[string]any
	s.MustRunJSON(t, &env, "environment", "show", "--name", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "--label", "latest")
	return env["version"].(string)
}

// findFile finds a file by name under dir.
func findFile(t *testing.T, dir, name string) string {
	t.Helper()
	found := ""
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == name {
			found = p
		}
		return nil
	})
	require.NotEmpty(t, found, "no %s under %s", name, dir)
	return found
}

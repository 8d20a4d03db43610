package reconciler

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// fakeContainers is an orchestrator in memory: a test sets each attempt's
// state and pod log.
type fakeContainers struct {
	mu       sync.Mutex
	jobs     map[string]*backend.ContainerJob
	states   map[string]backend.ContainerState
	logs     map[string]string
	submits  int
	canceled []string
}

func newFakeContainers() *fakeContainers {
	return &fakeContainers{jobs: map[string]*backend.ContainerJob{}, states: map[string]backend.ContainerState{}, logs: map[string]string{}}
}

func (f *fakeContainers) Check(context.Context) error { return nil }

func (f *fakeContainers) Submit(_ context.Context, j *backend.ContainerJob) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits++
	if _, ok := f.jobs[j.Name]; ok {
		return nil
	}
	f.jobs[j.Name] = j
	f.states[j.Name] = backend.ContainerState{Kind: backend.ContainerPending, Message: "Waiting for the Job's pods to be created.", ExitCode: -1}
	return nil
}

func (f *fakeContainers) States(context.Context) (map[string]backend.ContainerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]backend.ContainerState{}
	for k, v := range f.states {
		out[k] = v
	}
	return out, nil
}

func (f *fakeContainers) Cancel(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.states, name)
	f.canceled = append(f.canceled, name)
	return nil
}

func (f *fakeContainers) Logs(_ context.Context, name string, i int, _ bool) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.logs[name]
	if !ok || i != 0 {
		return nil, backend.ErrNoPod
	}
	return io.NopCloser(strings.NewReader(l)), nil
}

func (f *fakeContainers) Nodes(context.Context, string) ([]backend.ContainerNode, error) {
	return []backend.ContainerNode{{Name: "n0", Ready: true, Schedulable: true, MilliCPU: 4000, MemoryBytes: 16 << 30}}, nil
}

func (f *fakeContainers) set(name string, st backend.ContainerState, log string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[name], f.logs[name] = st, log
}

func (f *fakeContainers) job(name string) *backend.ContainerJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[name]
}

const testKubeconfig = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://k8s.example'}}]\ncurrent-context: c\n"

func kubeBundle(t *testing.T) (*jobBundle, *fakeContainers) {
	t.Helper()
	b := setupJobs(t, bundleOpts{})
	f := newFakeContainers()
	k := &Kube{Connect: func([]byte, string) (backend.Containers, error) { return f, nil }, Queue: b.q, Poll: 10 * time.Millisecond,
		ServerURL: func() string { return "https://mlw.example:7443" }, CAPEM: []byte("ca"),
		SignSAS: func(account, container, perms string, _ time.Duration, _ string) string {
			return "sig=" + container + "-" + perms
		}}
	t.Cleanup(k.stopPolling)
	b.jobs.Kube = k
	b.dispatch.Types[resource.Kubernetes] = &KubeComputes{Store: b.st, Kube: k, Queue: b.q, Log: b.jobs.Log, Clock: b.jobs.Clock}
	_, _, _, err := b.svc.PutCompute(b.ctx, b.ref, "k8s", body(t, `{"properties":{"computeType":"Kubernetes","properties":{"kubeconfig":`+quote(testKubeconfig)+
		`,"namespace":"ml","instanceTypes":{"small":{"resources":{"limits":{"cpu":"1","memory":"2Gi"}}}},"images":{"my-env":"registry.example/env:1"}}}}`))
	require.NoError(t, err)
	b.drain()
	return b, f
}

// TestKubeJobLifecycle runs jobs through a fake orchestrator: the attempt
// created once with the instance type, image, code archive, SAS URLs and
// tracking variables; Queued with the scheduler's words while pending;
// Running with the pod's log copied; Completed with the uploaded outputs
// in the artifacts and the Job deleted; failures mapped to their codes.
func TestKubeJobLifecycle(t *testing.T) {
	b, f := kubeBundle(t)
	c := b.compute("k8s")
	require.Equal(t, resource.StateSucceeded, c.State)
	require.NotContains(t, string(c.Spec), "k8s.example", "the kubeconfig is not in the spec")

	b.submit("k1", command("k8s", "python train.py --lr ${{inputs.lr}}", `"inputs":{"lr":{"jobInputType":"literal","value":"0.5"}}`))
	b.await("k1 submitted", func() bool { st := b.status("k1"); return st.Kube != nil && st.Kube.Submitted })
	st := b.status("k1")
	kj := f.job(st.Kube.Name)
	require.NotNil(t, kj)
	require.Equal(t, "python train.py --lr 0.5", kj.Command)
	require.Equal(t, backend.Resources{MilliCPU: 1000, MemoryBytes: 2 << 30}, kj.PerNode)
	require.Equal(t, "ml", st.Kube.Namespace)
	require.Equal(t, "small", st.Kube.InstanceType)
	require.Contains(t, kj.OutputsURL, "https://mlw.example:7443/blob/")
	require.Contains(t, kj.OutputsURL, "/"+st.Kube.Container+"/outputs?sig="+st.Kube.Container+"-rcw")
	require.Equal(t, "0.5", kj.Env["AZURE_ML_INPUT_lr"])
	require.Equal(t, "ca", kj.CAPEM)

	f.set(st.Kube.Name, backend.ContainerState{Kind: backend.ContainerPending, Reason: "Unschedulable", Message: "Waiting for a node: 0/1 nodes are available: 1 Insufficient cpu."}, "")
	b.await("k1 waits for a node", func() bool { return strings.Contains(b.status("k1").Reason, "Insufficient cpu") })
	require.Equal(t, resource.JobQueued, b.job("k1").State)

	f.set(st.Kube.Name, backend.ContainerState{Kind: backend.ContainerRunning, Nodes: []string{"n0"}}, "epoch 1\n")
	b.awaitState("k1", resource.JobRunning)
	b.await("the pod's log copied", func() bool { return strings.Contains(b.artifact("k1", UserLog), "epoch 1") })

	ws := resource.WorkspaceStatusOf(b.ws)
	up := filepath.Join(blob.ContainerDir(b.dir, ws.StorageAccount, st.Kube.Container), "outputs", "model.txt")
	require.NoError(t, os.WriteFile(up, []byte("weights"), 0o600))
	f.set(st.Kube.Name, backend.ContainerState{Kind: backend.ContainerCompleted, Ended: true, Nodes: []string{"n0"}}, "epoch 1\nepoch 2\n")
	b.awaitState("k1", resource.JobCompleted)
	require.Equal(t, "epoch 1\nepoch 2\n", b.artifact("k1", UserLog), "the log is whole and copied once")
	require.Equal(t, "weights", b.artifact("k1", "outputs/model.txt"))
	require.Contains(t, f.canceled, st.Kube.Name, "an ended attempt's Job is deleted")
	require.NoDirExists(t, filepath.Dir(filepath.Dir(up)), "the attempt's container is removed")
	require.Equal(t, 1, f.submits)

	for _, tc := range []struct {
		state backend.ContainerState
		code  string
	}{
		{backend.ContainerState{Kind: backend.ContainerOutOfMemory, Ended: true, ExitCode: 137, Message: "killed"}, "OutOfMemory"},
		{backend.ContainerState{Kind: backend.ContainerImagePull, Ended: true, ExitCode: -1, Message: "cannot pull"}, "ImagePullFailed"},
		{backend.ContainerState{Kind: backend.ContainerFailed, Ended: true, ExitCode: 3, Message: "The job's command exited with status code 3 on pod p."}, "UserError"},
		{backend.ContainerState{Kind: backend.ContainerTimeout, Ended: true, ExitCode: -1, Message: "past its time limit"}, "JobTimeout"},
	} {
		name := "k" + strings.ToLower(tc.code)
		b.submit(name, command("k8s", "true"))
		b.await(name+" submitted", func() bool { st := b.status(name); return st.Kube != nil && st.Kube.Submitted })
		f.set(b.status(name).Kube.Name, tc.state, "last words\n")
		st := b.awaitState(name, resource.JobFailed)
		require.Equal(t, tc.code, st.Error.Code, st.Error.Message)
		require.Contains(t, st.Error.Message, "last words")
	}
}

// TestKubeJobCancelAndRestart: an attempt created before a crash whose
// status never said so is created again as a no-op, not twice; cancel
// deletes it; a job naming an unknown instance type is refused at
// admission, naming the field.
func TestKubeJobCancelAndRestart(t *testing.T) {
	b, f := kubeBundle(t)
	b.submit("r1", command("k8s", "sleep 100"))
	b.await("r1 submitted", func() bool { st := b.status("r1"); return st.Kube != nil && st.Kube.Submitted })
	j := b.job("r1")
	st := resource.JobStatusOf(j)
	st.Kube.Submitted = false // the crash: the Job exists, the status does not say so
	j.Status = resource.Encode(st)
	require.NoError(t, b.st.Update(b.ctx, j))
	b.q.Enqueue(core.KindJob, resource.Key(j))
	b.await("r1 submitted again", func() bool { return b.status("r1").Kube.Submitted })
	require.Equal(t, 2, f.submits)
	f.mu.Lock()
	require.Len(t, f.jobs, 1, "one Job")
	f.mu.Unlock()

	_, _, err := b.svc.CancelJob(b.ctx, b.ref, "r1")
	require.NoError(t, err)
	b.awaitState("r1", resource.JobCanceled)
	require.Contains(t, f.canceled, st.Kube.Name)

	_, _, err = b.svc.PutJob(b.ctx, b.ref, "bad", body(t, `{"properties":{"jobType":"Command","command":"true","environmentId":"azureml:AzureML-sklearn-1.5@latest","computeId":"k8s","resources":{"instanceType":"huge"}}}`))
	e, ok := core.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "properties.resources.instanceType", e.Target)
	require.Contains(t, e.Message, `instance_type "huge"`)
}

// TestKubeJobPreemptedRunsAgain: an attempt whose pod was preempted is
// recorded, its Job deleted, and the job runs again as a new Kubernetes
// Job whose log follows the first one's in the same artifact and which
// resumes from the checkpoint an earlier attempt saved; past MaxAttempts
// the job fails with JobPreempted.
func TestKubeJobPreemptedRunsAgain(t *testing.T) {
	b, f := kubeBundle(t)
	b.jobs.MaxAttempts = 3
	b.submit("p1", command("k8s", "python train.py"))
	b.await("p1 submitted", func() bool { st := b.status("p1"); return st.Kube != nil && st.Kube.Submitted })
	first := b.status("p1").Kube.Name
	f.set(first, backend.ContainerState{Kind: backend.ContainerRunning, Nodes: []string{"spot-1"}}, "epoch 1\n")
	b.awaitState("p1", resource.JobRunning)
	b.await("the first log copied", func() bool { return strings.Contains(b.artifact("p1", UserLog), "epoch 1") })

	// What the pod's run script saves when it is told to stop.
	account := resource.WorkspaceStatusOf(b.ws).StorageAccount
	firstJob := f.job(first)
	require.False(t, firstJob.Resume)
	require.Contains(t, firstJob.CheckpointURL, "/"+b.status("p1").Kube.Container+"/checkpoint.tar?")
	require.NoError(t, os.WriteFile(filepath.Join(blob.ContainerDir(b.dir, account, b.status("p1").Kube.Container), "checkpoint.tar"), []byte("epoch 1 state"), 0o600))

	preempted := backend.ContainerState{Kind: backend.ContainerPreempted, Ended: true, ExitCode: -1, Nodes: []string{"spot-1"},
		Message: "Pod p-0 was preempted or evicted from node spot-1 (DeletionByTaintManager): Taint manager: deleting due to NoExecute taint"}
	f.set(first, preempted, "epoch 1\n")
	b.await("attempt 2 submitted", func() bool {
		st := b.status("p1")
		return st.Attempt == 2 && st.Kube != nil && st.Kube.Submitted
	})
	st := b.status("p1")
	require.Equal(t, resource.JobQueued, b.job("p1").State)
	second := st.Kube.Name
	require.NotEqual(t, first, second)
	require.Equal(t, backend.ContainerJobName(b.job("p1").UID, 2), second)
	require.Contains(t, f.canceled, first, "the preempted attempt's Job is deleted")
	require.Len(t, st.Attempts, 1)
	require.Equal(t, backend.ContainerPreempted, st.Attempts[0].Outcome)
	require.Contains(t, st.Attempts[0].Reason, "spot-1")
	require.Equal(t, "2", f.job(second).Env["MLW_ATTEMPT"])
	require.True(t, f.job(second).Resume, "attempt 2 resumes from attempt 1's checkpoint")
	require.Contains(t, f.job(second).CheckpointURL, "/"+st.Kube.Container+"/checkpoint.tar?")
	ckpt, err := os.ReadFile(filepath.Join(blob.ContainerDir(b.dir, account, st.Kube.Container), "checkpoint.tar"))
	require.NoError(t, err)
	require.Equal(t, "epoch 1 state", string(ckpt), "in attempt 2's own container, where its SAS reaches")

	f.set(second, backend.ContainerState{Kind: backend.ContainerCompleted, Ended: true, Nodes: []string{"n0"}}, "epoch 1 again\nepoch 2\n")
	b.awaitState("p1", resource.JobCompleted)
	log := b.artifact("p1", UserLog)
	require.Regexp(t, `(?s)^epoch 1\n===== mlw: attempt 2 of job p1 \(the previous one was preempted\) =====\nepoch 1 again\nepoch 2\n$`, log,
		"the second attempt's whole log follows the first's")

	// p2 saves a checkpoint in its first attempt only: the third resumes
	// from it too.
	b.submit("p2", command("k8s", "true"))
	for attempt := 1; attempt <= 3; attempt++ {
		b.await("p2 attempt submitted", func() bool {
			st := b.status("p2")
			return st.Attempt == attempt && st.Kube != nil && st.Kube.Submitted
		})
		run := b.status("p2").Kube
		ckpt := filepath.Join(blob.ContainerDir(b.dir, account, run.Container), "checkpoint.tar")
		if attempt == 1 {
			require.NoError(t, os.WriteFile(ckpt, []byte("p2 state"), 0o600))
		} else {
			require.True(t, f.job(run.Name).Resume, "attempt %d", attempt)
			got, err := os.ReadFile(ckpt)
			require.NoError(t, err)
			require.Equal(t, "p2 state", string(got), "attempt %d", attempt)
		}
		f.set(run.Name, preempted, "")
	}
	end := b.awaitState("p2", resource.JobFailed)
	require.Equal(t, "JobPreempted", end.Error.Code)
	require.Contains(t, end.Error.Message, "attempt 3 of 3")
	require.Len(t, end.Attempts, 3)
}

// tarNames lists the names in a tar archive.
func tarNames(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		require.NoError(t, err)
		names = append(names, h.Name)
	}
}

// TestKubeJobStorageInputsAndOutputs: inputs of the workspace's storage
// reach the pods as archives in the attempt's own container (its SAS opens
// nothing else), unpacked under /mlw/inputs; named outputs are folders of
// /mlw/outputs that the pods upload to the same container and mlw copies
// to their datastores when the attempt ends. An input through a link out
// of storage fails the job, archiving nothing.
func TestKubeJobStorageInputsAndOutputs(t *testing.T) {
	b, f := kubeBundle(t)
	share := "azureml://datastores/workspaceworkingdirectory/paths/"
	users := filepath.Join(resource.WorkspaceShareDir(b.dir, b.ws), "Users", "bob")
	require.NoError(t, os.MkdirAll(filepath.Join(users, "data", "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(users, "data", "a.csv"), []byte("a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(users, "data", "sub", "b.csv"), []byte("b"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(users, "one.txt"), []byte("1"), 0o644))

	b.submit("io", command("k8s", "python train.py --data ${{inputs.d}} --one ${{inputs.f}} --out ${{outputs.o}} --model ${{outputs.m}}",
		`"inputs":{"d":{"jobInputType":"uri_folder","uri":"`+share+`Users/bob/data"},"f":{"jobInputType":"uri_file","uri":"`+share+`Users/bob/one.txt"}},`+
			`"outputs":{"o":{"jobOutputType":"uri_folder","uri":"`+share+`Users/bob/out"},"m":{"jobOutputType":"uri_file","uri":"`+share+`Users/bob/model.pkl"}}`))
	b.await("io submitted", func() bool { st := b.status("io"); return st.Kube != nil && st.Kube.Submitted })
	st := b.status("io")
	kj := f.job(st.Kube.Name)
	require.Equal(t, "python train.py --data /mlw/inputs/d/data --one /mlw/inputs/f/one.txt --out /mlw/outputs/o --model /mlw/outputs/m/model.pkl", kj.Command)
	require.Equal(t, []string{"d", "f"}, kj.Inputs)
	require.Equal(t, []string{"m", "o"}, kj.NamedOutputs)
	require.Equal(t, "/mlw/inputs/d/data", kj.Env["AZURE_ML_INPUT_d"])
	require.Equal(t, "/mlw/outputs/o", kj.Env["AZURE_ML_OUTPUT_o"])
	require.Contains(t, kj.InputsURL, "/"+st.Kube.Container+"/inputs?sig="+st.Kube.Container+"-rcw", "the attempt's own SAS")
	require.Contains(t, kj.NamedOutputsURL, "/"+st.Kube.Container+"/named?sig="+st.Kube.Container+"-rcw")
	dir := blob.ContainerDir(b.dir, resource.WorkspaceStatusOf(b.ws).StorageAccount, st.Kube.Container)
	require.ElementsMatch(t, []string{"data/", "data/a.csv", "data/sub/", "data/sub/b.csv"}, tarNames(t, filepath.Join(dir, "inputs", "d.tar")))
	require.Equal(t, []string{"one.txt"}, tarNames(t, filepath.Join(dir, "inputs", "f.tar")))

	// What the pods upload, then the end.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "named", "o", "plots"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "named", "o", "plots", "roc.png"), []byte("png"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "named", "m"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "named", "m", "model.pkl"), []byte("pickle"), 0o644))
	f.set(st.Kube.Name, backend.ContainerState{Kind: backend.ContainerCompleted, Ended: true, Nodes: []string{"n0"}}, "")
	b.awaitState("io", resource.JobCompleted)
	got, err := os.ReadFile(filepath.Join(users, "out", "plots", "roc.png"))
	require.NoError(t, err)
	require.Equal(t, "png", string(got), "the folder output is in its datastore")
	got, err = os.ReadFile(filepath.Join(users, "model.pkl"))
	require.NoError(t, err)
	require.Equal(t, "pickle", string(got), "the file output is the file it names")
	require.NoDirExists(t, dir)

	private := linkedShare(t, b)
	b.submit("evil", command("k8s", "cat ${{inputs.x}}", `"inputs":{"x":{"jobInputType":"uri_folder","uri":"`+share+`Users/bob/evil/sub"}}`))
	end := b.awaitState("evil", resource.JobFailed)
	require.Equal(t, "InputNotFound", end.Error.Code)
	require.Contains(t, end.Error.Message, "symbolic link")
	requireNoSecret(t, filepath.Join(b.dir, "storage"), private, "evil", "token-link")
}

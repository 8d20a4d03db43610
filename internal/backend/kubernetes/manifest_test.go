package kubernetes

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mlw-project/mlw/internal/backend"
)

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			m[e.Name] = "from:" + e.ValueFrom.FieldRef.FieldPath
			continue
		}
		m[e.Name] = e.Value
	}
	return m
}

func TestJobName(t *testing.T) {
	n := JobName("3F2504E0-4F89-11D3-9A0C-0305E82C3301-and-more-and-more", 2)
	require.LessOrEqual(t, len(n), 52)
	require.Regexp(t, `^mlw-[a-z0-9-]+-a2$`, n)
}

func TestManifestOneNode(t *testing.T) {
	job, svc := Manifest(&JobSpec{Name: "mlw-x-a1", JobName: "lucid_ant_1", JobUID: "u1", Attempt: 1, Image: "python:3.11",
		Command: "python train.py", Env: map[string]string{"AZUREML_RUN_ID": "lucid_ant_1"}, Nodes: 1,
		PerNode: backend.Resources{MilliCPU: 2000, MemoryBytes: 14 << 30}, Timeout: 90 * time.Second,
		CodeURL: "https://mlw/blob/acct/c/snap.tar?sig=x", OutputsURL: "https://mlw/blob/acct/c/outputs?sig=y"})
	require.Nil(t, svc, "one node needs no Service")
	require.Nil(t, job.Spec.CompletionMode)
	require.EqualValues(t, 0, *job.Spec.BackoffLimit)
	require.Equal(t, []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}},
		job.Spec.PodFailurePolicy.Rules, "a preempted pod ends the Job, which says so")
	require.EqualValues(t, 1, *job.Spec.Completions)
	require.EqualValues(t, 0, *job.Spec.BackoffLimit, "mlw retries, not Kubernetes")
	require.EqualValues(t, 90, *job.Spec.ActiveDeadlineSeconds)
	pod := job.Spec.Template.Spec
	require.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	require.Len(t, pod.InitContainers, 1, "the code snapshot is fetched first")
	require.Equal(t, "https://mlw/blob/acct/c/snap.tar?sig=x", envOf(pod.InitContainers[0])["MLW_CODE_URL"])
	c := pod.Containers[0]
	require.Equal(t, "python:3.11", c.Image)
	env := envOf(c)
	require.Equal(t, "python train.py", env["MLW_COMMAND"])
	require.Equal(t, "lucid_ant_1", env["AZUREML_RUN_ID"])
	require.Equal(t, "from:spec.nodeName", env["AZ_BATCH_NODE_ID"])
	require.NotContains(t, env, "WORLD_SIZE", "one process is not distributed")
	require.Contains(t, env, "MLW_OUTPUTS_URL")
	require.True(t, c.Resources.Requests.Cpu().Equal(resource.MustParse("2")))
	require.True(t, c.Resources.Limits.Memory().Equal(resource.MustParse("14Gi")))
	require.Equal(t, "lucid_ant_1", job.Labels[LabelJob])
}

func TestManifestSeveralNodes(t *testing.T) {
	job, svc := Manifest(&JobSpec{Name: "mlw-y-a1", JobName: "dist", JobUID: "u2", Attempt: 1, Image: "img", Command: "torchrun x.py",
		Nodes: 3, ProcsPerNode: 2, PerNode: backend.Resources{MilliCPU: 4000, GPUs: 1}})
	require.NotNil(t, svc)
	require.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP)
	require.Equal(t, batchv1.IndexedCompletion, *job.Spec.CompletionMode)
	require.EqualValues(t, 3, *job.Spec.Completions)
	require.EqualValues(t, 3, *job.Spec.Parallelism)
	require.Equal(t, "mlw-y-a1", job.Spec.Template.Spec.Subdomain)
	require.Empty(t, job.Spec.Template.Spec.InitContainers, "no code, no init container")
	env := envOf(job.Spec.Template.Spec.Containers[0])
	require.Equal(t, "mlw-y-a1-0.mlw-y-a1", env["MASTER_ADDR"])
	require.Equal(t, "6", env["WORLD_SIZE"])
	require.Equal(t, "2", env["LOCAL_WORLD_SIZE"])
	require.Equal(t, "29500", env["MASTER_PORT"])
	gpu := job.Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
	require.EqualValues(t, 1, gpu.Value())
	// The Service selects this attempt's pods only.
	for k, v := range svc.Spec.Selector {
		require.Equal(t, v, job.Spec.Template.Labels[k])
	}
}

// TestManifestInputsAndOutputs: inputs are unpacked by the init container
// into a volume the command reads but cannot write; named outputs are a
// volume of their own that the run script uploads.
func TestManifestInputsAndOutputs(t *testing.T) {
	job, _ := Manifest(&JobSpec{Name: "mlw-z-a1", Image: "img", Command: "true", Inputs: []string{"d", "f"}, InputsURL: "https://mlw/blob/a/c/inputs?sig=x",
		NamedOutputs: []string{"o"}, NamedOutputsURL: "https://mlw/blob/a/c/named?sig=x"})
	pod := job.Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1, "inputs without code still need the init container")
	init := pod.InitContainers[0]
	require.Equal(t, "d f", envOf(init)["MLW_INPUTS"])
	require.Equal(t, "https://mlw/blob/a/c/inputs?sig=x", envOf(init)["MLW_INPUTS_URL"])
	require.NotContains(t, envOf(init), "MLW_CODE_URL")
	require.Contains(t, init.VolumeMounts, corev1.VolumeMount{Name: "inputs", MountPath: "/mlw/inputs"})
	c := pod.Containers[0]
	require.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "inputs", MountPath: "/mlw/inputs", ReadOnly: true})
	require.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "outputs", MountPath: "/mlw/outputs"})
	require.Equal(t, "o", envOf(c)["MLW_NAMED_OUTPUTS"])
	require.Equal(t, "https://mlw/blob/a/c/named?sig=x", envOf(c)["MLW_NAMED_OUTPUTS_URL"])
	var vols []string
	for _, v := range pod.Volumes {
		vols = append(vols, v.Name)
	}
	require.ElementsMatch(t, []string{"work", "inputs", "outputs"}, vols)
}

// TestManifestCheckpoint: every attempt's run script may save a
// checkpoint; only one resuming an earlier attempt's has its init
// container fetch it (even with no code or inputs to fetch).
func TestManifestCheckpoint(t *testing.T) {
	const url = "https://mlw/blob/a/c/checkpoint.tar?sig=x"
	job, _ := Manifest(&JobSpec{Name: "mlw-c-a1", Image: "img", Command: "true", CheckpointURL: url})
	pod := job.Spec.Template.Spec
	require.Empty(t, pod.InitContainers, "a first attempt has nothing to fetch")
	require.Equal(t, url, envOf(pod.Containers[0])["MLW_CHECKPOINT_URL"])
	require.Equal(t, "/mlw/work/checkpoints", envOf(pod.Containers[0])["MLW_CHECKPOINT_DIR"])
	require.Contains(t, pod.Containers[0].Command[2], "trap stopping TERM")

	job, _ = Manifest(&JobSpec{Name: "mlw-c-a2", Image: "img", Command: "true", CheckpointURL: url, Resume: true})
	pod = job.Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1)
	require.Equal(t, url, envOf(pod.InitContainers[0])["MLW_CHECKPOINT_URL"])
	require.NotContains(t, envOf(pod.InitContainers[0]), "MLW_CODE_URL")
}

func TestManifestTrustsMlwCA(t *testing.T) {
	job, _ := Manifest(&JobSpec{Name: "mlw-x-a1", Image: "img", Command: "true", CodeURL: "https://mlw/blob/a/c/code.tar?sig=x",
		OutputsURL: "https://mlw/blob/a/c/outputs?sig=x", CAPEM: "-----BEGIN CERTIFICATE-----"})
	pod := job.Spec.Template.Spec
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		found := false
		for _, e := range c.Env {
			found = found || e.Name == "MLW_CA_PEM" && e.Value == "-----BEGIN CERTIFICATE-----"
		}
		require.True(t, found, "container %s gets the CA", c.Name)
		require.Contains(t, c.Command[2], "--cacert "+CAPath)
	}
}

package kubernetes

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlw-project/mlw/internal/backend"
)

// Labels and names mlw puts on what it creates.
const (
	LabelManaged = "app.kubernetes.io/managed-by"
	LabelJob     = "mlw.dev/job"     // the mlw job's name
	LabelJobUID  = "mlw.dev/job-uid" // the mlw job's UID
	LabelAttempt = "mlw.dev/attempt"
	// Container is the name of the container that runs the command.
	Container = "job"
	// MasterPort is rank 0's port for distributed jobs (PyTorch's default):
	// every pod has a network of its own, so it is the same for all jobs.
	MasterPort = 29500
)

// JobSpec is one attempt of a command job (backend.ContainerJob).
type JobSpec = backend.ContainerJob

// JobName is the Kubernetes name of attempt n of the mlw job with uid
// (backend.ContainerJobName).
func JobName(uid string, attempt int) string { return backend.ContainerJobName(uid, attempt) }

func jobLabels(s *JobSpec) map[string]string {
	return map[string]string{LabelManaged: "mlw", LabelJob: labelValue(s.JobName), LabelJobUID: labelValue(s.JobUID),
		LabelAttempt: strconv.Itoa(s.Attempt)}
}

// labelValue makes a string a valid label value (63 characters of
// letters, digits, '-', '_' and '.', starting and ending with one of the
// first two).
func labelValue(v string) string {
	v = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(v, "_")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "._-")
}

// Manifest is the Job (and, for several nodes, the headless Service) of
// an attempt.
func Manifest(s *JobSpec) (*batchv1.Job, *corev1.Service) {
	nodes := max(s.Nodes, 1)
	labels := jobLabels(s)
	pod := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		NodeSelector:       s.NodeSelector,
		ServiceAccountName: s.ServiceAccount,
		Volumes:            []corev1.Volume{emptyDir("work")},
		Containers: []corev1.Container{{
			Name: Container, Image: s.Image, Command: []string{"bash", "-c", runScript}, WorkingDir: "/mlw/work",
			Env: podEnv(s, nodes), Resources: requests(s.PerNode),
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/mlw/work"}},
		}},
	}
	job := &pod.Containers[0]
	if len(s.NamedOutputs) > 0 {
		pod.Volumes = append(pod.Volumes, emptyDir("outputs"))
		job.VolumeMounts = append(job.VolumeMounts, corev1.VolumeMount{Name: "outputs", MountPath: backend.ContainerOutputs})
	}
	if s.CodeURL != "" || len(s.Inputs) > 0 || s.Resume {
		init := corev1.Container{
			Name: "code", Image: s.Image, Command: []string{"bash", "-c", fetchScript}, WorkingDir: "/mlw/work",
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/mlw/work"}},
		}
		if s.CodeURL != "" {
			init.Env = append(init.Env, corev1.EnvVar{Name: "MLW_CODE_URL", Value: s.CodeURL})
		}
		if len(s.Inputs) > 0 {
			pod.Volumes = append(pod.Volumes, emptyDir("inputs"))
			init.Env = append(init.Env, corev1.EnvVar{Name: "MLW_INPUTS", Value: strings.Join(s.Inputs, " ")}, corev1.EnvVar{Name: "MLW_INPUTS_URL", Value: s.InputsURL})
			init.VolumeMounts = append(init.VolumeMounts, corev1.VolumeMount{Name: "inputs", MountPath: backend.ContainerInputs})
			// The command reads its inputs, as an Azure ML ro_mount.
			job.VolumeMounts = append(job.VolumeMounts, corev1.VolumeMount{Name: "inputs", MountPath: backend.ContainerInputs, ReadOnly: true})
		}
		if s.Resume {
			init.Env = append(init.Env, corev1.EnvVar{Name: "MLW_CHECKPOINT_URL", Value: s.CheckpointURL})
		}
		init.Env = append(init.Env, caEnv(s)...)
		pod.InitContainers = []corev1.Container{init}
	}
	n := int32(nodes)
	kjob := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels},
		Spec: batchv1.JobSpec{
			Completions: &n, Parallelism: &n, BackoffLimit: ptr(int32(0)),
			// A pod preempted or evicted ends the Job at once, saying so
			// in its Failed condition (the pod may be gone when mlw
			// looks): mlw then runs the job again as a new attempt.
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionFailJob,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
	if s.Timeout > 0 {
		kjob.Spec.ActiveDeadlineSeconds = ptr(int64((s.Timeout + time.Second - 1) / time.Second))
	}
	if nodes == 1 {
		return kjob, nil
	}
	// Several nodes: an Indexed Job (pod i is <name>-i, its index in
	// JOB_COMPLETION_INDEX) whose pods a headless Service names, so that
	// rank 0 is <name>-0.<name>.
	kjob.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	kjob.Spec.Template.Spec.Subdomain = s.Name
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{LabelJobUID: labels[LabelJobUID], LabelAttempt: labels[LabelAttempt]},
			PublishNotReadyAddresses: true},
	}
	return kjob, svc
}

// podEnv is the job's variables, then the ones the run script turns into
// the rank variables.
func podEnv(s *JobSpec, nodes int) []corev1.EnvVar {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]corev1.EnvVar, 0, len(keys)+8)
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	ppn := max(s.ProcsPerNode, 1)
	env = append(env,
		corev1.EnvVar{Name: "MLW_COMMAND", Value: s.Command},
		corev1.EnvVar{Name: "MLW_NODES", Value: strconv.Itoa(nodes)},
		corev1.EnvVar{Name: "MLW_PROCS_PER_NODE", Value: strconv.Itoa(ppn)},
		corev1.EnvVar{Name: "AZUREML_CR_NODE_COUNT", Value: strconv.Itoa(nodes)},
		corev1.EnvVar{Name: "AZ_BATCH_NODE_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
	)
	if nodes > 1 || ppn > 1 {
		master := "127.0.0.1"
		if nodes > 1 {
			master = s.Name + "-0." + s.Name
		}
		env = append(env, corev1.EnvVar{Name: "MASTER_ADDR", Value: master}, corev1.EnvVar{Name: "MASTER_PORT", Value: strconv.Itoa(MasterPort)},
			corev1.EnvVar{Name: "WORLD_SIZE", Value: strconv.Itoa(nodes * ppn)}, corev1.EnvVar{Name: "LOCAL_WORLD_SIZE", Value: strconv.Itoa(ppn)})
	}
	if s.OutputsURL != "" {
		env = append(env, corev1.EnvVar{Name: "MLW_OUTPUTS_URL", Value: s.OutputsURL})
	}
	env = append(env, corev1.EnvVar{Name: "MLW_CHECKPOINT_DIR", Value: "/mlw/work/checkpoints"})
	if s.CheckpointURL != "" {
		env = append(env, corev1.EnvVar{Name: "MLW_CHECKPOINT_URL", Value: s.CheckpointURL})
	}
	if len(s.NamedOutputs) > 0 {
		env = append(env, corev1.EnvVar{Name: "MLW_NAMED_OUTPUTS", Value: strings.Join(s.NamedOutputs, " ")},
			corev1.EnvVar{Name: "MLW_NAMED_OUTPUTS_URL", Value: s.NamedOutputsURL})
	}
	return append(env, caEnv(s)...)
}

// CAPath is where the pods' scripts write the certificate they trust.
const CAPath = backend.ContainerCAPath

func caEnv(s *JobSpec) []corev1.EnvVar {
	if s.CAPEM == "" {
		return nil
	}
	return []corev1.EnvVar{{Name: "MLW_CA_PEM", Value: s.CAPEM}}
}

// requests asks for a VM size's share of a node, as requests and limits
// (Guaranteed QoS: a job gets what its size says, no more).
func requests(r backend.Resources) corev1.ResourceRequirements {
	list := corev1.ResourceList{}
	if r.MilliCPU > 0 {
		list[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(r.MilliCPU), resource.DecimalSI)
	}
	if r.MemoryBytes > 0 {
		list[corev1.ResourceMemory] = *resource.NewQuantity(r.MemoryBytes, resource.BinarySI)
	}
	if r.GPUs > 0 {
		list["nvidia.com/gpu"] = *resource.NewQuantity(int64(r.GPUs), resource.DecimalSI)
	}
	return corev1.ResourceRequirements{Requests: list, Limits: list}
}

func ptr[T any](v T) *T { return &v }

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// fetchScript is the init container's: the snapshot, a tar archive, into
// the work directory, an earlier attempt's checkpoint into ./checkpoints
// (instead of the snapshot's), and each input's archive into its folder.
const fetchScript = caScript + `if [ -n "${MLW_CODE_URL:-}" ]; then
  curl -fsS --retry 5 ${ca[@]+"${ca[@]}"} "$MLW_CODE_URL" | tar -x -C /mlw/work
fi
if [ -n "${MLW_CHECKPOINT_URL:-}" ]; then
  rm -rf /mlw/work/checkpoints && mkdir /mlw/work/checkpoints
  curl -fsS --retry 5 ${ca[@]+"${ca[@]}"} "$MLW_CHECKPOINT_URL" | tar -x -C /mlw/work/checkpoints
fi
for n in ${MLW_INPUTS:-}; do
  base=${MLW_INPUTS_URL%%\?*} sas=${MLW_INPUTS_URL#*\?}
  mkdir -p "` + backend.ContainerInputs + `/$n"
  curl -fsS --retry 5 ${ca[@]+"${ca[@]}"} "$base/$n.tar?$sas" | tar -x -C "` + backend.ContainerInputs + `/$n"
done`

// caScript writes MLW_CA_PEM to CAPath for curl (and the job's clients).
const caScript = `set -euo pipefail
ca=()
if [ -n "${MLW_CA_PEM:-}" ]; then printf '%s\n' "$MLW_CA_PEM" > ` + CAPath + `; ca=(--cacert ` + CAPath + `); fi
`

// runScript is the job container's: the node's processes with the rank
// variables mlw's local backend sets (node i of an Indexed Job is
// JOB_COMPLETION_INDEX), each rank's output in its own log as well, then
// outputs/ uploaded to the blob store. The exit status is the first
// failing rank's. Told to stop (SIGTERM, which bash as a container's
// first process would otherwise ignore), it tells the processes, waits
// for them and saves node 0's ./checkpoints for the next attempt.
const runScript = caScript + `set +e
node=${JOB_COMPLETION_INDEX:-0}
export NODE_RANK=$node
mkdir -p outputs logs checkpoints
for n in ${MLW_NAMED_OUTPUTS:-}; do mkdir -p "` + backend.ContainerOutputs + `/$n"; done
save_checkpoint() {
  [ -n "${MLW_CHECKPOINT_URL:-}" ] && [ "$node" = 0 ] && [ -n "$(ls -A checkpoints)" ] || return 0
  if tar -c -C checkpoints . | curl -fsS --retry 3 ${ca[@]+"${ca[@]}"} -H 'x-ms-blob-type: BlockBlob' -T - "$MLW_CHECKPOINT_URL" >/dev/null; then
    echo "mlw: ./checkpoints saved for the next attempt" >&2
  else
    echo "mlw: could not save ./checkpoints" >&2
  fi
}
stopping() {
  trap - TERM
  echo "mlw: told to stop; stopping the processes" >&2
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
  wait "${pids[@]}"
  save_checkpoint
  exit 143
}
pids=()
trap stopping TERM
for ((i = 0; i < MLW_PROCS_PER_NODE; i++)); do
  (
    if [ "$MLW_NODES" -gt 1 ] || [ "$MLW_PROCS_PER_NODE" -gt 1 ]; then
      export LOCAL_RANK=$i RANK=$((node * MLW_PROCS_PER_NODE + i))
      export AZUREML_PROCESS_NAME=rank_$RANK
    fi
    # A process group of its own (setsid, where the image has it), so
    # that stopping reaches every process of the command.
    if command -v setsid >/dev/null; then exec setsid bash -c "$MLW_COMMAND"; fi
    exec bash -c "$MLW_COMMAND"
  ) > >(tee "logs/std_log_process_$i.txt") 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do
  wait "$p" || { s=$?; [ $status -ne 0 ] || status=$s; }
done
# upload DIR URL puts every file of DIR under URL's folder.
upload() {
  local base=${2%%\?*} sas=${2#*\?}
  (cd "$1" && find . -type f -print0) | while IFS= read -r -d '' f; do
    curl -fsS --retry 3 ${ca[@]+"${ca[@]}"} -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary "@$1/${f#./}" "$base/${f#./}?$sas" >/dev/null ||
      echo "mlw: could not upload $1/${f#./}" >&2
  done
}
if [ -n "${MLW_OUTPUTS_URL:-}" ]; then upload outputs "$MLW_OUTPUTS_URL"; fi
for n in ${MLW_NAMED_OUTPUTS:-}; do
  base=${MLW_NAMED_OUTPUTS_URL%%\?*} sas=${MLW_NAMED_OUTPUTS_URL#*\?}
  upload "` + backend.ContainerOutputs + `/$n" "$base/$n?$sas"
done
exit $status`

package kubernetes

import (
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func jobWith(conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{Status: batchv1.JobStatus{Conditions: conds}}
}

func pod(phase corev1.PodPhase, node string, mutate func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-0"}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	if mutate != nil {
		mutate(&p)
	}
	return p
}

func TestStateOf(t *testing.T) {
	unschedulable := func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/1 nodes are available: 1 Insufficient cpu."}}
	}
	pullFails := func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: Container, Image: "nope:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image."}}}}
	}
	exit := func(code int32, reason string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: Container,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}}
		}
	}
	failedCond := batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}
	// What the Job controller writes when the manifest's podFailurePolicy
	// rule for DisruptionTarget ends a Job.
	policyCond := batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonPodFailurePolicy,
		Message: "Pod ns/p-0 has condition DisruptionTarget matching FailJob rule at index 0"}
	for _, tc := range []struct {
		name     string
		job      *batchv1.Job
		pods     []corev1.Pod
		kind     string
		ended    bool
		exit     int
		contains string
	}{
		{"gone", nil, nil, Gone, true, -1, "deleted outside mlw"},
		{"no pods yet", jobWith(), nil, Pending, false, -1, "pods to be created"},
		{"waiting for a node", jobWith(), []corev1.Pod{pod(corev1.PodPending, "", unschedulable)}, Pending, false, -1, "Waiting for a node: 0/1 nodes are available: 1 Insufficient cpu."},
		{"scheduled, starting", jobWith(), []corev1.Pod{pod(corev1.PodPending, "n1", nil)}, Preparing, false, -1, "0 of 1 pods started"},
		{"running", jobWith(), []corev1.Pod{pod(corev1.PodRunning, "n1", nil)}, Running, false, -1, ""},
		{"image pull", jobWith(), []corev1.Pod{pod(corev1.PodPending, "n1", pullFails)}, ImagePull, true, -1, `The image "nope:1" of the job cannot be pulled (ImagePullBackOff)`},
		{"completed", jobWith(batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}), []corev1.Pod{pod(corev1.PodSucceeded, "n1", exit(0, "Completed"))}, Completed, true, 0, ""},
		{"exit code", jobWith(failedCond), []corev1.Pod{pod(corev1.PodFailed, "n1", exit(3, "Error"))}, Failed, true, 3, "exited with status code 3 on pod p-0"},
		{"out of memory", jobWith(failedCond), []corev1.Pod{pod(corev1.PodFailed, "n1", exit(137, "OOMKilled"))}, OutOfMemory, true, 137, "more memory than the job's size allows"},
		{"deadline", jobWith(batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline"}), []corev1.Pod{pod(corev1.PodRunning, "n1", nil)}, Timeout, true, -1, "time limit (limits.timeout)"},
		{"failed, no pod left", jobWith(failedCond), nil, Failed, true, -1, "backoff limit"},
		// A spot node reclaimed: the pod, still there, says why (its
		// container's exit by SIGTERM is not the command's failure).
		{"preempted, pod left", jobWith(policyCond), []corev1.Pod{pod(corev1.PodFailed, "spot-1", func(p *corev1.Pod) {
			exit(143, "Error")(p)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint"}}
		})}, Preempted, true, -1, "Pod p-0 was preempted or evicted from node spot-1 (DeletionByTaintManager): Taint manager"},
		{"preempted, no pod left", jobWith(policyCond), nil, Preempted, true, -1, "A pod was preempted or evicted: Pod ns/p-0 has condition DisruptionTarget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := StateOf(tc.job, tc.pods)
			require.Equal(t, tc.kind, st.Kind)
			require.Equal(t, tc.ended, st.Ended)
			require.Equal(t, tc.exit, st.ExitCode)
			require.Contains(t, st.Message, tc.contains)
		})
	}
}

package kubernetes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/kubernetes"
	"github.com/mlw-project/mlw/internal/backend/kubernetes/ktest"
)

// TestAgainstKubernetes drives a real kube-apiserver, etcd, scheduler and
// controller-manager with kwok's fake nodes. kwok runs no container: it
// moves scheduled pods to Running and a Job's pods to Succeeded. So this
// checks what mlw asks of Kubernetes and how it reads the answers
// (scheduling, completion, an unschedulable pod's reason, cancel,
// idempotent submit, nodes); the commands' own output and exit codes are
// checked by the state-mapping tests with the statuses a kubelet writes.
func TestAgainstKubernetes(t *testing.T) {
	cl := ktest.Start(t, ktest.Node{Name: "kwok-0", CPU: "4", Memory: "16Gi"}, ktest.Node{Name: "kwok-1", CPU: "4", Memory: "16Gi", GPUs: 1})
	ctx := context.Background()
	c, err := kubernetes.New(cl.Kubeconfig, "default")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.Check(ctx) == nil }, 30*time.Second, 100*time.Millisecond)

	bad, err := kubernetes.New(cl.Kubeconfig, "nowhere")
	require.NoError(t, err)
	require.ErrorContains(t, bad.Check(ctx), `namespace "nowhere"`)

	require.Eventually(t, func() bool {
		nodes, err := c.Nodes(ctx, "")
		if err != nil || len(nodes) != 2 {
			return false
		}
		for _, n := range nodes {
			if !n.Ready || n.MilliCPU != 4000 {
				return false
			}
		}
		return true
	}, 60*time.Second, 200*time.Millisecond, "two Ready fake nodes of 4 CPUs")
	nodes, err := c.Nodes(ctx, "")
	require.NoError(t, err)
	gpus := int64(0)
	for _, n := range nodes {
		gpus += n.GPUs
	}
	require.EqualValues(t, 1, gpus)

	await := func(name, kind string) kubernetes.State {
		t.Helper()
		var st kubernetes.State
		require.Eventually(t, func() bool {
			st, err = c.State(ctx, name)
			require.NoError(t, err)
			return st.Kind == kind
		}, 60*time.Second, 100*time.Millisecond, "%s to be %s (is %+v)", name, kind, &st)
		return st
	}

	t.Run("one node completes, submitted twice", func(t *testing.T) {
		spec := &kubernetes.JobSpec{Name: kubernetes.JobName("uid-one", 1), JobName: "one", JobUID: "uid-one", Attempt: 1, Image: "python:3.11",
			Command: "echo hi", Nodes: 1, PerNode: backend.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}}
		require.NoError(t, c.Submit(ctx, spec))
		require.NoError(t, c.Submit(ctx, spec), "a second submit of an attempt is a no-op")
		st := await(spec.Name, kubernetes.Completed)
		require.True(t, st.Ended)
		require.Len(t, st.Nodes, 1)
	})

	t.Run("three nodes as an indexed job", func(t *testing.T) {
		spec := &kubernetes.JobSpec{Name: kubernetes.JobName("uid-dist", 1), JobName: "dist", JobUID: "uid-dist", Attempt: 1, Image: "img",
			Command: "torchrun x.py", Nodes: 3, PerNode: backend.Resources{MilliCPU: 2000}}
		require.NoError(t, c.Submit(ctx, spec))
		st := await(spec.Name, kubernetes.Completed)
		require.Len(t, st.Nodes, 3)
	})

	t.Run("too big waits with the scheduler's reason, and cancels", func(t *testing.T) {
		spec := &kubernetes.JobSpec{Name: kubernetes.JobName("uid-big", 1), JobName: "big", JobUID: "uid-big", Attempt: 1, Image: "img",
			Command: "true", Nodes: 1, PerNode: backend.Resources{MilliCPU: 64000}}
		require.NoError(t, c.Submit(ctx, spec))
		var st kubernetes.State
		require.Eventually(t, func() bool {
			st, err = c.State(ctx, spec.Name)
			require.NoError(t, err)
			return st.Reason == "Unschedulable"
		}, 60*time.Second, 100*time.Millisecond)
		require.Equal(t, kubernetes.Pending, st.Kind)
		require.Contains(t, st.Message, "Insufficient cpu")
		require.False(t, st.Ended)

		require.NoError(t, c.Cancel(ctx, spec.Name))
		require.NoError(t, c.Cancel(ctx, spec.Name), "cancelling what is gone succeeds")
		await(spec.Name, kubernetes.Gone)
	})

	t.Run("a pod preempted ends its Job as Preempted", func(t *testing.T) {
		// No node matches its selector, so kwok leaves the pod alone;
		// the test then writes what the scheduler and the kubelet write
		// of a preempted pod, and the Job controller applies the
		// manifest's podFailurePolicy.
		spec := &kubernetes.JobSpec{Name: kubernetes.JobName("uid-spot", 1), JobName: "spot", JobUID: "uid-spot", Attempt: 1, Image: "img",
			Command: "sleep 1000", Nodes: 1, NodeSelector: map[string]string{"pool": "spot"}}
		require.NoError(t, c.Submit(ctx, spec))
		rc, err := clientcmd.RESTConfigFromKubeConfig(cl.Kubeconfig)
		require.NoError(t, err)
		cs, err := k8s.NewForConfig(rc)
		require.NoError(t, err)
		var name string
		require.Eventually(t, func() bool {
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + spec.Name})
			require.NoError(t, err)
			if len(pods.Items) == 0 {
				return false
			}
			name = pods.Items[0].Name
			return true
		}, 60*time.Second, 100*time.Millisecond)
		// The scheduler writes the pod's status too (PodScheduled=False):
		// read it again when it did so in between.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Status.Phase = corev1.PodFailed
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				Reason: "PreemptionByScheduler", Message: "default-scheduler: preempting to accommodate a higher priority pod", LastTransitionTime: metav1.Now()})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: kubernetes.Container, Image: "img",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"}}}}
			_, err = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
		require.NoError(t, err)
		st := await(spec.Name, kubernetes.Preempted)
		require.True(t, st.Ended)
		require.Contains(t, st.Message, "preempted or evicted")
		job, err := cs.BatchV1().Jobs("default").Get(ctx, spec.Name, metav1.GetOptions{})
		require.NoError(t, err)
		failed := false
		for _, c := range job.Status.Conditions {
			// Its message names the condition: what StateOf reads once
			// the pod is gone.
			failed = failed || c.Type == batchv1.JobFailed && c.Reason == batchv1.JobReasonPodFailurePolicy && strings.Contains(c.Message, "DisruptionTarget")
		}
		require.True(t, failed, "the Job controller ended it by the podFailurePolicy rule: %+v", job.Status.Conditions)
		require.NoError(t, c.Cancel(ctx, spec.Name))
	})

	states, err := c.States(ctx)
	require.NoError(t, err)
	require.Equal(t, kubernetes.Completed, states[kubernetes.JobName("uid-one", 1)].Kind, "States reads every attempt at once")
	require.Equal(t, kubernetes.Completed, states[kubernetes.JobName("uid-dist", 1)].Kind)
	require.NotContains(t, states, kubernetes.JobName("uid-big", 1), "a cancelled attempt is gone")
}

// TestSubmitIdempotentFake: the same on client-go's fake clientset, which
// needs no binaries, so that it runs everywhere.
func TestSubmitIdempotentFake(t *testing.T) {
	cs := fake.NewSimpleClientset()
	c := kubernetes.NewForClientset(cs, "ns")
	ctx := context.Background()
	spec := &kubernetes.JobSpec{Name: "mlw-x-a1", JobName: "x", JobUID: "x", Attempt: 1, Image: "img", Command: "true", Nodes: 2}
	require.NoError(t, c.Submit(ctx, spec))
	require.NoError(t, c.Submit(ctx, spec))
	jobs, err := cs.BatchV1().Jobs("ns").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs.Items, 1)
	svcs, err := cs.CoreV1().Services("ns").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, svcs.Items, 1)
	require.NoError(t, c.Cancel(ctx, spec.Name))
	st, err := c.State(ctx, spec.Name)
	require.NoError(t, err)
	require.Equal(t, kubernetes.Gone, st.Kind)
}

package kubernetes

import (
	"fmt"
	"strings"

	"github.com/mlw-project/mlw/internal/backend"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Kinds of State (backend.Container*).
const (
	Pending     = backend.ContainerPending
	Preparing   = backend.ContainerPreparing
	Running     = backend.ContainerRunning
	Completed   = backend.ContainerCompleted
	Failed      = backend.ContainerFailed
	Timeout     = backend.ContainerTimeout
	OutOfMemory = backend.ContainerOutOfMemory
	ImagePull   = backend.ContainerImagePull
	Gone        = backend.ContainerGone
	Preempted   = backend.ContainerPreempted
)

// State is an attempt as Kubernetes reports it (backend.ContainerState).
type State = backend.ContainerState

// StateOf maps a Job and its pods (nil job: Gone).
func StateOf(job *batchv1.Job, pods []corev1.Pod) State {
	if job == nil {
		return State{Kind: Gone, Ended: true, ExitCode: -1, Message: "The Kubernetes Job is gone (deleted outside mlw)."}
	}
	st := State{ExitCode: -1}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			st.Nodes = append(st.Nodes, p.Spec.NodeName)
		}
	}
	if f := podFailure(pods); f != nil && f.Kind == ImagePull {
		return *f
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			st.Kind, st.Ended, st.ExitCode = Completed, true, 0
			return st
		case batchv1.JobFailed:
			return failed(st, c, pods)
		}
	}
	return progress(st, pods)
}

// failed maps a failed Job: past its deadline, a pod preempted or
// evicted, or a pod that failed.
func failed(st State, c batchv1.JobCondition, pods []corev1.Pod) State {
	st.Ended = true
	if c.Reason == batchv1.JobReasonDeadlineExceeded {
		st.Kind, st.Reason = Timeout, c.Reason
		st.Message = "The job ran past its time limit (limits.timeout): " + c.Message
		return st
	}
	if msg, ok := disruption(c, pods); ok {
		st.Kind, st.Reason, st.Message = Preempted, string(corev1.DisruptionTarget), msg
		return st
	}
	if f := podFailure(pods); f != nil {
		f.Nodes = st.Nodes
		return *f
	}
	st.Kind, st.Reason, st.Message = Failed, c.Reason, c.Message
	return st
}

// disruption says whether the Job failed because a pod was preempted or
// evicted: its podFailurePolicy's rule for the DisruptionTarget condition
// (which the scheduler, the eviction API, the taint manager and a node's
// shutdown set) ended it, or a pod still there has that condition.
func disruption(c batchv1.JobCondition, pods []corev1.Pod) (string, bool) {
	for _, p := range pods {
		for _, pc := range p.Status.Conditions {
			if pc.Type == corev1.DisruptionTarget && pc.Status == corev1.ConditionTrue {
				where := ""
				if p.Spec.NodeName != "" {
					where = " from node " + p.Spec.NodeName
				}
				return strings.TrimSpace(fmt.Sprintf("Pod %s was preempted or evicted%s (%s): %s", p.Name, where, pc.Reason, pc.Message)), true
			}
		}
	}
	if c.Reason == batchv1.JobReasonPodFailurePolicy && strings.Contains(c.Message, string(corev1.DisruptionTarget)) {
		return "A pod was preempted or evicted: " + c.Message, true
	}
	return "", false
}

// podFailure finds why a pod failed or cannot start: an image that
// cannot be pulled, a container killed for memory or ended with a code.
func podFailure(pods []corev1.Pod) *State {
	for _, p := range pods {
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
					return &State{Kind: ImagePull, Ended: true, ExitCode: -1, Reason: w.Reason,
						Message: fmt.Sprintf("The image %q of the job cannot be pulled (%s): %s Check the environment's image and the cluster's access to its registry.", cs.Image, w.Reason, w.Message)}
				case "CreateContainerConfigError", "CreateContainerError":
					return &State{Kind: Failed, Ended: true, ExitCode: -1, Reason: w.Reason, Message: fmt.Sprintf("Container %s could not be created: %s", cs.Name, w.Message)}
				}
			}
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			if t.Reason == "OOMKilled" {
				return &State{Kind: OutOfMemory, Ended: true, ExitCode: int(t.ExitCode), Reason: t.Reason,
					Message: fmt.Sprintf("Container %s of pod %s was killed for using more memory than the job's size allows.", cs.Name, p.Name)}
			}
			what := "The job's command"
			if cs.Name != Container {
				what = "Fetching the code snapshot"
			}
			return &State{Kind: Failed, Ended: true, ExitCode: int(t.ExitCode), Reason: t.Reason,
				Message: fmt.Sprintf("%s exited with status code %d on pod %s. %s", what, t.ExitCode, p.Name, strings.TrimSpace(t.Message))}
		}
	}
	return nil
}

// progress maps a Job that has not ended: pending for a node with the
// scheduler's words, preparing, or running.
func progress(st State, pods []corev1.Pod) State {
	st.Kind = Pending
	if len(pods) == 0 {
		st.Message = "Waiting for the Job's pods to be created."
		return st
	}
	running := 0
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				st.Reason, st.Message = c.Reason, "Waiting for a node: "+c.Message
				return st
			}
		}
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
			running++
		}
	}
	if running < len(pods) {
		st.Kind, st.Message = Preparing, fmt.Sprintf("%d of %d pods started.", running, len(pods))
		return st
	}
	st.Kind = Running
	return st
}

package kubernetes

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/mlw-project/mlw/internal/backend"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Client acts on one namespace of one cluster.
type Client struct {
	cs        kubernetes.Interface
	namespace string
}

// New connects with a kubeconfig (its current context) to a namespace
// ("" is the kubeconfig context's, else "default").
func New(kubeconfig []byte, namespace string) (*Client, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cc := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{})
	rest, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if namespace == "" {
		if namespace, _, err = cc.Namespace(); err != nil || namespace == "" {
			namespace = "default"
		}
	}
	rest.UserAgent = "mlw"
	// client-go's default (5 requests/s, bursts of 10) is a kubectl's;
	// mlw is a controller with many jobs, as kube-controller-manager is.
	rest.QPS, rest.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, err
	}
	return &Client{cs: cs, namespace: namespace}, nil
}

// Namespace is where the client creates Jobs.
func (c *Client) Namespace() string { return c.namespace }

// Check asks the API server who mlw is there and whether it may create
// Jobs in the namespace: what attaching a cluster verifies.
func (c *Client) Check(ctx context.Context) error {
	if _, err := c.cs.CoreV1().Namespaces().Get(ctx, c.namespace, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("namespace %q: %w", c.namespace, err)
	}
	if _, err := c.cs.BatchV1().Jobs(c.namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("list Jobs in %q: %w", c.namespace, err)
	}
	return nil
}

// Submit creates an attempt's Job (and Service). It is idempotent: an
// attempt already created is left as it is, so a restart of mlw never
// submits one twice.
func (c *Client) Submit(ctx context.Context, s *JobSpec) error {
	job, svc := Manifest(s)
	if svc != nil {
		if _, err := c.cs.CoreV1().Services(c.namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Service %s: %w", svc.Name, err)
		}
	}
	_, err := c.cs.BatchV1().Jobs(c.namespace).Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create Job %s: %w", job.Name, err)
	}
	return nil
}

// State reads an attempt's Job and pods.
func (c *Client) State(ctx context.Context, name string) (State, error) {
	job, err := c.cs.BatchV1().Jobs(c.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return StateOf(nil, nil), nil
	}
	if err != nil {
		return State{}, err
	}
	pods, err := c.pods(ctx, name)
	if err != nil {
		return State{}, err
	}
	return StateOf(job, pods), nil
}

// States reads every attempt mlw has in the namespace, by Job name, with
// two requests whatever their number (what a poller asks each pass).
func (c *Client) States(ctx context.Context) (map[string]State, error) {
	sel := metav1.ListOptions{LabelSelector: LabelManaged + "=mlw"}
	jobs, err := c.cs.BatchV1().Jobs(c.namespace).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	pods, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	byJob := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		byJob[p.Labels["job-name"]] = append(byJob[p.Labels["job-name"]], p)
	}
	out := make(map[string]State, len(jobs.Items))
	for i := range jobs.Items {
		j := &jobs.Items[i]
		out[j.Name] = StateOf(j, byJob[j.Name])
	}
	return out, nil
}

func (c *Client) pods(ctx context.Context, job string) ([]corev1.Pod, error) {
	list, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Cancel deletes an attempt's Job, its pods (background propagation: the
// pods get their grace period) and its Service. Deleting what is gone
// succeeds.
func (c *Client) Cancel(ctx context.Context, name string) error {
	bg := metav1.DeletePropagationBackground
	err := c.cs.BatchV1().Jobs(c.namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Job %s: %w", name, err)
	}
	err = c.cs.CoreV1().Services(c.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Service %s: %w", name, err)
	}
	return nil
}

// ErrNoPod: the pod of that node has not been created (or is gone).
var ErrNoPod = backend.ErrNoPod

// Logs streams the job container's output of node index (following it
// while the pod runs, when follow).
func (c *Client) Logs(ctx context.Context, name string, index int, follow bool) (io.ReadCloser, error) {
	pods, err := c.pods(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		i := p.Annotations["batch.kubernetes.io/job-completion-index"]
		if i == "" && index == 0 || i == strconv.Itoa(index) {
			return c.cs.CoreV1().Pods(c.namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: Container, Follow: follow}).Stream(ctx)
		}
	}
	return nil, ErrNoPod
}

// Node is one node of the cluster as mlw shows it (backend.ContainerNode).
type Node = backend.ContainerNode

// Nodes lists the cluster's nodes (those matching selector, "" for all).
func (c *Client) Nodes(ctx context.Context, selector string) ([]Node, error) {
	list, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(list.Items))
	for _, n := range list.Items {
		a := n.Status.Allocatable
		node := Node{Name: n.Name, Schedulable: !n.Spec.Unschedulable, MilliCPU: a.Cpu().MilliValue(), MemoryBytes: a.Memory().Value()}
		if g, ok := a["nvidia.com/gpu"]; ok {
			node.GPUs = g.Value()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				node.Ready = cond.Status == corev1.ConditionTrue
				if !node.Ready {
					node.Message = cond.Message
				}
			}
		}
		out = append(out, node)
	}
	return out, nil
}

// NewForClientset wraps a clientset (a test's fake one, or one built
// elsewhere).
func NewForClientset(cs kubernetes.Interface, namespace string) *Client {
	return &Client{cs: cs, namespace: namespace}
}

var _ backend.Containers = (*Client)(nil)

// Connect is New as a backend.ContainerConnector.
func Connect(kubeconfig []byte, namespace string) (backend.Containers, error) {
	return New(kubeconfig, namespace)
}

package service

import (
	"context"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// kubernetesType admits attached Kubernetes clusters (computeType
// Kubernetes, docs/kubernetes.md): a namespace, instance types, images,
// and a kubeconfig that is kept in the compute's status, never in what a
// client reads back. The reconciler connects and reports the outcome.
type kubernetesType struct{}

// Quota: an attached cluster's nodes are not mlw's to count.
func (kubernetesType) Quota(*resource.ComputeSpec) (int, bool) { return 0, false }

func (kubernetesType) Admit(ctx context.Context, a *ComputeAdmission) error {
	const field = "properties.properties.kubeconfig"
	raw, sent := a.Props["kubeconfig"]
	delete(a.Props, "kubeconfig")
	kc, _ := raw.(string)
	switch {
	case sent && raw != nil && kc == "":
		return core.Invalid(field, "kubeconfig must be the text of a kubeconfig file (`mlw compute attach --type Kubernetes --kubeconfig ~/.kube/config`).")
	case kc == "" && a.Old == nil:
		return core.Invalid(field, "Attaching a Kubernetes cluster needs its kubeconfig: `mlw compute attach --type Kubernetes --name <name> --kubeconfig ~/.kube/config --namespace <namespace>`.")
	case kc != "":
		if err := checkKubeconfig(kc); err != nil {
			return err
		}
		a.Secrets = map[string]any{resource.KubeInternalKey: map[string]any{"kubeconfig": kc}}
		a.Changed = true
	}
	if a.Old != nil {
		// The namespace is where its jobs' pods are: fixed at attach.
		if ns, ok := a.OldProps["namespace"]; ok {
			a.Props["namespace"] = ns
		}
	}
	if _, err := resource.ParseKubernetesSpec(a.Props); err != nil {
		return err
	}
	if ns, _ := a.Props["namespace"].(string); ns == "" {
		a.Props["namespace"] = "default"
	}
	if a.Old == nil {
		a.State = resource.StateCreating
	} else {
		a.Changed = true // instance types or images: the reconciler checks again
	}
	return nil
}

// checkKubeconfig checks that a kubeconfig names a cluster and a current
// context; whether it connects is the reconciler's to find out.
func checkKubeconfig(kc string) error {
	const field = "properties.properties.kubeconfig"
	var cfg struct {
		Kind           string           `yaml:"kind"`
		CurrentContext string           `yaml:"current-context"`
		Clusters       []map[string]any `yaml:"clusters"`
	}
	if err := yaml.Unmarshal([]byte(kc), &cfg); err != nil {
		return core.Invalid(field, "The kubeconfig is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(cfg.Clusters) == 0 {
		return core.Invalid(field, "The kubeconfig names no cluster: pass a kubeconfig file with clusters, users and a current-context (`kubectl config view --minify --raw`).")
	}
	if cfg.CurrentContext == "" {
		return core.Invalid(field, "The kubeconfig has no current-context: set one (`kubectl config use-context <name>`) or pass `kubectl config view --minify --raw`.")
	}
	return nil
}

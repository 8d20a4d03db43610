package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// attachFlags are the flags of `compute attach`.
type attachFlags struct {
	name, typ, kubeconfig, namespace, defaultType string
	instanceTypes, images                         []string
	noWait                                        bool
}

func computeAttachCmd(app *App) *cobra.Command {
	var s scope
	var f attachFlags
	cmd := &cobra.Command{
		Use:   "attach",
		Short: "Attach a Kubernetes cluster as a compute",
		Long: `Attach a Kubernetes cluster as a compute (computeType Kubernetes), as
az ml compute attach --type Kubernetes does: jobs submitted to it run as
Kubernetes Jobs in the namespace, one pod per node (docs/kubernetes.md).

The kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config) is sent
to the server once and kept there; no one reads it back. Its current context
is used. Instance types size the pods: --instance-type NAME=cpu=2,memory=4Gi
(and gpu=1), repeatable; without one, jobs get defaultinstancetype (2 CPUs,
2 GiB). A job may also name a VM size as its instance_type. --image maps an
environment to the image its jobs run in on this compute.`,
		Example: `  mlw compute attach --type Kubernetes --name k8s --kubeconfig ~/.kube/config --namespace mlw-jobs
  mlw compute attach --type Kubernetes --name k8s --namespace mlw-jobs \
      --instance-type cpu-small=cpu=2,memory=4Gi --instance-type gpu=cpu=8,memory=32Gi,gpu=1 \
      --image AzureML-sklearn-1.0-ubuntu20.04-py38-cpu=registry.example/sklearn:1.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := attachBody(&f)
			if err != nil {
				return err
			}
			p, err := app.computePath(cmd.Context(), &s, f.name)
			if err != nil {
				return err
			}
			out, err := app.putCompute(cmd, p, body, "Attaching Kubernetes compute "+f.name, f.noWait)
			if err != nil {
				return err
			}
			return app.printView(out, computeView)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.name, "name", "n", "", "compute name")
	fl.StringVarP(&f.typ, "type", "t", "Kubernetes", "compute type to attach")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fl.StringVar(&f.namespace, "namespace", "default", "namespace the jobs' pods run in")
	fl.StringArrayVar(&f.instanceTypes, "instance-type", nil, "instance type as NAME=cpu=N,memory=SIZE[,gpu=N] (repeatable)")
	fl.StringVar(&f.defaultType, "default-instance-type", "", "instance type of jobs that name none")
	fl.StringArrayVar(&f.images, "image", nil, "environment=image: the image an environment's jobs run in (repeatable)")
	fl.BoolVar(&f.noWait, "no-wait", false, "return once attaching has started")
	addWorkspaceFlags(cmd, &s)
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"Kubernetes"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// attachBody builds the PUT body of `compute attach`.
func attachBody(f *attachFlags) (Doc, error) {
	if !strings.EqualFold(f.typ, "Kubernetes") {
		return nil, fmt.Errorf("--type %s: mlw attaches Kubernetes clusters only (use `mlw compute create` for instances and clusters)", f.typ)
	}
	path := f.kubeconfig
	if path == "" {
		path = strings.Split(os.Getenv("KUBECONFIG"), string(os.PathListSeparator))[0]
	}
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".kube", "config")
	}
	kc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	props := Doc{"kubeconfig": string(kc), "namespace": f.namespace}
	if f.defaultType != "" {
		props["defaultInstanceType"] = f.defaultType
	}
	if len(f.instanceTypes) > 0 {
		types := Doc{}
		for _, v := range f.instanceTypes {
			name, it, err := parseInstanceTypeFlag(v)
			if err != nil {
				return nil, err
			}
			types[name] = it
		}
		props["instanceTypes"] = types
	}
	if len(f.images) > 0 {
		images := Doc{}
		for _, v := range f.images {
			env, img, ok := strings.Cut(v, "=")
			if !ok || env == "" || img == "" {
				return nil, fmt.Errorf("--image %q: write environment=image, for example AzureML-sklearn-1.0-ubuntu20.04-py38-cpu=registry.example/sklearn:1.0", v)
			}
			images[env] = img
		}
		props["images"] = images
	}
	return Doc{"properties": Doc{"computeType": "Kubernetes", "properties": props}}, nil
}

// parseInstanceTypeFlag reads NAME=cpu=2,memory=4Gi[,gpu=1].
func parseInstanceTypeFlag(v string) (string, Doc, error) {
	bad := fmt.Errorf("--instance-type %q: write NAME=cpu=N,memory=SIZE[,gpu=N], for example cpu-small=cpu=2,memory=4Gi", v)
	name, rest, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return "", nil, bad
	}
	limits := Doc{}
	for _, kv := range strings.Split(rest, ",") {
		k, q, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || q == "" {
			return "", nil, bad
		}
		switch strings.ToLower(k) {
		case "cpu", "memory":
			limits[strings.ToLower(k)] = q
		case "gpu", "nvidia.com/gpu":
			limits["nvidia.com/gpu"] = q
		default:
			return "", nil, fmt.Errorf("--instance-type %q: %s is not cpu, memory or gpu", v, k)
		}
	}
	return name, Doc{"resources": Doc{"requests": limits, "limits": limits}}, nil
}

package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/mlw-project/mlw/internal/backend/kubernetes"
	"github.com/mlw-project/mlw/internal/reconciler"
	"github.com/mlw-project/mlw/internal/resource"
)

// Settings of attached Kubernetes computes (docs/kubernetes.md).
const (
	// K8sServerURLEnv is mlw's URL as the clusters' pods reach it (the
	// server's own URL by default, which only pods on this host can use):
	// code archives, outputs and the MLflow tracking URI go through it.
	// Its certificate must be the server's (mlw's CA signs it).
	K8sServerURLEnv = "MLW_K8S_SERVER_URL"
	// K8sImagesEnv maps environments to images for every Kubernetes
	// compute: "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu=registry.example/sklearn:1.0,my-env:3=…"
	// (by name:version or name). A compute's own images win.
	K8sImagesEnv = "MLW_K8S_IMAGES"
)

// kubeFromEnv is this server's setup for Kubernetes computes.
func (s *Server) kubeFromEnv(queue resource.Enqueuer) (*reconciler.Kube, error) {
	images, err := parseImages(os.Getenv(K8sImagesEnv))
	if err != nil {
		return nil, err
	}
	podURL := strings.TrimRight(os.Getenv(K8sServerURLEnv), "/")
	if podURL != "" && !strings.HasPrefix(podURL, "https://") && !strings.HasPrefix(podURL, "http://") {
		return nil, fmt.Errorf("%s=%q: write a URL such as https://mlw.example:7443", K8sServerURLEnv, podURL)
	}
	return &reconciler.Kube{Connect: kubernetes.Connect, CAPEM: s.ca.CertPEM, SignSAS: s.svc.ContainerSAS, Images: images, Queue: queue,
		ServerURL: func() string {
			if podURL != "" {
				return podURL
			}
			return s.url
		}}, nil
}

// parseImages reads K8sImagesEnv.
func parseImages(v string) (map[string]string, error) {
	return parsePairs(K8sImagesEnv, v, "environment=image", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu=registry.example/sklearn:1.0")
}

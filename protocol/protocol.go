// Package protocol holds the names both sides of mlw's wire agree on —
// the server's well-known paths, the cloud it describes itself as, the
// files a client's environment points at — so that the server
// (internal/...) and its clients (api, the CLI) share them without the
// server importing the client library. It uses only the standard library.
package protocol

import (
	"os"
	"path/filepath"
	"strings"
)

// IdentityTokenPath is the server's managed-identity token endpoint (the
// App Service protocol that azure-identity's ManagedIdentityCredential
// speaks when IDENTITY_ENDPOINT and IDENTITY_HEADER are set).
const IdentityTokenPath = "/identity/token"

// CloudMetadataPath is the server's cloud metadata document (Azure's
// management.azure.com/metadata/endpoints), which describes the server as
// an Azure cloud named CloudName for azure-ai-ml 1.28 and azure-cli.
const CloudMetadataPath = "/metadata/endpoints"

// CloudName is the name of the cloud the metadata document describes.
const CloudName = "mlw"

// CloudMetadataURL is the ARM_CLOUD_METADATA_URL for the server at
// serverURL, with the api-version whose answer (a list of clouds) both
// azure-ai-ml and azure-cli read.
func CloudMetadataURL(serverURL string) string {
	return strings.TrimRight(serverURL, "/") + CloudMetadataPath + "?api-version=2019-05-01"
}

// CABundleFile is the CA bundle `mlw env` writes into the mlw home: the
// system roots plus the server's CA, for REQUESTS_CA_BUNDLE.
const CABundleFile = "ca-bundle.pem"

// systemRoots are where Debian (and most Linux systems) keep the public
// root certificates.
var systemRoots = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

// SystemRootsPEM returns the system's root certificates ($SSL_CERT_FILE
// first), or nil when none are found.
func SystemRootsPEM() []byte {
	paths := systemRoots
	// A SSL_CERT_FILE that is mlw's own bundle (`mlw env --az` exports it)
	// already holds mlw's CA: reading it would grow the bundle at each run.
	if f := os.Getenv("SSL_CERT_FILE"); f != "" && filepath.Base(f) != CABundleFile {
		paths = append([]string{f}, paths...)
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return b
		}
	}
	return nil
}

// MLflowTrackingPath is the path of a workspace's MLflow tracking URI below
// the server's URL (workspaceID is its ARM id): MLflow clients append
// /api/2.0/mlflow/… to the URI (docs/mlflow.md).
func MLflowTrackingPath(workspaceID string) string { return "/mlflow/v1.0" + workspaceID }

package api

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlw-project/mlw/protocol"
)

// WriteCABundle writes the system roots followed by caPEM to path,
// atomically. REQUESTS_CA_BUNDLE replaces Python's trust store for every
// request, so the bundle must hold the public roots too.
func WriteCABundle(path string, caPEM []byte) error {
	var b bytes.Buffer
	if roots := protocol.SystemRootsPEM(); roots != nil {
		b.Write(roots)
		if !bytes.HasSuffix(roots, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	b.WriteString("# mlw server CA\n")
	b.Write(caPEM)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write CA bundle: %w", err)
	}
	return os.Rename(tmp, path)
}

// PythonEnv is the environment a Python user of azure-ai-ml needs to reach
// an mlw server with DefaultAzureCredential: the MFE URL (azure-ai-ml 1.4
// and later), the cloud metadata URL (azure-ai-ml 1.28, which then sends
// every ARM call here, workspace creation included; older releases ignore
// it), a trust store that holds the server's CA, and the managed-identity
// token endpoint.
type PythonEnv struct {
	// Vars are the variables to export, in Names order.
	Vars map[string]string `json:"vars"`
	// Unset are the variables to remove (EnvironmentCredential would
	// otherwise come first in DefaultAzureCredential's chain).
	Unset []string `json:"unset"`
}

// PythonEnvNames are the variables of a PythonEnv, in print order.
var PythonEnvNames = []string{"AZUREML_DEV_URL_MFE", "ARM_CLOUD_METADATA_URL", "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"}

// NewPythonEnv builds the environment for the server at serverURL with the
// user's API token. bundle is the CA bundle file (empty when the server's
// certificate is publicly trusted and needs none).
func NewPythonEnv(serverURL, token, bundle string) (*PythonEnv, error) {
	u := strings.TrimRight(serverURL, "/")
	if !strings.HasPrefix(u, "https://") {
		return nil, errors.New("the Azure ML SDK needs an https:// server URL (azure-core refuses bearer tokens over plain HTTP); run the server without --insecure-http")
	}
	if token == "" {
		return nil, errors.New("no API token: run `mlw login --server URL --token TOKEN`, set MLW_TOKEN, or run this on the server's machine")
	}
	if strings.Count(token, ".") == 2 {
		return nil, errors.New("IDENTITY_HEADER must be an mlw API token (mlw_…), not a signed access token: use the token `mlw login` saved or MLW_TOKEN")
	}
	e := &PythonEnv{Vars: map[string]string{
		"AZUREML_DEV_URL_MFE":    u,
		"ARM_CLOUD_METADATA_URL": protocol.CloudMetadataURL(u),
		"IDENTITY_ENDPOINT":      u + protocol.IdentityTokenPath,
		"IDENTITY_HEADER":        token,
	}, Unset: []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"}}
	if bundle != "" {
		e.Vars["REQUESTS_CA_BUNDLE"] = bundle
	}
	return e, nil
}

// AzureCLIEnvNames are the variables AddAzureCLI adds, in print order.
var AzureCLIEnvNames = []string{"SSL_CERT_FILE", "AZURE_CONFIG_DIR", "MSI_ENDPOINT", "MSI_SECRET", "APPSETTING_WEBSITE_SITE_NAME"}

// AzureCLIConfigDir is the folder of the mlw home that AddAzureCLI gives
// azure-cli as its configuration (AZURE_CONFIG_DIR), so that its login to
// mlw and its cache of mlw's cloud stay apart from a login to Azure.
const AzureCLIConfigDir = "azure"

// AddAzureCLI adds what Microsoft's azure-cli (2.45, Debian's azure-cli)
// needs besides the SDK's variables, read from its source:
//
//   - ARM_CLOUD_METADATA_URL (already there) makes mlw az's only known
//     cloud, and so its default: no `az cloud register` or `az cloud set`.
//     az fetches it with urllib, which trusts SSL_CERT_FILE, not
//     REQUESTS_CA_BUNDLE; the bundle serves for both.
//   - `az login --identity` goes through msrestazure, which speaks the App
//     Service protocol of 2017 (MSI_ENDPOINT, the header `secret` from
//     MSI_SECRET) only when APPSETTING_WEBSITE_SITE_NAME is set; otherwise
//     it posts to MSI_ENDPOINT with no secret at all.
//   - AZURE_CONFIG_DIR is home's AzureCLIConfigDir.
//
// azure-identity (the SDK) prefers IDENTITY_ENDPOINT, so the extra
// variables change nothing for it.
func (e *PythonEnv) AddAzureCLI(home string) {
	if b := e.Vars["REQUESTS_CA_BUNDLE"]; b != "" {
		e.Vars["SSL_CERT_FILE"] = b
	}
	dir := filepath.Join(home, AzureCLIConfigDir)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	e.Vars["AZURE_CONFIG_DIR"] = dir
	e.Vars["MSI_ENDPOINT"] = e.Vars["IDENTITY_ENDPOINT"]
	e.Vars["MSI_SECRET"] = e.Vars["IDENTITY_HEADER"]
	e.Vars["APPSETTING_WEBSITE_SITE_NAME"] = protocol.CloudName
}

// MLflowEnvNames are the variables AddMLflow adds, in print order.
var MLflowEnvNames = []string{"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_SERVER_CERT_PATH"}

// AddMLflow adds what the stock mlflow client needs to track into a
// workspace (its ARM path): the workspace's tracking URI, the token (sent
// as a bearer token) and the CA bundle that verifies the server
// (docs/mlflow.md).
func (e *PythonEnv) AddMLflow(workspacePath string) {
	e.Vars["MLFLOW_TRACKING_URI"] = e.Vars["AZUREML_DEV_URL_MFE"] + protocol.MLflowTrackingPath(workspacePath)
	e.Vars["MLFLOW_TRACKING_TOKEN"] = e.Vars["IDENTITY_HEADER"]
	if b := e.Vars["REQUESTS_CA_BUNDLE"]; b != "" {
		e.Vars["MLFLOW_TRACKING_SERVER_CERT_PATH"] = b
	}
}

// names are the variables of e in print order.
func (e *PythonEnv) names() []string {
	return append(append(append([]string{}, PythonEnvNames...), AzureCLIEnvNames...), MLflowEnvNames...)
}

// Environ returns the variables as KEY=value strings (for exec.Cmd.Env).
func (e *PythonEnv) Environ() []string {
	var out []string
	for _, k := range e.names() {
		if v, ok := e.Vars[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// Shell renders the environment as POSIX shell commands.
func (e *PythonEnv) Shell() string {
	var b strings.Builder
	for _, k := range e.names() {
		if v, ok := e.Vars[k]; ok {
			fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
		}
	}
	if len(e.Unset) > 0 {
		fmt.Fprintf(&b, "unset %s\n", strings.Join(e.Unset, " "))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

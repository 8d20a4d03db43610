package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The DP-100 lab's first and last steps with Microsoft's Azure CLI
// (Debian's azure-cli 2.45) against mlw, set up as `mlw env --az` says.

// TestAzureCLI: after `eval "$(mlw env --az)"`, az knows mlw as its only
// cloud; `az login --identity` signs in through mlw's token endpoint; the
// lab's resource group is made, checked, listed and deleted with az, and
// the delete leaves nothing of what mlw ran in it.
func TestAzureCLI(t *testing.T) {
	t.Parallel()
	RequireAz(t)
	s := StartServer(t, Options{})
	az := s.AzEnv(t)

	var cloud struct {
		Name      string `json:"name"`
		Endpoints struct {
			ResourceManager string `json:"resourceManager"`
		} `json:"endpoints"`
	}
	az.MustRunJSON(t, &cloud, "cloud", "show")
	require.Equal(t, "mlw", cloud.Name, "ARM_CLOUD_METADATA_URL makes mlw az's only cloud")
	require.Equal(t, s.URL+"/", cloud.Endpoints.ResourceManager)

	var accounts []map[string]any
	az.MustRunJSON(t, &accounts, "login", "--identity")
	require.Len(t, accounts, 1, accounts)
	require.Equal(t, s.Subscription, accounts[0]["id"])
	require.Equal(t, "mlw", accounts[0]["environmentName"])

	// The labs' setup scripts register the provider first.
	az.MustRun(t, "provider", "register", "-n", "Microsoft.MachineLearningServices")
	require.Equal(t, "Registered", strings.TrimSpace(az.MustRun(t, "provider", "show", "-n", "Microsoft.MachineLearningServices",
		"--query", "registrationState", "-o", "tsv")))
	require.Equal(t, "Registered", strings.TrimSpace(az.MustRun(t, "provider", "list",
		"--query", "[?namespace=='Microsoft.MachineLearningServices'].registrationState", "-o", "tsv")), "the providers' list, as az lists it")
	_, stderr, code := az.Run(t, "provider", "register", "-n", "Microsoft.PolicyInsights")
	require.NotZero(t, code)
	require.Contains(t, stderr, "mlw does not serve the resource provider namespace 'Microsoft.PolicyInsights'")

	var g map[string]any
	az.MustRunJSON(t, &g, "group", "create", "--name", "rg-dp100-labs", "--location", "eastus")
	require.Equal(t, "rg-dp100-labs", g["name"])
	require.Equal(t, "Succeeded", g["properties"].(map[string]any)["provisioningState"])
	require.Equal(t, "true", strings.TrimSpace(az.MustRun(t, "group", "exists", "--name", "rg-dp100-labs")))
	require.Equal(t, "false", strings.TrimSpace(az.MustRun(t, "group", "exists", "--name", "rg-nowhere")))
	require.Equal(t, "eastus", strings.TrimSpace(az.MustRun(t, "group", "show", "--name", "rg-dp100-labs", "--query", "location", "-o", "tsv")))
	az.MustRun(t, "group", "update", "--name", "rg-dp100-labs", "--tags", "course=dp100")
	require.Contains(t, az.MustRun(t, "group", "list", "--query", "[?tags.course=='dp100'].name", "-o", "tsv"), "rg-dp100-labs")
	az.MustRun(t, "group", "wait", "--name", "rg-dp100-labs", "--exists")
	require.Equal(t, "East US", strings.TrimSpace(az.MustRun(t, "account", "list-locations", "--query", "[?name=='eastus'].displayName", "-o", "tsv")))

	// The lab's workspace, with a job running on a cluster, made with mlw
	// in the group that az made.
	s.MustRun(t, "workspace", "create", "--name", "mlw-dp100-labs", "-g", "rg-dp100-labs")
	e := &jobsEnv{s: s, ws: s.WorkspacePath("rg-dp100-labs", "mlw-dp100-labs"), rg: "rg-dp100-labs", name: "mlw-dp100-labs"}
	t.Cleanup(func() { stopAndKillJobs(s) })
	e.putCluster(t, "aml-cluster", map[string]any{"vmSize": "STANDARD_DS1_V2",
		"scaleSettings": map[string]any{"minNodeCount": 0, "maxNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT10M"}})
	e.submit(t, "long_job", map[string]any{"command": "sleep 600", "computeId": e.ws + "/computes/aml-cluster"})
	e.awaitJob(t, "long_job", "Running")
	require.Equal(t, "mlw-dp100-labs\tMicrosoft.MachineLearningServices/workspaces",
		strings.TrimSpace(az.MustRun(t, "resource", "list", "-g", "rg-dp100-labs", "--query", "[].[name, type]", "-o", "tsv")))
	require.Equal(t, "mlw-dp100-labs", strings.TrimSpace(az.MustRun(t, "resource", "show", "-g", "rg-dp100-labs", "-n", "mlw-dp100-labs",
		"--resource-type", "Microsoft.MachineLearningServices/workspaces", "--query", "name", "-o", "tsv")))

	// The lab's last step.
	az.MustRun(t, "group", "delete", "--name", "rg-dp100-labs", "--yes")
	require.Equal(t, "false", strings.TrimSpace(az.MustRun(t, "group", "exists", "--name", "rg-dp100-labs")))
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, e.ws, nil).StatusCode)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, e.ws+"/jobs/long_job", nil).StatusCode)
	require.Equal(t, "[]", strings.TrimSpace(s.MustRun(t, "workspace", "list", "-o", "json")))
	Await(t, "no process of the group left", func() error {
		if pids := ProcessesOf(s.Dir); len(pids) > 0 {
			return fmt.Errorf("still running: %v", pids)
		}
		return nil
	})
}

// TestAzureCLICloudRegister: without ARM_CLOUD_METADATA_URL, `az cloud
// register --endpoint-resource-manager` reads mlw's metadata document
// (api-version=2015-01-01) and `az cloud set` makes it current.
func TestAzureCLICloudRegister(t *testing.T) {
	t.Parallel()
	RequireAz(t)
	s := StartServer(t, Options{})
	az := s.AzEnv(t, "ARM_CLOUD_METADATA_URL")
	az.MustRun(t, "cloud", "register", "--name", "mlw", "--endpoint-resource-manager", s.URL+"/")
	az.MustRun(t, "cloud", "set", "--name", "mlw")
	require.Equal(t, s.URL+"/", strings.TrimSpace(az.MustRun(t, "cloud", "show", "--query", "endpoints.resourceManager", "-o", "tsv")))
	az.MustRun(t, "login", "--identity")
	az.MustRun(t, "group", "create", "--name", "rg-registered", "--location", "westeurope")
	require.Equal(t, "true", strings.TrimSpace(az.MustRun(t, "group", "exists", "--name", "rg-registered")))
	s.MustRun(t, "group", "show", "--name", "rg-registered")
}

// TestAzureCLIThroughProxy: az left on Azure's own cloud (AzureCloud,
// management.azure.com) reaches mlw through `mlw server --proxy-listen`
// with HTTPS_PROXY, as azure-ai-ml 1.4.0 does for workspace creation.
func TestAzureCLIThroughProxy(t *testing.T) {
	t.Parallel()
	RequireAz(t)
	s := StartServer(t, Options{Args: []string{"--proxy-listen", "127.0.0.1:0"}})
	s.AwaitLog(t, "intercepting proxy ready")
	m := regexp.MustCompile(`intercepting proxy ready"? url=(\S+)`).FindStringSubmatch(s.Log())
	require.Len(t, m, 2, s.Log())
	az := s.AzEnv(t, "ARM_CLOUD_METADATA_URL")
	az.Env = append(az.Env, "HTTPS_PROXY="+m[1])
	require.Equal(t, "AzureCloud", strings.TrimSpace(az.MustRun(t, "cloud", "show", "--query", "name", "-o", "tsv")))
	var accounts []map[string]any
	az.MustRunJSON(t, &accounts, "login", "--identity")
	require.Len(t, accounts, 1, accounts)
	require.Equal(t, s.Subscription, accounts[0]["id"])
	az.MustRun(t, "group", "create", "--name", "rg-proxied", "--location", "eastus")
	s.MustRun(t, "group", "show", "--name", "rg-proxied")
	az.MustRun(t, "group", "delete", "--name", "rg-proxied", "--yes")
	require.Equal(t, "false", strings.TrimSpace(az.MustRun(t, "group", "exists", "--name", "rg-proxied")))
}

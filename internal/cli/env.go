package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/protocol"
)

func envCmd(app *App) *cobra.Command {
	var az bool
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the shell exports that point the Azure ML Python SDK at this server",
		Long: `Print the environment a Python user of azure-ai-ml needs for the current
server and user: AZUREML_DEV_URL_MFE (the API), ARM_CLOUD_METADATA_URL (this
server described as an Azure cloud), REQUESTS_CA_BUNDLE (a bundle of the system
roots and mlw's CA, written into the mlw home), IDENTITY_ENDPOINT and
IDENTITY_HEADER (so that DefaultAzureCredential() gets an mlw token), and an
unset of the AZURE_* service principal variables that would take precedence.

Then MLClient.from_config(DefaultAzureCredential()) works unchanged with the
config.json of ` + "`mlw workspace download-config`" + `. Tested with azure-ai-ml 1.4.0
(Debian 12) and 1.28.0 (Debian 13).

azure-ai-ml 1.28 reads ARM_CLOUD_METADATA_URL, takes this server as its cloud
("mlw") and sends every ARM call here: workspaces.begin_create needs no proxy.
1.4.0 ignores it and sends workspace creation to management.azure.com: run the
server with --proxy-listen and set HTTPS_PROXY for that. Do not set
AZUREML_CURRENT_CLOUD=mlw for 1.4.0, which knows only Azure's clouds.

Debian 12's python3-azure (1.4.0) lacks pydash: run it in the virtualenv of
` + "`mlw sdk venv`" + `, which adds mlw's compatibility module for it.
Debian 13's (1.28.0) needs the OpenTelemetry API: in a venv made with
--system-site-packages, pip install opentelemetry-api. In notebooks 1.28 sets
up Azure Monitor telemetry, which fails quietly offline;
MLClient(..., enable_telemetry=False) turns it off.

With --az it also prints what Microsoft's Azure CLI (azure-cli 2.45, Debian's
azure-cli package) needs: SSL_CERT_FILE (az fetches the cloud metadata with
urllib, which ignores REQUESTS_CA_BUNDLE), AZURE_CONFIG_DIR (~/.mlw/azure, so
that az's login to mlw stays apart from a login to Azure), and MSI_ENDPOINT,
MSI_SECRET and APPSETTING_WEBSITE_SITE_NAME (the App Service managed identity
that ` + "`az login --identity`" + ` speaks). az then knows one cloud, mlw, and
needs no ` + "`az cloud register`" + `: run ` + "`az login --identity`" + ` once, then
az group create|show|list|exists|delete, az provider register, az account
list-locations and az resource list work against this server.`,
		Example: `  eval "$(mlw env)"
  eval "$(mlw env --az)" && az login --identity && az group list -o table
  mlw env --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := api.Resolve(app.Home, app.conn)
			if err != nil {
				return err
			}
			bundle := ""
			if conn.CAFile != "" {
				ca, err := api.ReadCAFile(conn.CAFile)
				if err != nil {
					return err
				}
				bundle = filepath.Join(app.Home, protocol.CABundleFile)
				if abs, err := filepath.Abs(bundle); err == nil {
					bundle = abs
				}
				if err := api.WriteCABundle(bundle, ca); err != nil {
					return err
				}
			}
			env, err := api.NewPythonEnv(conn.Server, conn.Token, bundle)
			if err != nil {
				return err
			}
			apply := "eval \"$(mlw env)\""
			if az {
				env.AddAzureCLI(app.Home)
				apply = "eval \"$(mlw env --az)\", then: az login --identity"
			}
			switch {
			case app.query == nil && (app.output == "" || app.output == "table"):
				_, err := app.Out.Write([]byte(env.Shell()))
				if err == nil && app.outIsTTY {
					app.errf("# Apply with: %s\n", apply)
				}
				return err
			default:
				return app.print(env, nil)
			}
		},
	}
	cmd.Flags().BoolVar(&az, "az", false, "also print what the Azure CLI needs (az login --identity, this server as its cloud)")
	return cmd
}

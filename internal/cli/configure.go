package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

func configureCmd(app *App) *cobra.Command {
	var defaults []string
	var listDefaults bool
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Set defaults such as the resource group and workspace",
		Example: `  mlw configure --defaults group=rg-dp100-labs workspace=mlw-dp100-labs
  mlw configure --defaults workspace=''      # clear one default
  mlw configure --list-defaults`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := app.Profile()
			if listDefaults || len(defaults) == 0 && len(args) == 0 {
				docs := []Doc{}
				for k, v := range p.Defaults {
					docs = append(docs, Doc{"name": k, "value": v})
				}
				return app.print(docs, []column{{Header: "Name", Path: "name"}, {Header: "Value", Path: "value"}})
			}
			// `--defaults a=1 b=2` leaves b=2 as a positional argument, as in az.
			for _, kv := range append(defaults, args...) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("defaults are name=value (group=..., workspace=...), not %q", kv)
				}
				switch k {
				case "group", "workspace", "location":
				default:
					return fmt.Errorf("unknown default %q: mlw knows group, workspace and location", k)
				}
				if v == "" {
					delete(p.Defaults, k)
				} else {
					p.Defaults[k] = v
				}
			}
			return p.Save(app.Home)
		},
	}
	cmd.Flags().StringSliceVarP(&defaults, "defaults", "d", nil, "space-separated name=value pairs: group, workspace, location")
	cmd.Flags().BoolVarP(&listDefaults, "list-defaults", "l", false, "list the defaults")
	return cmd
}

func loginCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save the server and token to use (for a remote mlw server)",
		Long: `Save the server URL, token and CA certificate that later commands use.
On the machine that runs ` + "`mlw server`" + ` no login is needed: the CLI finds the local
server, its CA and its token in the data directory ($MLW_HOME, ~/.mlw).`,
		Example: `  mlw login --server https://mlw.example.org:7443 --token mlw_xxx --ca-file mlw-ca.crt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// --server, --token and --ca-file are the global flags.
			server, token, caFile := app.conn.Server, app.conn.Token, app.conn.CAFile
			if server == "" || token == "" {
				return fmt.Errorf("pass --server URL and --token TOKEN (the token is in the server's data directory, file %q)", api.LocalTokenFile)
			}
			if caFile != "" {
				// Saved for commands run from any folder.
				abs, err := filepath.Abs(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file %s: %w", caFile, err)
				}
				caFile = abs
			}
			c, err := api.Connect(api.Connection{Server: server, Token: token, CAFile: caFile})
			if err != nil {
				return err
			}
			sub, err := verify(cmd.Context(), c)
			if err != nil {
				return err
			}
			p := app.Profile()
			p.Server, p.Token, p.CAFile, p.Subscription = server, token, caFile, sub
			if err := p.Save(app.Home); err != nil {
				return err
			}
			app.errf("Logged in to %s (subscription %s).\n", server, sub)
			return nil
		},
	}
	return cmd
}

func verify(ctx context.Context, c *api.Client) (string, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return "", fmt.Errorf("login failed: %w", err)
	}
	return sub, nil
}

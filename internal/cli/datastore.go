package cli

import (
	"context"
	"errors"
	"net/url"

	"github.com/spf13/cobra"
)

var datastoreColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Type", Path: "properties.datastoreType"},
	{Header: "Account", Path: "properties.accountName"},
	{Header: "Container", Func: func(d Doc) string {
		if c := str(d, "properties.containerName"); c != "" {
			return c
		}
		return str(d, "properties.fileShareName")
	}},
	{Header: "Default", Path: "properties.isDefault"},
}

var datastoreView = view{shape: datastoreShape, cols: datastoreColumns}

func datastoreCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "datastore", Aliases: []string{"datastores"}, Short: "List and show a workspace's datastores",
		Long: `A workspace comes with the datastores workspaceblobstore (the default: code
snapshots, job outputs), workspaceartifactstore (job logs and artifacts),
workspaceworkingdirectory and workspacefilestore (the file share, see mlw file).`}
	cmd.AddCommand(datastoreListCmd(app), datastoreShowCmd(app))
	return cmd
}

// datastoresPath resolves the workspace of s and returns the ARM path of
// its datastores.
func (a *App) datastoresPath(ctx context.Context, s *scope) (string, error) {
	_, p, err := a.workspacePath(ctx, s)
	return p + "/datastores", err
}

func datastoreListCmd(app *App) *cobra.Command {
	var s scope
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the workspace's datastores",
		Example: "  mlw datastore list -o table",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.datastoresPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), p)
			if err != nil {
				return err
			}
			return app.printView(docs, datastoreView)
		},
	}
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func datastoreShowCmd(app *App) *cobra.Command {
	var s scope
	var name string
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show a datastore",
		Example: "  mlw datastore show --name workspaceblobstore",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("pass --name (see mlw datastore list)")
			}
			p, err := app.datastoresPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), p+"/"+url.PathEscape(name))
			if err != nil {
				return err
			}
			return app.printView(d, datastoreView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "datastore name")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

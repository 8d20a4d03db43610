package cli

import (
	"errors"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

var groupColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Location", Path: "location"},
	{Header: "Status", Path: "properties.provisioningState"},
}

func groupCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage resource groups", Aliases: []string{"groups"}}
	cmd.AddCommand(groupCreateCmd(app), groupShowCmd(app), groupListCmd(app), groupDeleteCmd(app))
	return cmd
}

func addGroupNameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "resource group name")
	_ = cmd.MarkFlagRequired("name")
}

func groupCreateCmd(app *App) *cobra.Command {
	var name, location string
	var tags []string
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a resource group (or update its tags)",
		Example: "  mlw group create --name rg-dp100-labs --location eastus",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, sub, err := app.clientSub(cmd.Context())
			if err != nil {
				return err
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			loc := location
			if loc == "" {
				loc = app.Profile().Defaults["location"]
			}
			if loc == "" {
				return errors.New("pass --location (an Azure region name, e.g. eastus), or set a default: mlw configure --defaults location=eastus")
			}
			var out Doc
			if _, err := c.Do(cmd.Context(), "PUT", api.GroupPath(sub, name), Doc{"location": loc, "tags": t}, &out); err != nil {
				return err
			}
			return app.print(out, groupColumns)
		},
	}
	addGroupNameFlag(cmd, &name)
	cmd.Flags().StringVarP(&location, "location", "l", "", "location (an Azure region name, e.g. eastus; default: mlw configure --defaults location=…)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags as key=value (repeatable)")
	return cmd
}

func groupShowCmd(app *App) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show a resource group",
		Example: "  mlw group show --name rg-dp100-labs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, sub, err := app.clientSub(cmd.Context())
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), api.GroupPath(sub, name))
			if err != nil {
				return err
			}
			return app.print(d, groupColumns)
		},
	}
	addGroupNameFlag(cmd, &name)
	return cmd
}

func groupListCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List resource groups",
		Example: "  mlw group list -o table",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, sub, err := app.clientSub(cmd.Context())
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), "/subscriptions/"+url.PathEscape(sub)+"/resourceGroups")
			if err != nil {
				return err
			}
			return app.print(docs, groupColumns)
		},
	}
}

func groupDeleteCmd(app *App) *cobra.Command {
	var name string
	var yes, noWait bool
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a resource group and everything in it",
		Long: `Delete a resource group: every workspace in it, and every compute and job in
those workspaces. Running instances, nodes and jobs are stopped first; nothing
of the group is left running when the command returns.`,
		Example: "  mlw group delete --name rg-dp100-labs --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.confirm("Delete resource group '"+name+"' and everything in it?", yes); err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			resp, err := c.DeleteGroup(cmd.Context(), name)
			if err != nil {
				return err
			}
			if noWait {
				app.errf("Deletion of resource group '%s' started.\n", name)
				return nil
			}
			return app.wait(cmd.Context(), c, resp, "Deleting resource group "+name)
		},
	}
	addGroupNameFlag(cmd, &name)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the deletion has started")
	return cmd
}

func parseTags(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errors.New("tags are key=value, not " + kv)
		}
		out[k] = v
	}
	return out, nil
}

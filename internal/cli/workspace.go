package cli

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

var workspaceColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Location", Path: "location"},
	{Header: "Status", Path: "properties.provisioningState"},
	{Header: "Description", Path: "properties.description"},
}

var workspaceView = view{shape: workspaceShape, cols: workspaceColumns}

func workspaceCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "workspace", Short: "Manage Azure ML workspaces", Aliases: []string{"ws"}}
	var s scope
	var location, description, friendly string
	var tags []string

	wsPath := func(cmd *cobra.Command) (string, error) {
		_, p, err := app.workspacePath(cmd.Context(), &s)
		return p, err
	}

	create := &cobra.Command{
		Use:   "create",
		Short: "Create a workspace (with its default datastores)",
		Example: `  mlw workspace create --name mlw-dp100-labs -g rg-dp100-labs
  mlw workspace create -n mlw-dp100-labs -g rg-dp100-labs --location eastus --description "DP-100 labs"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := wsPath(cmd)
			if err != nil {
				return err
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			props := Doc{}
			if description != "" {
				props["description"] = description
			}
			if friendly != "" {
				props["friendlyName"] = friendly
			}
			body := Doc{"properties": props}
			if location != "" {
				body["location"] = location
			}
			if len(t) > 0 {
				body["tags"] = t
			}
			c, _ := app.Client()
			var out Doc
			if _, err := c.Do(cmd.Context(), "PUT", p, body, &out); err != nil {
				return err
			}
			return app.printView(out, workspaceView)
		},
	}
	create.Flags().StringVarP(&s.workspace, "name", "n", "", "workspace name")
	addGroupFlag(create, &s)
	create.Flags().StringVarP(&location, "location", "l", "", "location (default: the resource group's)")
	create.Flags().StringVar(&description, "description", "", "description")
	create.Flags().StringVar(&friendly, "display-name", "", "friendly name shown in the studio")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as key=value (repeatable)")
	_ = create.MarkFlagRequired("name")

	update := &cobra.Command{
		Use:     "update",
		Short:   "Update a workspace's description, display name or tags",
		Example: `  mlw workspace update -n mlw-dp100-labs -g rg-dp100-labs --description "shared lab workspace"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := wsPath(cmd)
			if err != nil {
				return err
			}
			props := Doc{}
			if cmd.Flags().Changed("description") {
				props["description"] = description
			}
			if cmd.Flags().Changed("display-name") {
				props["friendlyName"] = friendly
			}
			body := Doc{"properties": props}
			if cmd.Flags().Changed("tags") {
				t, err := parseTags(tags)
				if err != nil {
					return err
				}
				body["tags"] = t
			}
			c, _ := app.Client()
			var out Doc
			if _, err := c.Do(cmd.Context(), "PATCH", p, body, &out); err != nil {
				return err
			}
			return app.printView(out, workspaceView)
		},
	}
	update.Flags().StringVarP(&s.workspace, "name", "n", "", "workspace name")
	addGroupFlag(update, &s)
	update.Flags().StringVar(&description, "description", "", "description")
	update.Flags().StringVar(&friendly, "display-name", "", "friendly name")
	update.Flags().StringSliceVar(&tags, "tags", nil, "tags as key=value (replaces all tags)")

	show := &cobra.Command{
		Use:     "show",
		Short:   "Show a workspace",
		Example: "  mlw workspace show -n mlw-dp100-labs -g rg-dp100-labs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := wsPath(cmd)
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			return app.printView(d, workspaceView)
		},
	}
	show.Flags().StringVarP(&s.workspace, "name", "n", "", "workspace name")
	addGroupFlag(show, &s)

	list := &cobra.Command{
		Use:     "list",
		Short:   "List workspaces (of a group, or of the whole subscription)",
		Example: "  mlw workspace list -g rg-dp100-labs\n  mlw workspace list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, sub, err := app.clientSub(cmd.Context())
			if err != nil {
				return err
			}
			p := "/subscriptions/" + sub + "/providers/" + api.Provider + "/workspaces"
			if s.group == "" {
				s.group = app.Profile().Defaults["group"]
			}
			if s.group != "" {
				p = api.GroupPath(sub, s.group) + "/providers/" + api.Provider + "/workspaces"
			}
			docs, err := app.listDocs(cmd.Context(), p)
			if err != nil {
				return err
			}
			return app.printView(docs, workspaceView)
		},
	}
	addGroupFlag(list, &s)

	var yes, noWait bool
	del := &cobra.Command{
		Use:     "delete",
		Short:   "Delete a workspace and everything in it",
		Example: "  mlw workspace delete -n mlw-dp100-labs -g rg-dp100-labs --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := wsPath(cmd)
			if err != nil {
				return err
			}
			if err := app.confirm("Delete workspace '"+s.workspace+"' with its computes, jobs and files?", yes); err != nil {
				return err
			}
			c, _ := app.Client()
			resp, err := c.Do(cmd.Context(), "DELETE", p, nil, nil)
			if err != nil {
				return err
			}
			if noWait {
				app.errf("Deletion of workspace '%s' started.\n", s.workspace)
				return nil
			}
			return app.wait(cmd.Context(), c, resp, "Deleting workspace "+s.workspace)
		},
	}
	del.Flags().StringVarP(&s.workspace, "name", "n", "", "workspace name")
	addGroupFlag(del, &s)
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	del.Flags().BoolVar(&noWait, "no-wait", false, "return once the deletion has started")

	var dir string
	download := &cobra.Command{
		Use:   "download-config",
		Short: "Write the config.json that MLClient.from_config() reads",
		Example: `  mlw workspace download-config -n mlw-dp100-labs -g rg-dp100-labs
  mlw workspace download-config --path ./notebooks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := wsPath(cmd)
			if err != nil {
				return err
			}
			if _, err := app.getDoc(cmd.Context(), p); err != nil {
				return err
			}
			c, _ := app.Client()
			cfg := map[string]string{"subscription_id": c.Subscription, "resource_group": s.group, "workspace_name": s.workspace}
			b, _ := json.MarshalIndent(cfg, "", "  ")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, "config.json")
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				return err
			}
			app.errf("Wrote %s\n", path)
			return nil
		},
	}
	download.Flags().StringVarP(&s.workspace, "name", "n", "", "workspace name")
	addGroupFlag(download, &s)
	download.Flags().StringVarP(&dir, "path", "p", ".", "directory to write config.json into")

	cmd.AddCommand(create, update, show, list, del, download)
	return cmd
}

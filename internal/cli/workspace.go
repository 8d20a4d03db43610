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
	cmd.AddCommand(workspaceCreateCmd(app), workspaceUpdateCmd(app), workspaceShowCmd(app), workspaceListCmd(app),
		workspaceDeleteCmd(app), workspaceDownloadConfigCmd(app))
	return cmd
}

// addWorkspaceNameFlags are -n (the workspace) and -g.
func addWorkspaceNameFlags(cmd *cobra.Command, s *scope) {
	cmd.Flags().StringVarP(&s.workspace, "name", "n", "", "workspace name")
	addGroupFlag(cmd, s)
}

func workspaceCreateCmd(app *App) *cobra.Command {
	var s scope
	var location, description, friendly string
	var tags []string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a workspace (with its default datastores)",
		Example: `  mlw workspace create --name mlw-dp100-labs -g rg-dp100-labs
  mlw workspace create -n mlw-dp100-labs -g rg-dp100-labs --location eastus --description "DP-100 labs"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.workspacePath(cmd.Context(), &s)
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
			var out Doc
			if _, err := c.Do(cmd.Context(), "PUT", p, body, &out); err != nil {
				return err
			}
			return app.printView(out, workspaceView)
		},
	}
	addWorkspaceNameFlags(cmd, &s)
	cmd.Flags().StringVarP(&location, "location", "l", "", "location (default: the resource group's)")
	cmd.Flags().StringVar(&description, "description", "", "description")
	cmd.Flags().StringVar(&friendly, "display-name", "", "friendly name shown in the studio")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags as key=value (repeatable)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func workspaceUpdateCmd(app *App) *cobra.Command {
	var s scope
	var description, friendly string
	var tags []string
	cmd := &cobra.Command{
		Use:     "update",
		Short:   "Update a workspace's description, display name or tags",
		Example: `  mlw workspace update -n mlw-dp100-labs -g rg-dp100-labs --description "shared lab workspace"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.workspacePath(cmd.Context(), &s)
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
			var out Doc
			if _, err := c.Do(cmd.Context(), "PATCH", p, body, &out); err != nil {
				return err
			}
			return app.printView(out, workspaceView)
		},
	}
	addWorkspaceNameFlags(cmd, &s)
	cmd.Flags().StringVar(&description, "description", "", "description")
	cmd.Flags().StringVar(&friendly, "display-name", "", "friendly name")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags as key=value (replaces all tags)")
	return cmd
}

func workspaceShowCmd(app *App) *cobra.Command {
	var s scope
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show a workspace",
		Example: "  mlw workspace show -n mlw-dp100-labs -g rg-dp100-labs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, p, err := app.workspacePath(cmd.Context(), &s)
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
	addWorkspaceNameFlags(cmd, &s)
	return cmd
}

func workspaceListCmd(app *App) *cobra.Command {
	var s scope
	cmd := &cobra.Command{
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
	addGroupFlag(cmd, &s)
	return cmd
}

func workspaceDeleteCmd(app *App) *cobra.Command {
	var s scope
	var yes, noWait bool
	cmd := &cobra.Command{
		Use:     "delete",
		Short:   "Delete a workspace and everything in it",
		Example: "  mlw workspace delete -n mlw-dp100-labs -g rg-dp100-labs --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := app.workspacePath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			if err := app.confirm("Delete workspace '"+s.workspace+"' with its computes, jobs and files?", yes); err != nil {
				return err
			}
			resp, err := c.DeleteWorkspace(cmd.Context(), s.group, s.workspace)
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
	addWorkspaceNameFlags(cmd, &s)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the deletion has started")
	return cmd
}

func workspaceDownloadConfigCmd(app *App) *cobra.Command {
	var s scope
	var dir string
	cmd := &cobra.Command{
		Use:   "download-config",
		Short: "Write the config.json that MLClient.from_config() reads",
		Example: `  mlw workspace download-config -n mlw-dp100-labs -g rg-dp100-labs
  mlw workspace download-config --path ./notebooks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := app.workspacePath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			if _, err := c.GetWorkspace(cmd.Context(), s.group, s.workspace); err != nil {
				return err
			}
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
	addWorkspaceNameFlags(cmd, &s)
	cmd.Flags().StringVarP(&dir, "path", "p", ".", "directory to write config.json into")
	return cmd
}

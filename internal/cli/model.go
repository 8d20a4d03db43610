package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// mlw model: Azure ML's models, which are the workspace's MLflow model
// registry (docs/mlflow.md, "Azure ML models").

// modelContainerColumns are an asset container's, as environments'.
var modelContainerColumns = assetContainerColumns

var modelVersionColumns = []column{
	{Header: "Name", Func: func(d Doc) string {
		if m := versionedIDRE.FindStringSubmatch(str(d, "id")); m != nil {
			return m[2]
		}
		return ""
	}},
	{Header: "Version", Path: "name"},
	{Header: "Type", Path: "properties.modelType"},
	{Header: "Stage", Path: "properties.stage"},
	{Header: "Job", Path: "properties.jobName"},
	{Header: "Created", Path: "systemData.createdAt"},
}

var modelVersionView = view{shape: modelVersionShape, cols: modelVersionColumns}

func modelCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "model",
		Aliases: []string{"models"},
		Short:   "Manage models (the workspace's MLflow model registry)",
		Long: `Manage models. A workspace's models are its MLflow model registry: a model
registered with mlflow.register_model is listed here, and one created here is
in MLflow's registry (docs/mlflow.md).`,
		Example: `  mlw model create --name diabetes --path ./model --type mlflow_model
  mlw model create --name diabetes --path azureml://jobs/<job>/outputs/artifacts/paths/model --type mlflow_model
  mlw model list
  mlw model show --name diabetes --label latest`,
	}
	cmd.AddCommand(modelCreateCmd(app), modelListCmd(app), modelShowCmd(app), modelArchiveCmd(app, true), modelArchiveCmd(app, false), modelDeleteCmd(app))
	return cmd
}

// modelsPath resolves the workspace of s and returns a client and the
// ARM path of the workspace's models.
func (a *App) modelsPath(ctx context.Context, s *scope) (*api.Client, string, error) {
	c, p, err := a.workspacePath(ctx, s)
	return c, p + "/models", err
}

func modelListCmd(app *App) *cobra.Command {
	var s scope
	var name, stage string
	var archived bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List models, or the versions of one",
		Example: "  mlw model list\n  mlw model list --name diabetes --stage Production",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, p, err := app.modelsPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			q := url.Values{"listViewType": {"ActiveOnly"}}
			if archived {
				q.Set("listViewType", "All")
			}
			if name == "" {
				docs, err := app.listDocs(cmd.Context(), p+"?"+q.Encode())
				if err != nil {
					return err
				}
				return app.printView(docs, view{shape: modelContainerShape, cols: modelContainerColumns})
			}
			if stage != "" {
				q.Set("stage", stage)
			}
			docs, err := app.listDocs(cmd.Context(), p+"/"+url.PathEscape(name)+"/versions?"+q.Encode())
			if err != nil {
				return err
			}
			return app.printView(docs, modelVersionView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "list the versions of this model")
	cmd.Flags().StringVar(&stage, "stage", "", "with --name: only the versions in this stage (None, Staging, Production, Archived)")
	cmd.Flags().BoolVar(&archived, "include-archived", false, "include archived models (or versions)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// namedModelsPath is modelsPath for a command that needs --name.
func (a *App) namedModelsPath(cmd *cobra.Command, s *scope, name string) (*api.Client, string, error) {
	if name == "" {
		return nil, "", errors.New("pass --name (see mlw model list)")
	}
	return a.modelsPath(cmd.Context(), s)
}

// modelVersion reads one version, or the latest (the most recently
// created) when version is "".
func (a *App) modelVersion(ctx context.Context, c *api.Client, p, name, version string) (Doc, error) {
	p += "/" + url.PathEscape(name) + "/versions"
	if version != "" {
		return a.getDoc(ctx, p+"/"+url.PathEscape(version))
	}
	var page api.List[Doc]
	if _, err := c.Do(ctx, "GET", p+"?$orderBy="+url.QueryEscape("createdtime desc")+"&$top=1", nil, &page); err != nil {
		return nil, err
	}
	if len(page.Value) == 0 {
		return nil, fmt.Errorf("model %q has no active versions (see mlw model list --name %s --include-archived)", name, name)
	}
	return page.Value[0], nil
}

func modelShowCmd(app *App) *cobra.Command {
	var s scope
	var name, version, label string
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show one model version (the latest by default)",
		Example: "  mlw model show --name diabetes --version 2\n  mlw model show --name diabetes --label latest",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.namedModelsPath(cmd, &s, name)
			if err != nil {
				return err
			}
			if version != "" && label != "" {
				return errors.New("give --version or --label, not both")
			}
			if label != "" && label != "latest" {
				return fmt.Errorf("unknown label %q: the only label is latest", label)
			}
			d, err := app.modelVersion(cmd.Context(), c, p, name, version)
			if err != nil {
				return err
			}
			return app.printView(d, modelVersionView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "model name")
	cmd.Flags().StringVarP(&version, "version", "v", "", "version")
	cmd.Flags().StringVarP(&label, "label", "l", "", "label (latest)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// modelArchiveCmd is archive (or restore): a model, or one version, leaves
// (or comes back to) the lists of active ones, as ml_client.models.archive
// does: the document read, isArchived set, PUT back.
func modelArchiveCmd(app *App, archive bool) *cobra.Command {
	var s scope
	var name, version string
	verb, short := "archive", "Archive a model or one version (hidden from lists; still usable by name and version)"
	if !archive {
		verb, short = "restore", "Restore an archived model or version"
	}
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Example: fmt.Sprintf("  mlw model %s --name diabetes\n  mlw model %s --name diabetes --version 1", verb, verb),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.namedModelsPath(cmd, &s, name)
			if err != nil {
				return err
			}
			p += "/" + url.PathEscape(name)
			if version != "" {
				p += "/versions/" + url.PathEscape(version)
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			props, _ := d["properties"].(map[string]any)
			if props == nil {
				return fmt.Errorf("model %q: the server sent no properties", name)
			}
			props["isArchived"] = archive
			delete(props, "stage") // keep the stage as it is
			var out Doc
			if _, err := c.Do(cmd.Context(), "PUT", p, Doc{"properties": props}, &out); err != nil {
				return err
			}
			what := "model " + name
			if version != "" {
				what += " version " + version
			}
			app.errf("%s %sd.\n", strings.ToUpper(what[:1])+what[1:], verb)
			if version != "" {
				return app.printView(out, modelVersionView)
			}
			return app.printView(out, view{shape: modelContainerShape, cols: modelContainerColumns})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "model name")
	cmd.Flags().StringVarP(&version, "version", "v", "", "one version (default: the whole model)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func modelDeleteCmd(app *App) *cobra.Command {
	var s scope
	var name, version string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a model (all its versions) or one version, from both Azure ML's and MLflow's view",
		Long: `Delete a model with all its versions, or one version. The files stay where
they are (a job's outputs, a datastore). To hide a model but keep it usable,
archive it instead.`,
		Example: "  mlw model delete --name diabetes --version 1 --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.namedModelsPath(cmd, &s, name)
			if err != nil {
				return err
			}
			what := "model '" + name + "' and all its versions"
			p += "/" + url.PathEscape(name)
			if version != "" {
				what = "version " + version + " of model '" + name + "'"
				p += "/versions/" + url.PathEscape(version)
			}
			if err := app.confirm("Delete "+what+"?", yes); err != nil {
				return err
			}
			if _, err := c.Do(cmd.Context(), "DELETE", p, nil, nil); err != nil {
				return err
			}
			app.errf("Deleted %s.\n", what)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "model name")
	cmd.Flags().StringVarP(&version, "version", "v", "", "one version (default: the whole model)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

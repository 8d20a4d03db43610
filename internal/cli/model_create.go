package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// modelYAML is the Azure ML model YAML (model.schema.json).
type modelYAML struct {
	Schema      string            `yaml:"$schema"`
	Name        string            `yaml:"name"`
	Version     string            `yaml:"version"`
	Path        string            `yaml:"path"`
	Type        string            `yaml:"type"`
	Description string            `yaml:"description"`
	Tags        map[string]string `yaml:"tags"`
	Properties  map[string]string `yaml:"properties"`
	Stage       string            `yaml:"stage"`
	JobName     string            `yaml:"job_name"`
	Datastore   string            `yaml:"datastore"`
	ID          string            `yaml:"id"`
}

// readModelFile reads a model YAML; a local path is made relative to the
// file's folder.
func readModelFile(file string) (*modelYAML, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var y modelYAML
	if err := api.DecodeYAML(file, raw, &y); err != nil {
		return nil, err
	}
	if y.Path != "" && !isRemoteModelPath(y.Path) && !filepath.IsAbs(y.Path) {
		y.Path = filepath.Join(filepath.Dir(file), y.Path)
	}
	return &y, nil
}

// isRemoteModelPath reports a path the server reads (a datastore, a job's
// output, a run, a URL), which is not uploaded.
func isRemoteModelPath(p string) bool {
	l := strings.ToLower(p)
	for _, prefix := range []string{"azureml:", "runs:/", "models:/", "http://", "https://", "mlflow-artifacts:"} {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// modelBody is the version PUT of y, whose path is already remote.
func modelBody(y *modelYAML, uri string) Doc {
	props := Doc{"modelUri": uri, "modelType": y.Type, "isAnonymous": false, "isArchived": false}
	if y.Description != "" {
		props["description"] = y.Description
	}
	if y.Tags != nil {
		props["tags"] = y.Tags
	}
	if y.Properties != nil {
		props["properties"] = y.Properties
	}
	if y.Stage != "" {
		props["stage"] = y.Stage
	}
	if y.JobName != "" {
		props["jobName"] = y.JobName
	}
	return Doc{"properties": props}
}

// uploadModel uploads a local model folder (or file) to a datastore as
// azure-ai-ml does (LocalUpload/<content hash>/<name>, nothing sent when
// the same content is there) and returns its datastore URI.
func (a *App) uploadModel(ctx context.Context, c *api.Client, s *scope, y *modelYAML) (string, error) {
	if _, err := os.Stat(y.Path); err != nil {
		return "", fmt.Errorf("model path: %w", err)
	}
	if y.Type == "mlflow_model" {
		if _, err := os.Stat(filepath.Join(y.Path, "MLmodel")); err != nil {
			return "", fmt.Errorf("%s has no MLmodel file: an mlflow_model is a folder that mlflow.save_model wrote (or use --type custom_model)", y.Path)
		}
	}
	snap, err := api.NewSnapshot(y.Path, api.SnapshotLimits{MaxBytes: 1 << 62, MaxFiles: 1 << 30})
	if err != nil {
		return "", err
	}
	up := a.uploadProgress()
	res, err := c.UploadSnapshot(ctx, api.WorkspaceRef{Group: s.group, Name: s.workspace}, snap, api.UploadOptions{
		Datastore: y.Datastore, Name: y.Name, Version: y.Version,
		Progress: func(sent, total int64) { up.report(snap.Name, sent, total) },
	})
	up.finish()
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", y.Path, err)
	}
	if res.Unchanged {
		a.errf("Model files unchanged: 0 bytes uploaded (%s).\n", res.DatastoreURI())
	} else {
		a.errf("Model files uploaded: %s in %d files to %s.\n", api.FormatBytes(res.BytesUploaded), res.FilesUploaded, res.DatastoreURI())
	}
	return res.DatastoreURI(), nil
}

func modelCreateCmd(app *App) *cobra.Command {
	var s scope
	var file string
	var flags modelYAML
	var tags []string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a model version from a local folder, a job's output or a datastore path",
		Long: `Register a model version, from an Azure ML model YAML file or from flags
(flags override the file):

  $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
  name: diabetes
  version: 1            # optional: the next free version by default
  path: ./model         # a local folder (uploaded), azureml://jobs/<job>/outputs/artifacts/paths/model,
                        # azureml://datastores/<ds>/paths/<path>, runs:/<run>/model or a URL
  type: mlflow_model    # custom_model (default), mlflow_model or triton_model
  description: …
  tags: {team: lab}

The model is in the workspace's MLflow registry too (docs/mlflow.md).`,
		Example: `  mlw model create --file model.yml
  mlw model create --name diabetes --path ./model --type mlflow_model
  mlw model create --name diabetes --path azureml://jobs/<job>/outputs/artifacts/paths/model --type mlflow_model`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			y := &modelYAML{}
			if file != "" {
				var err error
				if y, err = readModelFile(file); err != nil {
					return err
				}
			}
			if err := mergeModelFlags(cmd, y, &flags, tags); err != nil {
				return err
			}
			return app.createModel(cmd.Context(), &s, y)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "model YAML file")
	cmd.Flags().StringVarP(&flags.Name, "name", "n", "", "model name")
	cmd.Flags().StringVarP(&flags.Version, "version", "v", "", "version (default: the next one)")
	cmd.Flags().StringVarP(&flags.Path, "path", "p", "", "local folder or file, or a remote path")
	cmd.Flags().StringVarP(&flags.Type, "type", "t", "", "custom_model (default), mlflow_model or triton_model")
	cmd.Flags().StringVarP(&flags.Description, "description", "d", "", "description")
	cmd.Flags().StringVar(&flags.Stage, "stage", "", "stage: None, Staging, Production or Archived")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "a tag key=value (repeat for more)")
	cmd.Flags().StringVar(&flags.Datastore, "datastore", "", "datastore to upload a local path to (default workspaceblobstore)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// mergeModelFlags lays the flags that were given over the file's fields.
func mergeModelFlags(cmd *cobra.Command, y, f *modelYAML, tags []string) error {
	for flag, pair := range map[string][2]*string{
		"name": {&y.Name, &f.Name}, "version": {&y.Version, &f.Version}, "path": {&y.Path, &f.Path}, "type": {&y.Type, &f.Type},
		"description": {&y.Description, &f.Description}, "stage": {&y.Stage, &f.Stage}, "datastore": {&y.Datastore, &f.Datastore},
	} {
		if cmd.Flags().Changed(flag) {
			*pair[0] = *pair[1]
		}
	}
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return fmt.Errorf("--tag %q: use key=value", t)
		}
		if y.Tags == nil {
			y.Tags = map[string]string{}
		}
		y.Tags[k] = v
	}
	switch {
	case y.Name == "":
		return fmt.Errorf("a model needs a name: pass --name or set name in the file")
	case y.Path == "":
		return fmt.Errorf("a model needs a path: a local folder or file, azureml://jobs/<job>/outputs/artifacts/paths/<path>, azureml://datastores/<ds>/paths/<path>, runs:/<run>/<path> or a URL")
	}
	if y.Type == "" {
		y.Type = "custom_model"
	}
	return nil
}

// createModel uploads a local path, then PUTs the version (the next one
// when none is given) and prints it.
func (a *App) createModel(ctx context.Context, s *scope, y *modelYAML) error {
	c, p, err := a.modelsPath(ctx, s)
	if err != nil {
		return err
	}
	if y.Version == "" {
		if y.Version, err = nextAssetVersion(ctx, c, p, y.Name); err != nil {
			return err
		}
	}
	uri := y.Path
	if !isRemoteModelPath(y.Path) {
		if uri, err = a.uploadModel(ctx, c, s, y); err != nil {
			return err
		}
	}
	var out Doc
	vp := p + "/" + url.PathEscape(y.Name) + "/versions/" + url.PathEscape(y.Version)
	if _, err := c.Do(ctx, "PUT", vp, modelBody(y, uri), &out); err != nil {
		return err
	}
	a.errf("Registered model %s version %s (in MLflow: models:/%s/%s).\n", y.Name, y.Version, y.Name, y.Version)
	return a.printView(out, modelVersionView)
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/api"
)

// assetContainerColumns are the table columns of an asset's containers
// (environments, models).
var assetContainerColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Latest", Path: "properties.latestVersion"},
	{Header: "Description", Func: func(d Doc) string {
		s := str(d, "properties.description")
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return s
	}},
}

var envVersionColumns = []column{
	{Header: "Name", Func: func(d Doc) string {
		id := str(d, "id")
		if i := strings.Index(id, "/environments/"); i >= 0 {
			return strings.SplitN(id[i+len("/environments/"):], "/", 2)[0]
		}
		return ""
	}},
	{Header: "Version", Path: "name"},
	{Header: "Type", Path: "properties.environmentType"},
	{Header: "Image", Path: "properties.image"},
	{Header: "Created", Path: "systemData.createdAt"},
}

var envVersionView = view{shape: envVersionShape, cols: envVersionColumns}

// envYAML is the Azure ML environment YAML (environment.schema.json).
type envYAML struct {
	Schema      string            `yaml:"$schema"`
	Name        string            `yaml:"name"`
	Version     string            `yaml:"version"`
	Description string            `yaml:"description"`
	Tags        map[string]string `yaml:"tags"`
	Image       string            `yaml:"image"`
	CondaFile   yaml.Node         `yaml:"conda_file"`
	Build       *struct {
		Path           string `yaml:"path"`
		DockerfilePath string `yaml:"dockerfile_path"`
	} `yaml:"build"`
	OSType          string         `yaml:"os_type"`
	InferenceConfig map[string]any `yaml:"inference_config"`
	Datastore       string         `yaml:"datastore"`
	ID              string         `yaml:"id"`
}

// ReadEnvironmentFile reads an environment YAML into the name, the version
// (may be empty) and the version PUT body. conda_file is a path relative
// to the YAML file, or an inline mapping.
func ReadEnvironmentFile(file string) (name, version string, body Doc, err error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", "", nil, err
	}
	var top map[string]any
	if err := yaml.Unmarshal(raw, &top); err != nil {
		return "", "", nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	for _, k := range []string{"channels", "dependencies"} {
		if _, ok := top[k]; ok {
			return "", "", nil, fmt.Errorf("%s has a top-level %q: that is a conda file, not an environment. Put channels and dependencies in a conda file (e.g. conda.yml) and reference it with \"conda_file: conda.yml\" next to name and image", file, k)
		}
	}
	var y envYAML
	if err := api.DecodeYAML(file, raw, &y); err != nil {
		return "", "", nil, err
	}
	if y.Name == "" {
		return "", "", nil, fmt.Errorf("%s: \"name\" is required", file)
	}
	props := Doc{"isAnonymous": false, "isArchived": false}
	if y.Description != "" {
		props["description"] = y.Description
	}
	if y.Tags != nil {
		props["tags"] = y.Tags
	}
	if y.Image != "" {
		props["image"] = y.Image
	}
	if y.OSType != "" {
		props["osType"] = y.OSType
	}
	if y.InferenceConfig != nil {
		props["inferenceConfig"] = y.InferenceConfig
	}
	if y.Build != nil {
		if !strings.HasPrefix(y.Build.Path, "http://") && !strings.HasPrefix(y.Build.Path, "https://") {
			return "", "", nil, fmt.Errorf("%s: build.path %q is a local build context, which mlw cannot build; use image (plus conda_file) instead, or a build context URL", file, y.Build.Path)
		}
		df := y.Build.DockerfilePath
		if df == "" {
			df = "Dockerfile"
		}
		props["build"] = Doc{"contextUri": y.Build.Path, "dockerfilePath": df}
	}
	switch y.CondaFile.Kind {
	case 0:
	case yaml.ScalarNode:
		p := y.CondaFile.Value
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(file), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", "", nil, fmt.Errorf("%s: line %d: conda_file: %w", file, y.CondaFile.Line, err)
		}
		props["condaFile"] = string(b)
	case yaml.MappingNode:
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&y.CondaFile); err != nil {
			return "", "", nil, err
		}
		props["condaFile"] = buf.String()
	default:
		return "", "", nil, fmt.Errorf("%s: line %d: conda_file must be a path to a conda file or a mapping", file, y.CondaFile.Line)
	}
	if props["image"] == nil && props["build"] == nil {
		return "", "", nil, fmt.Errorf("%s: an environment needs \"image\" (a Docker image, e.g. mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04) or \"build\"", file)
	}
	return y.Name, y.Version, Doc{"properties": props}, nil
}

// environmentBuildNote says what registering an environment version
// means for its build: mlw builds a custom environment (a virtualenv with
// its pip packages) the first time a job uses it, as Azure builds its
// image, so a new version is registered, not yet ready.
func environmentBuildNote(ctx context.Context, c *api.Client, versionPath, name, version string) string {
	use := fmt.Sprintf("use it as environment: azureml:%s:%s", name, version)
	var b struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if _, err := c.Do(ctx, "GET", versionPath+"/buildLog", nil, &b); err != nil {
		return fmt.Sprintf("Registered environment %s version %s; %s.", name, version, use)
	}
	switch b.Status {
	case "NotNeeded":
		return fmt.Sprintf("Registered environment %s version %s: it has nothing for pip to install, so jobs use it at once; %s.", name, version, use)
	case "Succeeded":
		return fmt.Sprintf("Registered environment %s version %s: its packages were built before (the same requirements), so jobs use it at once; %s.", name, version, use)
	case "Running":
		return fmt.Sprintf("Registered environment %s version %s: a build of its packages is running; jobs that use it wait for it (%s).", name, version, use)
	case "Failed":
		return fmt.Sprintf("Registered environment %s version %s, but the last build of these packages failed (%s); a job that uses it builds it again (%s).", name, version, b.Reason, use)
	}
	return fmt.Sprintf("Registered environment %s version %s: not built yet. The first job that uses it builds it (a virtualenv with its pip packages) before it runs, and `mlw job stream` shows the build; %s.", name, version, use)
}

func environmentCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "environment", Aliases: []string{"env-asset", "environments"}, Short: "Manage environments (curated AzureML-* and your own)"}
	cmd.AddCommand(environmentListCmd(app), environmentShowCmd(app), environmentCreateCmd(app))
	return cmd
}

// environmentsPath resolves the workspace of s and returns a client and
// the ARM path of the workspace's environments.
func (a *App) environmentsPath(ctx context.Context, s *scope) (*api.Client, string, error) {
	c, p, err := a.workspacePath(ctx, s)
	return c, p + "/environments", err
}

func environmentListCmd(app *App) *cobra.Command {
	var s scope
	var name string
	var archived bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List environments, or the versions of one",
		Example: "  mlw environment list\n  mlw environment list --name AzureML-sklearn-1.5",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, p, err := app.environmentsPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			listView := "ActiveOnly"
			if archived {
				listView = "All"
			}
			if name == "" {
				docs, err := app.listDocs(cmd.Context(), p+"?listViewType="+listView)
				if err != nil {
					return err
				}
				return app.printView(docs, view{shape: envContainerShape, cols: assetContainerColumns})
			}
			docs, err := app.listDocs(cmd.Context(), p+"/"+url.PathEscape(name)+"/versions?listViewType="+listView)
			if err != nil {
				return err
			}
			return app.printView(docs, envVersionView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "list the versions of this environment")
	cmd.Flags().BoolVar(&archived, "include-archived", false, "include archived environments")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func environmentShowCmd(app *App) *cobra.Command {
	var s scope
	var name, version, label string
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show one environment version (the latest by default)",
		Example: "  mlw environment show --name AzureML-sklearn-1.0-ubuntu20.04-py38-cpu --version 44\n  mlw environment show --name my-env --label latest",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.environmentsPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			if name == "" {
				return errors.New("pass --name (see mlw environment list)")
			}
			if version != "" && label != "" {
				return errors.New("give --version or --label, not both")
			}
			p += "/" + url.PathEscape(name) + "/versions"
			if version != "" {
				d, err := app.getDoc(cmd.Context(), p+"/"+url.PathEscape(version))
				if err != nil {
					return err
				}
				return app.printView(d, envVersionView)
			}
			if label != "" && label != "latest" {
				return fmt.Errorf("unknown label %q: the only label is latest", label)
			}
			var page api.List[Doc]
			if _, err := c.Do(cmd.Context(), "GET", p+"?$orderBy="+url.QueryEscape("createdtime desc")+"&$top=1", nil, &page); err != nil {
				return err
			}
			if len(page.Value) == 0 {
				return fmt.Errorf("environment %q has no versions", name)
			}
			return app.printView(page.Value[0], envVersionView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "environment name")
	cmd.Flags().StringVarP(&version, "version", "v", "", "version")
	cmd.Flags().StringVarP(&label, "label", "l", "", "label (latest)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func environmentCreateCmd(app *App) *cobra.Command {
	var s scope
	var name, version, file string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an environment version from an Azure ML environment YAML file",
		Long: `Create an environment version from an Azure ML environment YAML file:

  $schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
  name: my-sklearn
  version: 1                # optional: the next free version by default
  description: scikit-learn with mlflow
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
  conda_file: conda.yml     # relative to this file

Names starting with AzureML- are reserved for curated environments.`,
		Example: "  mlw environment create --file env.yml\n  mlw environment create --file env.yml --name other-name --version 3",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := app.environmentsPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			n, v, body, err := ReadEnvironmentFile(file)
			if err != nil {
				return err
			}
			if name != "" {
				n = name
			}
			if version != "" {
				v = version
			}
			if v == "" {
				if v, err = nextAssetVersion(cmd.Context(), c, p, n); err != nil {
					return err
				}
			}
			vp := p + "/" + url.PathEscape(n) + "/versions/" + url.PathEscape(v)
			var out Doc
			if _, err := c.Do(cmd.Context(), "PUT", vp, body, &out); err != nil {
				return err
			}
			app.errf("%s\n", environmentBuildNote(cmd.Context(), c, vp, n, v))
			return app.printView(out, envVersionView)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "environment YAML file")
	cmd.Flags().StringVarP(&name, "name", "n", "", "override the name in the file")
	cmd.Flags().StringVarP(&version, "version", "v", "", "override the version in the file")
	addWorkspaceFlags(cmd, &s)
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// nextAssetVersion is the version a new version of asset name gets (the
// environments or models at path): its nextVersion, or 1 for a new one.
func nextAssetVersion(ctx context.Context, c *api.Client, path, name string) (string, error) {
	var container Doc
	_, err := c.Do(ctx, "GET", path+"/"+url.PathEscape(name), nil, &container)
	switch {
	case api.IsNotFound(err):
		return "1", nil
	case err != nil:
		return "", err
	}
	if v := str(container, "properties.nextVersion"); v != "" {
		return v, nil
	}
	return "1", nil
}

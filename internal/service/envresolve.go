package service

import (
	"context"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// knownPackages maps requirement names to the module they install and the
// Debian 12 package providing it.
var knownPackages = map[string]resource.PythonPackage{
	"numpy":        {Import: "numpy", Debian: "python3-numpy"},
	"pandas":       {Import: "pandas", Debian: "python3-pandas"},
	"scipy":        {Import: "scipy", Debian: "python3-scipy"},
	"scikit-learn": {Import: "sklearn", Debian: "python3-sklearn"},
	"sklearn":      {Import: "sklearn", Debian: "python3-sklearn"},
	"joblib":       {Import: "joblib", Debian: "python3-joblib"},
	"matplotlib":   {Import: "matplotlib", Debian: "python3-matplotlib"},
	"seaborn":      {Import: "seaborn", Debian: "python3-seaborn"},
	"statsmodels":  {Import: "statsmodels", Debian: "python3-statsmodels"},
	"psutil":       {Import: "psutil", Debian: "python3-psutil"},
	"tqdm":         {Import: "tqdm", Debian: "python3-tqdm"},
	"pyyaml":       {Import: "yaml", Debian: "python3-yaml"},
	"requests":     {Import: "requests", Debian: "python3-requests"},
	"pillow":       {Import: "PIL", Debian: "python3-pil"},
	"torch":        {Import: "torch", Debian: "python3-torch"},
	"xgboost":      {Import: "xgboost", Debian: "python3-xgboost"},
	"lightgbm":     {Import: "lightgbm", Debian: "python3-lightgbm"},
	"nltk":         {Import: "nltk", Debian: "python3-nltk"},
	"mlflow":       {Import: "mlflow"},
}

// ResolveEnvironment resolves a job's environmentId in workspace ref. The
// forms accepted (azureml-protocol §8, azureml-resources §4.4):
//
//	azureml:AzureML-sklearn-1.5@latest      AzureML-sklearn-1.5:20
//	azureml:my-env:1   my-env:1   my-env@latest   azureml:my-env@latest
//	azureml://registries/azureml/environments/sklearn-1.5/versions/5
//	azureml://registries/azureml/environments/sklearn-1.5/labels/latest
//	/subscriptions/…/workspaces/{ws}/environments/my-env/versions/1 (or /labels/latest)
//
// An unknown environment or version is a 404 that names it and says how to
// list environments; a malformed id is a 400.
func (s *Service) ResolveEnvironment(ctx context.Context, ref core.WorkspaceRef, environmentID string) (*resource.ResolvedEnvironment, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	id := strings.TrimSpace(environmentID)
	if id == "" {
		return nil, core.Invalid("environmentId", "The job needs an environment, for example \"azureml:AzureML-sklearn-1.5@latest\" or \"azureml:my-env:1\".")
	}
	name, version, label, err := parseEnvironmentID(ws, resource.WorkspaceRefOf(ws), id)
	if err != nil {
		return nil, err
	}
	if c := Curated(name); c != nil {
		if label != "" {
			version = strconv.Itoa(c.Latest)
		}
		if _, ok := c.HasVersion(version); !ok {
			return nil, core.NotFound("UserError", "The curated environment '%s' has no version '%s' (environmentId %q): versions 1 to %d exist; use '%s@latest'.",
				c.Name, version, environmentID, c.Latest, c.Name)
		}
		return resolvedCurated(ws, c, version), nil
	}
	if IsReservedEnvName(name) {
		return nil, core.NotFound("UserError", "The curated environment '%s' (environmentId %q) is not provided by mlw. Curated environments here: %s. List all with `mlw environment list`.",
			name, environmentID, curatedNames())
	}
	var v *resource.Object
	if label != "" {
		vs, _, err := s.ListAssetVersions(ctx, ref, EnvAssets, name, VersionQuery{View: ActiveOnly, OrderBy: "createdtime desc", Page: Page{Top: 1}})
		if err != nil {
			return nil, envNotFound(ws, name, "")
		}
		if len(vs) == 0 {
			return nil, core.NotFound("UserError", "The environment '%s' has no active version, so '%s@latest' (environmentId %q) names nothing. Create one with `mlw environment create --file env.yml`.", name, name, environmentID)
		}
		v = vs[0]
	} else {
		v, err = s.assetVersion(ctx, ws, EnvAssets, name, version)
		if err != nil {
			return nil, envNotFound(ws, name, version)
		}
	}
	name = envNameOf(ctx, s, ws, name)
	pr := props(resource.Decode(v.Spec))
	r := &resource.ResolvedEnvironment{Name: name, Version: v.Name, ID: resource.WorkspaceRefOf(ws).ID() + "/environments/" + name + "/versions/" + v.Name}
	r.Image, _ = pr["image"].(string)
	r.CondaFile, _ = pr["condaFile"].(string)
	r.Description, _ = pr["description"].(string)
	r.Python, r.Requirements = ParseCondaFile(r.CondaFile)
	for _, req := range r.Requirements {
		n := RequirementName(req)
		if p, ok := knownPackages[n]; ok {
			p.Requirement = n
			r.Packages = append(r.Packages, p)
		}
	}
	return r, nil
}

func resolvedCurated(ws *resource.Object, c *CuratedEnvironment, version string) *resource.ResolvedEnvironment {
	_, reqs := ParseCondaFile(c.CondaFile)
	return &resource.ResolvedEnvironment{
		Name: c.Name, Version: version, ID: resource.WorkspaceRefOf(ws).ID() + "/environments/" + c.Name + "/versions/" + version,
		Curated: true, Description: c.Description, Image: c.Image, CondaFile: c.CondaFile, Python: c.Python,
		Requirements: reqs, Packages: append([]resource.PythonPackage(nil), c.Packages...),
	}
}

// parseEnvironmentID splits an environment reference into a name and a
// version or a label ("latest"); curated names come back from registry
// ids already mapped to their workspace name.
func parseEnvironmentID(ws *resource.Object, ref core.WorkspaceRef, id string) (name, version, label string, err error) {
	bad := func(why string) error {
		return core.Invalid("environmentId", "Cannot read the environment %q: %s. Use \"azureml:<name>:<version>\", \"azureml:<name>@latest\", an ARM id …/environments/<name>/versions/<version>, or azureml://registries/azureml/environments/<name>/versions/<version>.", id, why)
	}
	lower := strings.ToLower(id)
	switch {
	case strings.HasPrefix(lower, "azureml://registries/"):
		seg := strings.Split(strings.TrimPrefix(id, "azureml://registries/"), "/")
		if len(seg) != 5 || !strings.EqualFold(seg[1], "environments") {
			return "", "", "", bad("a registry id is azureml://registries/<registry>/environments/<name>/versions/<version> (or /labels/latest)")
		}
		if !strings.EqualFold(seg[0], "azureml") {
			return "", "", "", core.NotFound("UserError", "The registry '%s' (environment %q) is not known to mlw, which serves the curated environments of the 'azureml' registry (%s).", seg[0], id, curatedNames())
		}
		c := CuratedInRegistry(seg[2])
		if c == nil {
			return "", "", "", core.NotFound("UserError", "The azureml registry of mlw has no environment '%s' (environment %q). Available: %s.", seg[2], id, registryNames())
		}
		name = c.Name
		return versionOrLabel(name, seg[3], seg[4], bad)
	case strings.HasPrefix(lower, "azureml://"):
		// azureml://locations/<loc>/workspaces/<id>/environments/<name>/versions/<v>
		seg := strings.Split(strings.TrimPrefix(id, "azureml://"), "/")
		if len(seg) == 8 && strings.EqualFold(seg[0], "locations") && strings.EqualFold(seg[2], "workspaces") && strings.EqualFold(seg[4], "environments") {
			if !strings.EqualFold(seg[3], ws.UID) && !strings.EqualFold(seg[3], ws.Name) {
				return "", "", "", core.Invalid("environmentId", "The environment %q belongs to another workspace; a job uses environments of its own workspace '%s'.", id, ws.Name)
			}
			return versionOrLabel(seg[5], seg[6], seg[7], bad)
		}
		return "", "", "", bad("unknown azureml:// form")
	}
	id = core.StripAzureMLPrefix(id)
	if strings.HasPrefix(id, "/") {
		wref, rest, ok := core.ParseWorkspaceID(id)
		if !ok {
			return "", "", "", bad("an ARM id must start with /subscriptions/…/workspaces/<workspace>")
		}
		if !strings.EqualFold(wref.Workspace, ref.Workspace) || !strings.EqualFold(wref.ResourceGroup, ref.ResourceGroup) || !strings.EqualFold(wref.Subscription, ref.Subscription) {
			return "", "", "", core.Invalid("environmentId", "The environment %q belongs to workspace '%s' in group '%s'; a job uses environments of its own workspace '%s'.", id, wref.Workspace, wref.ResourceGroup, ref.Workspace)
		}
		seg := strings.Split(rest, "/")
		if len(seg) != 4 || !strings.EqualFold(seg[0], "environments") {
			return "", "", "", bad("an ARM id ends with /environments/<name>/versions/<version>")
		}
		return versionOrLabel(seg[1], seg[2], seg[3], bad)
	}
	if n, l, ok := strings.Cut(id, "@"); ok {
		if strings.Contains(l, ":") || strings.Contains(n, ":") || n == "" {
			return "", "", "", bad("use either <name>@latest or <name>:<version>")
		}
		return versionOrLabel(n, "labels", l, bad)
	}
	if n, v, ok := strings.Cut(id, ":"); ok {
		if n == "" || v == "" || strings.Contains(v, ":") {
			return "", "", "", bad("use <name>:<version>")
		}
		return n, v, "", nil
	}
	return "", "", "", bad("it names no version; add one (\"" + id + ":1\") or use \"" + id + "@latest\"")
}

func versionOrLabel(name, kind, value string, bad func(string) error) (string, string, string, error) {
	if name == "" || value == "" {
		return "", "", "", bad("the name or version is empty")
	}
	switch strings.ToLower(kind) {
	case "versions":
		return name, value, "", nil
	case "labels":
		if !strings.EqualFold(value, "latest") {
			return "", "", "", bad("the only label is 'latest', not '" + value + "'")
		}
		return name, "", "latest", nil
	}
	return "", "", "", bad("expected /versions/<version> or /labels/latest")
}

func registryNames() string {
	var names []string
	for _, c := range curated {
		names = append(names, c.RegistryNames[0])
	}
	return strings.Join(names, ", ")
}

// ParseCondaFile reads the Python version and the package requirements of a
// conda specification. It is lenient: what it cannot read it skips.
func ParseCondaFile(text string) (python string, reqs []string) {
	var spec struct {
		Dependencies []any `yaml:"dependencies"`
	}
	if yaml.Unmarshal([]byte(text), &spec) != nil {
		return "", nil
	}
	for _, d := range spec.Dependencies {
		switch x := d.(type) {
		case string:
			n := RequirementName(x)
			switch n {
			case "python":
				python = strings.TrimLeft(strings.TrimPrefix(strings.TrimSpace(x), "python"), "=<>~! ")
			case "pip", "":
			default:
				reqs = append(reqs, strings.TrimSpace(x))
			}
		case map[string]any:
			if pips, ok := x["pip"].([]any); ok {
				for _, p := range pips {
					if ps, ok := p.(string); ok && RequirementName(ps) != "" {
						reqs = append(reqs, strings.TrimSpace(ps))
					}
				}
			}
		}
	}
	return python, reqs
}

// RequirementName returns the lowercase package name of a requirement
// ("scikit-learn~=1.5.0" → "scikit-learn"; "conda-forge::numpy=1.22" → "numpy").
func RequirementName(req string) string {
	req = strings.TrimSpace(req)
	if i := strings.LastIndex(req, "::"); i >= 0 {
		req = req[i+2:]
	}
	end := strings.IndexAny(req, "=<>~!;[ @")
	if end >= 0 {
		req = req[:end]
	}
	if strings.HasPrefix(req, "-") || strings.Contains(req, "/") {
		return "" // pip options and URLs
	}
	return strings.ToLower(strings.ReplaceAll(req, "_", "-"))
}

package service

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Environments (azureml-protocol §8): user environments are rows
// (containers and versions, like code assets); curated ones come from the
// catalogue in curated.go and are merged into every read.

// EnvContainerView is one environment container: a row or a curated entry.
type EnvContainerView struct {
	Name    string
	Row     *resource.Object
	Curated *CuratedEnvironment
}

// EnvVersionView is one environment version: a row or a curated version.
type EnvVersionView struct {
	Name    string
	Version string
	Row     *resource.Object
	Curated *CuratedEnvironment
}

func checkReservedEnvName(name string) error {
	if IsReservedEnvName(name) {
		return core.Invalid("name", "Environment names starting with %q are reserved for curated environments (%s). Choose another name, for example %q.",
			CuratedPrefix, curatedNames(), "my-"+strings.ToLower(name[len(CuratedPrefix):]))
	}
	return nil
}

// GetEnvContainer returns one environment (curated or not).
func (s *Service) GetEnvContainer(ctx context.Context, ref core.WorkspaceRef, name string) (*EnvContainerView, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c := Curated(name); c != nil {
		return &EnvContainerView{Name: c.Name, Curated: c}, nil
	}
	r, err := s.assetContainer(ctx, ws, EnvAssets, name)
	if err != nil {
		return nil, envNotFound(ws, name, "")
	}
	return &EnvContainerView{Name: r.Name, Row: r}, nil
}

func envNotFound(ws *resource.Object, name, version string) error {
	what := "The environment '" + name + "'"
	if version != "" {
		what += " version '" + version + "'"
	}
	return core.NotFound("UserError", "%s was not found in workspace '%s'. List environments with `mlw environment list` (curated ones: %s).", what, ws.Name, curatedNames())
}

// ListEnvContainers lists the curated environments and the workspace's
// own, merged in name order.
func (s *Service) ListEnvContainers(ctx context.Context, ref core.WorkspaceRef, view ListView, page Page) ([]*EnvContainerView, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.allAssetContainers(ctx, ws, EnvAssets)
	if err != nil {
		return nil, "", err
	}
	var out []*EnvContainerView
	if view.Keeps(false) {
		for _, c := range curated {
			out = append(out, &EnvContainerView{Name: c.Name, Curated: c})
		}
	}
	for _, r := range rows {
		if view.Keeps(IsArchived(r)) {
			out = append(out, &EnvContainerView{Name: r.Name, Row: r})
		}
	}
	slices.SortFunc(out, func(a, b *EnvContainerView) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return PageSlice(out, page)
}

// GetEnvVersion returns one environment version (curated or not).
func (s *Service) GetEnvVersion(ctx context.Context, ref core.WorkspaceRef, name, version string) (*EnvVersionView, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c := Curated(name); c != nil {
		if _, ok := c.HasVersion(version); !ok {
			return nil, core.NotFound("UserError", "The curated environment '%s' has no version '%s': versions 1 to %d exist (latest %d).", c.Name, version, c.Latest, c.Latest)
		}
		return &EnvVersionView{Name: c.Name, Version: version, Curated: c}, nil
	}
	v, err := s.assetVersion(ctx, ws, EnvAssets, name, version)
	if err != nil {
		if e, ok := core.AsError(err); ok && e.Status == 404 {
			return nil, envNotFound(ws, name, version)
		}
		return nil, err
	}
	return &EnvVersionView{Name: envNameOf(ctx, s, ws, name), Version: v.Name, Row: v}, nil
}

// envNameOf returns the container's spelling of an environment name.
func envNameOf(ctx context.Context, s *Service, ws *resource.Object, name string) string {
	if c, err := s.Store.Get(ctx, EnvAssets.Container, resource.WorkspaceKey(ws), name); err == nil {
		return c.Name
	}
	return name
}

// ListEnvVersions lists the versions of one environment.
func (s *Service) ListEnvVersions(ctx context.Context, ref core.WorkspaceRef, name string, q VersionQuery) ([]*EnvVersionView, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	if c := Curated(name); c != nil {
		var out []*EnvVersionView
		if q.View.Keeps(false) {
			for v := 1; v <= c.Latest; v++ {
				out = append(out, &EnvVersionView{Name: c.Name, Version: strconv.Itoa(v), Curated: c})
			}
		}
		err := SortVersions(out, q.OrderBy, func(e *EnvVersionView) (string, int64) {
			n, _ := c.HasVersion(e.Version)
			return e.Version, c.VersionCreated(n).UnixMicro()
		})
		if err != nil {
			return nil, "", err
		}
		return PageSlice(out, q.Page)
	}
	if _, err := s.assetContainer(ctx, ws, EnvAssets, name); err != nil {
		return nil, "", envNotFound(ws, name, "")
	}
	rows, next, err := s.ListAssetVersions(ctx, ref, EnvAssets, name, q)
	if err != nil {
		return nil, "", err
	}
	cname := envNameOf(ctx, s, ws, name)
	out := make([]*EnvVersionView, len(rows))
	for i, r := range rows {
		out[i] = &EnvVersionView{Name: cname, Version: r.Name, Row: r}
	}
	return out, next, nil
}

type envVersionSpec struct {
	Properties struct {
		Image     *string         `json:"image"`
		CondaFile json.RawMessage `json:"condaFile"`
		Build     json.RawMessage `json:"build"`
		OSType    string          `json:"osType"`
	} `json:"properties"`
}

// envDefinition is what makes a version: it cannot change once created.
var envDefinition = []string{"image", "condaFile", "build", "osType", "inferenceConfig"}

// PutEnvVersion creates (201) or updates (200: description, tags,
// isArchived) a user environment version.
func (s *Service) PutEnvVersion(ctx context.Context, ref core.WorkspaceRef, name, version string, body *Body) (*resource.Object, bool, error) {
	if err := checkReservedEnvName(name); err != nil {
		return nil, false, err
	}
	var spec envVersionSpec
	if err := body.Into(&spec); err != nil {
		return nil, false, err
	}
	doc, pr, err := assetDoc(body, "environmentType")
	if err != nil {
		return nil, false, err
	}
	hasImage := spec.Properties.Image != nil && strings.TrimSpace(*spec.Properties.Image) != ""
	hasBuild := len(spec.Properties.Build) > 0 && string(spec.Properties.Build) != "null"
	switch {
	case !hasImage && !hasBuild:
		return nil, false, core.Invalid("properties.image", "An environment needs properties.image (a Docker image, for example \"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\") or properties.build.")
	case hasImage && hasBuild:
		return nil, false, core.Invalid("properties.build", "An environment has either properties.image or properties.build, not both.")
	}
	if c := spec.Properties.CondaFile; len(c) > 0 && string(c) != "null" {
		var text string
		if err := json.Unmarshal(c, &text); err != nil {
			return nil, false, core.Invalid("properties.condaFile", "properties.condaFile must be the conda specification as YAML text.")
		}
		if err := validateCondaFile(text); err != nil {
			return nil, false, err
		}
	}
	switch strings.ToLower(spec.Properties.OSType) {
	case "":
		pr["osType"] = "Linux"
	case "linux":
		pr["osType"] = "Linux"
	case "windows":
		pr["osType"] = "Windows"
	default:
		return nil, false, core.Invalid("properties.osType", "Unknown osType %q: use Linux or Windows.", spec.Properties.OSType)
	}
	for k, v := range map[string]any{"isAnonymous": false, "isArchived": false} {
		if _, ok := pr[k]; !ok {
			pr[k] = v
		}
	}
	return s.putAssetVersion(ctx, ref, EnvAssets, name, version, doc, func(old map[string]any) error {
		if old == nil {
			return nil
		}
		op := props(old)
		for _, k := range envDefinition {
			if !sameJSON(op[k], pr[k]) {
				// 409, as Azure answers: azure-ai-ml 1.13+ first PUTs the
				// latest version when none is given, and takes the next
				// version on ResourceExistsError.
				e := core.Conflict("UserError", "Environment '%s' version '%s' already exists with a different %s; versions cannot change. Create a new version (leave the version out to get the next one).", name, version, k)
				e.Target = "properties." + k
				return e
			}
		}
		return nil
	})
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var x, y any
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return reflect.DeepEqual(x, y)
}

// validateCondaFile checks that a conda specification is a YAML mapping.
func validateCondaFile(text string) error {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		return core.Invalid("properties.condaFile", "The conda file is not valid YAML: %s.", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if m == nil {
		return core.Invalid("properties.condaFile", "The conda file is empty; it needs at least \"dependencies:\".")
	}
	if d, ok := m["dependencies"]; ok {
		if _, ok := d.([]any); !ok && d != nil {
			return core.Invalid("properties.condaFile", "In the conda file, \"dependencies\" must be a list.")
		}
	}
	return nil
}

// DeleteEnvContainer deletes a user environment with its versions.
func (s *Service) DeleteEnvContainer(ctx context.Context, ref core.WorkspaceRef, name string) error {
	if c := Curated(name); c != nil {
		return core.Invalid("name", "The curated environment '%s' is part of mlw and cannot be deleted.", c.Name)
	}
	return s.DeleteAssetContainer(ctx, ref, EnvAssets, name)
}

// DeleteEnvVersion deletes one version of a user environment.
func (s *Service) DeleteEnvVersion(ctx context.Context, ref core.WorkspaceRef, name, version string) error {
	if c := Curated(name); c != nil {
		return core.Invalid("name", "The curated environment '%s' is part of mlw and cannot be deleted.", c.Name)
	}
	return s.DeleteAssetVersion(ctx, ref, EnvAssets, name, version)
}

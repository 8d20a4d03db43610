package service

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// MLflow's model registry in each workspace: registered models, their
// versions, stages and aliases (mlflow.register_model and MlflowClient's
// registry calls).

func modelErr(err error, name string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tracking.NotFound("Registered Model with name=%s not found", name)
	case errors.Is(err, store.ErrExists):
		return tracking.Exists("Registered Model (name=%s) already exists.", name)
	}
	if _, ok := core.AsError(err); ok {
		return err
	}
	return core.Internal(err)
}

func versionErr(err error, name string, version int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return tracking.NotFound("Model Version (name=%s, version=%d) not found", name, version)
	}
	return modelErr(err, name)
}

// parseVersion reads a version number.
func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, tracking.Invalid("version", "Invalid model version %q: versions are whole numbers from 1.", v)
	}
	return n, nil
}

// RegisteredModelView is a model with its latest version in each stage.
type RegisteredModelView struct {
	Model  *tracking.RegisteredModel
	Latest []*tracking.ModelVersion
}

// CreateRegisteredModel makes a registered model.
func (s *Service) CreateRegisteredModel(ctx context.Context, ref core.WorkspaceRef, name, description string, tags []tracking.KV) (*RegisteredModelView, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("name", name); err != nil {
		return nil, err
	}
	now := nowMillis(s)
	m := &tracking.RegisteredModel{Workspace: ws.UID, Name: name, CreationTime: now, LastUpdatedTime: now, Description: description, Tags: tags}
	if err := s.Store.CreateRegisteredModel(ctx, m); err != nil {
		return nil, modelErr(err, name)
	}
	return &RegisteredModelView{Model: m}, nil
}

// GetRegisteredModel returns a model and its latest versions.
func (s *Service) GetRegisteredModel(ctx context.Context, ref core.WorkspaceRef, name string) (*RegisteredModelView, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("name", name); err != nil {
		return nil, err
	}
	m, err := s.Store.GetRegisteredModel(ctx, ws.UID, name)
	if err != nil {
		return nil, modelErr(err, name)
	}
	vs, err := s.Store.ListModelVersions(ctx, ws.UID, name)
	if err != nil {
		return nil, core.Internal(err)
	}
	return &RegisteredModelView{Model: m, Latest: latestVersions(vs, nil)}, nil
}

// latestVersions is the newest version in each stage (of stages, or all).
func latestVersions(vs []*tracking.ModelVersion, stages []string) []*tracking.ModelVersion {
	best := map[string]*tracking.ModelVersion{}
	for _, v := range vs {
		if b := best[v.CurrentStage]; b == nil || v.Version > b.Version {
			best[v.CurrentStage] = v
		}
	}
	var out []*tracking.ModelVersion
	for _, st := range tracking.ModelStages {
		if v := best[st]; v != nil && (len(stages) == 0 || containsFold(stages, st)) {
			out = append(out, v)
		}
	}
	return out
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// registryMatch evaluates registry filter clauses against fields.
func registryMatch(cs []tracking.Clause, attr func(string) (string, bool), tags []tracking.KV) bool {
	for _, c := range cs {
		var v string
		var ok bool
		if c.Entity == tracking.EntTag {
			for _, t := range tags {
				if t.Key == c.Key {
					v, ok = t.Value, true
				}
			}
		} else {
			v, ok = attr(c.Key)
		}
		if !tracking.Match(c, v, ok) {
			return false
		}
	}
	return true
}

// pageOf cuts one page out of n results.
func pageOf(n int, q SearchRequest, defaultMax int) (lo, hi int, next string, err error) {
	offset, limit, err := q.page(defaultMax)
	if err != nil {
		return 0, 0, "", err
	}
	lo, hi = min(offset, n), min(offset+limit, n)
	if hi < n {
		next = tracking.PageToken(hi)
	}
	return lo, hi, next, nil
}

// SearchRegisteredModels answers registered-models/search.
func (s *Service) SearchRegisteredModels(ctx context.Context, ref core.WorkspaceRef, q SearchRequest) ([]*RegisteredModelView, string, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	filter, err := tracking.Registry.ParseFilter(q.Filter)
	if err != nil {
		return nil, "", err
	}
	ms, err := s.Store.ListRegisteredModels(ctx, ws.UID)
	if err != nil {
		return nil, "", core.Internal(err)
	}
	vs, err := s.Store.ListModelVersions(ctx, ws.UID, "")
	if err != nil {
		return nil, "", core.Internal(err)
	}
	var out []*RegisteredModelView
	for _, m := range ms {
		if registryMatch(filter, func(k string) (string, bool) { return m.Name, k == "name" }, m.Tags) {
			var mine []*tracking.ModelVersion
			for _, v := range vs {
				if v.Name == m.Name {
					mine = append(mine, v)
				}
			}
			out = append(out, &RegisteredModelView{Model: m, Latest: latestVersions(mine, nil)})
		}
	}
	if len(q.OrderBy) > 0 && strings.HasPrefix(strings.ToLower(q.OrderBy[0]), "last_updated_timestamp") {
		desc := strings.HasSuffix(strings.ToUpper(q.OrderBy[0]), "DESC")
		sort.SliceStable(out, func(i, j int) bool {
			a, b := out[i].Model.LastUpdatedTime, out[j].Model.LastUpdatedTime
			if desc {
				return a > b
			}
			return a < b
		})
	} else if len(q.OrderBy) > 0 && strings.HasSuffix(strings.ToUpper(q.OrderBy[0]), "DESC") {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Model.Name > out[j].Model.Name })
	}
	lo, hi, next, err := pageOf(len(out), q, 100)
	if err != nil {
		return nil, "", err
	}
	return out[lo:hi], next, nil
}

// UpdateRegisteredModel changes a model's description, tags or aliases.
func (s *Service) UpdateRegisteredModel(ctx context.Context, ref core.WorkspaceRef, name string, fn func(*tracking.RegisteredModel) error) (*RegisteredModelView, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("name", name); err != nil {
		return nil, err
	}
	now := nowMillis(s)
	m, err := s.Store.UpdateRegisteredModel(ctx, ws.UID, name, func(m *tracking.RegisteredModel) error {
		m.LastUpdatedTime = now
		return fn(m)
	})
	if err != nil {
		return nil, modelErr(err, name)
	}
	return &RegisteredModelView{Model: m}, nil
}

// RenameRegisteredModel renames a model (and its versions).
func (s *Service) RenameRegisteredModel(ctx context.Context, ref core.WorkspaceRef, name, newName string) (*RegisteredModelView, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("new_name", newName); err != nil {
		return nil, err
	}
	if err := s.Store.RenameRegisteredModel(ctx, ws.UID, name, newName, nowMillis(s)); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, modelErr(err, newName)
		}
		return nil, modelErr(err, name)
	}
	return s.GetRegisteredModel(ctx, ref, newName)
}

// DeleteRegisteredModel removes a model and its versions.
func (s *Service) DeleteRegisteredModel(ctx context.Context, ref core.WorkspaceRef, name string) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteRegisteredModel(ctx, ws.UID, name); err != nil {
		return modelErr(err, name)
	}
	return nil
}

// CreateModelVersion registers a version of a model. A runs:/<run>/<path>
// source is resolved to the run's artifacts, as MLflow's server does.
func (s *Service) CreateModelVersion(ctx context.Context, ref core.WorkspaceRef, v *tracking.ModelVersion) (*tracking.ModelVersion, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := required("name", v.Name); err != nil {
		return nil, err
	}
	if err := required("source", v.Source); err != nil {
		return nil, err
	}
	if rest, ok := strings.CutPrefix(v.Source, "runs:/"); ok {
		run, p, _ := strings.Cut(rest, "/")
		r, err := s.Store.GetRun(ctx, ws.UID, run)
		if err != nil {
			return nil, runErr(err, run)
		}
		v.Source = strings.TrimSuffix(r.Info.ArtifactURI+"/"+p, "/")
		if v.RunID == "" {
			v.RunID = run
		}
	}
	if v.RunID != "" {
		v.AzureML.Flavors = s.runFlavors(ctx, ws.UID, v.RunID, v.Source)
	}
	now := nowMillis(s)
	v.Workspace, v.CreationTime, v.LastUpdatedTime, v.CurrentStage, v.Status = ws.UID, now, now, tracking.StageNone, "READY"
	if v.UserID == "" {
		v.UserID = principalName(PrincipalFrom(ctx))
	}
	if err := s.Store.CreateModelVersion(ctx, v); err != nil {
		return nil, modelErr(err, v.Name)
	}
	return v, nil
}

// GetModelVersion returns one version.
func (s *Service) GetModelVersion(ctx context.Context, ref core.WorkspaceRef, name, version string) (*tracking.ModelVersion, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	n, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	v, err := s.Store.GetModelVersion(ctx, ws.UID, name, n)
	if err != nil {
		return nil, versionErr(err, name, n)
	}
	return v, nil
}

// SearchModelVersions answers model-versions/search.
func (s *Service) SearchModelVersions(ctx context.Context, ref core.WorkspaceRef, q SearchRequest) ([]*tracking.ModelVersion, string, error) {
	ws, err := s.trackingWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	filter, err := tracking.Registry.ParseFilter(q.Filter)
	if err != nil {
		return nil, "", err
	}
	vs, err := s.Store.ListModelVersions(ctx, ws.UID, "")
	if err != nil {
		return nil, "", core.Internal(err)
	}
	var out []*tracking.ModelVersion
	for _, v := range vs {
		attr := func(k string) (string, bool) {
			switch k {
			case "name":
				return v.Name, true
			case "run_id":
				return v.RunID, true
			case "source_path":
				return v.Source, true
			case "version_number":
				return strconv.FormatInt(v.Version, 10), true
			}
			return "", false
		}
		if registryMatch(filter, attr, v.Tags) {
			out = append(out, v)
		}
	}
	// Newest first, as MLflow answers by default.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version > out[j].Version
	})
	lo, hi, next, err := pageOf(len(out), q, 10000)
	if err != nil {
		return nil, "", err
	}
	return out[lo:hi], next, nil
}

// UpdateModelVersion changes a version's description or tags.
func (s *Service) UpdateModelVersion(ctx context.Context, ref core.WorkspaceRef, name, version string, fn func(*tracking.ModelVersion) error) (*tracking.ModelVersion, error) {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return nil, err
	}
	n, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	now := nowMillis(s)
	v, err := s.Store.UpdateModelVersion(ctx, ws.UID, name, n, func(v *tracking.ModelVersion) error {
		v.LastUpdatedTime = now
		return fn(v)
	})
	if err != nil {
		return nil, versionErr(err, name, n)
	}
	return v, nil
}

// TransitionModelVersionStage moves a version to a stage; with
// archiveExisting the other versions in that stage move to Archived.
func (s *Service) TransitionModelVersionStage(ctx context.Context, ref core.WorkspaceRef, name, version, stage string, archiveExisting bool) (*tracking.ModelVersion, error) {
	canon := ""
	for _, st := range tracking.ModelStages {
		if strings.EqualFold(st, stage) {
			canon = st
		}
	}
	if canon == "" {
		return nil, tracking.Invalid("stage", "Invalid Model Version stage: %s. Value must be one of %s.", stage, strings.Join(tracking.ModelStages, ", "))
	}
	v, err := s.UpdateModelVersion(ctx, ref, name, version, func(v *tracking.ModelVersion) error { v.CurrentStage = canon; return nil })
	if err != nil || !archiveExisting || canon == tracking.StageNone || canon == tracking.StageArchived {
		return v, err
	}
	others, err := s.Store.ListModelVersions(ctx, v.Workspace, name)
	if err != nil {
		return nil, core.Internal(err)
	}
	for _, o := range others {
		if o.Version != v.Version && o.CurrentStage == canon {
			if _, err := s.UpdateModelVersion(ctx, ref, name, strconv.FormatInt(o.Version, 10), func(x *tracking.ModelVersion) error {
				x.CurrentStage = tracking.StageArchived
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// DeleteModelVersion removes a version (and aliases naming it).
func (s *Service) DeleteModelVersion(ctx context.Context, ref core.WorkspaceRef, name, version string) error {
	ws, err := s.trackingWrite(ctx, ref)
	if err != nil {
		return err
	}
	n, err := parseVersion(version)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteModelVersion(ctx, ws.UID, name, n); err != nil {
		return versionErr(err, name, n)
	}
	s.dropAliases(ctx, ws.UID, name, n)
	return nil
}

// GetLatestVersions answers registered-models/get-latest-versions.
func (s *Service) GetLatestVersions(ctx context.Context, ref core.WorkspaceRef, name string, stages []string) ([]*tracking.ModelVersion, error) {
	view, err := s.GetRegisteredModel(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	vs, err := s.Store.ListModelVersions(ctx, view.Model.Workspace, name)
	if err != nil {
		return nil, core.Internal(err)
	}
	return latestVersions(vs, stages), nil
}

// SetModelAlias points an alias of a model at a version.
func (s *Service) SetModelAlias(ctx context.Context, ref core.WorkspaceRef, name, alias, version string) error {
	if err := required("alias", alias); err != nil {
		return err
	}
	if _, err := s.GetModelVersion(ctx, ref, name, version); err != nil {
		return err
	}
	_, err := s.UpdateRegisteredModel(ctx, ref, name, func(m *tracking.RegisteredModel) error {
		if m.Aliases == nil {
			m.Aliases = map[string]string{}
		}
		m.Aliases[alias] = version
		return nil
	})
	return err
}

// DeleteModelAlias removes an alias.
func (s *Service) DeleteModelAlias(ctx context.Context, ref core.WorkspaceRef, name, alias string) error {
	_, err := s.UpdateRegisteredModel(ctx, ref, name, func(m *tracking.RegisteredModel) error {
		if _, ok := m.Aliases[alias]; !ok {
			return tracking.NotFound("Registered model alias %s not found.", alias)
		}
		delete(m.Aliases, alias)
		return nil
	})
	return err
}

// ModelVersionByAlias returns the version an alias points at.
func (s *Service) ModelVersionByAlias(ctx context.Context, ref core.WorkspaceRef, name, alias string) (*tracking.ModelVersion, error) {
	view, err := s.GetRegisteredModel(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	v, ok := view.Model.Aliases[alias]
	if !ok {
		return nil, tracking.NotFound("Registered model alias %s not found.", alias)
	}
	return s.GetModelVersion(ctx, ref, name, v)
}

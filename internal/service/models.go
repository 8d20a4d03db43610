package service

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// Azure ML's models resource (…/workspaces/{ws}/models): the rows of
// MLflow's model registry (mlflow_registry.go), seen as Azure ML asset
// containers and versions, so that a model registered through one API is
// there in the other. A registered model is a model container and an
// MLflow model version a model version (numbered, as MLflow numbers
// them); what Azure ML says beyond MLflow's fields is kept in the same
// row (tracking.AzureMLAsset). docs/mlflow.md, "Azure ML models", has the
// mapping; models_uri.go maps where the files are.

// ModelTypes are the modelType values of a model version.
var ModelTypes = []string{"custom_model", "mlflow_model", "triton_model"}

// modelType reads a modelType: Azure ML's snake_case values, or the
// CamelCase of older API versions (CustomModel, MLFlowModel), any case.
func modelType(v string) (string, bool) {
	flat := strings.ToLower(strings.ReplaceAll(v, "_", ""))
	for _, t := range ModelTypes {
		if flat == strings.ReplaceAll(t, "_", "") {
			return t, true
		}
	}
	return "", false
}

// ModelTypeOf is a version's modelType: what it was registered with, or
// mlflow_model for a version made through MLflow's API (which registers
// MLflow models only).
func ModelTypeOf(v *tracking.ModelVersion) string {
	if v.AzureML.ModelType != "" {
		return v.AzureML.ModelType
	}
	return "mlflow_model"
}

// ModelAsset is a registered model as a model container, with the
// versions it has.
type ModelAsset struct {
	Model *tracking.RegisteredModel
	// LatestVersion is the most recently created version ("" for none),
	// NextVersion one above the highest.
	LatestVersion, NextVersion string
}

func modelAssetOf(m *tracking.RegisteredModel, vs []*tracking.ModelVersion) *ModelAsset {
	var latest *tracking.ModelVersion
	var highest int64
	for _, v := range vs {
		if v.Name != m.Name {
			continue
		}
		if latest == nil || v.CreationTime > latest.CreationTime || v.CreationTime == latest.CreationTime && v.Version > latest.Version {
			latest = v
		}
		highest = max(highest, v.Version)
	}
	a := &ModelAsset{Model: m, NextVersion: strconv.FormatInt(highest+1, 10)}
	if latest != nil {
		a.LatestVersion = strconv.FormatInt(latest.Version, 10)
	}
	return a
}

func modelNotFound(ws *resource.Object, name string) error {
	return core.NotFound("UserError", "The model '%s' was not found in workspace '%s'. List models with `mlw model list` or GET …/workspaces/%s/models.", name, ws.Name, ws.Name)
}

func modelVersionNotFound(ws *resource.Object, name, version string) error {
	return core.NotFound("UserError", "The model '%s' has no version '%s' in workspace '%s'. List its versions with `mlw model list --name %s` or GET …/models/%s/versions.", name, version, ws.Name, name, name)
}

// modelVersionNumber reads the version of a path: MLflow numbers
// versions, and the registry is MLflow's.
func modelVersionNumber(version string) (int64, error) {
	n, err := strconv.ParseInt(version, 10, 64)
	if err != nil || n < 1 {
		return 0, core.Invalid("version", "Invalid model version %q: model versions are whole numbers from 1 (the registry is MLflow's, which numbers them). Leave the version out to get the next one.", version)
	}
	return n, nil
}

// findModel finds a model by name; Azure ML's names are case-insensitive,
// MLflow's API matches them exactly (the exact spelling wins).
func (s *Service) findModel(ctx context.Context, ws *resource.Object, name string) (*tracking.RegisteredModel, error) {
	m, err := s.lookupModel(ctx, ws, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, modelNotFound(ws, name)
	case err != nil:
		return nil, core.Internal(err)
	}
	return m, nil
}

// lookupModel is findModel with the store's errors (ErrNotFound).
func (s *Service) lookupModel(ctx context.Context, ws *resource.Object, name string) (*tracking.RegisteredModel, error) {
	m, err := s.Store.GetRegisteredModel(ctx, ws.UID, name)
	if !errors.Is(err, store.ErrNotFound) {
		return m, err
	}
	ms, lerr := s.Store.ListRegisteredModels(ctx, ws.UID)
	if lerr != nil {
		return nil, lerr
	}
	for _, m := range ms {
		if strings.EqualFold(m.Name, name) {
			return m, nil
		}
	}
	return nil, err
}

// ListModelAssets lists a workspace's models as model containers.
func (s *Service) ListModelAssets(ctx context.Context, ref core.WorkspaceRef, view ListView, page Page) ([]*ModelAsset, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
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
	out := make([]*ModelAsset, 0, len(ms))
	for _, m := range ms {
		if view.Keeps(m.AzureML.Archived) {
			out = append(out, modelAssetOf(m, vs))
		}
	}
	return PageSlice(out, page)
}

// GetModelAsset returns one model container.
func (s *Service) GetModelAsset(ctx context.Context, ref core.WorkspaceRef, name string) (*ModelAsset, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.modelAsset(ctx, ws, name)
}

func (s *Service) modelAsset(ctx context.Context, ws *resource.Object, name string) (*ModelAsset, error) {
	m, err := s.findModel(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	vs, err := s.Store.ListModelVersions(ctx, ws.UID, m.Name)
	if err != nil {
		return nil, core.Internal(err)
	}
	return modelAssetOf(m, vs), nil
}

// modelWorkspace is the workspace of a write: the caller may write, and
// the workspace is not being deleted.
func (s *Service) modelWorkspace(ctx context.Context, ref core.WorkspaceRef, name string) (*resource.Object, error) {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	ws, err := s.writableWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := core.ValidateAssetName(name); err != nil {
		return nil, err
	}
	return ws, nil
}

// ListModelAssetVersions lists a model's versions, ordered and paged; an
// unknown model is a 404. stage, when given, keeps the versions in it.
func (s *Service) ListModelAssetVersions(ctx context.Context, ref core.WorkspaceRef, name, stage string, q VersionQuery) ([]*tracking.ModelVersion, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	m, err := s.findModel(ctx, ws, name)
	if err != nil {
		return nil, "", err
	}
	vs, err := s.Store.ListModelVersions(ctx, ws.UID, m.Name)
	if err != nil {
		return nil, "", core.Internal(err)
	}
	vs = slices.DeleteFunc(vs, func(v *tracking.ModelVersion) bool {
		return !q.View.Keeps(v.AzureML.Archived) || stage != "" && !strings.EqualFold(stage, v.CurrentStage)
	})
	err = SortVersions(vs, q.OrderBy, func(v *tracking.ModelVersion) (string, int64) {
		return strconv.FormatInt(v.Version, 10), v.CreationTime
	})
	if err != nil {
		return nil, "", err
	}
	return PageSlice(vs, q.Page)
}

// GetModelAssetVersion returns one version.
func (s *Service) GetModelAssetVersion(ctx context.Context, ref core.WorkspaceRef, name, version string) (*tracking.ModelVersion, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	m, err := s.findModel(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(version, 10, 64)
	if err != nil {
		return nil, modelVersionNotFound(ws, m.Name, version)
	}
	v, err := s.Store.GetModelVersion(ctx, ws.UID, m.Name, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, modelVersionNotFound(ws, m.Name, version)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return v, nil
}

// DeleteModelAsset deletes a model and all its versions.
func (s *Service) DeleteModelAsset(ctx context.Context, ref core.WorkspaceRef, name string) error {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return err
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return err
	}
	m, err := s.findModel(ctx, ws, name)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteRegisteredModel(ctx, ws.UID, m.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return core.Internal(err)
	}
	return nil
}

// DeleteModelAssetVersion deletes one version (and the aliases naming it).
func (s *Service) DeleteModelAssetVersion(ctx context.Context, ref core.WorkspaceRef, name, version string) error {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return err
	}
	v, err := s.GetModelAssetVersion(ctx, ref, name, version)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteModelVersion(ctx, v.Workspace, v.Name, v.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
		return core.Internal(err)
	}
	s.dropAliases(ctx, v.Workspace, v.Name, v.Version)
	return nil
}

// dropAliases removes the aliases that name a deleted version.
func (s *Service) dropAliases(ctx context.Context, ws, name string, version int64) {
	num := strconv.FormatInt(version, 10)
	_, _ = s.Store.UpdateRegisteredModel(ctx, ws, name, func(m *tracking.RegisteredModel) error {
		for a, v := range m.Aliases {
			if v == num {
				delete(m.Aliases, a)
			}
		}
		return nil
	})
}

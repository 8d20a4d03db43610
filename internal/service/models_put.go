package service

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// modelBody is what the server reads of a PUT of a model container or
// version (Azure ML's ModelContainer and ModelVersion, 2022-05-01 and
// later). Absent fields keep what the model or version had; tags are
// replaced, as the other assets' are.
type modelBody struct {
	Properties struct {
		Description *string           `json:"description"`
		Tags        map[string]string `json:"tags"`
		Properties  map[string]string `json:"properties"`
		IsArchived  *bool             `json:"isArchived"`
		// Versions only.
		ModelType *string `json:"modelType"`
		ModelURI  *string `json:"modelUri"`
		JobName   *string `json:"jobName"`
		Stage     *string `json:"stage"`
		Flavors   map[string]struct {
			Data map[string]string `json:"data"`
		} `json:"flavors"`
	} `json:"properties"`
}

// modelFields are the properties the server maps (or owns); the rest of a
// client's properties are kept as they came (AzureMLAsset.Extra).
var modelFields = []string{"description", "tags", "properties", "isArchived", "modelType", "modelUri", "jobName", "stage",
	"flavors", "provisioningState", "latestVersion", "nextVersion", "isAnonymous"}

func readModelBody(body *Body) (*modelBody, map[string]any, error) {
	var b modelBody
	if err := body.Into(&b); err != nil {
		return nil, nil, err
	}
	_, pr, err := assetDoc(body)
	if err != nil {
		return nil, nil, err
	}
	extra := map[string]any{}
	for k, v := range pr {
		if !slices.Contains(modelFields, k) && v != nil {
			extra[k] = v
		}
	}
	if len(extra) == 0 {
		extra = nil
	}
	return &b, extra, nil
}

// kvTags turns Azure ML's tags into MLflow's, by key.
func kvTags(tags map[string]string) []tracking.KV {
	out := make([]tracking.KV, 0, len(tags))
	for k, v := range tags {
		out = append(out, tracking.KV{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) == 0 {
		return nil
	}
	return out
}

// applyContainer applies a container PUT to a model.
func applyContainer(m *tracking.RegisteredModel, b *modelBody, extra map[string]any) {
	p := b.Properties
	if p.Description != nil {
		m.Description = *p.Description
	}
	m.Tags = kvTags(p.Tags)
	if p.Properties != nil {
		m.AzureML.Properties = p.Properties
	}
	if p.IsArchived != nil {
		m.AzureML.Archived = *p.IsArchived
	}
	if extra != nil {
		m.AzureML.Extra = extra
	}
}

// PutModelAsset creates (created) or updates a model container:
// description, tags, properties, isArchived.
func (s *Service) PutModelAsset(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (*ModelAsset, bool, error) {
	ws, err := s.modelWorkspace(ctx, ref, name)
	if err != nil {
		return nil, false, err
	}
	b, extra, err := readModelBody(body)
	if err != nil {
		return nil, false, err
	}
	now := nowMillis(s)
	m, err := s.lookupModel(ctx, ws, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		m = &tracking.RegisteredModel{Workspace: ws.UID, Name: name, CreationTime: now, LastUpdatedTime: now}
		applyContainer(m, b, extra)
		err = s.Store.CreateRegisteredModel(ctx, m)
		if err == nil {
			return modelAssetOf(m, nil), true, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, false, core.Internal(err)
		}
		// Made meanwhile: update it.
	case err != nil:
		return nil, false, core.Internal(err)
	default:
		name = m.Name
	}
	_, err = s.Store.UpdateRegisteredModel(ctx, ws.UID, name, func(m *tracking.RegisteredModel) error {
		m.LastUpdatedTime = now
		applyContainer(m, b, extra)
		return nil
	})
	if err != nil {
		return nil, false, core.Internal(err)
	}
	a, err := s.modelAsset(ctx, ws, name)
	return a, false, err
}

// versionPut is a version PUT, checked: what it sets.
type versionPut struct {
	body      *modelBody
	extra     map[string]any
	uri       string // the modelUri as sent
	source    string
	run       string
	modelType string
	stage     string                       // "" keeps the stage
	flavors   map[string]map[string]string // from the run, when the PUT has none
}

// checkVersionPut validates a version PUT and maps its modelUri.
func (s *Service) checkVersionPut(ctx context.Context, ws *resource.Object, body *Body) (*versionPut, error) {
	b, extra, err := readModelBody(body)
	if err != nil {
		return nil, err
	}
	p := b.Properties
	put := &versionPut{body: b, extra: extra, modelType: "custom_model"}
	if p.ModelType != nil && *p.ModelType != "" {
		t, ok := modelType(*p.ModelType)
		if !ok {
			return nil, core.Invalid("properties.modelType", "Unknown modelType %q: use %s.", *p.ModelType, strings.Join(ModelTypes, ", "))
		}
		put.modelType = t
	}
	if p.Stage != nil && *p.Stage != "" {
		for _, st := range tracking.ModelStages {
			if strings.EqualFold(st, *p.Stage) {
				put.stage = st
			}
		}
		if put.stage == "" {
			return nil, core.Invalid("properties.stage", "Unknown stage %q: use %s (MLflow's stages: the registry is MLflow's).", *p.Stage, strings.Join(tracking.ModelStages, ", "))
		}
	}
	if p.ModelURI == nil || strings.TrimSpace(*p.ModelURI) == "" {
		return nil, core.Invalid("properties.modelUri", "A model version needs properties.modelUri: where its files are, for example azureml://datastores/workspaceblobstore/paths/<folder> or azureml://jobs/<job>/outputs/artifacts/paths/<path>.")
	}
	put.uri = strings.TrimSpace(*p.ModelURI)
	if put.source, put.run, err = s.modelSource(ctx, ws, put.uri); err != nil {
		return nil, err
	}
	if p.JobName != nil && *p.JobName != "" {
		put.run = *p.JobName
	}
	if put.modelType == "mlflow_model" && p.Flavors == nil && put.run != "" {
		put.flavors = s.runFlavors(ctx, ws.UID, put.run, put.source)
	}
	return put, nil
}

// apply sets a version's fields from the PUT.
func (p *versionPut) apply(v *tracking.ModelVersion) {
	b := p.body.Properties
	v.Source = p.source
	if p.run != "" {
		v.RunID = p.run
	}
	if b.Description != nil {
		v.Description = *b.Description
	}
	v.Tags = kvTags(b.Tags)
	if p.stage != "" {
		v.CurrentStage = p.stage
	}
	v.AzureML.ModelType = p.modelType
	if b.Properties != nil {
		v.AzureML.Properties = b.Properties
	}
	if b.IsArchived != nil {
		v.AzureML.Archived = *b.IsArchived
	}
	if b.Flavors != nil {
		v.AzureML.Flavors = map[string]map[string]string{}
		for k, f := range b.Flavors {
			v.AzureML.Flavors[k] = f.Data
		}
	} else if p.flavors != nil {
		v.AzureML.Flavors = p.flavors
	}
	if p.extra != nil {
		v.AzureML.Extra = p.extra
	}
}

// sameFiles refuses a PUT that would move an existing version's files or
// change its type, as Azure ML does ("Asset paths cannot be updated"). A
// modelUri sent back as the server shows it (what the SDK's archive does)
// keeps the source as MLflow has it.
func (p *versionPut) sameFiles(ws *resource.Object, v *tracking.ModelVersion) error {
	if strings.TrimRight(p.uri, "/") == strings.TrimRight(ModelURI(ws, v), "/") {
		p.source = v.Source
	}
	if strings.TrimRight(v.Source, "/") != strings.TrimRight(p.source, "/") {
		return core.InvalidCode("UserError", "properties.modelUri",
			"Asset paths cannot be updated: model '%s' version %d already points at %s. Register a new version (leave the version out to get the next one).", v.Name, v.Version, ModelURI(ws, v))
	}
	if ModelTypeOf(v) != p.modelType {
		return core.InvalidCode("UserError", "properties.modelType",
			"Model '%s' version %d is a %s; its type cannot change. Register a new version.", v.Name, v.Version, ModelTypeOf(v))
	}
	return nil
}

// PutModelAssetVersion creates (created) or updates one version; the
// model is made when it is new. The version number is the caller's (the
// SDK asks the container's nextVersion first).
func (s *Service) PutModelAssetVersion(ctx context.Context, ref core.WorkspaceRef, name, version string, body *Body) (*tracking.ModelVersion, bool, error) {
	ws, err := s.modelWorkspace(ctx, ref, name)
	if err != nil {
		return nil, false, err
	}
	n, err := modelVersionNumber(version)
	if err != nil {
		return nil, false, err
	}
	put, err := s.checkVersionPut(ctx, ws, body)
	if err != nil {
		return nil, false, err
	}
	m, err := s.ensureModel(ctx, ws, name)
	if err != nil {
		return nil, false, err
	}
	now := nowMillis(s)
	for range 3 {
		v, err := s.Store.UpdateModelVersion(ctx, ws.UID, m.Name, n, func(v *tracking.ModelVersion) error {
			if err := put.sameFiles(ws, v); err != nil {
				return err
			}
			v.LastUpdatedTime = now
			put.apply(v)
			return nil
		})
		if err == nil {
			return v, false, nil
		}
		if e, ok := core.AsError(err); ok {
			return nil, false, e
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, core.Internal(err)
		}
		v = &tracking.ModelVersion{Workspace: ws.UID, Name: m.Name, Version: n, CreationTime: now, LastUpdatedTime: now,
			CurrentStage: tracking.StageNone, Status: "READY", UserID: principalName(PrincipalFrom(ctx))}
		put.apply(v)
		err = s.Store.CreateModelVersion(ctx, v)
		switch {
		case err == nil:
			return v, true, nil
		case errors.Is(err, store.ErrNotFound):
			return nil, false, modelNotFound(ws, name) // deleted meanwhile
		case !errors.Is(err, store.ErrExists):
			return nil, false, core.Internal(err)
		}
		// Made meanwhile: update it.
	}
	return nil, false, core.Conflict("Conflict", "Model '%s' version %d changed while it was written; try again.", name, n)
}

// ensureModel finds a model, or makes it (a version PUT makes its
// container, as Azure ML does).
func (s *Service) ensureModel(ctx context.Context, ws *resource.Object, name string) (*tracking.RegisteredModel, error) {
	m, err := s.lookupModel(ctx, ws, name)
	switch {
	case err == nil:
		return m, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, core.Internal(err)
	}
	now := nowMillis(s)
	m = &tracking.RegisteredModel{Workspace: ws.UID, Name: name, CreationTime: now, LastUpdatedTime: now}
	if err := s.Store.CreateRegisteredModel(ctx, m); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, core.Internal(err)
	}
	return s.findModel(ctx, ws, name)
}

package httpapi

import (
	"net/http"
	"strconv"

	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/tracking"
)

// MLflow's model registry (registered-models/*, model-versions/*), as
// service.proto's ModelRegistryService documents it.

const reg = "/api/2.0/mlflow/"

var registryEndpoints = []mlflowRoute{
	{"POST", reg + "registered-models/create", true, (*API).mlCreateModel},
	{"GET", reg + "registered-models/get", false, (*API).mlGetModel},
	{"POST", reg + "registered-models/rename", true, (*API).mlRenameModel},
	{"PATCH", reg + "registered-models/update", true, (*API).mlUpdateModel},
	{"DELETE", reg + "registered-models/delete", true, (*API).mlDeleteModel},
	{"GET", reg + "registered-models/search", false, (*API).mlSearchModels},
	{"POST", reg + "registered-models/search", false, (*API).mlSearchModels},
	{"GET", reg + "registered-models/get-latest-versions", false, (*API).mlLatestVersions},
	{"POST", reg + "registered-models/get-latest-versions", false, (*API).mlLatestVersions},
	{"POST", reg + "registered-models/set-tag", true, (*API).mlSetModelTag},
	{"DELETE", reg + "registered-models/delete-tag", true, (*API).mlDeleteModelTag},
	{"POST", reg + "registered-models/alias", true, (*API).mlSetAlias},
	{"DELETE", reg + "registered-models/alias", true, (*API).mlDeleteAlias},
	{"GET", reg + "registered-models/alias", false, (*API).mlGetByAlias},
	{"POST", reg + "model-versions/create", true, (*API).mlCreateVersion},
	{"GET", reg + "model-versions/get", false, (*API).mlGetVersion},
	{"PATCH", reg + "model-versions/update", true, (*API).mlUpdateVersion},
	{"DELETE", reg + "model-versions/delete", true, (*API).mlDeleteVersion},
	{"GET", reg + "model-versions/search", false, (*API).mlSearchVersions},
	{"POST", reg + "model-versions/search", false, (*API).mlSearchVersions},
	{"GET", reg + "model-versions/get-download-uri", false, (*API).mlDownloadURI},
	{"POST", reg + "model-versions/transition-stage", true, (*API).mlTransition},
	{"POST", reg + "model-versions/set-tag", true, (*API).mlSetVersionTag},
	{"DELETE", reg + "model-versions/delete-tag", true, (*API).mlDeleteVersionTag},
}

// regBody is what the registry endpoints send: JSON (also on DELETE, as
// MLflow's client does), or the query of a GET.
type regBody struct {
	Name            string   `json:"name"`
	NewName         string   `json:"new_name"`
	Description     *string  `json:"description"`
	Version         string   `json:"version"`
	Alias           string   `json:"alias"`
	Key             string   `json:"key"`
	Value           string   `json:"value"`
	Source          string   `json:"source"`
	RunID           string   `json:"run_id"`
	RunLink         string   `json:"run_link"`
	Stage           string   `json:"stage"`
	Stages          []string `json:"stages"`
	ArchiveExisting bool     `json:"archive_existing_versions"`
	Tags            []wireKV `json:"tags"`
}

func readReg(r *Request) (*regBody, error) {
	var b regBody
	if r.Method != http.MethodGet {
		if err := mlDecode(r, &b); err != nil {
			return nil, err
		}
	}
	q := r.URL.Query()
	for _, f := range []struct {
		p    *string
		name string
	}{{&b.Name, "name"}, {&b.Version, "version"}, {&b.Alias, "alias"}, {&b.Key, "key"}} {
		if *f.p == "" {
			*f.p = q.Get(f.name)
		}
	}
	if len(b.Stages) == 0 {
		b.Stages = q["stages"]
	}
	return &b, nil
}

func renderVersion(v *tracking.ModelVersion, aliases map[string]string) map[string]any {
	out := map[string]any{
		"name": v.Name, "version": strconv.FormatInt(v.Version, 10), "creation_timestamp": v.CreationTime,
		"last_updated_timestamp": v.LastUpdatedTime, "current_stage": v.CurrentStage, "description": v.Description,
		"source": v.Source, "run_id": v.RunID, "status": v.Status, "user_id": v.UserID, "tags": kvs(v.Tags), "aliases": []string{},
	}
	if v.RunLink != "" {
		out["run_link"] = v.RunLink
	}
	var names []string
	for a, ver := range aliases {
		if ver == out["version"] {
			names = append(names, a)
		}
	}
	if names != nil {
		out["aliases"] = names
	}
	return out
}

func renderModel(m *service.RegisteredModelView) map[string]any {
	latest := make([]map[string]any, len(m.Latest))
	for i, v := range m.Latest {
		latest[i] = renderVersion(v, m.Model.Aliases)
	}
	aliases := []map[string]string{}
	for a, v := range m.Model.Aliases {
		aliases = append(aliases, map[string]string{"alias": a, "version": v})
	}
	return map[string]any{
		"name": m.Model.Name, "creation_timestamp": m.Model.CreationTime, "last_updated_timestamp": m.Model.LastUpdatedTime,
		"description": m.Model.Description, "latest_versions": latest, "tags": kvs(m.Model.Tags), "aliases": aliases,
	}
}

func (a *API) mlCreateModel(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	desc := ""
	if b.Description != nil {
		desc = *b.Description
	}
	m, err := a.svc.CreateRegisteredModel(r.Ctx(), r.Workspace(), b.Name, desc, fromKVs(b.Tags))
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": renderModel(m)}, nil
}

func (a *API) mlGetModel(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	m, err := a.svc.GetRegisteredModel(r.Ctx(), r.Workspace(), b.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": renderModel(m)}, nil
}

func (a *API) mlRenameModel(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	m, err := a.svc.RenameRegisteredModel(r.Ctx(), r.Workspace(), b.Name, b.NewName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": renderModel(m)}, nil
}

// updateModel applies fn to the named model and answers it.
func (a *API) updateModel(r *Request, fn func(b *regBody, m *tracking.RegisteredModel) error) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	m, err := a.svc.UpdateRegisteredModel(r.Ctx(), r.Workspace(), b.Name, func(m *tracking.RegisteredModel) error { return fn(b, m) })
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": renderModel(m)}, nil
}

func (a *API) mlUpdateModel(r *Request) (any, error) {
	return a.updateModel(r, func(b *regBody, m *tracking.RegisteredModel) error {
		if b.Description != nil {
			m.Description = *b.Description
		}
		return nil
	})
}

func setKV(tags []tracking.KV, key, value string) []tracking.KV {
	for i, t := range tags {
		if t.Key == key {
			tags[i].Value = value
			return tags
		}
	}
	return append(tags, tracking.KV{Key: key, Value: value})
}

func deleteKV(tags []tracking.KV, key string) ([]tracking.KV, bool) {
	for i, t := range tags {
		if t.Key == key {
			return append(tags[:i], tags[i+1:]...), true
		}
	}
	return tags, false
}

func (a *API) mlSetModelTag(r *Request) (any, error) {
	if _, err := a.updateModel(r, func(b *regBody, m *tracking.RegisteredModel) error {
		if b.Key == "" {
			return tracking.Invalid("key", "Missing value for required parameter 'key'.")
		}
		m.Tags = setKV(m.Tags, b.Key, b.Value)
		return nil
	}); err != nil {
		return nil, err
	}
	return empty, nil
}

func (a *API) mlDeleteModelTag(r *Request) (any, error) {
	if _, err := a.updateModel(r, func(b *regBody, m *tracking.RegisteredModel) error {
		var ok bool
		if m.Tags, ok = deleteKV(m.Tags, b.Key); !ok {
			return tracking.NotFound("No tag with name: %s in registered model %s.", b.Key, m.Name)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return empty, nil
}

func (a *API) mlDeleteModel(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	return empty, a.svc.DeleteRegisteredModel(r.Ctx(), r.Workspace(), b.Name)
}

func (a *API) mlSearchModels(r *Request) (any, error) {
	s, err := readSearch(r)
	if err != nil {
		return nil, err
	}
	ms, next, err := a.svc.SearchRegisteredModels(r.Ctx(), r.Workspace(), service.SearchRequest{MaxResults: s.MaxResults.v, PageToken: s.PageToken, Filter: s.Filter, OrderBy: s.OrderBy})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = renderModel(m)
	}
	resp := map[string]any{"registered_models": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

func (a *API) mlLatestVersions(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	vs, err := a.svc.GetLatestVersions(r.Ctx(), r.Workspace(), b.Name, b.Stages)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_versions": renderVersions(vs, nil)}, nil
}

func renderVersions(vs []*tracking.ModelVersion, aliases map[string]string) []map[string]any {
	out := make([]map[string]any, len(vs))
	for i, v := range vs {
		out[i] = renderVersion(v, aliases)
	}
	return out
}

func (a *API) mlSetAlias(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	return empty, a.svc.SetModelAlias(r.Ctx(), r.Workspace(), b.Name, b.Alias, b.Version)
}

func (a *API) mlDeleteAlias(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	return empty, a.svc.DeleteModelAlias(r.Ctx(), r.Workspace(), b.Name, b.Alias)
}

func (a *API) mlGetByAlias(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	v, err := a.svc.ModelVersionByAlias(r.Ctx(), r.Workspace(), b.Name, b.Alias)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": renderVersion(v, map[string]string{b.Alias: strconv.FormatInt(v.Version, 10)})}, nil
}

func (a *API) mlCreateVersion(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	v := &tracking.ModelVersion{Name: b.Name, Source: b.Source, RunID: b.RunID, RunLink: b.RunLink, Tags: fromKVs(b.Tags)}
	if b.Description != nil {
		v.Description = *b.Description
	}
	v, err = a.svc.CreateModelVersion(r.Ctx(), r.Workspace(), v)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": renderVersion(v, nil)}, nil
}

func (a *API) mlGetVersion(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	v, err := a.svc.GetModelVersion(r.Ctx(), r.Workspace(), b.Name, b.Version)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": renderVersion(v, nil)}, nil
}

// updateVersion applies fn to the named version and answers it.
func (a *API) updateVersion(r *Request, fn func(b *regBody, v *tracking.ModelVersion) error) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	v, err := a.svc.UpdateModelVersion(r.Ctx(), r.Workspace(), b.Name, b.Version, func(v *tracking.ModelVersion) error { return fn(b, v) })
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": renderVersion(v, nil)}, nil
}

func (a *API) mlUpdateVersion(r *Request) (any, error) {
	return a.updateVersion(r, func(b *regBody, v *tracking.ModelVersion) error {
		if b.Description != nil {
			v.Description = *b.Description
		}
		return nil
	})
}

func (a *API) mlSetVersionTag(r *Request) (any, error) {
	if _, err := a.updateVersion(r, func(b *regBody, v *tracking.ModelVersion) error {
		if b.Key == "" {
			return tracking.Invalid("key", "Missing value for required parameter 'key'.")
		}
		v.Tags = setKV(v.Tags, b.Key, b.Value)
		return nil
	}); err != nil {
		return nil, err
	}
	return empty, nil
}

func (a *API) mlDeleteVersionTag(r *Request) (any, error) {
	if _, err := a.updateVersion(r, func(b *regBody, v *tracking.ModelVersion) error {
		var ok bool
		if v.Tags, ok = deleteKV(v.Tags, b.Key); !ok {
			return tracking.NotFound("No tag with name: %s in model version %s %d.", b.Key, v.Name, v.Version)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return empty, nil
}

func (a *API) mlDeleteVersion(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	return empty, a.svc.DeleteModelVersion(r.Ctx(), r.Workspace(), b.Name, b.Version)
}

func (a *API) mlSearchVersions(r *Request) (any, error) {
	s, err := readSearch(r)
	if err != nil {
		return nil, err
	}
	vs, next, err := a.svc.SearchModelVersions(r.Ctx(), r.Workspace(), service.SearchRequest{MaxResults: s.MaxResults.v, PageToken: s.PageToken, Filter: s.Filter, OrderBy: s.OrderBy})
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"model_versions": renderVersions(vs, nil)}
	if next != "" {
		resp["next_page_token"] = next
	}
	return resp, nil
}

func (a *API) mlDownloadURI(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	v, err := a.svc.GetModelVersion(r.Ctx(), r.Workspace(), b.Name, b.Version)
	if err != nil {
		return nil, err
	}
	return map[string]any{"artifact_uri": v.Source}, nil
}

func (a *API) mlTransition(r *Request) (any, error) {
	b, err := readReg(r)
	if err != nil {
		return nil, err
	}
	v, err := a.svc.TransitionModelVersionStage(r.Ctx(), r.Workspace(), b.Name, b.Version, b.Stage, b.ArchiveExisting)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": renderVersion(v, nil)}, nil
}

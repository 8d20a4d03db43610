package httpapi

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMLflowRegistry follows what mlflow.register_model and MlflowClient's
// registry calls send: a model, versions from a run, stages, aliases,
// tags, search, rename and delete.
func TestMLflowRegistry(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	run := m.ok(t, "POST", api2+"runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	rm := m.ok(t, "POST", api2+"registered-models/create", map[string]any{"name": "diabetes", "description": "d"})["registered_model"].(map[string]any)
	require.Equal(t, "diabetes", rm["name"])
	m.fails(t, m.scientist, "POST", api2+"registered-models/create", map[string]any{"name": "diabetes"}, 400, "RESOURCE_ALREADY_EXISTS", "diabetes")
	v1 := m.ok(t, "POST", api2+"model-versions/create", map[string]any{"name": "diabetes", "source": "runs:/" + run + "/model", "run_id": run})["model_version"].(map[string]any)
	require.Equal(t, "1", v1["version"])
	require.Equal(t, "READY", v1["status"])
	require.Equal(t, "None", v1["current_stage"])
	require.Equal(t, "mlflow-artifacts:/ExperimentRun/dcid."+run+"/model", v1["source"])
	v2 := m.ok(t, "POST", api2+"model-versions/create", map[string]any{"name": "diabetes", "source": "mlflow-artifacts:/x/model"})["model_version"].(map[string]any)
	require.Equal(t, "2", v2["version"])
	m.fails(t, m.scientist, "POST", api2+"model-versions/create", map[string]any{"name": "nope", "source": "x"}, 404, "RESOURCE_DOES_NOT_EXIST", "nope")

	// Stages: archive_existing_versions moves the other Production one.
	m.ok(t, "POST", api2+"model-versions/transition-stage", map[string]any{"name": "diabetes", "version": "1", "stage": "production"})
	got := m.ok(t, "POST", api2+"model-versions/transition-stage", map[string]any{"name": "diabetes", "version": "2", "stage": "Production", "archive_existing_versions": true})
	require.Equal(t, "Production", got["model_version"].(map[string]any)["current_stage"])
	v := m.ok(t, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes"}, "version": {"1"}})["model_version"].(map[string]any)
	require.Equal(t, "Archived", v["current_stage"])
	m.fails(t, m.scientist, "POST", api2+"model-versions/transition-stage", map[string]any{"name": "diabetes", "version": "1", "stage": "Gold"}, 400, "INVALID_PARAMETER_VALUE", "Gold")
	latest := m.ok(t, "POST", api2+"registered-models/get-latest-versions", map[string]any{"name": "diabetes", "stages": []string{"Production"}})["model_versions"].([]any)
	require.Len(t, latest, 1)
	require.Equal(t, "2", latest[0].(map[string]any)["version"])

	// Aliases and tags.
	m.ok(t, "POST", api2+"registered-models/alias", map[string]any{"name": "diabetes", "alias": "champion", "version": "2"})
	byAlias := m.ok(t, "GET", api2+"registered-models/alias", url.Values{"name": {"diabetes"}, "alias": {"champion"}})["model_version"].(map[string]any)
	require.Equal(t, "2", byAlias["version"])
	require.Equal(t, []any{"champion"}, byAlias["aliases"])
	m.fails(t, m.scientist, "POST", api2+"registered-models/alias", map[string]any{"name": "diabetes", "alias": "x", "version": "9"}, 404, "RESOURCE_DOES_NOT_EXIST", "version=9")
	m.ok(t, "POST", api2+"registered-models/set-tag", map[string]any{"name": "diabetes", "key": "team", "value": "a"})
	m.ok(t, "POST", api2+"model-versions/set-tag", map[string]any{"name": "diabetes", "version": "1", "key": "k", "value": "v"})
	code, out := m.call(t, m.scientist, http.MethodDelete, m.uri, api2+"registered-models/alias", map[string]any{"name": "diabetes", "alias": "champion"})
	require.Equal(t, http.StatusOK, code, out)
	rm = m.ok(t, "GET", api2+"registered-models/get", url.Values{"name": {"diabetes"}})["registered_model"].(map[string]any)
	require.Equal(t, []any{}, rm["aliases"])
	require.Equal(t, []any{map[string]any{"key": "team", "value": "a"}}, rm["tags"])

	// Search and paging.
	m.ok(t, "POST", api2+"registered-models/create", map[string]any{"name": "other"})
	found := m.ok(t, "POST", api2+"registered-models/search", map[string]any{"filter": "name LIKE 'dia%'"})["registered_models"].([]any)
	require.Len(t, found, 1)
	page := m.ok(t, "GET", api2+"registered-models/search", url.Values{"max_results": {"1"}})
	require.Len(t, page["registered_models"], 1)
	require.NotEmpty(t, page["next_page_token"])
	vs := m.ok(t, "GET", api2+"model-versions/search", url.Values{"filter": {"run_id = '" + run + "'"}})["model_versions"].([]any)
	require.Len(t, vs, 1)
	vs = m.ok(t, "GET", api2+"model-versions/search", url.Values{"filter": {"name = 'diabetes' AND tags.k = 'v'"}})["model_versions"].([]any)
	require.Len(t, vs, 1)
	require.Equal(t, "1", vs[0].(map[string]any)["version"])
	m.fails(t, m.scientist, "GET", api2+"model-versions/search", url.Values{"filter": {"name = diabetes"}}, 400, "INVALID_PARAMETER_VALUE", "'diabetes'")
	uri := m.ok(t, "GET", api2+"model-versions/get-download-uri", url.Values{"name": {"diabetes"}, "version": {"1"}})
	require.Equal(t, v1["source"], uri["artifact_uri"])

	// Readers read, never write.
	code, _ = m.call(t, m.reader, "GET", m.uri, api2+"registered-models/get", url.Values{"name": {"diabetes"}})
	require.Equal(t, http.StatusOK, code)
	m.fails(t, m.reader, "POST", api2+"registered-models/create", map[string]any{"name": "x"}, 403, "PERMISSION_DENIED", "rdr")

	// Rename, delete.
	m.ok(t, "POST", api2+"registered-models/rename", map[string]any{"name": "diabetes", "new_name": "diabetes-v2"})
	v = m.ok(t, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes-v2"}, "version": {"2"}})["model_version"].(map[string]any)
	require.Equal(t, "diabetes-v2", v["name"])
	code, _ = m.call(t, m.scientist, http.MethodDelete, m.uri, api2+"model-versions/delete", map[string]any{"name": "diabetes-v2", "version": "1"})
	require.Equal(t, http.StatusOK, code)
	m.fails(t, m.scientist, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes-v2"}, "version": {"1"}}, 404, "RESOURCE_DOES_NOT_EXIST", "version=1")
	code, _ = m.call(t, m.scientist, http.MethodDelete, m.uri, api2+"registered-models/delete", map[string]any{"name": "diabetes-v2"})
	require.Equal(t, http.StatusOK, code)
	m.fails(t, m.scientist, "GET", api2+"registered-models/get", url.Values{"name": {"diabetes-v2"}}, 404, "RESOURCE_DOES_NOT_EXIST", "diabetes-v2")
}

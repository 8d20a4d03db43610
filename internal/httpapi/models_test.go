package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// arm calls the ARM API over TLS as token and requires status.
func (m *mlflowBundle) arm(t *testing.T, token, method, path string, body any, status int) map[string]any {
	t.Helper()
	code, out := m.call(t, token, method, m.srv.URL, path, body)
	require.Equal(t, status, code, "%s %s: %v", method, path, out)
	return out
}

// armFails requires an ARM error with the status, target and a message
// containing each of msgs.
func (m *mlflowBundle) armFails(t *testing.T, method, path string, body any, status int, target string, msgs ...string) {
	t.Helper()
	out := m.arm(t, m.scientist, method, path, body, status)
	e, ok := out["error"].(map[string]any)
	require.True(t, ok, "an ARM error: %v", out)
	require.NotEmpty(t, e["code"])
	if target != "" {
		require.Equal(t, target, e["target"], "%v", e)
	}
	for _, msg := range msgs {
		require.Contains(t, e["message"], msg)
	}
}

func modelVersionBody(uri, typ string, extra map[string]any) map[string]any {
	p := map[string]any{"modelUri": uri, "modelType": typ}
	for k, v := range extra {
		p[k] = v
	}
	return map[string]any{"properties": p}
}

func propsOf(doc map[string]any) map[string]any { return doc["properties"].(map[string]any) }

// registerDiabetes registers model diabetes version 1 through MLflow,
// from a run that logged it, and returns the run.
func registerDiabetes(t *testing.T, m *mlflowBundle) string {
	t.Helper()
	run := m.ok(t, "POST", api2+"runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	// mlflow.sklearn.log_model records the MLmodel in the run.
	m.ok(t, "POST", api2+"runs/log-model", map[string]any{"run_id": run, "model_json": `{"artifact_path": "model", "flavors": {` +
		`"python_function": {"loader_module": "mlflow.sklearn", "env": {"conda": "conda.yaml"}}, "sklearn": {"sklearn_version": "1.5.1"}}}`})
	m.ok(t, "POST", api2+"registered-models/create", map[string]any{"name": "diabetes", "description": "from mlflow",
		"tags": []map[string]string{{"key": "team", "value": "a"}}})
	m.ok(t, "POST", api2+"model-versions/create", map[string]any{"name": "diabetes", "source": "runs:/" + run + "/model", "run_id": run})
	return run
}

// TestModelsAreTheMLflowRegistry: what MLflow registers is an Azure ML
// model, and what the Azure ML API registers is in MLflow's registry, with
// the URI mapping of docs/mlflow.md.
func TestModelsAreTheMLflowRegistry(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	models := m.wsA + "/models"
	run := registerDiabetes(t, m)

	// MLflow's model, through Azure ML's API.
	list := m.arm(t, m.reader, "GET", models, nil, http.StatusOK)["value"].([]any)
	require.Len(t, list, 1)
	c := list[0].(map[string]any)
	require.Equal(t, "diabetes", c["name"])
	require.Equal(t, m.wsA+"/models/diabetes", c["id"])
	require.Equal(t, "Microsoft.MachineLearningServices/workspaces/models", c["type"])
	require.Equal(t, "1", propsOf(c)["latestVersion"])
	require.Equal(t, "2", propsOf(c)["nextVersion"])
	require.Equal(t, "from mlflow", propsOf(c)["description"])
	require.Equal(t, map[string]any{"team": "a"}, propsOf(c)["tags"])
	v1 := m.arm(t, m.reader, "GET", models+"/diabetes/versions/1", nil, http.StatusOK)
	require.Equal(t, "1", v1["name"])
	require.Equal(t, "mlflow_model", propsOf(v1)["modelType"])
	require.Equal(t, "azureml://subscriptions/"+testSub+"/resourcegroups/rg-a/workspaces/ws-a/datastores/workspaceartifactstore/paths/ExperimentRun/dcid."+run+"/model",
		propsOf(v1)["modelUri"])
	require.Equal(t, run, propsOf(v1)["jobName"])
	require.Equal(t, "None", propsOf(v1)["stage"])
	require.Equal(t, map[string]any{
		"python_function": map[string]any{"data": map[string]any{"loader_module": "mlflow.sklearn", "env": `{"conda":"conda.yaml"}`}},
		"sklearn":         map[string]any{"data": map[string]any{"sklearn_version": "1.5.1"}},
	}, propsOf(v1)["flavors"], "the flavors of the MLmodel the run logged")
	require.Equal(t, false, propsOf(v1)["isArchived"])
	require.Equal(t, "sci", v1["systemData"].(map[string]any)["createdBy"])

	// A version from a job's output through Azure ML's API, in MLflow.
	put := modelVersionBody("azureml://jobs/"+run+"/outputs/artifacts/paths/outputs/model/", "mlflow_model", map[string]any{
		"description": "from a job", "tags": map[string]string{"k": "v"}, "stage": "staging",
		"flavors":              map[string]any{"python_function": map[string]any{"data": map[string]string{"loader_module": "mlflow.sklearn"}}},
		"intellectualProperty": map[string]any{"publisher": "lab"}})
	v2 := m.arm(t, m.scientist, "PUT", models+"/diabetes/versions/2", put, http.StatusCreated)
	require.Equal(t, "Staging", propsOf(v2)["stage"])
	require.Equal(t, map[string]any{"publisher": "lab"}, propsOf(v2)["intellectualProperty"], "fields mlw does not read are echoed")
	require.Equal(t, map[string]any{"python_function": map[string]any{"data": map[string]any{"loader_module": "mlflow.sklearn"}}}, propsOf(v2)["flavors"])
	m.arm(t, m.scientist, "PUT", models+"/diabetes/versions/2", put, http.StatusOK)
	mv := m.ok(t, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes"}, "version": {"2"}})["model_version"].(map[string]any)
	require.Equal(t, "mlflow-artifacts:/ExperimentRun/dcid."+run+"/outputs/model", mv["source"])
	require.Equal(t, run, mv["run_id"])
	require.Equal(t, "Staging", mv["current_stage"])
	require.Equal(t, "from a job", mv["description"])
	require.Equal(t, []any{map[string]any{"key": "k", "value": "v"}}, mv["tags"])

	// A model new to both, from a folder the SDK uploaded (the long form).
	blobURI := "azureml://subscriptions/" + testSub + "/resourcegroups/rg-a/workspaces/ws-a/datastores/workspaceblobstore/paths/LocalUpload/abc/model"
	m.arm(t, m.scientist, "PUT", models+"/Local-Model/versions/1", modelVersionBody(blobURI, "custom_model", nil), http.StatusCreated)
	local := m.arm(t, m.reader, "GET", models+"/Local-Model/versions/1", nil, http.StatusOK)
	require.Equal(t, map[string]any{}, propsOf(local)["flavors"], "azure-ai-ml 1.4 iterates flavors: never null")
	require.Nil(t, propsOf(local)["jobName"])
	require.Equal(t, blobURI, propsOf(local)["modelUri"])
	rm := m.ok(t, "GET", api2+"registered-models/get", url.Values{"name": {"Local-Model"}})["registered_model"].(map[string]any)
	require.Equal(t, "1", rm["latest_versions"].([]any)[0].(map[string]any)["version"])
	uri := m.ok(t, "GET", api2+"model-versions/get-download-uri", url.Values{"name": {"Local-Model"}, "version": {"1"}})
	require.Equal(t, blobURI, uri["artifact_uri"])
	// MLflow takes the next number; names are case-insensitive in Azure ML.
	mv = m.ok(t, "POST", api2+"model-versions/create", map[string]any{"name": "Local-Model", "source": "mlflow-artifacts:/x/model"})["model_version"].(map[string]any)
	require.Equal(t, "2", mv["version"])
	c = m.arm(t, m.reader, "GET", models+"/local-model", nil, http.StatusOK)
	require.Equal(t, "Local-Model", c["name"])
	require.Equal(t, "2", propsOf(c)["latestVersion"])
	// The short datastore form is stored in the long one; the artifact
	// store's paths are MLflow's mlflow-artifacts:/ paths.
	m.arm(t, m.scientist, "PUT", models+"/local-model/versions/5", modelVersionBody("azureml://datastores/workspaceartifactstore/paths/a/b", "", nil), http.StatusCreated)
	mv = m.ok(t, "GET", api2+"model-versions/get", url.Values{"name": {"Local-Model"}, "version": {"5"}})["model_version"].(map[string]any)
	require.Equal(t, "mlflow-artifacts:/a/b", mv["source"])
	require.Equal(t, "6", propsOf(m.arm(t, m.reader, "GET", models+"/local-model", nil, http.StatusOK))["nextVersion"])

	// An MLflow model of a job's output registered through Azure ML's API
	// has the flavors its run logged.
	v3 := m.arm(t, m.scientist, "PUT", models+"/diabetes/versions/3", modelVersionBody("azureml://jobs/"+run+"/outputs/artifacts/model", "mlflow_model", nil), http.StatusCreated)
	require.Contains(t, propsOf(v3)["flavors"], "sklearn")
	require.Equal(t, propsOf(v1)["modelUri"], propsOf(v3)["modelUri"], "the same files as version 1")
}

// TestModelListsAndArchive: paging, ordering and filters as azure-ai-ml
// asks for them; archiving; deletes that reach MLflow's registry.
func TestModelListsAndArchive(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	models := m.wsA + "/models"
	run := registerDiabetes(t, m)
	m.arm(t, m.scientist, "PUT", models+"/diabetes/versions/2", modelVersionBody("azureml://jobs/"+run+"/outputs/artifacts/paths/outputs/model", "mlflow_model",
		map[string]any{"stage": "Staging"}), http.StatusCreated)
	m.arm(t, m.scientist, "PUT", models+"/Local-Model/versions/1", modelVersionBody("azureml://datastores/workspaceblobstore/paths/m", "custom_model", nil), http.StatusCreated)
	m.ok(t, "POST", api2+"model-versions/create", map[string]any{"name": "Local-Model", "source": "mlflow-artifacts:/x/model"})
	m.arm(t, m.scientist, "PUT", models+"/Local-Model/versions/5", modelVersionBody("azureml://datastores/workspaceartifactstore/paths/a/b", "", nil), http.StatusCreated)

	// Paging and ordering as azure-ai-ml asks for the latest version.
	page := m.arm(t, m.reader, "GET", models+"/Local-Model/versions", url.Values{"$orderBy": {"createdtime desc"}, "$top": {"1"}}, http.StatusOK)
	require.Len(t, page["value"], 1)
	require.Equal(t, "5", page["value"].([]any)[0].(map[string]any)["name"])
	require.NotNil(t, page["nextLink"])
	next, err := url.Parse(page["nextLink"].(string))
	require.NoError(t, err)
	page = m.arm(t, m.reader, "GET", next.Path, next.Query(), http.StatusOK)
	require.Equal(t, "2", page["value"].([]any)[0].(map[string]any)["name"])
	byVersion := m.arm(t, m.reader, "GET", models+"/Local-Model/versions", url.Values{"$orderBy": {"version asc"}}, http.StatusOK)["value"].([]any)
	require.Len(t, byVersion, 3)
	require.Equal(t, "1", byVersion[0].(map[string]any)["name"])
	staged := m.arm(t, m.reader, "GET", models+"/diabetes/versions", url.Values{"stage": {"Staging"}}, http.StatusOK)["value"].([]any)
	require.Len(t, staged, 1)

	// Archiving (what ml_client.models.archive PUTs back) hides from lists
	// that ask for active ones; it is not MLflow's Archived stage.
	v1 := m.arm(t, m.reader, "GET", models+"/diabetes/versions/1", nil, http.StatusOK)
	propsOf(v1)["isArchived"] = true
	propsOf(v1)["stage"] = nil
	m.arm(t, m.scientist, "PUT", models+"/diabetes/versions/1", v1, http.StatusOK)
	active := m.arm(t, m.reader, "GET", models+"/diabetes/versions", nil, http.StatusOK)["value"].([]any)
	require.Len(t, active, 1)
	all := m.arm(t, m.reader, "GET", models+"/diabetes/versions", url.Values{"listViewType": {"All"}}, http.StatusOK)["value"].([]any)
	require.Len(t, all, 2)
	mv := m.ok(t, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes"}, "version": {"1"}})["model_version"].(map[string]any)
	require.Equal(t, "None", mv["current_stage"])
	c := m.arm(t, m.reader, "GET", models+"/diabetes", nil, http.StatusOK)
	propsOf(c)["isArchived"] = true
	m.arm(t, m.scientist, "PUT", models+"/diabetes", c, http.StatusOK)
	require.Len(t, m.arm(t, m.reader, "GET", models, nil, http.StatusOK)["value"], 1)
	require.Len(t, m.arm(t, m.reader, "GET", models, url.Values{"listViewType": {"All"}}, http.StatusOK)["value"], 2)
	rm := m.ok(t, "GET", api2+"registered-models/get", url.Values{"name": {"diabetes"}})["registered_model"].(map[string]any)
	require.Equal(t, []any{map[string]any{"key": "team", "value": "a"}}, rm["tags"], "the container PUT kept its tags")

	// A source MLflow kept as it came (not the form mlw writes) survives
	// the SDK's archive, which PUTs back what it read.
	m.ok(t, "POST", api2+"model-versions/create", map[string]any{"name": "diabetes", "source": "azureml://datastores/workspaceblobstore/paths/raw"})
	raw := m.arm(t, m.reader, "GET", models+"/diabetes/versions/3", nil, http.StatusOK)
	propsOf(raw)["isArchived"] = true
	m.arm(t, m.scientist, "PUT", models+"/diabetes/versions/3", raw, http.StatusOK)
	mv = m.ok(t, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes"}, "version": {"3"}})["model_version"].(map[string]any)
	require.Equal(t, "azureml://datastores/workspaceblobstore/paths/raw", mv["source"])
	m.arm(t, m.scientist, "DELETE", models+"/diabetes/versions/3", nil, http.StatusNoContent)

	// A container PUT makes a model with no versions.
	c = m.arm(t, m.scientist, "PUT", models+"/empty", map[string]any{"properties": map[string]any{"description": "none yet"}}, http.StatusCreated)
	require.Nil(t, propsOf(c)["latestVersion"])
	require.Equal(t, "1", propsOf(c)["nextVersion"])

	// Deletes reach MLflow's registry.
	m.arm(t, m.scientist, "DELETE", models+"/diabetes/versions/2", nil, http.StatusNoContent)
	m.fails(t, m.scientist, "GET", api2+"model-versions/get", url.Values{"name": {"diabetes"}, "version": {"2"}}, 404, "RESOURCE_DOES_NOT_EXIST", "version=2")
	m.arm(t, m.scientist, "DELETE", models+"/Local-Model", nil, http.StatusNoContent)
	m.fails(t, m.scientist, "GET", api2+"registered-models/get", url.Values{"name": {"Local-Model"}}, 404, "RESOURCE_DOES_NOT_EXIST", "Local-Model")
}

// TestModelErrors: bad requests name the field and what to use; unknown
// models and versions are ARM 404s; Readers read and never write.
func TestModelErrors(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	models := m.wsA + "/models"
	good := modelVersionBody("azureml://datastores/workspaceblobstore/paths/LocalUpload/x/m", "custom_model", nil)
	m.arm(t, m.scientist, "PUT", models+"/m/versions/1", good, http.StatusCreated)
	otherWS := "azureml://subscriptions/" + testSub + "/resourcegroups/rg-b/workspaces/ws-b/datastores/workspaceblobstore/paths/x"
	for _, tc := range []struct {
		name, version string
		body          any
		status        int
		target        string
		msgs          []string
	}{
		{"bad type", "2", modelVersionBody("https://example.com/m", "sklearn_model", nil), 400, "properties.modelType",
			[]string{`"sklearn_model"`, "custom_model, mlflow_model, triton_model"}},
		{"no uri", "2", map[string]any{"properties": map[string]any{"modelType": "custom_model"}}, 400, "properties.modelUri", []string{"modelUri"}},
		{"bad stage", "2", modelVersionBody("https://example.com/m", "custom_model", map[string]any{"stage": "Gold"}), 400, "properties.stage",
			[]string{"Gold", "None, Staging, Production, Archived"}},
		{"not a number", "v1", good, 400, "version", []string{"whole numbers"}},
		{"unknown run", "2", modelVersionBody("runs:/nope/model", "mlflow_model", nil), 400, "properties.modelUri", []string{"nope"}},
		{"other workspace", "2", modelVersionBody(otherWS, "custom_model", nil), 400, "properties.modelUri", []string{"ws-b"}},
		{"unknown datastore", "2", modelVersionBody("azureml://datastores/nope/paths/x", "custom_model", nil), 400, "properties.modelUri", []string{"nope"}},
		{"data asset", "2", modelVersionBody("azureml:data:1", "custom_model", nil), 400, "properties.modelUri", []string{"azureml://jobs/"}},
		{"moved files", "1", modelVersionBody("azureml://datastores/workspaceblobstore/paths/LocalUpload/y/m", "custom_model", nil), 400, "properties.modelUri",
			[]string{"Asset paths cannot be updated", "LocalUpload/x/m"}},
		{"changed type", "1", modelVersionBody("azureml://datastores/workspaceblobstore/paths/LocalUpload/x/m", "triton_model", nil), 400, "properties.modelType",
			[]string{"custom_model"}},
		{"tags not strings", "2", modelVersionBody("https://example.com/m", "custom_model", map[string]any{"tags": map[string]any{"a": 1}}), 400, "properties.tags", nil},
		{"bad name", "1", good, 400, "name", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "m"
			if tc.name == "bad name" {
				name = "-bad"
			}
			m.armFails(t, "PUT", models+"/"+name+"/versions/"+tc.version, tc.body, tc.status, tc.target, tc.msgs...)
		})
	}
	m.armFails(t, "GET", models+"/m/versions/9", nil, 404, "", "no version '9'", "mlw model list --name m")
	m.armFails(t, "GET", models+"/m/versions/latest", nil, 404, "", "no version 'latest'")
	m.armFails(t, "GET", models+"/nope", nil, 404, "", "The model 'nope' was not found in workspace 'ws-a'")
	m.armFails(t, "GET", models+"/nope/versions", nil, 404, "", "nope")
	m.armFails(t, "DELETE", models+"/m/versions/9", nil, 404, "", "no version '9'")
	m.armFails(t, "GET", models+"/m/versions", url.Values{"$orderBy": {"size desc"}}, 400, "$orderBy", "createdtime desc")
	m.armFails(t, "GET", models, url.Values{"listViewType": {"Some"}}, 400, "listViewType", "ActiveOnly")
	out := m.arm(t, m.scientist, "GET", models+"/m/versions/9", nil, 404)
	require.Equal(t, "UserError", out["error"].(map[string]any)["code"])

	// Access: every route is classified (TestEveryRouteIsClassified);
	// here, what each role gets.
	m.arm(t, m.reader, "GET", models+"/m/versions/1", nil, http.StatusOK)
	for _, tc := range []struct{ method, path string }{
		{"PUT", models + "/m/versions/2"}, {"PUT", models + "/m"}, {"DELETE", models + "/m/versions/1"}, {"DELETE", models + "/m"},
	} {
		out := m.arm(t, m.reader, tc.method, tc.path, good, http.StatusForbidden)
		require.Equal(t, "AuthorizationFailed", out["error"].(map[string]any)["code"], "%s %s", tc.method, tc.path)
	}
	m.arm(t, m.stranger, "GET", models, nil, http.StatusForbidden)
	m.arm(t, m.scientist, "PUT", m.wsB+"/models/m/versions/1", good, http.StatusForbidden)
	m.arm(t, "", "GET", models, nil, http.StatusUnauthorized)
	require.True(t, strings.HasPrefix(m.srv.URL, "https://"), "over TLS")
}

package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mlflowModelFiles is a folder as mlflow.sklearn.save_model writes it.
var mlflowModelFiles = map[string]string{
	"model/MLmodel":    "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    sklearn_version: 1.5.1\n",
	"model/model.pkl":  "not really a pickle",
	"model/conda.yaml": "dependencies: [python=3.11]\n",
}

// TestModelCLI registers models with mlw model as a user of az ml model
// would (a local folder, a remote path, a YAML file), lists, shows,
// archives and deletes them, and finds them in the workspace's MLflow
// registry, and MLflow's model in mlw model.
func TestModelCLI(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
	s.MustRun(t, "configure", "--defaults", "group=rg1", "workspace=ws1")
	jcWrite(t, s.WorkDir, mlflowModelFiles)
	jcWrite(t, s.WorkDir, map[string]string{"remote.yml": `$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
name: remote-model
version: 7
path: azureml://datastores/workspaceartifactstore/paths/ExperimentRun/dcid.some_job/model
type: mlflow_model
description: from a job
tags: {team: lab}
`})

	// A local folder is uploaded once; the same content again uploads nothing.
	var v map[string]any
	stdout, stderr, code := s.Run("model", "create", "--name", "diabetes", "--path", "model", "--type", "mlflow_model", "-o", "json")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "Model files uploaded: ")
	require.Contains(t, stderr, "models:/diabetes/1")
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	require.Equal(t, "1", v["version"])
	require.Equal(t, "mlflow_model", v["type"])
	require.Contains(t, v["path"], "/workspaces/ws1/datastores/workspaceblobstore/paths/LocalUpload/")
	_, stderr, code = s.Run("model", "create", "--name", "diabetes", "--path", "model", "--type", "mlflow_model", "--tag", "run=2")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "Model files unchanged")
	s.MustRunJSON(t, &v, "model", "create", "--file", "remote.yml")
	require.Equal(t, "7", v["version"])
	require.Equal(t, map[string]any{"team": "lab"}, v["tags"])

	// Lists and shows, in each output shape.
	var names []string
	s.MustRunJSON(t, &names, "model", "list", "--query", "[].name")
	require.ElementsMatch(t, []string{"diabetes", "remote-model"}, names)
	table := s.MustRun(t, "model", "list", "--name", "diabetes", "--output", "table")
	require.Contains(t, table, "mlflow_model")
	s.MustRunJSON(t, &v, "model", "show", "--name", "diabetes")
	require.Equal(t, "2", v["version"], "the latest")
	require.Equal(t, map[string]any{"run": "2"}, v["tags"])
	s.MustRunREST(t, &v, "model", "show", "--name", "remote-model", "--version", "7")
	require.Equal(t, "from a job", v["properties"].(map[string]any)["description"])
	yml := s.MustRun(t, "model", "show", "--name", "diabetes", "--version", "1", "-o", "yaml")
	require.Contains(t, yml, "type: mlflow_model")

	// MLflow sees them: its registry is the same.
	base := "/mlflow/v1.0" + s.WorkspacePath("rg1", "ws1") + "/api/2.0/mlflow/"
	r := s.Do(t, http.MethodGet, base+"model-versions/get?"+url.Values{"name": {"remote-model"}, "version": {"7"}}.Encode(), nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Equal(t, "mlflow-artifacts:/ExperimentRun/dcid.some_job/model", r.JSON(t)["model_version"].(map[string]any)["source"])
	// … and what MLflow registers is a model here.
	r = s.Do(t, http.MethodPost, base+"registered-models/create", map[string]any{"name": "from-mlflow"})
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	r = s.Do(t, http.MethodPost, base+"model-versions/create", map[string]any{"name": "from-mlflow", "source": "mlflow-artifacts:/ExperimentRun/dcid.other/model"})
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	s.MustRunJSON(t, &v, "model", "show", "--name", "from-mlflow")
	require.Equal(t, "1", v["version"])
	require.Equal(t, "mlflow_model", v["type"])
	require.True(t, strings.HasSuffix(v["path"].(string), "/datastores/workspaceartifactstore/paths/ExperimentRun/dcid.other/model"), v["path"])

	// Archive hides a version from lists; restore brings it back.
	_, stderr, code = s.Run("model", "archive", "--name", "diabetes", "--version", "1")
	require.Zero(t, code, stderr)
	var versions []string
	s.MustRunJSON(t, &versions, "model", "list", "--name", "diabetes", "--query", "[].version")
	require.Equal(t, []string{"2"}, versions)
	s.MustRunJSON(t, &versions, "model", "list", "--name", "diabetes", "--include-archived", "--query", "[].version")
	require.ElementsMatch(t, []string{"1", "2"}, versions)
	s.MustRun(t, "model", "restore", "--name", "diabetes", "--version", "1")
	s.MustRunJSON(t, &versions, "model", "list", "--name", "diabetes", "--query", "[].version")
	require.Len(t, versions, 2)

	// Errors name what to fix.
	_, stderr, code = s.Run("model", "create", "--name", "bad", "--path", "https://example.com/m", "--type", "sklearn")
	require.NotZero(t, code)
	require.Contains(t, stderr, "custom_model, mlflow_model, triton_model")
	require.NoError(t, os.MkdirAll(filepath.Join(s.WorkDir, "plain"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s.WorkDir, "plain", "m.bin"), []byte("x"), 0o644))
	_, stderr, code = s.Run("model", "create", "--name", "bad", "--path", "plain", "--type", "mlflow_model")
	require.NotZero(t, code)
	require.Contains(t, stderr, "MLmodel")
	_, stderr, code = s.Run("model", "show", "--name", "diabetes", "--version", "9")
	require.NotZero(t, code)
	require.Contains(t, stderr, "no version '9'")

	// Delete: one version, then the model, from both views.
	_, stderr, code = s.Run("model", "delete", "--name", "diabetes", "--version", "2")
	require.NotZero(t, code, "no terminal, no --yes")
	require.Contains(t, stderr, "--yes")
	s.MustRun(t, "model", "delete", "--name", "diabetes", "--version", "2", "--yes")
	s.MustRun(t, "model", "delete", "--name", "diabetes", "--yes")
	r = s.Do(t, http.MethodGet, base+"registered-models/get?name=diabetes", nil)
	require.Equal(t, http.StatusNotFound, r.StatusCode, r)
}

// trainModel is a job that leaves an MLflow model in ./outputs/model, as
// mlflow.sklearn.save_model would (mlflow is not installable here).
const trainModel = `import os
os.makedirs("outputs/model", exist_ok=True)
for name, body in {"MLmodel": "artifact_path: outputs/model\nflavors:\n  sklearn: {sklearn_version: 1.5.1}\n",
                   "model.pkl": "weights", "conda.yaml": "dependencies: [python=3.11]\n"}.items():
    with open(os.path.join("outputs/model", name), "w") as f:
        f.write(body)
print("MODEL SAVED")
`

// TestSDKModels registers models with Microsoft's SDK, unchanged, from a
// local folder and from a job's output, lists, gets, archives and
// downloads them, with a model MLflow registered among them; then finds
// the SDK's models through MLflow's REST API. Both SDK generations, on one
// server and one job.
func TestSDKModels(t *testing.T) {
	t.Parallel()
	s, proj := jobCLIEnvWith(t, Options{})
	t.Cleanup(func() { stopAndKillJobs(s) })
	jcWrite(t, proj, map[string]string{"modelsrc/train.py": trainModel, "modeljob.yml": `code: modelsrc
command: python train.py
environment: azureml:local-python:1
compute: azureml:cpu-cluster
experiment_name: models-e2e
`})
	stdout, stderr, code := s.Run("job", "create", "--file", filepath.Join(proj, "modeljob.yml"), "--name", "model_job", "--stream")
	require.Zero(t, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "MODEL SAVED")
	s.MustRun(t, "workspace", "download-config", "-n", "ws-cli", "-g", "rg-cli", "--path", "cfg")
	jcWrite(t, s.WorkDir, mlflowModelFiles)

	// The job logged its model with MLflow, which registers it.
	base := "/mlflow/v1.0" + s.WorkspacePath("rg-cli", "ws-cli") + "/api/2.0/mlflow/"
	for _, call := range []struct {
		path string
		body map[string]any
	}{
		{"runs/log-model", map[string]any{"run_id": "model_job", "model_json": `{"artifact_path": "outputs/model", "flavors": {"sklearn": {"sklearn_version": "1.5.1"}}}`}},
		{"registered-models/create", map[string]any{"name": "from-mlflow"}},
		{"model-versions/create", map[string]any{"name": "from-mlflow", "source": "runs:/model_job/outputs/model", "run_id": "model_job"}},
	} {
		r := s.Do(t, http.MethodPost, base+call.path, call.body)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
	}

	ForEachSDK(t, func(t *testing.T, sdk SDK) {
		prefix := "v" + strings.ReplaceAll(sdk.Version, ".", "") + "-"
		out := s.RunPython(t, sdk.Env(t, s), "testdata/sdk_models/sdk_models.py", filepath.Join(s.WorkDir, "cfg"), prefix,
			filepath.Join(s.WorkDir, "model"), "model_job", t.TempDir())
		require.Contains(t, out, "SDK MODELS OK", out)

		// What the SDK registered, through MLflow's REST API.
		r := s.Do(t, http.MethodGet, base+"model-versions/search?"+url.Values{"filter": {"name = '" + prefix + "diabetes-job'"}}.Encode(), nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		vs := r.JSON(t)["model_versions"].([]any)
		require.Len(t, vs, 2)
		for _, v := range vs {
			mv := v.(map[string]any)
			require.Equal(t, "mlflow-artifacts:/ExperimentRun/dcid.model_job/outputs/model", mv["source"])
			require.Equal(t, "model_job", mv["run_id"])
		}
		r = s.Do(t, http.MethodGet, base+"registered-models/get?name="+prefix+"diabetes-local", nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		rm := r.JSON(t)["registered_model"].(map[string]any)
		require.Equal(t, "2", rm["latest_versions"].([]any)[0].(map[string]any)["version"])
	})
}

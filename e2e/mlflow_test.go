package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// trainMLflow is a training script that tracks with MLflow's REST API over
// requests, as the mlflow package would (it is not installable here): it
// reads the run the job is, logs a param, a metric's history, a batch and
// an artifact, and checks that its token opens nothing but MLflow.
const trainMLflow = `import os, time, requests
uri = os.environ["MLFLOW_TRACKING_URI"]
run = os.environ["MLFLOW_RUN_ID"]
# As mlflow's http_request does: the token as a bearer token, the CA passed
# with each request (a session's verify loses to REQUESTS_CA_BUNDLE).
class Session:
    def __init__(self):
        self.h = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]}
        self.ca = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
    def __getattr__(self, method):
        return lambda url, **kw: requests.request(method.upper(), url, headers=self.h, verify=self.ca, **kw)
s = Session()
api = uri + "/api/2.0/mlflow/"
def post(path, body):
    r = s.post(api + path, json=body)
    assert r.status_code == 200, (path, r.status_code, r.text)
r = s.get(api + "runs/get", params={"run_id": run})
assert r.status_code == 200, r.text
info = r.json()["run"]["info"]
assert info["experiment_id"] == os.environ["MLFLOW_EXPERIMENT_ID"], info
now = int(time.time() * 1000)
post("runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.01"})
for step in range(3):
    post("runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0 / (step + 1), "timestamp": now + step, "step": step})
post("runs/log-batch", {"run_id": run, "metrics": [{"key": "acc", "value": 0.9, "timestamp": now, "step": 0}],
     "params": [{"key": "model", "value": "svm"}], "tags": [{"key": "team", "value": "lab"}]})
path = info["artifact_uri"][len("mlflow-artifacts:"):].lstrip("/")
r = s.put(uri + "/api/2.0/mlflow-artifacts/artifacts/" + path + "/model/MLmodel", data=b"flavors: {}\n")
assert r.status_code == 200, r.text
other = s.get(uri.split("/mlflow/")[0] + "/subscriptions")
print("MLFLOW_OK", info["status"], "arm:", other.status_code)
`

func TestMLflowJobTracksIntoItsRun(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		mlflowJob(t, Options{})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		mlflowJob(t, Options{Database: pgtest.URL(t)})
	})
}

func mlflowJob(t *testing.T, opts Options) {
	s, proj := jobCLIEnvWith(t, opts)
	t.Cleanup(func() { stopAndKillJobs(s) })
	jcWrite(t, proj, map[string]string{
		"mlsrc/train.py": trainMLflow,
		"mljob.yml": `code: mlsrc
command: python train.py
environment: azureml:local-python:1
compute: azureml:cpu-cluster
experiment_name: mlflow-e2e
display_name: tracked
`,
	})
	stdout, stderr, code := s.Run("job", "create", "--file", filepath.Join(proj, "mljob.yml"), "--name", "tracked_run", "--stream")
	require.Zero(t, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "MLFLOW_OK RUNNING arm: 403")

	// mlw job show has the latest metrics.
	var shown map[string]any
	s.MustRunREST(t, &shown, "job", "show", "tracked_run")
	require.Equal(t, map[string]any{"acc": 0.9, "loss": 1.0 / 3}, shown["properties"].(map[string]any)["metrics"])
	table := s.MustRun(t, "job", "show", "tracked_run", "--metrics", "--output", "table")
	require.Contains(t, table, "loss")
	require.Contains(t, table, "0.9")

	// The run, read back through the API as another client would.
	ws := s.WorkspacePath("rg-cli", "ws-cli")
	base := "/mlflow/v1.0" + ws + "/api/2.0/mlflow/"
	exp := s.Do(t, http.MethodGet, base+"experiments/get-by-name?experiment_name=mlflow-e2e", nil)
	require.Equal(t, http.StatusOK, exp.StatusCode, exp)
	expID := exp.JSON(t)["experiment"].(map[string]any)["experiment_id"].(string)
	found := s.Do(t, http.MethodPost, base+"runs/search", map[string]any{"experiment_ids": []string{expID},
		"filter": "metrics.acc > 0.5 AND params.model = 'svm' AND tags.team = 'lab'", "order_by": []string{"metrics.loss"}})
	require.Equal(t, http.StatusOK, found.StatusCode, found)
	runs := found.JSON(t)["runs"].([]any)
	require.Len(t, runs, 1)
	info := runs[0].(map[string]any)["info"].(map[string]any)
	require.Equal(t, "tracked_run", info["run_id"])
	require.Equal(t, "tracked", info["run_name"])
	require.Equal(t, "FINISHED", info["status"], "the run ends with the job")
	hist := s.Do(t, http.MethodGet, base+"metrics/get-history?run_id=tracked_run&metric_key=loss", nil)
	require.Equal(t, http.StatusOK, hist.StatusCode, hist)
	require.Len(t, hist.JSON(t)["metrics"], 3)
	art := s.Do(t, http.MethodGet, "/mlflow/v1.0"+ws+"/api/2.0/mlflow-artifacts/artifacts/ExperimentRun/dcid.tracked_run/model/MLmodel", nil)
	require.Equal(t, http.StatusOK, art.StatusCode, art)
	listed := s.Do(t, http.MethodGet, base+"artifacts/list?"+url.Values{"run_id": {"tracked_run"}}.Encode(), nil)
	require.Equal(t, http.StatusOK, listed.StatusCode, listed)
	require.Contains(t, listed.String(), `"path":"model"`)
	require.Contains(t, listed.String(), `"path":"user_logs"`, "the job's logs are artifacts of its run")

	// Jobs' tracking tokens are signed, and derive from one API token of
	// their user: no token row per job.
	toks := s.Do(t, http.MethodGet, "/mlw/v1/users/admin/tokens", nil)
	require.Equal(t, http.StatusOK, toks.StatusCode, toks)
	require.Equal(t, 1, strings.Count(toks.String(), "mlflow tracking of jobs"), toks.String())
}

// TestMLflowEnv: mlw env prints what the stock mlflow client needs for the
// default workspace, and it works.
func TestMLflowEnv(t *testing.T) {
	t.Parallel()
	s, _ := jobCLIEnv(t)
	out := s.MustRun(t, "env")
	vars := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	require.True(t, strings.HasPrefix(vars["MLFLOW_TRACKING_URI"], "https://"), out)
	require.True(t, strings.HasSuffix(vars["MLFLOW_TRACKING_URI"], "/workspaces/ws-cli"), out)
	require.NotEmpty(t, vars["MLFLOW_TRACKING_TOKEN"])
	require.NotEmpty(t, vars["MLFLOW_TRACKING_SERVER_CERT_PATH"])
	req, err := http.NewRequest(http.MethodGet, vars["MLFLOW_TRACKING_URI"]+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+vars["MLFLOW_TRACKING_TOKEN"])
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"name":"Default"`)
}

// TestMLflowOnComputeInstance: a job inside a compute instance (its
// namespaces, its user) tracks with the same client; the instance itself
// has the tracking variables for its user.
func TestMLflowOnComputeInstance(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	r := s.Do(t, http.MethodPut, e.ws+"/computes/ci-ml", map[string]any{"location": "eastus", "properties": map[string]any{
		"computeType": "ComputeInstance", "properties": map[string]any{"vmSize": "STANDARD_DS1_V2"}}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	s.AwaitDoc(t, e.ws+"/computes/ci-ml", func(doc map[string]any) error {
		if st := clusterProps(doc)["state"]; st != "Running" {
			return fmt.Errorf("instance is %v", st)
		}
		return nil
	})
	dir := t.TempDir()
	jcWrite(t, dir, map[string]string{"train.py": trainMLflow})
	code := e.uploadCode(t, dir)
	e.submit(t, "ci_tracked", map[string]any{"computeId": e.ws + "/computes/ci-ml", "codeId": code, "experimentName": "on-ci",
		"command": `python3 train.py && echo "uri=$MLFLOW_TRACKING_URI"`})
	e.awaitJob(t, "ci_tracked", "Completed")
	log := e.userLog(t, "ci_tracked")
	require.Contains(t, log, "MLFLOW_OK RUNNING arm: 403", log)
	require.Contains(t, log, "uri=https://")
	got := s.Do(t, http.MethodGet, "/mlflow/v1.0"+e.ws+"/api/2.0/mlflow/runs/get?run_id=ci_tracked", nil)
	require.Equal(t, http.StatusOK, got.StatusCode, got)
	require.Contains(t, got.String(), `"status":"FINISHED"`)
	require.Contains(t, got.String(), `"key":"acc","value":0.9`)

	// A shell of the instance (a notebook's environment) tracks with no
	// set-up: the variables are its user's.
	ie := &instanceEnv{Server: s, rg: e.rg, ws: e.name}
	t.Cleanup(func() { stopAndKillJobs(s) })
	conn, _, err := ie.terminal(t, "ci-ml", s.Token())
	require.NoError(t, err)
	out := termRun(t, conn, `python3 -c 'import os, requests; r = requests.get(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "on-ci"}, headers={"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]}, verify=os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]); print("ci-mlflow", r.status_code, r.json()["experiment"]["name"])'; echo done-$((1+1))-ml`, "done-2-ml")
	require.Contains(t, out, "ci-mlflow 200 on-ci")
}

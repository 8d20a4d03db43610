package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// studioMetricsPy logs with MLflow's REST API over requests, as the mlflow
// package would (it is not installable here), into the run its job is:
// params lr and optimizer, loss and accuracy at steps 0 to steps-1 (after
// the first three it waits, when told to, until its run has the tag
// continue=yes), throughput logged four times at step 0 (charted against
// time), final_auc once (a value, not a curve) and, when told to, big:
// 100,000 points.
const studioMetricsPy = `import math, os, sys, time, requests
uri, run = os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_RUN_ID"]
h = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]}
ca = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
api = uri + "/api/2.0/mlflow/"
def post(path, body):
    r = requests.post(api + path, json=body, headers=h, verify=ca)
    assert r.status_code == 200, (path, r.status_code, r.text)
def tags():
    r = requests.get(api + "runs/get", params={"run_id": run}, headers=h, verify=ca)
    return {t["key"]: t["value"] for t in r.json()["run"]["data"].get("tags", [])}
lr, steps, mode = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
now = int(time.time() * 1000)
post("runs/log-batch", {"run_id": run, "params": [{"key": "lr", "value": sys.argv[1]}, {"key": "optimizer", "value": "adam"}]})
def loss(s):
    return 1.0 / (1 + lr * 10 * s)
def log(lo, hi):
    post("runs/log-batch", {"run_id": run, "metrics": [m for s in range(lo, hi) for m in (
        {"key": "loss", "value": loss(s), "step": s, "timestamp": now + s},
        {"key": "accuracy", "value": 1 - loss(s) / 2, "step": s, "timestamp": now + s})]})
log(0, 3)
if mode == "wait":
    print("waiting for continue=yes", flush=True)
    while tags().get("continue") != "yes":
        time.sleep(0.2)
log(3, steps)
for i in range(4):
    post("runs/log-metric", {"run_id": run, "key": "throughput", "value": 100 + 10 * i + 100 * lr, "step": 0, "timestamp": now + 1000 * i})
post("runs/log-metric", {"run_id": run, "key": "final_auc", "value": round(0.8 + lr, 4), "step": 0, "timestamp": now})
if mode == "big":
    for b in range(100):
        post("runs/log-batch", {"run_id": run, "metrics": [{"key": "big", "value": math.exp(-s / 30000) + 0.05 * math.sin(s / 2000), "step": s, "timestamp": now}
                                                        for s in range(b * 1000, (b + 1) * 1000)]})
print("logged", flush=True)
`

// TestStudioMetrics drives a job's Metrics tab and the compare page in
// Debian's chromium against a real server and real jobs that log with
// MLflow: the charts of a running job grow without a reload; a metric
// logged at step 0 only is charted against time; one logged once is a row
// of the values table; a history of 100,000 points arrives sampled; a job
// that logged nothing says how to log; jobs selected in the Jobs list, and
// an experiment's runs, compare with a line per run and their params and
// final metrics side by side. Screenshots under e2e/artifacts.
func TestStudioMetrics(t *testing.T) {
	t.Parallel()
	RequireBrowser(t)
	s := StartServer(t, Options{})
	RequireStudio(t, s)
	e := newJobsEnv(t, s)
	// Nothing to install: the system's Python, which has requests.
	r := s.Do(t, http.MethodPut, e.ws+"/environments/py/versions/1", map[string]any{"properties": map[string]any{
		"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04", "condaFile": "dependencies:\n  - python=3.11\n  - pip\n"}})
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.StatusCode, r)
	code := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.MkdirAll(code, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(code, "train.py"), []byte(studioMetricsPy), 0o644))
	codeID := e.uploadCode(t, code)
	e.putCluster(t, "cpu", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"minNodeCount": 0, "maxNodeCount": 2}})
	const exp = "metrics-exp"
	job := func(name, display, args string) {
		e.submit(t, name, map[string]any{"command": "python train.py " + args, "codeId": codeID, "environmentId": "azureml:py:1",
			"computeId": e.ws + "/computes/cpu", "experimentName": exp, "displayName": display})
	}
	job("metrics_done", "done run", "0.05 20 big")
	e.submit(t, "metrics_none", map[string]any{"command": "echo no metrics", "environmentId": "azureml:py:1",
		"computeId": e.ws + "/computes/cpu", "experimentName": exp, "displayName": "quiet run"})
	e.awaitJob(t, "metrics_done", "Completed")
	e.awaitJob(t, "metrics_none", "Completed")
	job("metrics_live", "live run", "0.01 20 wait")
	e.awaitJob(t, "metrics_live", "Running")

	var link struct{ URL string }
	s.MustRunJSON(t, &link, "studio", "--no-browser")
	sub := strings.Split(strings.TrimPrefix(e.ws, "/subscriptions/"), "/")[0]
	var out studioMetricsOut
	RunBrowser(t, "studio-metrics", map[string]any{
		"signInUrl": link.URL, "wsUrl": s.URL + "/studio/ws/" + sub + "/" + e.rg + "/" + e.name,
		"live": "metrics_live", "done": "metrics_done", "none": "metrics_none", "experiment": exp,
		"mlflowApi": "/mlflow/v1.0" + e.ws + "/api/2.0/mlflow", "screenshots": Artifacts(t), "timeoutMs": 60_000,
	}, &out)
	checkStudioMetrics(t, &out)
	e.awaitJob(t, "metrics_live", "Completed")
}

// studioMetricsOut is what e2e/browser/src/studio-metrics.ts reports.
type studioMetricsOut struct {
	Live struct {
		Before, After int
		Reloaded      bool
		Watched       bool     // the tab followed the run with the studio's watch
		Charts        []string // data-metric of each chart, in order
		Axes          map[string]string
		Scalars       []string
		LossLast      string
		Tooltip       string
		Status        string
	}
	Big struct {
		Points   int
		LastStep string
	}
	Empty   string
	Compare struct {
		URL           string
		Runs          []string // series' runs of the loss chart
		Legend        []string
		Params        map[string]string // a row's text by name
		Differs       []string
		Metrics       map[string]string
		OnlyDiffers   []string
		FromExpChosen []string
	}
}

func checkStudioMetrics(t *testing.T, out *studioMetricsOut) {
	t.Helper()
	lv := out.Live
	require.Equal(t, 3, lv.Before, "the running job's first three points")
	require.Equal(t, 20, lv.After, "the chart grew as the job logged")
	require.False(t, lv.Reloaded, "live, not by a reload")
	require.True(t, lv.Watched, "followed with GET /mlw/v1/watch?path=…/runs/get")
	require.Equal(t, []string{"accuracy", "loss", "throughput"}, lv.Charts, "a chart per metric with a history; final_auc is a value")
	require.Equal(t, map[string]string{"accuracy": "step", "loss": "step", "throughput": "time"}, lv.Axes)
	require.Equal(t, []string{"final_auc 0.81"}, lv.Scalars)
	last, err := strconv.ParseFloat(lv.LossLast, 64)
	require.NoError(t, err)
	require.InDelta(t, 1/2.9, last, 1e-9, "loss at step 19")
	require.Contains(t, lv.Tooltip, "step")
	require.Equal(t, "Completed", lv.Status)
	require.Positive(t, out.Big.Points)
	require.LessOrEqual(t, out.Big.Points, 500, "100,000 points sampled on the server")
	require.Equal(t, "99999", out.Big.LastStep, "the last point is kept")
	require.Contains(t, out.Empty, "This job logged no metrics")
	require.Contains(t, out.Empty, "mlflow.log_metric")

	c := out.Compare
	u, err := url.Parse(c.URL)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"metrics_live", "metrics_done"}, strings.Split(u.Query().Get("runs"), ","))
	require.ElementsMatch(t, []string{"metrics_live", "metrics_done"}, c.Runs)
	require.Len(t, c.Legend, 2)
	require.Contains(t, strings.Join(c.Legend, "|"), "live run")
	require.Contains(t, strings.Join(c.Legend, "|"), "done run")
	require.Contains(t, c.Params["lr"], "0.01")
	require.Contains(t, c.Params["lr"], "0.05")
	require.Contains(t, c.Params["optimizer"], "adam")
	require.Contains(t, c.Differs, "lr")
	require.NotContains(t, c.Differs, "optimizer")
	require.Contains(t, c.Metrics["final_auc"], "0.81")
	require.Contains(t, c.Metrics["final_auc"], "0.85")
	require.Contains(t, c.Metrics["big"], "—", "the live run has no big")
	require.NotContains(t, c.OnlyDiffers, "optimizer")
	require.Contains(t, c.OnlyDiffers, "lr")
	require.ElementsMatch(t, []string{"metrics_live", "metrics_done", "metrics_none"}, c.FromExpChosen, "an experiment's newest runs")
}

// TestStudioMLflowSession: the studio reads the MLflow API with its session
// cookie, with the workspace's access checks (a user with no role there
// reads nothing, a Reader reads and writes nothing) and the CSRF check on
// POST, which runs/search is.
func TestStudioMLflowSession(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg-ml", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-ml", "-g", "rg-ml")
	api := "/mlflow/v1.0" + s.WorkspacePath("rg-ml", "ws-ml") + "/api/2.0/mlflow/"
	r := s.Do(t, http.MethodPost, api+"runs/create", map[string]any{"experiment_id": "0"})
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	run := r.JSON(t)["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	r = s.Do(t, http.MethodPost, api+"runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": 0.5, "timestamp": 1, "step": 1})
	require.Equal(t, http.StatusOK, r.StatusCode, r)

	tok := s.CreateUserWithPassword(t, "rita", "None", "rita-pass-1")
	c := s.StudioSignIn(t, tok)
	csrf := s.StudioSession(t, c)["csrfToken"].(string)
	get := api + "runs/get?run_id=" + run
	r = s.AsBrowser(t, http.MethodGet, get, nil, c, "")
	require.Equal(t, http.StatusForbidden, r.StatusCode, "no role in the workspace: %s", r)
	require.Equal(t, "PERMISSION_DENIED", r.JSON(t)["error_code"])

	s.MustRun(t, "role", "assignment", "create", "--assignee", "rita", "--role", "reader", "-g", "rg-ml", "-w", "ws-ml")
	r = s.AsBrowser(t, http.MethodGet, get, nil, c, "")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	r = s.AsBrowser(t, http.MethodGet, api+"metrics/get-history-bulk-interval?run_ids="+run+"&metric_key=loss&max_results=500", nil, c, "")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Len(t, r.JSON(t)["metrics"], 1)
	search := map[string]any{"experiment_ids": []string{"0"}}
	r = s.AsBrowser(t, http.MethodPost, api+"runs/search", search, c, "")
	require.Equal(t, http.StatusForbidden, r.StatusCode, "a POST without the CSRF token: %s", r)
	r = s.AsBrowser(t, http.MethodPost, api+"runs/search", search, c, csrf)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Len(t, r.JSON(t)["runs"], 1)
	r = s.AsBrowser(t, http.MethodPost, api+"runs/set-tag", map[string]any{"run_id": run, "key": "k", "value": "v"}, c, csrf)
	require.Equal(t, http.StatusForbidden, r.StatusCode, "a Reader logs nothing: %s", r)
	require.Equal(t, "PERMISSION_DENIED", r.JSON(t)["error_code"])
}

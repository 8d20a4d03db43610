package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
)

// mlflowBundle is a real API served over TLS with two workspaces, and the
// tracking URI of the first, as MLflow clients use it.
type mlflowBundle struct {
	*apiBundle
	srv        *httptest.Server
	uri, uriB  string // tracking URIs of ws-a and ws-b
	wsA, wsB   string
	scientist  string
	reader     string
	stranger   string
	httpClient *http.Client
}

func setupMLflow(t *testing.T) *mlflowBundle {
	t.Helper()
	b := setupAPI(t)
	wsA, wsB := b.twoWorkspaces(t)
	srv := httptest.NewTLSServer(b.api)
	t.Cleanup(srv.Close)
	m := &mlflowBundle{apiBundle: b, srv: srv, wsA: wsA, wsB: wsB, httpClient: srv.Client()}
	doc := b.mustDo(t, b.admin, "GET", wsA, nil, http.StatusOK)
	m.uri = doc["properties"].(map[string]any)["mlFlowTrackingUri"].(string)
	m.uriB = strings.Replace(m.uri, "rg-a", "rg-b", 1)
	m.uriB = strings.Replace(m.uriB, "ws-a", "ws-b", 1)
	// The advertised URI names the host the client used; this test's
	// server listens elsewhere.
	u, err := url.Parse(m.uri)
	require.NoError(t, err)
	m.uri = srv.URL + u.Path
	m.uriB = srv.URL + strings.TrimPrefix(m.uriB, u.Scheme+"://"+u.Host)
	m.scientist = b.mustUser(t, "sci", "")
	m.reader = b.mustUser(t, "rdr", "")
	m.stranger = b.mustUser(t, "str", "")
	b.assign(t, "sci", identity.RoleDataScientist, wsA)
	b.assign(t, "rdr", identity.RoleReader, wsA)
	return m
}

// call sends an MLflow request (a JSON body for POST, a query for GET) and
// returns the status and the decoded answer.
func (m *mlflowBundle) call(t *testing.T, token, method, base, endpoint string, body any) (int, map[string]any) {
	t.Helper()
	u := base + endpoint
	var rd io.Reader
	if q, ok := body.(url.Values); ok {
		u += "?" + q.Encode()
	} else if body != nil {
		j, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := m.httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]any{}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	} else if len(raw) > 0 {
		out["raw"] = string(raw)
	}
	return resp.StatusCode, out
}

// ok calls and requires 200.
func (m *mlflowBundle) ok(t *testing.T, method, endpoint string, body any) map[string]any {
	t.Helper()
	code, out := m.call(t, m.scientist, method, m.uri, endpoint, body)
	require.Equal(t, http.StatusOK, code, "%s %s: %v", method, endpoint, out)
	return out
}

// fails calls and requires MLflow's error with the code, status and a
// message containing msg.
func (m *mlflowBundle) fails(t *testing.T, token, method, endpoint string, body any, status int, code, msg string) {
	t.Helper()
	got, out := m.call(t, token, method, m.uri, endpoint, body)
	require.Equal(t, status, got, "%s %s: %v", method, endpoint, out)
	require.Equal(t, code, out["error_code"], "%s %s: %v", method, endpoint, out)
	require.Contains(t, out["message"], msg, "%s %s", method, endpoint)
}

const api2 = "/api/2.0/mlflow/"

func TestMLflowTrackingURI(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	code, doc := m.call(t, m.admin, "GET", m.srv.URL, m.wsA, nil)
	require.Equal(t, http.StatusOK, code)
	uri := doc["properties"].(map[string]any)["mlFlowTrackingUri"].(string)
	require.Equal(t, m.srv.URL+"/mlflow/v1.0"+core.WorkspacePath(testSub, "rg-a", "ws-a"), uri)
	require.True(t, strings.HasPrefix(uri, "https://"), uri)
	require.Equal(t, m.uri, uri)
	// What mlw does not serve answers in MLflow's shape too.
	m.fails(t, m.scientist, "POST", api2+"traces/search", map[string]any{}, 404, "ENDPOINT_NOT_FOUND", "No API")
}

func TestMLflowExperiments(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	id := m.ok(t, "POST", api2+"experiments/create", map[string]any{"name": "lab", "tags": []map[string]string{{"key": "team", "value": "a"}}})["experiment_id"]
	require.Equal(t, "1", id)
	m.fails(t, m.scientist, "POST", api2+"experiments/create", map[string]any{"name": "lab"}, 400, "RESOURCE_ALREADY_EXISTS", "Experiment 'lab' already exists")
	m.fails(t, m.scientist, "POST", api2+"experiments/create", map[string]any{}, 400, "INVALID_PARAMETER_VALUE", "'name'")
	m.fails(t, m.scientist, "POST", api2+"experiments/create", map[string]any{"name": 5}, 400, "INVALID_PARAMETER_VALUE", "name")
	e := m.ok(t, "GET", api2+"experiments/get", url.Values{"experiment_id": {"1"}})["experiment"].(map[string]any)
	require.Equal(t, "lab", e["name"])
	require.Equal(t, "active", e["lifecycle_stage"])
	require.Equal(t, "mlflow-artifacts:/1", e["artifact_location"])
	require.Equal(t, []any{map[string]any{"key": "team", "value": "a"}}, e["tags"])
	m.fails(t, m.scientist, "GET", api2+"experiments/get", url.Values{"experiment_id": {"99"}}, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=99")
	e = m.ok(t, "GET", api2+"experiments/get-by-name", url.Values{"experiment_name": {"Default"}})["experiment"].(map[string]any)
	require.Equal(t, "0", e["experiment_id"])
	m.fails(t, m.scientist, "GET", api2+"experiments/get-by-name", url.Values{"experiment_name": {"nope"}}, 404, "RESOURCE_DOES_NOT_EXIST", "'nope'")
	m.ok(t, "POST", api2+"experiments/create", map[string]any{"name": "lab-2"})

	names := func(out map[string]any) []string {
		var ns []string
		for _, e := range out["experiments"].([]any) {
			ns = append(ns, e.(map[string]any)["name"].(string))
		}
		return ns
	}
	out := m.ok(t, "POST", api2+"experiments/search", map[string]any{"max_results": 2, "order_by": []string{"name"}})
	require.Equal(t, []string{"Default", "lab"}, names(out))
	out = m.ok(t, "POST", api2+"experiments/search", map[string]any{"max_results": 2, "order_by": []string{"name"}, "page_token": out["next_page_token"]})
	require.Equal(t, []string{"lab-2"}, names(out))
	require.Nil(t, out["next_page_token"])
	out = m.ok(t, "GET", api2+"experiments/search", url.Values{"filter": {"name LIKE 'lab%' AND tags.team = 'a'"}})
	require.Equal(t, []string{"lab"}, names(out))
	m.fails(t, m.scientist, "POST", api2+"experiments/search", map[string]any{"page_token": "garbage"}, 400, "INVALID_PARAMETER_VALUE", "page token")
	m.fails(t, m.scientist, "POST", api2+"experiments/search", map[string]any{"filter": "name = lab"}, 400, "INVALID_PARAMETER_VALUE", "'lab'")
	m.fails(t, m.scientist, "POST", api2+"experiments/search", map[string]any{"order_by": []string{"name SIDEWAYS"}}, 400, "INVALID_PARAMETER_VALUE", "SIDEWAYS")

	m.ok(t, "POST", api2+"experiments/update", map[string]any{"experiment_id": "2", "new_name": "lab-two"})
	m.fails(t, m.scientist, "POST", api2+"experiments/update", map[string]any{"experiment_id": "2", "new_name": "lab"}, 400, "RESOURCE_ALREADY_EXISTS", "lab")
	m.ok(t, "POST", api2+"experiments/set-experiment-tag", map[string]any{"experiment_id": "2", "key": "k", "value": "v"})
	m.ok(t, "POST", api2+"experiments/delete", map[string]any{"experiment_id": "2"})
	require.Equal(t, []string{"Default", "lab"}, names(m.ok(t, "POST", api2+"experiments/search", map[string]any{"order_by": []string{"name"}})))
	require.Equal(t, []string{"lab-two"}, names(m.ok(t, "POST", api2+"experiments/search", map[string]any{"view_type": "DELETED_ONLY"})))
	m.fails(t, m.scientist, "POST", api2+"experiments/create", map[string]any{"name": "lab-two"}, 400, "RESOURCE_ALREADY_EXISTS", "lab-two")
	m.ok(t, "POST", api2+"experiments/restore", map[string]any{"experiment_id": "2"})
	m.fails(t, m.scientist, "POST", api2+"experiments/delete", map[string]any{"experiment_id": "0"}, 400, "INVALID_PARAMETER_VALUE", "default experiment")
	m.fails(t, m.scientist, "POST", api2+"experiments/delete", map[string]any{"experiment_id": "77"}, 404, "RESOURCE_DOES_NOT_EXIST", "77")
}

func TestMLflowRuns(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	exp := m.ok(t, "POST", api2+"experiments/create", map[string]any{"name": "lab"})["experiment_id"]
	run := m.ok(t, "POST", api2+"runs/create", map[string]any{"experiment_id": exp, "run_name": "first", "start_time": 1000,
		"tags": []map[string]string{{"key": "mlflow.source.name", "value": "train.py"}}})["run"].(map[string]any)
	info := run["info"].(map[string]any)
	id := info["run_id"].(string)
	require.Len(t, id, 32)
	require.Equal(t, id, info["run_uuid"])
	require.Equal(t, "first", info["run_name"])
	require.Equal(t, "RUNNING", info["status"])
	require.Equal(t, "sci", info["user_id"])
	require.Equal(t, "mlflow-artifacts:/ExperimentRun/dcid."+id, info["artifact_uri"])
	require.EqualValues(t, 1000, info["start_time"])

	m.ok(t, "POST", api2+"runs/log-metric", map[string]any{"run_id": id, "key": "acc", "value": 0.5, "timestamp": 1, "step": 0})
	m.ok(t, "POST", api2+"runs/log-metric", map[string]any{"run_uuid": id, "key": "acc", "value": "0.75", "timestamp": "2", "step": "1"})
	m.ok(t, "POST", api2+"runs/log-metric", map[string]any{"run_id": id, "key": "loss", "value": "NaN", "timestamp": 1})
	m.ok(t, "POST", api2+"runs/log-parameter", map[string]any{"run_id": id, "key": "lr", "value": "0.01"})
	m.ok(t, "POST", api2+"runs/set-tag", map[string]any{"run_id": id, "key": "team", "value": "a"})
	m.ok(t, "POST", api2+"runs/set-tag", map[string]any{"run_id": id, "key": "gone", "value": "x"})
	m.ok(t, "POST", api2+"runs/delete-tag", map[string]any{"run_id": id, "key": "gone"})
	m.fails(t, m.scientist, "POST", api2+"runs/delete-tag", map[string]any{"run_id": id, "key": "gone"}, 404, "RESOURCE_DOES_NOT_EXIST", "No tag with name: gone")
	m.ok(t, "POST", api2+"runs/log-batch", map[string]any{"run_id": id,
		"metrics": []map[string]any{{"key": "f1", "value": 0.1, "timestamp": 5, "step": 0}, {"key": "f1", "value": 0.2, "timestamp": 6, "step": 1}},
		"params":  []map[string]any{{"key": "depth", "value": "3"}},
		"tags":    []map[string]any{{"key": "mlflow.runName", "value": "renamed"}}})
	m.ok(t, "POST", api2+"runs/log-inputs", map[string]any{"run_id": id, "datasets": []map[string]any{{
		"tags":    []map[string]string{{"key": "mlflow.data.context", "value": "training"}},
		"dataset": map[string]any{"name": "diabetes", "digest": "abc", "source_type": "local", "source": "{}"}}}})
	m.ok(t, "POST", api2+"runs/log-model", map[string]any{"run_id": id, "model_json": `{"artifact_path":"model","flavors":{}}`})

	m.fails(t, m.scientist, "POST", api2+"runs/log-parameter", map[string]any{"run_id": id, "key": "lr", "value": "0.02"}, 400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
	m.fails(t, m.scientist, "POST", api2+"runs/log-metric", map[string]any{"run_id": id, "key": "acc", "value": "high"}, 400, "INVALID_PARAMETER_VALUE", "metric value")
	m.fails(t, m.scientist, "POST", api2+"runs/log-metric", map[string]any{"run_id": id, "key": "acc"}, 400, "INVALID_PARAMETER_VALUE", "'value'")
	m.fails(t, m.scientist, "POST", api2+"runs/log-metric", map[string]any{"run_id": "nope", "key": "acc", "value": 1}, 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=nope not found")
	m.fails(t, m.scientist, "POST", api2+"runs/log-batch", map[string]any{"run_id": id, "params": []map[string]any{{"key": "../x", "value": "1"}}}, 400, "INVALID_PARAMETER_VALUE", "params.key")
	m.fails(t, m.scientist, "POST", api2+"runs/update", map[string]any{"run_id": id, "status": "DONE"}, 400, "INVALID_PARAMETER_VALUE", "status")

	got := m.ok(t, "GET", api2+"runs/get", url.Values{"run_id": {id}})["run"].(map[string]any)
	require.Equal(t, "renamed", got["info"].(map[string]any)["run_name"])
	data := got["data"].(map[string]any)
	metrics := map[string]any{}
	for _, x := range data["metrics"].([]any) {
		metrics[x.(map[string]any)["key"].(string)] = x.(map[string]any)["value"]
	}
	require.Equal(t, map[string]any{"acc": 0.75, "f1": 0.2, "loss": "NaN"}, metrics)
	require.Len(t, data["params"], 2)
	tags := map[string]string{}
	for _, x := range data["tags"].([]any) {
		tags[x.(map[string]any)["key"].(string)] = x.(map[string]any)["value"].(string)
	}
	require.Equal(t, "a", tags["team"])
	require.Equal(t, "sci", tags["mlflow.user"])
	require.Contains(t, tags["mlflow.log-model.history"], `"artifact_path":"model"`)
	require.NotContains(t, tags, "gone")
	require.Len(t, got["inputs"].(map[string]any)["dataset_inputs"], 1)

	h := m.ok(t, "GET", api2+"metrics/get-history", url.Values{"run_id": {id}, "metric_key": {"acc"}})
	require.Equal(t, []any{map[string]any{"key": "acc", "value": 0.5, "timestamp": 1.0, "step": 0.0}, map[string]any{"key": "acc", "value": 0.75, "timestamp": 2.0, "step": 1.0}}, h["metrics"])
	h = m.ok(t, "GET", api2+"metrics/get-history", url.Values{"run_id": {id}, "metric_key": {"acc"}, "max_results": {"1"}})
	require.Len(t, h["metrics"], 1)
	h = m.ok(t, "GET", api2+"metrics/get-history", url.Values{"run_id": {id}, "metric_key": {"acc"}, "max_results": {"1"}, "page_token": {h["next_page_token"].(string)}})
	require.Equal(t, 0.75, h["metrics"].([]any)[0].(map[string]any)["value"])
	require.Nil(t, h["next_page_token"])
	h = m.ok(t, "GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", url.Values{"run_ids": {id}, "metric_key": {"f1"}, "start_step": {"1"}, "end_step": {"5"}})
	require.Equal(t, []any{map[string]any{"key": "f1", "value": 0.2, "timestamp": 6.0, "step": 1.0, "run_id": id}}, h["metrics"])
	m.fails(t, m.scientist, "GET", api2+"metrics/get-history", url.Values{"run_id": {id}}, 400, "INVALID_PARAMETER_VALUE", "metric_key")

	end := m.ok(t, "POST", api2+"runs/update", map[string]any{"run_id": id, "status": "FINISHED", "end_time": 2000})["run_info"].(map[string]any)
	require.Equal(t, "FINISHED", end["status"])
	require.EqualValues(t, 2000, end["end_time"])
	m.ok(t, "POST", api2+"runs/delete", map[string]any{"run_id": id})
	m.fails(t, m.scientist, "POST", api2+"runs/set-tag", map[string]any{"run_id": id, "key": "a", "value": "b"}, 400, "INVALID_PARAMETER_VALUE", "'active' state")
	m.ok(t, "POST", api2+"runs/restore", map[string]any{"run_id": id})
	m.ok(t, "POST", api2+"runs/set-tag", map[string]any{"run_id": id, "key": "a", "value": "b"})
}

func TestMLflowSearchRuns(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	exp := m.ok(t, "POST", api2+"experiments/create", map[string]any{"name": "lab"})["experiment_id"]
	ids := map[string]string{}
	for i := range 5 {
		run := m.ok(t, "POST", api2+"runs/create", map[string]any{"experiment_id": exp, "run_name": fmt.Sprintf("run-%d", i), "start_time": 100 + i})
		id := run["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
		ids[fmt.Sprintf("run-%d", i)] = id
		m.ok(t, "POST", api2+"runs/log-batch", map[string]any{"run_id": id,
			"metrics": []map[string]any{{"key": "acc", "value": float64(i) / 10, "timestamp": 1}},
			"params":  []map[string]any{{"key": "model", "value": []string{"svm", "tree"}[i%2]}}})
	}
	names := func(body map[string]any) []string {
		body["experiment_ids"] = []any{exp}
		out := m.ok(t, "POST", api2+"runs/search", body)
		ns := []string{}
		if out["runs"] == nil {
			return ns
		}
		for _, r := range out["runs"].([]any) {
			ns = append(ns, r.(map[string]any)["info"].(map[string]any)["run_name"].(string))
		}
		return ns
	}
	for _, tc := range []struct {
		filter string
		order  []string
		want   []string
	}{
		{"", nil, []string{"run-4", "run-3", "run-2", "run-1", "run-0"}},
		{"metrics.acc > 0.2", []string{"metrics.acc ASC"}, []string{"run-3", "run-4"}},
		{"metrics.acc >= 0.2 AND params.model = 'svm'", nil, []string{"run-4", "run-2"}},
		{"params.model != 'svm'", nil, []string{"run-3", "run-1"}},
		{"params.model LIKE 'tr%'", nil, []string{"run-3", "run-1"}},
		{"params.model ILIKE 'TR%'", nil, []string{"run-3", "run-1"}},
		{"attributes.run_name IN ('run-0', 'run-4')", nil, []string{"run-4", "run-0"}},
		{"attributes.run_name NOT IN ('run-0', 'run-4')", []string{"attributes.run_name"}, []string{"run-1", "run-2", "run-3"}},
		{"attributes.status = 'RUNNING' AND metrics.acc < 0.1", nil, []string{"run-0"}},
		{"attributes.run_id = '" + ids["run-2"] + "'", nil, []string{"run-2"}},
		{"tags.`mlflow.runName` = 'run-1'", nil, []string{"run-1"}},
		{"metrics.acc <= 0.1", []string{"metrics.acc DESC"}, []string{"run-1", "run-0"}},
	} {
		require.Equal(t, tc.want, names(map[string]any{"filter": tc.filter, "order_by": tc.order}), "%s %v", tc.filter, tc.order)
	}
	// Paging through with max_results 2.
	var all []string
	body := map[string]any{"experiment_ids": []any{exp}, "max_results": 2}
	for {
		out := m.ok(t, "POST", api2+"runs/search", body)
		for _, r := range out["runs"].([]any) {
			all = append(all, r.(map[string]any)["info"].(map[string]any)["run_name"].(string))
		}
		next, _ := out["next_page_token"].(string)
		if next == "" {
			break
		}
		body["page_token"] = next
	}
	require.Equal(t, []string{"run-4", "run-3", "run-2", "run-1", "run-0"}, all)
	for _, bad := range []struct{ filter, msg string }{
		{"metrics.acc > 'x'", "'x' is not a number"},
		{"params.model = svm", "'svm'"},
		{"metrics.acc > 1 OR metrics.acc < 0", "OR is not supported"},
		{"nonsense.x = 'a'", "unknown entity \"nonsense\""},
		{"params.model", "expected a comparison operator after 'params.model'"},
	} {
		m.fails(t, m.scientist, "POST", api2+"runs/search", map[string]any{"experiment_ids": []any{exp}, "filter": bad.filter}, 400, "INVALID_PARAMETER_VALUE", bad.msg)
	}
	m.fails(t, m.scientist, "POST", api2+"runs/search", map[string]any{"experiment_ids": []any{exp}, "max_results": 50001}, 400, "INVALID_PARAMETER_VALUE", "max_results")
	m.fails(t, m.scientist, "POST", api2+"runs/search", map[string]any{"experiment_ids": []any{exp}, "run_view_type": "SOME"}, 400, "INVALID_PARAMETER_VALUE", "run_view_type")
}

func TestMLflowAccess(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	exp := m.ok(t, "POST", api2+"experiments/create", map[string]any{"name": "lab"})["experiment_id"]
	id := m.ok(t, "POST", api2+"runs/create", map[string]any{"experiment_id": exp})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	// Readers read and search, never write.
	code, _ := m.call(t, m.reader, "GET", m.uri, api2+"runs/get", url.Values{"run_id": {id}})
	require.Equal(t, http.StatusOK, code)
	code, _ = m.call(t, m.reader, "POST", m.uri, api2+"runs/search", map[string]any{"experiment_ids": []any{exp}})
	require.Equal(t, http.StatusOK, code)
	m.fails(t, m.reader, "POST", api2+"runs/log-metric", map[string]any{"run_id": id, "key": "a", "value": 1}, 403, "PERMISSION_DENIED", "AzureML Data Scientist")
	m.fails(t, m.reader, "POST", api2+"experiments/create", map[string]any{"name": "x"}, 403, "PERMISSION_DENIED", "rdr")
	m.fails(t, m.reader, "PUT", "/api/2.0/mlflow-artifacts/artifacts/ExperimentRun/dcid."+id+"/a.txt", nil, 403, "PERMISSION_DENIED", "rdr")
	// No role in the workspace, no token, a bad token.
	m.fails(t, m.stranger, "GET", api2+"runs/get", url.Values{"run_id": {id}}, 403, "PERMISSION_DENIED", "no role")
	m.fails(t, "", "GET", api2+"runs/get", url.Values{"run_id": {id}}, 401, "UNAUTHENTICATED", "Bearer")
	m.fails(t, "mlw_nope", "GET", api2+"runs/get", url.Values{"run_id": {id}}, 401, "UNAUTHENTICATED", "not known")
	// Another workspace has its own experiments and runs.
	code, out := m.call(t, m.admin, "GET", m.uriB, api2+"runs/get", url.Values{"run_id": {id}})
	require.Equal(t, http.StatusNotFound, code, out)
	require.Equal(t, "RESOURCE_DOES_NOT_EXIST", out["error_code"])
	code, out = m.call(t, m.admin, "GET", m.uriB, api2+"experiments/get", url.Values{"experiment_id": {exp.(string)}})
	require.Equal(t, http.StatusNotFound, code, out)
	code, _ = m.call(t, m.scientist, "GET", m.uriB, api2+"experiments/get", url.Values{"experiment_id": {"0"}})
	require.Equal(t, http.StatusForbidden, code)
	// A tracking token works on its workspace's MLflow API only.
	u, err := m.st.GetUserByName(m.ctx, "sci")
	require.NoError(t, err)
	plain, hash := identity.NewToken()
	require.NoError(t, m.st.CreateToken(m.ctx, &resource.Token{Hash: hash, UserID: u.ID, Label: "job", Scope: TrackingScopePrefix + m.wsA}))
	code, _ = m.call(t, plain, "POST", m.uri, api2+"runs/log-metric", map[string]any{"run_id": id, "key": "a", "value": 1})
	require.Equal(t, http.StatusOK, code)
	rec := m.do(t, plain, "GET", m.wsA+"/jobs", nil)
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "MLflow tracking token")
	m.assign(t, "sci", identity.RoleDataScientist, m.wsB)
	code, out = m.call(t, plain, "GET", m.uriB, api2+"experiments/get", url.Values{"experiment_id": {"0"}})
	require.Equal(t, http.StatusForbidden, code, out)
}

func TestMLflowArtifacts(t *testing.T) {
	t.Parallel()
	m := setupMLflow(t)
	const art = "/api/2.0/mlflow-artifacts/artifacts/"
	put := func(p, body string) (int, map[string]any) {
		req, err := http.NewRequest("PUT", m.uri+art+p, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+m.scientist)
		resp, err := m.httpClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := put("ExperimentRun/dcid.r1/model/MLmodel", "flavors: {}\n")
	require.Equal(t, http.StatusOK, code, out)
	code, _ = put("ExperimentRun/dcid.r1/metrics.json", `{"a":1}`)
	require.Equal(t, http.StatusOK, code)
	code, out = m.call(t, m.reader, "GET", m.uri, art+"ExperimentRun/dcid.r1/model/MLmodel", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "flavors: {}\n", out["raw"])
	list := m.ok(t, "GET", strings.TrimSuffix(art, "/"), url.Values{"path": {"ExperimentRun/dcid.r1"}})
	require.Equal(t, []any{map[string]any{"path": "model", "is_dir": true}, map[string]any{"path": "metrics.json", "is_dir": false, "file_size": 7.0}}, list["files"])
	list = m.ok(t, "GET", strings.TrimSuffix(art, "/"), url.Values{"path": {"ExperimentRun/dcid.none"}})
	require.Equal(t, []any{}, list["files"])
	for _, bad := range []string{"ExperimentRun/../../etc/passwd", "ExperimentRun/%2e%2e/x", "a//b"} {
		code, out = put(bad, "x")
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", bad, out)
		require.Equal(t, "INVALID_PARAMETER_VALUE", out["error_code"], bad)
	}
	m.fails(t, m.scientist, "GET", art+"ExperimentRun/dcid.r1/none", nil, 404, "RESOURCE_DOES_NOT_EXIST", "none")
	m.fails(t, m.scientist, "GET", art+"ExperimentRun/dcid.r1/model", nil, 404, "RESOURCE_DOES_NOT_EXIST", "model")
	code, _ = m.call(t, m.scientist, "DELETE", m.uri, art+"ExperimentRun/dcid.r1/model", nil)
	require.Equal(t, http.StatusOK, code)
	list = m.ok(t, "GET", strings.TrimSuffix(art, "/"), url.Values{"path": {"ExperimentRun/dcid.r1"}})
	require.Len(t, list["files"], 1)
}

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// jobsEnv is a workspace ready for jobs: the group, the workspace and the
// paths tests use.
type jobsEnv struct {
	s    *Server
	ws   string // ARM path of the workspace
	rg   string
	name string
}

func newJobsEnv(t *testing.T, s *Server) *jobsEnv {
	t.Helper()
	s.MustRun(t, "group", "create", "-n", "rg-jobs", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-jobs", "-g", "rg-jobs")
	return &jobsEnv{s: s, ws: s.WorkspacePath("rg-jobs", "ws-jobs"), rg: "rg-jobs", name: "ws-jobs"}
}

// putCluster creates or updates a cluster with an SDK-shaped body and
// waits for its operation.
func (e *jobsEnv) putCluster(t *testing.T, name string, props map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"location": "eastus", "properties": map[string]any{"computeType": "AmlCompute", "properties": props}}
	r := e.s.Do(t, http.MethodPut, e.ws+"/computes/"+name, body)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.StatusCode, r)
	if async := r.Header.Get("Azure-AsyncOperation"); async != "" {
		op := e.s.AwaitOperation(t, relative(t, async))
		require.Equal(t, "Succeeded", op["status"], op)
	}
	r = e.s.Do(t, http.MethodGet, e.ws+"/computes/"+name, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	return r.JSON(t)
}

// uploadCode uploads a folder as the SDK does (content-addressed, under
// LocalUpload/<hash>/<folder>/ of workspaceblobstore, through the Blob
// API) and registers a code version; it returns the codeId.
func (e *jobsEnv) uploadCode(t *testing.T, dir string) string {
	t.Helper()
	r := e.s.Do(t, http.MethodGet, e.ws+"/datastores/workspaceblobstore", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	props := r.JSON(t)["properties"].(map[string]any)
	account := strings.TrimSuffix(props["accountName"].(string), "/?x=")
	account = account[strings.LastIndex(account, "/")+1:]
	container := props["containerName"].(string)

	var files []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return err
	}))
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
	}
	hash := hex.EncodeToString(h.Sum(nil))[:32]
	prefix := "LocalUpload/" + hash + "/" + filepath.Base(dir)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, f)
		req := e.s.NewRequest(t, http.MethodPut, "/blob/"+account+"/"+container+"/"+prefix+"/"+filepath.ToSlash(rel), b)
		req.Header.Set("x-ms-blob-type", "BlockBlob")
		req.Header.Set("x-ms-version", "2021-12-02")
		req.Header.Set("Content-Type", "application/octet-stream")
		resp := e.s.Send(t, req)
		require.Equal(t, http.StatusCreated, resp.StatusCode, resp)
	}
	codeName := uuid.NewString()
	codeURI := e.s.URL + "/blob/" + account + "/" + container + "/" + prefix
	r = e.s.Do(t, http.MethodPut, e.ws+"/codes/"+codeName+"/versions/1", map[string]any{"properties": map[string]any{
		"properties": map[string]any{"hash_sha256": hash, "hash_version": "202208"}, "isAnonymous": true, "codeUri": codeURI}})
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.StatusCode, r)
	return e.ws + "/codes/" + codeName + "/versions/1"
}

// submit PUTs a command job as the SDK does and returns its document.
func (e *jobsEnv) submit(t *testing.T, name string, props map[string]any) map[string]any {
	t.Helper()
	p := map[string]any{"jobType": "Command", "environmentId": "azureml:AzureML-sklearn-1.5@latest",
		"isArchived": false, "properties": map[string]any{}, "tags": map[string]any{}, "environmentVariables": map[string]any{},
		"inputs": map[string]any{}, "outputs": map[string]any{}}
	for k, v := range props {
		p[k] = v
	}
	r := e.s.Do(t, http.MethodPut, e.ws+"/jobs/"+name, map[string]any{"properties": p})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	return r.JSON(t)
}

func jobStatus(doc map[string]any) string {
	s, _ := doc["properties"].(map[string]any)["status"].(string)
	return s
}

// awaitJob waits until a job reaches status and returns it.
func (e *jobsEnv) awaitJob(t *testing.T, name, status string) map[string]any {
	t.Helper()
	return e.s.AwaitDoc(t, e.ws+"/jobs/"+name, func(doc map[string]any) error {
		got := jobStatus(doc)
		if got == status {
			return nil
		}
		if got == "Completed" || got == "Failed" || got == "Canceled" {
			t.Fatalf("job %s ended %s, want %s: %v", name, got, status, doc["properties"].(map[string]any)["mlw"])
		}
		return fmt.Errorf("status %s", got)
	})
}

// userLog reads a job's log as the SDK's jobs.stream does: run details,
// then the logFiles URL without credentials.
func (e *jobsEnv) userLog(t *testing.T, name string) string {
	t.Helper()
	r := e.s.Do(t, http.MethodGet, "/history/v1.0"+e.ws+"/runs/"+name+"/details", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	logs, _ := r.JSON(t)["logFiles"].(map[string]any)
	u, ok := logs["user_logs/std_log.txt"].(string)
	require.True(t, ok, "no user_logs/std_log.txt in %v", logs)
	resp, err := e.s.HTTPClient().Get(u) // no Authorization, as the SDK
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

func clusterProps(doc map[string]any) map[string]any {
	return doc["properties"].(map[string]any)["properties"].(map[string]any)
}

// TestClusterJobLab is the DP-100 compute lab with the real binary: a
// cluster created as the SDK creates it, scaled with a body that carries
// a different default size, a scikit-learn training job on
// AzureML-sklearn-1.5@latest; the cluster grows from 0 to 1 node, the job
// completes with both figures in its log, and the cluster shrinks back to
// 0 once its (shortened) idle time has passed.
func TestClusterJobLab(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 with python3-sklearn and python3-pandas")
	}
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)

	doc := e.putCluster(t, "aml-cluster", map[string]any{"osType": "Linux", "vmSize": "STANDARD_DS11_V2", "vmPriority": "Dedicated",
		"scaleSettings": map[string]any{"maxNodeCount": 1, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT120S"},
		"remoteLoginPortPublicAccess": "NotSpecified", "enableNodePublicIp": true})
	p := clusterProps(doc)
	require.Equal(t, "Succeeded", doc["properties"].(map[string]any)["provisioningState"])
	require.EqualValues(t, 0, p["currentNodeCount"])
	require.Equal(t, "Steady", p["allocationState"])

	// begin_create_or_update(AmlCompute(name="aml-cluster", max_instances=2)):
	// the SDK fills in its own default size.
	doc = e.putCluster(t, "aml-cluster", map[string]any{"osType": "Linux", "vmSize": "STANDARD_DS3_V2",
		"scaleSettings": map[string]any{"maxNodeCount": 2, "minNodeCount": 0}, "remoteLoginPortPublicAccess": "NotSpecified", "enableNodePublicIp": true})
	p = clusterProps(doc)
	require.Equal(t, "STANDARD_DS11_V2", p["vmSize"], "the size is fixed at creation")
	require.EqualValues(t, 2, p["scaleSettings"].(map[string]any)["maxNodeCount"])
	require.Equal(t, "PT120S", p["scaleSettings"].(map[string]any)["nodeIdleTimeBeforeScaleDown"], "an update that leaves the idle time out keeps it")

	codeID := e.uploadCode(t, filepath.Join("testdata", "diabetes-training"))
	job := e.submit(t, "diabetes_train_lab", map[string]any{"command": "python diabetes-training.py", "codeId": codeID,
		"computeId": e.ws + "/computes/aml-cluster", "displayName": "diabetes-train-cluster", "experimentName": "diabetes-training"})
	jp := job["properties"].(map[string]any)
	require.Equal(t, "NotStarted", jp["status"])
	studio := jp["services"].(map[string]any)["Studio"].(map[string]any)["endpoint"].(string)
	require.Contains(t, studio, "?", "the SDK appends &tid=")
	require.NotContains(t, studio, "tid=")
	require.Equal(t, "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.diabetes_train_lab",
		jp["outputs"].(map[string]any)["default"].(map[string]any)["uri"])

	// The cluster grows to one node for the job.
	s.AwaitDoc(t, e.ws+"/computes/aml-cluster", func(doc map[string]any) error {
		if n := clusterProps(doc)["currentNodeCount"]; n != float64(1) {
			return fmt.Errorf("currentNodeCount %v", n)
		}
		return nil
	})
	done := e.awaitJob(t, "diabetes_train_lab", "Completed")
	m := done["properties"].(map[string]any)["mlw"].(map[string]any)
	var phases []string
	for _, ph := range m["phases"].([]any) {
		phases = append(phases, ph.(map[string]any)["status"].(string))
	}
	require.Equal(t, []string{"NotStarted", "Queued", "Preparing", "Running", "Finalizing", "Completed"}, phases)
	log := e.userLog(t, "diabetes_train_lab")
	require.Contains(t, log, "Accuracy:")
	require.Contains(t, log, "AUC:")

	r := s.Do(t, http.MethodPost, e.ws+"/computes/aml-cluster/listNodes", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	nodes := r.JSON(t)["nodes"].([]any)
	require.Len(t, nodes, 1)
	require.Equal(t, "idle", nodes[0].(map[string]any)["nodeState"])

	// The studio link opens a page.
	resp, err := s.HTTPClient().Get(studio + "&tid=00000000-0000-0000-0000-000000000000")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Shorten the idle time: the node goes, the cluster is back to 0.
	r = s.Do(t, http.MethodPatch, e.ws+"/computes/aml-cluster", map[string]any{"properties": map[string]any{"properties": map[string]any{
		"scaleSettings": map[string]any{"maxNodeCount": 2, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT1S"}}}})
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	s.AwaitDoc(t, e.ws+"/computes/aml-cluster", func(doc map[string]any) error {
		p := clusterProps(doc)
		if n := p["currentNodeCount"]; n != float64(0) || p["allocationState"] != "Steady" {
			return fmt.Errorf("currentNodeCount %v, %v: %v", n, p["allocationState"], p["scaleReason"])
		}
		if !strings.Contains(fmt.Sprint(p["scaleReason"]), "Scaling down by 1 to 0 node(s)") {
			return fmt.Errorf("scaleReason %q", p["scaleReason"])
		}
		return nil
	})
}

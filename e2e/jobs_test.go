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
	// Jobs and node agents outlive the server by design; the test's must
	// not outlive the test.
	t.Cleanup(func() { stopAndKillJobs(s) })
	s.MustRun(t, "group", "create", "-n", "rg-jobs", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-jobs", "-g", "rg-jobs")
	return &jobsEnv{s: s, ws: s.WorkspacePath("rg-jobs", "ws-jobs"), rg: "rg-jobs", name: "ws-jobs"}
}

// stopAndKillJobs stops the server (which would otherwise go on starting
// node agents), then kills what its jobs left running.
func stopAndKillJobs(s *Server) {
	if s.Running() {
		s.Stop()
	}
	killJobProcesses(s.Dir)
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
// then the logFiles URL without credentials ("" while there is no log).
func (e *jobsEnv) userLog(t *testing.T, name string) string {
	t.Helper()
	r := e.s.Do(t, http.MethodGet, "/history/v1.0"+e.ws+"/runs/"+name+"/details", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	logs, _ := r.JSON(t)["logFiles"].(map[string]any)
	u, ok := logs["user_logs/std_log.txt"].(string)
	if !ok {
		return ""
	}
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
		"scaleSettings":               map[string]any{"maxNodeCount": 1, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT120S"},
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

	codeID := e.uploadCode(t, filepath.Join("..", "examples", "diabetes-training", "src"))
	job := e.submit(t, "diabetes_train_lab", map[string]any{"command": "python train.py", "codeId": codeID,
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

// TestJobSurvivesServerRestart: a running job keeps running while the
// server is stopped (SIGTERM) or killed (SIGKILL); after the restart its
// log is complete, its final status right, and a job queued behind it
// runs too.
func TestJobSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stop func(*Server)
	}{
		{"SIGTERM", (*Server).Stop},
		{"SIGKILL", (*Server).Kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := StartServer(t, Options{})
			e := newJobsEnv(t, s)
			e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
			e.submit(t, "long", map[string]any{"command": `echo before; while [ ! -f go ]; do sleep 0.05; done; echo after`,
				"computeId": "c1"})
			e.submit(t, "queued", map[string]any{"command": "echo queued ran", "computeId": "c1"})
			e.awaitJob(t, "long", "Running")
			Await(t, "the job to log", func() error {
				if !strings.Contains(e.userLog(t, "long"), "before") {
					return errNotYet
				}
				return nil
			})
			require.Equal(t, "Queued", jobStatus(s.Do(t, http.MethodGet, e.ws+"/jobs/queued", nil).JSON(t)))
			gate := filepath.Join(s.JobWorkDir(t, "long"), "go")

			tc.stop(s)
			require.NoError(t, os.WriteFile(gate, nil, 0o644)) // the job goes on without a server
			s.Start()

			done := e.awaitJob(t, "long", "Completed")
			require.EqualValues(t, 1, done["properties"].(map[string]any)["mlw"].(map[string]any)["attempt"], "not run twice")
			log := e.userLog(t, "long")
			require.Equal(t, 1, strings.Count(log, "before"))
			require.Contains(t, log, "after")
			e.awaitJob(t, "queued", "Completed")
			require.Contains(t, e.userLog(t, "queued"), "queued ran")
		})
	}
}

// TestJobCancelIsLongRunning: cancel answers 202 with a Location that
// answers 202 while the job stops and 200 once it has; the process tree is
// gone.
func TestJobCancelIsLongRunning(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
	e.submit(t, "sleeper", map[string]any{"command": `sleep 300 & echo $! > pid; wait`, "computeId": "c1"})
	e.awaitJob(t, "sleeper", "Running")
	pidFile := filepath.Join(s.JobWorkDir(t, "sleeper"), "pid")
	Await(t, "the job's child to start", func() error {
		if b, err := os.ReadFile(pidFile); err != nil || len(b) == 0 {
			return errNotYet
		}
		return nil
	})
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid := strings.TrimSpace(string(b))

	r := s.Do(t, http.MethodPost, e.ws+"/jobs/sleeper/cancel", nil)
	require.Equal(t, http.StatusAccepted, r.StatusCode, r)
	require.Equal(t, "1", r.Header.Get("Retry-After"))
	loc := relative(t, r.Header.Get("Location"))
	Await(t, "the cancel to finish", func() error {
		r := s.Do(t, http.MethodGet, loc, nil)
		switch r.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusAccepted:
			return errNotYet
		}
		return fmt.Errorf("%v", r)
	})
	doc := s.Do(t, http.MethodGet, e.ws+"/jobs/sleeper", nil).JSON(t)
	require.Equal(t, "Canceled", jobStatus(doc))
	Await(t, "the job's child to die", func() error {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z") {
			return nil // gone, or a zombie of its dead parent
		}
		return fmt.Errorf("pid %s still runs", pid)
	})
	// Canceling again: the job has ended, 200 at once.
	r = s.Do(t, http.MethodPost, e.ws+"/jobs/sleeper/cancel", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
}

// TestJobLogFollow: mlw's log endpoint follows a log as it grows and ends
// with the job, giving the final status in a trailer; run history's
// signed log URLs refuse tampering.
func TestJobLogFollow(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
	e.submit(t, "talker", map[string]any{"command": `echo one; while [ ! -f go ]; do sleep 0.05; done; echo two; exit 4`,
		"computeId": "c1"})

	resp, err := s.HTTPClient().Do(s.NewRequest(t, http.MethodGet, e.ws+"/jobs/talker/logs/user_logs/std_log.txt?follow=true", nil))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	buf := make([]byte, 4)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	require.Equal(t, "one\n", string(buf), "output arrives while the job runs")
	require.NoError(t, os.WriteFile(filepath.Join(s.JobWorkDir(t, "talker"), "go"), nil, 0o644))
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "two\n", string(rest))
	require.Equal(t, "Failed", resp.Trailer.Get("Mlw-Job-Status"))

	doc := s.Do(t, http.MethodGet, e.ws+"/jobs/talker", nil).JSON(t)
	m := doc["properties"].(map[string]any)["mlw"].(map[string]any)
	require.EqualValues(t, 4, m["exitCode"])
	require.Contains(t, m["error"].(map[string]any)["message"], "exited with status code 4")

	// Run details: the error in run history's shape; log URLs signed.
	r := s.Do(t, http.MethodGet, "/history/v1.0"+e.ws+"/runs/talker/details", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	det := r.JSON(t)
	require.Equal(t, "Failed", det["status"])
	require.Equal(t, "c1", det["target"])
	require.Contains(t, det["error"].(map[string]any)["error"].(map[string]any)["message"], "status code 4")
	u := det["logFiles"].(map[string]any)["user_logs/std_log.txt"].(string)
	forged := strings.Replace(u, "/runlogs/", "/runlogs/x", 1)
	fr, err := s.HTTPClient().Get(forged)
	require.NoError(t, err)
	fr.Body.Close()
	require.Equal(t, http.StatusForbidden, fr.StatusCode)
	r = s.Do(t, http.MethodGet, e.ws+"/jobs/talker/logs", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Contains(t, string(r.Body), "system_logs/lifecycler/execution-wrapper.log")
}

// TestJobSubmitErrors: what is wrong with a job is a 400 that names the
// field and says what to do.
func TestJobSubmitErrors(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
	put := func(name string, props map[string]any) ARMError {
		p := map[string]any{"jobType": "Command", "command": "true", "environmentId": "azureml:AzureML-sklearn-1.5@latest", "computeId": "c1"}
		for k, v := range props {
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		r := s.Do(t, http.MethodPut, e.ws+"/jobs/"+name, map[string]any{"properties": p})
		require.Equal(t, http.StatusBadRequest, r.StatusCode, r)
		return r.Error(t)
	}
	err := put("j1", map[string]any{"computeId": e.ws + "/computes/nowhere"})
	require.Equal(t, "properties.computeId", err.Target)
	require.Contains(t, err.Message, "The compute 'nowhere' was not found")
	err = put("j2", map[string]any{"environmentId": "azureml:AzureML-no-such-env@latest"})
	require.Equal(t, "properties.environmentId", err.Target)
	require.Contains(t, err.Message, "AzureML-no-such-env")
	err = put("j3", map[string]any{"jobType": "Pipeline"})
	require.Equal(t, "properties.jobType", err.Target)
	err = put("j4", map[string]any{"resources": map[string]any{"instanceCount": 3}})
	require.Contains(t, err.Message, "at most 1 (maxNodeCount)")
	err = put("j5", map[string]any{"limits": map[string]any{"timeout": "soon"}})
	require.Equal(t, "properties.limits.timeout", err.Target)

	// The SDK's compute="azureml:c1" arrives as …/computes/azureml:c1.
	job := e.submit(t, "ok", map[string]any{"command": "true", "computeId": e.ws + "/computes/azureml:c1"})
	require.Equal(t, e.ws+"/computes/c1", job["properties"].(map[string]any)["computeId"])
	r := s.Do(t, http.MethodGet, e.ws+"/jobs/nope", nil)
	require.Equal(t, http.StatusNotFound, r.StatusCode, r)
}

// TestConcurrentJobSubmissions: jobs submitted at once through the API
// all run, each exactly once.
func TestConcurrentJobSubmissions(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 2}})
	const n = 30
	errs := make(chan error, n)
	for i := range n {
		go func() {
			body := map[string]any{"properties": map[string]any{"jobType": "Command", "command": `echo "ran $AZUREML_RUN_ID"`,
				"environmentId": "azureml:AzureML-sklearn-1.5@latest", "computeId": "c1"}}
			r := s.Do(t, http.MethodPut, fmt.Sprintf("%s/jobs/burst_%02d", e.ws, i), body)
			if r.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("%v", r)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	for i := range n {
		e.awaitJob(t, fmt.Sprintf("burst_%02d", i), "Completed")
	}
	for i := range n {
		name := fmt.Sprintf("burst_%02d", i)
		require.Equal(t, 1, strings.Count(e.userLog(t, name), "ran "+name+"\n"), "%s ran exactly once", name)
	}
}

// TestClusterJobLabCLI is the lab with the mlw CLI: the cluster created
// and scaled with `mlw compute`, the training job submitted with `mlw job
// create --stream`, whose output has both figures.
func TestClusterJobLabCLI(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 with python3-sklearn and python3-pandas")
	}
	s := StartServer(t, Options{})
	t.Cleanup(func() { stopAndKillJobs(s) })
	s.MustRun(t, "group", "create", "-n", "rg-lab", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-lab", "-g", "rg-lab")
	s.MustRun(t, "configure", "--defaults", "group=rg-lab", "workspace=ws-lab")
	s.MustRun(t, "compute", "create", "--name", "aml-cluster", "--type", "AmlCompute", "--size", "STANDARD_DS11_V2",
		"--min-instances", "0", "--max-instances", "1", "--idle-time-before-scale-down", "120", "--tier", "dedicated")
	s.MustRun(t, "compute", "update", "--name", "aml-cluster", "--max-instances", "2")
	var c map[string]any
	s.MustRunREST(t, &c, "compute", "show", "--name", "aml-cluster")
	p := clusterProps(c)
	require.Equal(t, "STANDARD_DS11_V2", p["vmSize"])
	require.EqualValues(t, 2, p["scaleSettings"].(map[string]any)["maxNodeCount"])

	src, err := filepath.Abs(filepath.Join("..", "examples", "diabetes-training", "src"))
	require.NoError(t, err)
	job := filepath.Join(s.WorkDir, "job.yml")
	require.NoError(t, os.WriteFile(job, []byte(`$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: `+src+`
command: python train.py
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:aml-cluster
display_name: diabetes-train-cluster
experiment_name: diabetes-training
`), 0o644))
	stdout, stderr, code := s.Run("job", "create", "--file", job, "--stream", "--name", "lab_cli")
	require.Zero(t, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "Accuracy:")
	require.Contains(t, stdout, "AUC:")

	var nodes []map[string]any
	s.MustRunJSON(t, &nodes, "compute", "list-nodes", "--name", "aml-cluster")
	require.Len(t, nodes, 1, "the cluster grew from 0 to 1 node")
	s.MustRun(t, "compute", "update", "--name", "aml-cluster", "--idle-time-before-scale-down", "1")
	Await(t, "the cluster to shrink to 0 nodes", func() error {
		s.MustRunJSON(t, &nodes, "compute", "list-nodes", "--name", "aml-cluster")
		if len(nodes) != 0 {
			return fmt.Errorf("%d nodes", len(nodes))
		}
		return nil
	})
}

// `mlw compute preempt-node` preempts a low-priority node: the job runs a
// second attempt, which finds what the first wrote to ./checkpoints.
func TestPreemptNodeCLI(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	e.putCluster(t, "low", map[string]any{"vmSize": "STANDARD_DS1_V2", "vmPriority": "LowPriority", "scaleSettings": map[string]any{"maxNodeCount": 1}})
	e.submit(t, "resumable", map[string]any{"computeId": "low",
		"command": `if [ -f checkpoints/step ]; then echo "resumed at $(cat checkpoints/step) in attempt $MLW_ATTEMPT"; exit 0; fi; echo 1 > checkpoints/step; touch ready; sleep 300`})
	ready := filepath.Join(s.JobWorkDir(t, "resumable"), "ready")
	Await(t, "the first attempt's checkpoint", func() error {
		if _, err := os.Stat(ready); err != nil {
			return errNotYet
		}
		return nil
	})
	var nodes []map[string]any
	s.MustRunJSON(t, &nodes, "compute", "list-nodes", "--name", "low", "-g", e.rg, "-w", e.name)
	require.Len(t, nodes, 1)
	var out map[string]any
	s.MustRunJSON(t, &out, "compute", "preempt-node", "--name", "low", "--node-id", nodes[0]["node_id"].(string), "-g", e.rg, "-w", e.name)
	require.Equal(t, "PreemptionRequested", out["status"])
	e.awaitJob(t, "resumable", "Completed")
	log := s.MustRun(t, "job", "stream", "resumable", "-g", e.rg, "-w", e.name)
	require.Contains(t, log, "resumed at 1 in attempt 2")

	_, stderr, code := s.Run("compute", "preempt-node", "--name", "nosuch", "-g", e.rg, "-w", e.name)
	require.NotZero(t, code)
	require.Contains(t, stderr, "nosuch")
}

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// studioTrainPy is the code of TestStudioPages' job: it leaves a file in
// ./outputs and one in its named output.
const studioTrainPy = `import os, sys
os.makedirs("outputs", exist_ok=True)
open("outputs/result.txt", "w").write("accuracy=0.93\n")
model = sys.argv[1]
os.makedirs(model, exist_ok=True)
open(os.path.join(model, "model.txt"), "w").write("weights\n")
print("trained")
`

// TestStudioPages drives the studio's job, experiment, environment and
// cluster pages in Debian's chromium against a real server: a finished
// job's phase timeline says why it waited, its code snapshot opens as a
// tree with a file's text, an output downloads; the experiments list
// links to the jobs table filtered by it; a custom environment shows its
// build log; a cluster created in the studio is what the API holds; a
// low-priority cluster lists the attempt it preempted. Screenshots at
// desktop and narrow widths, light and dark, under e2e/artifacts.
func TestStudioPages(t *testing.T) {
	t.Parallel()
	RequireBrowser(t)
	s := StartServer(t, Options{})
	RequireStudio(t, s)
	e := newJobsEnv(t, s)

	// A custom environment whose one pip package Debian provides
	// (python3-yaml): built into a virtualenv without a download.
	const conda = "dependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - pyyaml\n"
	r := s.Do(t, http.MethodPut, e.ws+"/environments/yaml-env/versions/1", map[string]any{"properties": map[string]any{
		"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04", "condaFile": conda, "description": "PyYAML from Debian"}})
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.StatusCode, r)

	code := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.MkdirAll(filepath.Join(code, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(code, "train.py"), []byte(studioTrainPy), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(code, "data", "notes.md"), []byte("# notes\n"), 0o644))
	codeID := e.uploadCode(t, code)

	// min 0 nodes: the job waits while the cluster scales up, and says so.
	e.putCluster(t, "cpu", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"minNodeCount": 0, "maxNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT10S"}})
	const job = "studio_pages_job"
	e.submit(t, job, map[string]any{"command": "python train.py ${{outputs.model}}", "codeId": codeID, "environmentId": "azureml:yaml-env:1",
		"computeId": e.ws + "/computes/cpu", "experimentName": "studio-pages", "displayName": "studio pages",
		"outputs": map[string]any{"model": map[string]any{"jobOutputType": "uri_folder"}}})
	e.awaitJob(t, job, "Completed")

	// A low-priority cluster whose node is preempted under a running job:
	// the job runs again (attempt 2), then is canceled.
	e.putCluster(t, "spot", map[string]any{"vmSize": "STANDARD_DS1_V2", "vmPriority": "LowPriority", "scaleSettings": map[string]any{"minNodeCount": 0, "maxNodeCount": 1}})
	const spotJob = "spot_job"
	e.submit(t, spotJob, map[string]any{"command": "sleep 600", "environmentId": "azureml:yaml-env:1", "computeId": e.ws + "/computes/spot", "experimentName": "studio-pages"})
	e.awaitJob(t, spotJob, "Running")
	r = s.Do(t, http.MethodPost, e.ws+"/computes/spot/preemptNode", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	s.AwaitDoc(t, e.ws+"/jobs/"+spotJob, func(doc map[string]any) error {
		m, _ := doc["properties"].(map[string]any)["mlw"].(map[string]any)
		if jobStatus(doc) != "Running" || fmt.Sprint(m["attempt"]) != "2" {
			return fmt.Errorf("status %s, attempt %v", jobStatus(doc), m["attempt"])
		}
		return nil
	})
	r = s.Do(t, http.MethodPost, e.ws+"/jobs/"+spotJob+"/cancel", nil)
	require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, r.StatusCode, r)
	e.awaitJob(t, spotJob, "Canceled")

	var link struct{ URL string }
	s.MustRunJSON(t, &link, "studio", "--no-browser")
	sub := strings.Split(strings.TrimPrefix(e.ws, "/subscriptions/"), "/")[0]
	shots := Artifacts(t)
	var out struct {
		QueuedReason     string
		Phases           []string
		CodeTree         []string
		CodeText         string
		DownloadName     string
		DownloadText     string
		NamedOutputFiles []string
		ExperimentRow    string
		FilteredJobs     []string
		BuildStatus      string
		BuildLog         string
		ClusterRow       string
		PreemptionRows   []string
		NarrowNavHidden  bool
	}
	RunBrowser(t, "studio-more", map[string]any{
		"signInUrl": link.URL, "wsUrl": s.URL + "/studio/ws/" + sub + "/" + e.rg + "/" + e.name,
		"job": job, "experiment": "studio-pages", "environment": "yaml-env",
		"newCluster":       map[string]string{"name": "lowpri", "size": "Standard_DS1_v2", "max": "3", "idleSeconds": "60"},
		"preemptedCluster": "spot", "preemptedJob": spotJob,
		"screenshots": shots, "timeoutMs": 60_000,
	}, &out)

	require.Contains(t, out.QueuedReason, "Why it waited: Waiting for a node: cpu ", "the finished job says why it waited")
	require.Equal(t, []string{"NotStarted", "Queued", "Preparing", "Running", "Finalizing", "Completed"}, out.Phases)
	require.Equal(t, []string{"data", "data/notes.md", "train.py"}, out.CodeTree, "the snapshot as a tree, folders first")
	require.Contains(t, out.CodeText, `open("outputs/result.txt", "w")`)
	require.Equal(t, "result.txt", out.DownloadName)
	require.Equal(t, "accuracy=0.93\n", out.DownloadText)
	require.Equal(t, []string{"model.txt"}, out.NamedOutputFiles)
	require.Contains(t, out.ExperimentRow, "studio-pages")
	require.Contains(t, out.ExperimentRow, "2", "two jobs")
	require.ElementsMatch(t, []string{job, spotJob}, out.FilteredJobs)
	require.Equal(t, "Succeeded", out.BuildStatus, out.BuildLog)
	require.Contains(t, out.BuildLog, "Already installed on this machine (not downloaded): pyyaml")
	require.Contains(t, out.ClusterRow, "Low priority")
	require.Len(t, out.PreemptionRows, 1)
	require.Contains(t, out.PreemptionRows[0], "Requeued for another attempt")
	require.True(t, out.NarrowNavHidden, "the navigation folds at narrow widths")
	for _, f := range []string{"01-job-timeline", "02-job-code", "03-job-outputs", "04-experiments", "05-environment-build", "06-new-cluster",
		"07-cluster-created", "08-cluster-preemptions", "09-narrow-dark-timeline", "10-narrow-dark-code", "11-dark-outputs", "12-dark-cluster",
		"13-narrow-dark-environment", "14-narrow-experiments"} {
		require.FileExists(t, filepath.Join(shots, f+".png"))
	}

	// The cluster is what the studio's form said.
	doc := s.Do(t, http.MethodGet, e.ws+"/computes/lowpri", nil).JSON(t)
	p := doc["properties"].(map[string]any)["properties"].(map[string]any)
	require.Equal(t, "LowPriority", p["vmPriority"])
	require.True(t, strings.EqualFold("Standard_DS1_v2", p["vmSize"].(string)))
	ss := p["scaleSettings"].(map[string]any)
	require.EqualValues(t, 0, ss["minNodeCount"])
	require.EqualValues(t, 3, ss["maxNodeCount"])
	require.Equal(t, "PT60S", ss["nodeIdleTimeBeforeScaleDown"])
}

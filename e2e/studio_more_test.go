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
// low-priority cluster lists the attempt it preempted, and its scale
// settings edited in place are what the API then holds; the jobs table is
// searched on the server (one query per pause in typing); files made,
// uploaded into the current folder (asked before one is replaced),
// renamed and deleted in Notebooks are what the file share then holds; a
// re-submitted job appears with outputs of its own; sign-out ends the
// session. Screenshots at desktop and narrow widths, light and dark, under
// e2e/artifacts.
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
		QueuedReason        string
		Phases              []string
		CodeTree            []string
		CodeText            string
		DownloadName        string
		DownloadText        string
		NamedOutputFiles    []string
		ExperimentRow       string
		FilteredJobs        []string
		BuildStatus         string
		BuildLog            string
		ClusterRow          string
		PreemptionRows      []string
		NarrowNavHidden     bool
		ExperimentChosen    string
		SearchByDisplayName []string
		SearchByName        []string
		SearchNone          string
		SearchRequests      []string
		ScaleSaved          bool
		Files               struct {
			UploadFolder, Asked, AskedTwice string
			AfterUpload, Final              []string
			MenuClosedOutside               bool
		}
		Resubmitted       string
		ResubmittedInList bool
		SignedOut         struct {
			Form          bool
			SessionStatus int
		}
	}
	RunBrowser(t, "studio-more", map[string]any{
		"signInUrl": link.URL, "wsUrl": s.URL + "/studio/ws/" + sub + "/" + e.rg + "/" + e.name,
		"job": job, "experiment": "studio-pages", "environment": "yaml-env",
		"newCluster":       map[string]string{"name": "lowpri", "size": "Standard_DS1_v2", "max": "3", "idleSeconds": "60"},
		"preemptedCluster": "spot", "preemptedJob": spotJob, "user": "admin",
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
	require.Equal(t, "studio-pages", out.ExperimentChosen, "the Experiment picker shows the experiment the list opened")
	for _, f := range []string{"01-job-timeline", "02-job-code", "03-job-outputs", "04-experiments", "04b-jobs-search", "05-environment-build", "06-new-cluster",
		"07-cluster-created", "08-cluster-preemptions", "08b-cluster-scale-saved", "09-narrow-dark-timeline", "10-narrow-dark-code", "11-dark-outputs", "12-dark-cluster",
		"13-narrow-dark-environment", "14-narrow-experiments", "15-upload-asks", "16-notebooks-files", "17-resubmitted", "18-signed-out"} {
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

	// Search is the server's (mlwSearch), over display names and names,
	// asked once typing paused rather than at each keystroke.
	require.Equal(t, []string{job}, out.SearchByDisplayName)
	require.Equal(t, []string{spotJob}, out.SearchByName)
	require.Contains(t, out.SearchNone, "No jobs match")
	require.NotEmpty(t, out.SearchRequests)
	for _, q := range out.SearchRequests {
		require.Equal(t, "studio pages", q, "no query for a part of what was typed: %v", out.SearchRequests)
	}

	// The spot cluster's scale settings, edited on its page.
	require.True(t, out.ScaleSaved)
	ss = s.Do(t, http.MethodGet, e.ws+"/computes/spot", nil).JSON(t)["properties"].(map[string]any)["properties"].(map[string]any)["scaleSettings"].(map[string]any)
	require.EqualValues(t, 2, ss["maxNodeCount"])
	require.EqualValues(t, 0, ss["minNodeCount"])
	require.Equal(t, "PT300S", ss["nodeIdleTimeBeforeScaleDown"])

	// Notebooks: the upload went to the current folder (the new one), the
	// same name was asked about (replaced once, kept once), the rename and
	// the delete happened: what the file share holds now.
	const folder = "Users/admin/data-in"
	require.Equal(t, folder, out.Files.UploadFolder)
	require.Equal(t, []string{folder + "/a.txt", folder + "/b.csv"}, out.Files.AfterUpload)
	require.Contains(t, out.Files.Asked, "a.txt already exists in "+folder)
	require.Equal(t, "a.txt", out.Files.AskedTwice)
	require.Equal(t, []string{folder + "/c.txt", folder + "/renamed.txt"}, out.Files.Final)
	require.True(t, out.Files.MenuClosedOutside, "the Add files menu closes on a click outside it")
	var listing struct {
		Value []struct {
			Path        string
			IsDirectory bool
		}
	}
	s.Do(t, http.MethodGet, e.ws+"/files?path="+folder+"&recursive=true", nil).Decode(t, &listing)
	var held []string
	for _, f := range listing.Value {
		held = append(held, f.Path)
	}
	require.ElementsMatch(t, []string{folder + "/c.txt", folder + "/renamed.txt"}, held)
	for path, want := range map[string]string{"renamed.txt": "two\n", "c.txt": "three\n"} {
		r := s.Do(t, http.MethodGet, e.ws+"/files/"+folder+"/"+path, nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		require.Equal(t, want, string(r.Body), path)
	}

	// The re-submitted job: listed, the same command and display name, and
	// outputs of its own (the server filled them for the new name).
	require.True(t, out.ResubmittedInList)
	require.True(t, strings.HasPrefix(out.Resubmitted, job+"_r"), out.Resubmitted)
	again := s.Do(t, http.MethodGet, e.ws+"/jobs/"+out.Resubmitted, nil).JSON(t)["properties"].(map[string]any)
	first := s.Do(t, http.MethodGet, e.ws+"/jobs/"+job, nil).JSON(t)["properties"].(map[string]any)
	require.Equal(t, first["command"], again["command"])
	require.Equal(t, "studio pages", again["displayName"])
	uri := func(p map[string]any, name string) string {
		return p["outputs"].(map[string]any)[name].(map[string]any)["uri"].(string)
	}
	require.Equal(t, "azureml://datastores/workspaceblobstore/paths/azureml/"+out.Resubmitted+"/model/", uri(again, "model"))
	require.Equal(t, "azureml://datastores/workspaceblobstore/paths/azureml/"+job+"/model/", uri(first, "model"))
	require.Contains(t, uri(again, "default"), "dcid."+out.Resubmitted)

	// Sign-out: the sign-in form, and the session is over.
	require.True(t, out.SignedOut.Form)
	require.Equal(t, http.StatusUnauthorized, out.SignedOut.SessionStatus)
}

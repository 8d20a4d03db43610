package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSubmitJobUploadsCodeOnce(t *testing.T) {
	t.Parallel()
	fake, c := newFakeML(t)
	dir := jobDir(t)
	doc := `code: src
command: python train.py --data ${{inputs.data}}
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:aml-cluster
inputs:
  data: {type: uri_file, path: data.csv}
  folder: {type: uri_folder, path: data}
`
	ws := WorkspaceRef{Group: "rg", Name: "ws"}
	submit := func() (*SubmitResult, []string) {
		f, err := ParseJobFile("job.yml", []byte(doc), dir, JobFileOptions{})
		require.NoError(t, err)
		var notes []string
		res, err := c.SubmitJob(context.Background(), ws, f, SubmitOptions{Notef: func(format string, args ...any) {
			notes = append(notes, fmt.Sprintf(format, args...))
		}})
		require.NoError(t, err)
		return res, notes
	}

	first, notes := submit()
	puts, bytes := fake.counts()
	require.Equal(t, 3, puts, "train.py, data.csv and data/a.csv")
	require.Equal(t, int64(len("print('hi')\n")+2*len("a\n1\n")), bytes)
	require.Contains(t, notes[0], "Code uploaded: 12 B in 1 files (LocalUpload/"+first.Code.Snapshot.Hash+"/src)")

	job := fake.job(first.Job.Name)
	require.NotNil(t, job)
	p := job.Properties
	require.Equal(t, fake.ws+"/codes/"+first.Code.Name+"/versions/1", p.CodeID)
	require.Equal(t, "azureml:AzureML-sklearn-1.5@latest", p.EnvironmentID)
	require.Equal(t, fake.ws+"/computes/aml-cluster", p.ComputeID)
	require.Equal(t, "azureml://datastores/workspaceblobstore/paths/LocalUpload/"+first.Inputs["data"].Snapshot.Hash+"/data.csv", p.Inputs["data"].URI)
	require.Equal(t, "azureml://datastores/workspaceblobstore/paths/LocalUpload/"+first.Inputs["folder"].Snapshot.Hash+"/data/", p.Inputs["folder"].URI)

	// What azure-ai-ml looks for: completed metadata on the indicator file,
	// and a code version pointing at the upload.
	ind := fake.blobs["workspaceblobstore-container/LocalUpload/"+first.Code.Snapshot.Hash+"/src/train.py"]
	require.Equal(t, map[string]string{"upload_status": "completed", "name": first.Code.Name, "version": "1"}, ind.meta)
	code := fake.assets[p.CodeID]["properties"].(map[string]any)
	require.Equal(t, fake.srv.URL+"/blob/acct/workspaceblobstore-container/LocalUpload/"+first.Code.Snapshot.Hash+"/src", code["codeUri"])
	require.Equal(t, true, code["isAnonymous"])
	require.Equal(t, map[string]any{"hash_sha256": first.Code.Snapshot.ContentHash, "hash_version": "202208"}, code["properties"])

	second, notes := submit()
	puts2, bytes2 := fake.counts()
	require.Equal(t, puts, puts2, "unchanged code and inputs upload nothing")
	require.Equal(t, bytes, bytes2)
	require.True(t, second.Code.Unchanged)
	require.Equal(t, "Code unchanged: 0 bytes uploaded (LocalUpload/"+first.Code.Snapshot.Hash+"/src, 1 files, 12 B)", notes[0])
	require.Equal(t, first.Code.ID, second.Code.ID, "the asset of the first upload is reused")
	require.NotEqual(t, first.Job.Name, second.Job.Name)

	// Changed code is a new upload under a new hash.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "src", "train.py"), []byte("print('changed')\n"), 0o644))
	third, _ := submit()
	require.False(t, third.Code.Unchanged)
	require.NotEqual(t, first.Code.Snapshot.Hash, third.Code.Snapshot.Hash)
}

func TestUploadResumesPartialUpload(t *testing.T) {
	t.Parallel()
	fake, c := newFakeML(t)
	root := writeTree(t, "src", map[string]string{"a.py": "a", "b.py": "b"})
	snap, err := NewSnapshot(root, SnapshotLimits{})
	require.NoError(t, err)
	// An earlier upload died after its first file: no metadata.
	fake.putBlob("workspaceblobstore-container", snap.BlobName(snap.Files[0]), "a")
	up, err := c.UploadSnapshot(context.Background(), WorkspaceRef{"rg", "ws"}, snap, UploadOptions{})
	require.NoError(t, err)
	require.False(t, up.Unchanged)
	require.Equal(t, 2, up.FilesUploaded, "an unconfirmed upload is overwritten")
	require.Equal(t, "completed", fake.blobs["workspaceblobstore-container/"+snap.BlobName(snap.Files[0])].meta["upload_status"])
}

// TestUploadLargeFileInBlocks shrinks the Put Blob limit (so it does not
// run in parallel with other uploads).
func TestUploadLargeFileInBlocks(t *testing.T) {
	oldMax, oldBlock := blobSingleUploadMax, blobBlockSize
	blobSingleUploadMax, blobBlockSize = 1000, 300
	defer func() { blobSingleUploadMax, blobBlockSize = oldMax, oldBlock }()

	fake, c := newFakeML(t)
	big := strings.Repeat("0123456789", 250) // 2500 bytes: 9 blocks
	root := writeTree(t, "src", map[string]string{"big.bin": big, "small.txt": "s"})
	snap, err := NewSnapshot(root, SnapshotLimits{})
	require.NoError(t, err)
	var last, lastTotal int64 // Progress calls are serialized
	up, err := c.UploadSnapshot(context.Background(), WorkspaceRef{"rg", "ws"}, snap, UploadOptions{Progress: func(sent, total int64) {
		last, lastTotal = sent, total
	}})
	require.NoError(t, err)
	require.Equal(t, int64(2501), up.BytesUploaded)
	require.Equal(t, int64(2501), last, "progress reaches the total")
	require.Equal(t, int64(2501), lastTotal)
	require.Equal(t, big, string(fake.blobs["workspaceblobstore-container/"+snap.BlobName(snap.Files[0])].data))
	puts, _ := fake.counts()
	require.Equal(t, 9+1, puts, "nine blocks and one small blob")
}

func TestSubmitJobChecksTargets(t *testing.T) {
	t.Parallel()
	_, c := newFakeML(t)
	dir := jobDir(t)
	ws := WorkspaceRef{Group: "rg", Name: "ws"}
	tests := []struct{ name, doc, want string }{
		{"unknown compute", "command: x\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:nope\n",
			`job.yml: line 3: compute: the compute "nope" was not found in workspace ws. Create it (mlw compute create --name nope --type AmlCompute --size STANDARD_DS11_V2) or pick one from ` + "`mlw compute list`"},
		{"unknown environment version", "command: x\nenvironment: azureml:my-env:4\ncompute: aml-cluster\n",
			"job.yml: line 2: environment: the environment my-env:4 was not found in workspace ws; list environments with `mlw environment list`"},
		{"environment without versions", "command: x\nenvironment: my-env@latest\ncompute: aml-cluster\n",
			`job.yml: line 2: environment: the environment "my-env" has no version in workspace ws; create one with ` + "`mlw environment create --file env.yml`, or list them with `mlw environment list`"},
		{"unknown datastore", "command: x\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: aml-cluster\ninputs:\n  d:\n    type: uri_folder\n    path: azureml://datastores/nostore/paths/x/\n",
			`job.yml: line 7: inputs.d.path: the datastore "nostore" was not found in workspace ws (every workspace has workspaceblobstore and workspaceartifactstore)`},
	}
	for _, tt := range tests {
		f, err := ParseJobFile("job.yml", []byte(tt.doc), dir, JobFileOptions{})
		require.NoError(t, err, tt.name)
		_, err = c.SubmitJob(context.Background(), ws, f, SubmitOptions{})
		require.Error(t, err, tt.name)
		require.Equal(t, tt.want, err.Error(), tt.name)
	}
}

func TestSubmitJobRegistersInlineEnvironment(t *testing.T) {
	t.Parallel()
	fake, c := newFakeML(t)
	dir := jobDir(t)
	f, err := ParseJobFile("job.yml", []byte("command: x\ncompute: aml-cluster\nenvironment:\n  image: python:3.11\n  conda_file: conda.yml\n"), dir, JobFileOptions{})
	require.NoError(t, err)
	res, err := c.SubmitJob(context.Background(), WorkspaceRef{"rg", "ws"}, f, SubmitOptions{})
	require.NoError(t, err)
	conda, _ := os.ReadFile(filepath.Join(dir, "conda.yml"))
	id := fake.ws + "/environments/CliV2AnonymousEnvironment/versions/" + AnonymousEnvironmentVersion("python:3.11", string(conda))
	require.Equal(t, id, res.EnvironmentID)
	props := fake.assets[id]["properties"].(map[string]any)
	require.Equal(t, true, props["isAnonymous"])
	require.Equal(t, string(conda), props["condaFile"])
	require.Equal(t, "python:3.11", props["image"])
}

func TestStreamJob(t *testing.T) {
	t.Parallel()
	fake, c := newFakeML(t)
	fake.mu.Lock()
	fake.jobs["j1"] = &Job{Name: "j1", Properties: JobProperties{Status: "Running"}}
	fake.logs["prep"] = "Checking packages\n"
	fake.logs["std"] = "Accuracy: 0.77\nAUC: 0.85\n"
	fake.logs["std1"] = "rank 1 is not streamed\n"
	fake.mu.Unlock()
	fake.setDetails("j1",
		&RunDetails{RunID: "j1", Status: "Running", LogFiles: map[string]string{
			"azureml-logs/20_environment_preparation.txt": fake.srv.URL + "/logs/prep",
			"user_logs/std_log.txt":                       fake.srv.URL + "/logs/std",
			"user_logs/std_log_process_1.txt":             fake.srv.URL + "/logs/std1",
		}},
		&RunDetails{RunID: "j1", Status: "Completed", LogFiles: map[string]string{
			"user_logs/std_log.txt": fake.srv.URL + "/logs/std",
		}})
	var out, progress strings.Builder
	var statuses []string
	job, err := c.StreamJob(context.Background(), WorkspaceRef{"rg", "ws"}, "j1", StreamOptions{Out: &out, Progress: &progress,
		OnStatus: func(s string) { statuses = append(statuses, s) }})
	require.NoError(t, err)
	require.Equal(t, "Completed", job.Properties.Status)
	require.Equal(t, "Accuracy: 0.77\nAUC: 0.85\n", out.String(), "each line once; rank 0 only")
	require.Equal(t, "Checking packages\n", progress.String(), "preparation logs go to Progress")
	require.Equal(t, []string{"Running", "Completed"}, statuses)
}

func TestDownloadJob(t *testing.T) {
	t.Parallel()
	fake, c := newFakeML(t)
	fake.mu.Lock()
	fake.jobs["j1"] = &Job{Name: "j1", Properties: JobProperties{Status: "Completed", Outputs: map[string]JobOutput{
		"default": {JobOutputType: "uri_folder", URI: "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.j1"},
		"model":   {JobOutputType: "uri_folder"},
	}}}
	fake.jobs["running"] = &Job{Name: "running", Properties: JobProperties{Status: "Running"}}
	fake.mu.Unlock()
	fake.putBlob("workspaceartifactstore-container", "ExperimentRun/dcid.j1/outputs/model.pkl", "pickle")
	fake.putBlob("workspaceartifactstore-container", "ExperimentRun/dcid.j1/user_logs/std_log.txt", "log\n")
	fake.putBlob("workspaceartifactstore-container", "ExperimentRun/dcid.j10/other.txt", "not j1's")
	fake.putBlob("workspaceblobstore-container", "azureml/j1/model/weights.bin", "w")
	ws := WorkspaceRef{"rg", "ws"}

	dir := t.TempDir()
	res, err := c.DownloadJob(context.Background(), ws, "j1", DownloadOptions{Path: dir})
	require.NoError(t, err)
	require.Equal(t, 2, res.Files)
	b, err := os.ReadFile(filepath.Join(dir, "artifacts", "outputs", "model.pkl"))
	require.NoError(t, err)
	require.Equal(t, "pickle", string(b))
	require.FileExists(t, filepath.Join(dir, "artifacts", "user_logs", "std_log.txt"))
	require.NoFileExists(t, filepath.Join(dir, "artifacts", "other.txt"))

	dir2 := t.TempDir()
	res, err = c.DownloadJob(context.Background(), ws, "j1", DownloadOptions{Path: dir2, OutputName: "model"})
	require.NoError(t, err)
	require.Equal(t, 1, res.Files)
	require.FileExists(t, filepath.Join(dir2, "named-outputs", "model", "weights.bin"))
	require.NoDirExists(t, filepath.Join(dir2, "artifacts"))

	dir3 := t.TempDir()
	res, err = c.DownloadJob(context.Background(), ws, "j1", DownloadOptions{Path: dir3, All: true})
	require.NoError(t, err)
	require.Equal(t, 3, res.Files)

	_, err = c.DownloadJob(context.Background(), ws, "j1", DownloadOptions{Path: dir3, OutputName: "nope"})
	require.EqualError(t, err, "job j1 has no output named nope; its outputs are: model")
	_, err = c.DownloadJob(context.Background(), ws, "running", DownloadOptions{Path: dir3})
	require.EqualError(t, err, "job running is Running; its outputs can be downloaded once it has finished (follow it with `mlw job stream running`)")
}

// TestStreamJobFollowResumes: with mlw's follow endpoint, a stream that
// breaks (the server restarts) resumes from the last offset.
func TestStreamJobFollowResumes(t *testing.T) {
	t.Parallel()
	fake, c := newFakeML(t)
	fake.mu.Lock()
	fake.jobs["j1"] = &Job{Name: "j1", Properties: JobProperties{Status: "Running"}}
	var calls []string
	fake.follow = func(w http.ResponseWriter, file, offset string) {
		fake.mu.Lock()
		calls = append(calls, file+"@"+offset)
		fake.mu.Unlock()
		switch {
		case file == JobLifecycleLog:
			w.Header().Set("Trailer", "Mlw-Job-Status")
			_, _ = io.WriteString(w, "Queued.\n")
			w.Header().Set("Mlw-Job-Status", "Completed")
		case offset == "0":
			_, _ = io.WriteString(w, "before\n")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops
		default:
			w.Header().Set("Trailer", "Mlw-Job-Status")
			_, _ = io.WriteString(w, "after\n")
			fake.mu.Lock()
			fake.jobs["j1"].Properties.Status = "Completed"
			fake.mu.Unlock()
			w.Header().Set("Mlw-Job-Status", "Completed")
		}
	}
	fake.mu.Unlock()
	var out, progress strings.Builder
	job, err := c.StreamJob(context.Background(), WorkspaceRef{"rg", "ws"}, "j1", StreamOptions{Out: &out, Progress: &progress})
	require.NoError(t, err)
	require.Equal(t, "Completed", job.Properties.Status)
	require.Equal(t, "before\nafter\n", out.String())
	require.Equal(t, "Queued.\n", progress.String())
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Contains(t, calls, "user_logs/std_log.txt@0")
	require.Contains(t, calls, "user_logs/std_log.txt@7", "resumed after the 7 bytes already printed")
}

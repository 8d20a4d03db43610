package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGroupDeleteLeavesNothingRunning: deleting a resource group with a
// running compute instance and a cluster running a job removes everything
// in it and leaves no process of theirs behind.
func TestGroupDeleteLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	e.putCluster(t, "cpu", map[string]any{"vmSize": "STANDARD_DS1_V2",
		"scaleSettings": map[string]any{"minNodeCount": 0, "maxNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT10M"}})
	e.submit(t, "long_job", map[string]any{"command": "sleep 600", "computeId": e.ws + "/computes/cpu"})
	e.awaitJob(t, "long_job", "Running")

	r := s.Do(t, http.MethodPut, e.ws+"/computes/ci-del", map[string]any{"properties": map[string]any{
		"computeType": "ComputeInstance", "properties": map[string]any{"vmSize": "STANDARD_DS1_V2"}}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	s.AwaitDoc(t, e.ws+"/computes/ci-del", func(doc map[string]any) error {
		if st := doc["properties"].(map[string]any)["properties"].(map[string]any)["state"]; st != "Running" {
			return fmt.Errorf("instance is %v", st)
		}
		return nil
	})
	require.NotEmpty(t, ProcessesOf(s.Dir), "the instance and the job run")

	del := s.Do(t, http.MethodDelete, s.GroupPath("rg-jobs"), nil)
	require.Equal(t, http.StatusAccepted, del.StatusCode, del)
	op := s.AwaitOperation(t, del.Header.Get("Azure-AsyncOperation"))
	require.Equal(t, "Succeeded", op["status"], op)

	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.GroupPath("rg-jobs"), nil).StatusCode)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, e.ws+"/jobs/long_job", nil).StatusCode)
	Await(t, "no process of the group left", func() error {
		if pids := ProcessesOf(s.Dir); len(pids) > 0 {
			return fmt.Errorf("still running: %v", pids)
		}
		return nil
	})
}

// TestGroupRecreatedRunsJobs: a resource group deleted and created again
// with the same workspace and cluster names is a new group: its jobs run
// (the job reconciler once cached workspaces by name, and every job of the
// new workspace failed until the server restarted).
func TestGroupRecreatedRunsJobs(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "hello.py"), []byte("print('hello from the code snapshot')\n"), 0o644))
	for round := 1; round <= 2; round++ {
		e := newJobsEnv(t, s)
		e.putCluster(t, "cpu", map[string]any{"vmSize": "STANDARD_DS1_V2",
			"scaleSettings": map[string]any{"minNodeCount": 0, "maxNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT10M"}})
		name := fmt.Sprintf("job_round_%d", round)
		e.submit(t, name, map[string]any{"command": "python hello.py", "codeId": e.uploadCode(t, src),
			"computeId": e.ws + "/computes/cpu"})
		e.awaitJob(t, name, "Completed")
		require.Contains(t, e.userLog(t, name), "hello from the code snapshot")

		del := s.Do(t, http.MethodDelete, s.GroupPath("rg-jobs"), nil)
		require.Equal(t, http.StatusAccepted, del.StatusCode, del)
		op := s.AwaitOperation(t, del.Header.Get("Azure-AsyncOperation"))
		require.Equal(t, "Succeeded", op["status"], op)
	}
}

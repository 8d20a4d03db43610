package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func jobReason(doc map[string]any) string {
	m, _ := doc["properties"].(map[string]any)["mlw"].(map[string]any)
	r, _ := m["reason"].(string)
	return r
}

// TestJobsOnComputeInstance: command jobs that target a compute instance
// run inside it, as on Azure: the job's log shows the instance's name,
// hostname, file share and environment; the instance's idle shutdown
// counts the running job, which survives a restart of the server; a job
// queued while the instance is stopped
// starts once it is started; stopping the instance during a job ends the
// job, Canceled with the reason, and leaves no process behind.
func TestJobsOnComputeInstance(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	cli := func(args ...string) string {
		t.Helper()
		return s.MustRun(t, append(args, "-g", e.rg, "-w", e.name)...)
	}
	notes := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notes, []byte("lab notes\n"), 0o644))
	cli("file", "upload", "--source", notes, "--path", "notes.txt")

	r := s.Do(t, http.MethodPut, e.ws+"/computes/ci-jobs", map[string]any{"location": "eastus", "properties": map[string]any{
		"computeType": "ComputeInstance", "properties": map[string]any{"vmSize": "STANDARD_DS1_V2", "idleTimeBeforeShutdown": "PT30M"}}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	ci := s.AwaitDoc(t, e.ws+"/computes/ci-jobs", func(doc map[string]any) error {
		if st := clusterProps(doc)["state"]; st != "Running" {
			return fmt.Errorf("instance is %v", st)
		}
		return nil
	})
	isolation, _ := clusterProps(ci)["mlw"].(map[string]any)["isolation"].(string)
	sandboxed := !strings.HasPrefix(isolation, "None")

	// A job inside the instance; it waits for a file in its working
	// directory, which has the same path inside the instance and out.
	e.submit(t, "on_instance", map[string]any{"computeId": e.ws + "/computes/ci-jobs",
		"command": `echo "ci=$CI_NAME host=$(hostname) home=$HOME mfe=$AZUREML_DEV_URL_MFE"; ls ~/cloudfiles/code; echo "pwd=$PWD"; ` +
			`while [ ! -f gate ]; do sleep 0.05; done; echo finished`})
	e.awaitJob(t, "on_instance", "Running")
	var pwd string
	Await(t, "the job to log its directory", func() error {
		m := regexp.MustCompile(`pwd=(\S+)`).FindStringSubmatch(e.userLog(t, "on_instance"))
		if m == nil {
			return errNotYet
		}
		pwd = m[1]
		return nil
	})
	s.AwaitDoc(t, e.ws+"/computes/ci-jobs", func(doc map[string]any) error {
		idle, _ := clusterProps(doc)["idleShutdown"].(map[string]any)
		if idle["status"] != "busy: 1 running job" {
			return fmt.Errorf("idle shutdown: %v", idle["status"])
		}
		return nil
	})
	// A restart of the server leaves the job running; its end is seen.
	s.Restart()
	require.NoError(t, os.WriteFile(filepath.Join(pwd, "gate"), nil, 0o644))
	done := e.awaitJob(t, "on_instance", "Completed")
	require.EqualValues(t, 0, done["properties"].(map[string]any)["mlw"].(map[string]any)["exitCode"])
	log := e.userLog(t, "on_instance")
	require.Contains(t, log, "ci=ci-jobs")
	require.Contains(t, log, "mfe="+s.URL)
	require.Contains(t, log, "notes.txt", "the workspace file share is at ~/cloudfiles/code")
	require.Contains(t, log, "finished")
	if sandboxed {
		require.Contains(t, log, "host=ci-jobs home=/home/azureuser", "the job runs in the instance's namespaces")
	}

	// A job queued on a stopped instance starts once the instance starts.
	cli("compute", "stop", "--name", "ci-jobs")
	e.submit(t, "after_start", map[string]any{"computeId": "ci-jobs", "command": `echo "second on $CI_NAME"`})
	// The job is Queued first, then its reason says what it waits for.
	s.AwaitDoc(t, e.ws+"/jobs/after_start", func(doc map[string]any) error {
		if st, why := jobStatus(doc), jobReason(doc); st != "Queued" || !strings.Contains(why, "Waiting for compute instance ci-jobs to run (it is Stopped)") {
			return fmt.Errorf("status %s, reason %q", st, why)
		}
		return nil
	})
	cli("compute", "start", "--name", "ci-jobs")
	e.awaitJob(t, "after_start", "Completed")
	require.Contains(t, e.userLog(t, "after_start"), "second on ci-jobs")

	// Stopping the instance ends the job running inside it.
	e.submit(t, "cut_short", map[string]any{"computeId": "ci-jobs", "command": `echo started; sleep 300`})
	e.awaitJob(t, "cut_short", "Running")
	Await(t, "the job to start", func() error {
		if !strings.Contains(e.userLog(t, "cut_short"), "started") {
			return errNotYet
		}
		return nil
	})
	cli("compute", "stop", "--name", "ci-jobs")
	doc := s.AwaitDoc(t, e.ws+"/jobs/cut_short", func(doc map[string]any) error {
		if st := jobStatus(doc); st != "Canceled" {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	require.Equal(t, "The compute instance 'ci-jobs' was stopped while the job ran.", jobReason(doc))
	Await(t, "no process of the instance or its jobs", func() error {
		if pids := ProcessesOf(s.Dir); len(pids) > 0 {
			return fmt.Errorf("still running: %v", pids)
		}
		return nil
	})
}

package service_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/envbuild"
	"github.com/mlw-project/mlw/internal/reconciler"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
)

// TestJobPhasesKeepTheirReasons: each phase a job leaves keeps the reason
// the job had then; a phase passed through at once takes none of the one
// before.
func TestJobPhasesKeepTheirReasons(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &resource.JobStatus{}
	// As the reconcilers do: enter a phase, then say why.
	st.Enter(resource.JobQueued, t0)
	st.Reason = "Queued on c1."
	require.False(t, st.Enter(resource.JobQueued, t0.Add(time.Second)), "already queued")
	st.Reason = "Waiting for a node: c1 at 1/1 nodes, all busy." // the scheduler, as it assigns
	st.Enter(resource.JobPreparing, t0.Add(time.Minute))
	st.Reason = "Preparing on n1."
	st.Enter(resource.JobRunning, t0.Add(2*time.Minute))
	st.Reason = "Running on node n1."
	st.Enter(resource.JobFinalizing, t0.Add(3*time.Minute))
	st.Enter(resource.JobCompleted, t0.Add(3*time.Minute))
	st.Reason = "Completed."
	got := map[string]string{}
	for _, p := range st.Phases {
		got[p.Status] = p.Reason
	}
	require.Equal(t, map[string]string{
		resource.JobQueued:     "Waiting for a node: c1 at 1/1 nodes, all busy.",
		resource.JobPreparing:  "Preparing on n1.",
		resource.JobRunning:    "Running on node n1.",
		resource.JobFinalizing: "", // passed through at once
		resource.JobCompleted:  "",
	}, got)
}

// TestListExperiments: jobs grouped by experiment name (any case), with
// counts and the latest job, most recently used first.
func TestListExperiments(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	for _, j := range []struct{ name, exp string }{{"a1", "exp-a"}, {"b1", "exp-b"}, {"a2", "EXP-A"}, {"d1", ""}} {
		props := ""
		if j.exp != "" {
			props = `,"experimentName":"` + j.exp + `"`
		}
		_, _, err := a.svc.PutJob(a.ctx, a.ref, j.name, jobBody(t, jobDoc(props)))
		require.NoError(t, err)
	}
	_, exps, err := a.svc.ListExperiments(a.ctx, a.ref)
	require.NoError(t, err)
	require.Len(t, exps, 3)
	require.Equal(t, "Default", exps[0].Name, "d1 is the newest job")
	require.Equal(t, "EXP-A", exps[1].Name, "named as its latest job")
	require.Equal(t, 2, exps[1].Jobs)
	require.Equal(t, "a2", exps[1].Latest)
	require.Equal(t, map[string]int{resource.JobNotStarted: 2}, exps[1].StatusCounts)
	require.True(t, exps[1].CreatedAt.Before(exps[1].LatestAt))
	require.Equal(t, "exp-b", exps[2].Name)
	require.NotEqual(t, exps[1].ID, exps[2].ID)
	_, again, err := a.svc.ListExperiments(a.ctx, a.ref)
	require.NoError(t, err)
	require.Equal(t, exps[1].ID, again[1].ID, "ids are stable")
}

// TestEnvironmentBuild: what GET …/buildLog says of a curated
// environment, of a custom one before and after its (real, offline)
// build, and of one with nothing to build.
func TestEnvironmentBuild(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(envbuild.DefaultPython); err != nil {
		t.Skip("needs Debian's python3")
	}
	b := dataSetup(t)
	envs := reconciler.EnvBuilder{Builder: envbuild.New(envbuild.Options{Dir: t.TempDir(), IndexURL: "http://127.0.0.1:1/simple"})}
	b.svc.EnvBuildFunc = envs.Build

	rep, err := b.svc.EnvironmentBuild(b.ctx, b.ref, "AzureML-sklearn-1.5", "1")
	require.NoError(t, err)
	require.Equal(t, service.EnvBuildNotNeeded, rep.Status)
	require.Contains(t, rep.Reason, "Curated environments are not built")

	// PyYAML is Debian's python3-yaml: built without a download.
	const conda = "dependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - pyyaml\n"
	_, _, err = b.svc.PutEnvVersion(b.ctx, b.ref, "yaml-env", "1", jsonBody(t, `{"properties": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04", "condaFile": "`+jsonEscape(conda)+`"}}`))
	require.NoError(t, err)
	rep, err = b.svc.EnvironmentBuild(b.ctx, b.ref, "yaml-env", "1")
	require.NoError(t, err)
	require.Equal(t, service.EnvBuildNotStarted, rep.Status)
	require.Contains(t, rep.Reason, "built the first time a job uses it")

	env, err := b.svc.ResolveEnvironment(b.ctx, b.ref, "azureml:yaml-env:1")
	require.NoError(t, err)
	_, err = envs.Prepare(context.Background(), env, nil)
	require.NoError(t, err)
	rep, err = b.svc.EnvironmentBuild(b.ctx, b.ref, "yaml-env", "1")
	require.NoError(t, err)
	require.Equal(t, service.EnvBuildSucceeded, rep.Status, rep.Log)
	require.NotNil(t, rep.BuiltAt)
	require.Contains(t, rep.Log, "Already installed on this machine (not downloaded): pyyaml")
	require.Contains(t, rep.Environment, "/environments/yaml-env/versions/1")

	_, _, err = b.svc.PutEnvVersion(b.ctx, b.ref, "plain", "1", jsonBody(t, `{"properties": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04", "condaFile": "dependencies:\n  - python=3.11\n"}}`))
	require.NoError(t, err)
	rep, err = b.svc.EnvironmentBuild(b.ctx, b.ref, "plain", "1")
	require.NoError(t, err)
	require.Equal(t, service.EnvBuildNotNeeded, rep.Status)

	_, err = b.svc.EnvironmentBuild(b.ctx, b.ref, "yaml-env", "9")
	require.Equal(t, 404, apiErr(t, err).Status)
}

func jsonEscape(s string) string {
	out := ""
	for _, r := range s {
		if r == '\n' {
			out += `\n`
		} else {
			out += string(r)
		}
	}
	return out
}

package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
)

// Run history (azureml-protocol §11): the data-plane API the Azure ML SDK
// reaches through the workspace discovery document's "api" URL, for
// jobs.stream (run details with log URLs) and jobs.download (rundata).
const historyBase = "/history/v1.0" + wsPath

func (a *API) runHistoryRoutes() {
	a.Handle("GET", historyBase+"/runs/{name}/details", a.runDetails)
	a.Handle("GET", historyBase+"/experiments/{exp}/runs/{name}/details", a.runDetails)
	a.Handle("GET", historyBase+"/runs/{name}", a.runGet)
	a.Handle("GET", historyBase+"/experiments/{exp}/runs/{name}", a.runGet)
	a.Handle("GET", historyBase+"/runs/{name}/children", func(r *Request) (any, error) {
		if _, _, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name")); err != nil {
			return nil, err
		}
		return map[string]any{"value": []any{}, "continuationToken": nil}, nil
	})
	a.Handle("POST", historyBase+"/rundata", a.runData)
	// Metrics: mlw records none yet; an empty answer keeps clients going.
	a.Handle("GET", historyBase+"/runs/{name}/metrics", func(r *Request) (any, error) {
		if _, _, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name")); err != nil {
			return nil, err
		}
		return map[string]any{"value": []any{}, "continuationToken": nil}, nil
	})
	a.Handle("GET", historyBase+"/experiments", a.listExperiments)
	// Log files, fetched without credentials by URLs from run details.
	a.HandlePublic("GET", "/runlogs/{token}", a.runLog)
}

// runStatus is a job's status as run history reports it.
func runStatus(job *resource.Object) string {
	if job.Deleting {
		return resource.JobCanceled
	}
	return job.State
}

func (a *API) runGet(r *Request) (any, error) {
	ws, job, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	return a.runDoc(r, ws, job), nil
}

// runDoc is the run-history view of a job (a Run).
func (a *API) runDoc(r *Request, ws, job *resource.Object) map[string]any {
	st := resource.JobStatusOf(job)
	spec, _ := resource.JobSpecOf(job)
	doc := map[string]any{
		"runId": job.Name, "runUuid": job.UID, "rootRunId": job.Name, "status": runStatus(job),
		"target": computeShortName(job.Owner), "createdUtc": job.CreatedAt.UTC().Format(time.RFC3339Nano),
		"startTimeUtc": nil, "endTimeUtc": nil, "error": nil, "warnings": nil,
		"runType": "azureml.scriptrun", "properties": map[string]any{}, "tags": map[string]any{},
		"inputDatasets": []any{}, "outputDatasets": []any{},
	}
	if spec != nil {
		doc["experimentName"] = spec.ExperimentName
		doc["displayName"] = spec.DisplayName
		doc["description"] = spec.Description
		if spec.Tags != nil {
			doc["tags"] = spec.Tags
		}
	}
	if st.StartTime != nil {
		doc["startTimeUtc"] = st.StartTime.UTC().Format(time.RFC3339Nano)
	}
	if st.EndTime != nil {
		doc["endTimeUtc"] = st.EndTime.UTC().Format(time.RFC3339Nano)
	}
	if st.Error != nil {
		doc["error"] = map[string]any{"error": map[string]any{"code": st.Error.Code, "message": st.Error.Message,
			"messageFormat": nil, "details": []any{}}}
	}
	return doc
}

func computeShortName(owner string) string {
	ref, _ := resource.ParseOpKey(core.KindCompute, owner)
	return ref.Name
}

// runDetails answers run details with logFiles: signed, expiring URLs of
// each log file, fetched by the SDK without credentials.
func (a *API) runDetails(r *Request) (any, error) {
	ws, job, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	doc := a.runDoc(r, ws, job)
	files, err := a.svc.JobLogFiles(ws, job)
	if err != nil {
		return nil, err
	}
	logs := map[string]any{}
	for _, f := range files {
		tok, err := a.svc.SignLogToken(r.Ctx(), ws, job, f.Name)
		if err != nil {
			return nil, core.Internal(err)
		}
		logs[f.Name] = r.BaseURL() + "/runlogs/" + tok + "?file=" + url.QueryEscape(f.Name)
	}
	doc["logFiles"] = logs
	doc["runDefinition"] = nil
	return doc, nil
}

// runLog serves one log file named by a signed token. A missing file is a
// 404, which the SDK treats as empty.
func (a *API) runLog(r *Request) (any, error) {
	t, err := a.svc.VerifyLogToken(r.Ctx(), r.Param("token"))
	if err != nil {
		return nil, &core.Error{Status: http.StatusForbidden, Code: "AuthorizationFailed",
			Message: "This log URL is not valid or has expired; get a new one from the run's details."}
	}
	// A log URL lasts only as long as its user may read the workspace.
	if t.User != "" {
		scope, err := a.workspaceOfAccount(r.Ctx(), t.Account)
		if err != nil {
			return nil, err
		}
		p, err := a.auth.UserPrincipal(r.Ctx(), t.User)
		if err != nil {
			return nil, &core.Error{Status: http.StatusForbidden, Code: "AuthorizationFailed",
				Message: "This log URL was made for a user who has since been deleted or disabled."}
		}
		if err := p.Check(identity.ActRead, scope); err != nil {
			return nil, err
		}
	}
	o, err := a.svc.OpenJobFile(t.Account, t.Job, t.Path)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	w := r.W
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, o)
	}
	return handled, nil
}

// runData answers jobs.download's rundata request.
func (a *API) runData(r *Request) (any, error) {
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	name, _ := body.Doc["runId"].(string)
	if name == "" {
		return nil, core.Invalid("runId", "rundata needs a runId: the job's name.")
	}
	ws, job, err := a.svc.GetJob(r.Ctx(), r.Workspace(), name)
	if err != nil {
		return nil, err
	}
	meta := a.runDoc(r, ws, job)
	meta["outputs"] = nil
	return map[string]any{"runMetadata": meta, "runDefinition": nil, "jobSpecification": nil}, nil
}

// listExperiments answers run history's experiment list: the workspace's
// jobs grouped by experimentName, newest first, in Azure's Experiment
// shape (latestCreatedRun…) plus mlw's counts (mlw.jobs, mlw.statusCounts,
// mlw.latestRunStatus).
func (a *API) listExperiments(r *Request) (any, error) {
	_, exps, err := a.svc.ListExperiments(r.Ctx(), r.Workspace())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(exps))
	for _, e := range exps {
		out = append(out, map[string]any{
			"experimentId": e.ID, "name": e.Name, "description": nil, "tags": map[string]any{},
			"createdUtc": e.CreatedAt.UTC().Format(time.RFC3339Nano), "archivedTime": nil,
			"retainForLifetimeOfWorkspace": false, "artifactLocation": nil,
			"latestCreatedRunId": e.Latest, "latestCreatedRunCreatedUtc": e.LatestAt.UTC().Format(time.RFC3339Nano),
			"mlw": map[string]any{"jobs": e.Jobs, "statusCounts": e.StatusCounts, "latestRunStatus": e.LatestStatus},
		})
	}
	return map[string]any{"value": out, "continuationToken": nil, "nextLink": nil}, nil
}

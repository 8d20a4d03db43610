package httpapi

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/webui"
)

const typeJob = typeWorkspace + "/jobs"

// jobRoutes serves command jobs (azureml-protocol §10), their logs, the
// studio's job page and cluster node preemption.
func (a *API) jobRoutes() {
	const base = wsPath + "/jobs"
	a.Handle("GET", base, a.listJobs)
	a.Handle("GET", base+"/{name}", func(r *Request) (any, error) {
		ws, job, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return a.renderJob(r, ws, job, nil), nil
	})
	a.Handle("PUT", base+"/{name}", func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		ws, job, isNew, err := a.svc.PutJobIn(r.Ctx(), r.Workspace(), r.Param("name"), body)
		if err != nil {
			return nil, err
		}
		return created(isNew, a.renderJob(r, ws, job, nil), nil), nil
	})
	a.Handle("DELETE", base+"/{name}", func(r *Request) (any, error) {
		op, err := a.svc.DeleteJob(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		return accepted(r, op, a.workspaceLocation(r)), nil
	})
	// Cancel: 202 with Location (polled: 202 while the job stops, 200 once
	// it has), or 200 at once when the job had already ended.
	a.Handle("POST", base+"/{name}/cancel", func(r *Request) (any, error) {
		_, op, err := a.svc.CancelJob(r.Ctx(), r.Workspace(), r.Param("name"))
		if err != nil {
			return nil, err
		}
		if op == nil {
			return &Response{Status: http.StatusOK, Body: map[string]any{}}, nil
		}
		return accepted(r, op, a.workspaceLocation(r)), nil
	})
	a.Handle("GET", base+"/{name}/logs", a.jobLogs)
	a.Handle("GET", base+"/{name}/logs/{path...}", a.jobLog)

	a.Handle("POST", wsPath+"/computes/{name}/preemptNode", func(r *Request) (any, error) {
		nodeID := r.URL.Query().Get("nodeId")
		if nodeID == "" {
			if body, err := r.Body(); err == nil {
				nodeID, _ = body.Doc["nodeId"].(string)
			}
		}
		n, err := a.svc.PreemptNode(r.Ctx(), r.Workspace(), r.Param("name"), nodeID)
		if err != nil {
			return nil, err
		}
		return service.PreemptAnswer(n), nil
	})
	a.RegisterComputeRenderer(resource.AmlCompute, a.renderClusterLive)

	// The studio's job page (services.Studio.endpoint): the studio's own
	// when it is built into the binary (it signs in and resolves ?wsid=),
	// else a plain page that shows only what its URL says.
	a.HandlePublic("GET", "/studio/runs/{name}", a.studioJobPage)
}

func (a *API) workspaceLocation(r *Request) string {
	ws, err := a.svc.GetWorkspace(r.Ctx(), r.Workspace())
	if err != nil {
		return ""
	}
	loc, _ := resource.Decode(ws.Spec)["location"].(string)
	return loc
}

func (a *API) listJobs(r *Request) (any, error) {
	q := r.URL.Query()
	view, err := service.ParseListView(q.Get("listViewType"))
	if err != nil {
		return nil, err
	}
	page := r.Page()
	if page.Skip == "" {
		page.Skip = q.Get("$skip")
	}
	f := service.JobFilter{View: view, JobType: q.Get("jobType"), Tag: q.Get("tag"), Experiment: q.Get("experimentName"),
		Status: q.Get("status"), Compute: q.Get("compute"), Search: q.Get("mlwSearch"), Page: page}
	ws, jobs, next, err := a.svc.ListJobs(r.Ctx(), r.Workspace(), f)
	if err != nil {
		return nil, err
	}
	cache := map[string]*resource.Object{}
	out := make([]map[string]any, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, a.renderJob(r, ws, j, cache))
	}
	doc := list(r, out, "")
	if next != "" {
		qq := r.URL.Query()
		qq.Del("$skipToken")
		qq.Set("$skip", next)
		doc["nextLink"] = r.BaseURL() + r.URL.Path + "?" + qq.Encode()
	}
	return doc, nil
}

// JobStudioURL is a job's services.Studio.endpoint: it ends with a query
// string and carries no tid (the SDK appends &tid=…).
func JobStudioURL(base, wsID, name string) string {
	return base + "/studio/runs/" + name + "?wsid=" + wsID
}

// renderJob renders a job: the client's properties, plus status,
// services (Studio, Tracking), outputs.default and mlw's account of the
// job (properties.mlw: reason, phases, attempts, nodes, error). cache
// holds computes already read (for a list).
func (a *API) renderJob(r *Request, ws, job *resource.Object, cache map[string]*resource.Object) map[string]any {
	ref := resource.WorkspaceRefOf(ws)
	wsID := ref.ID()
	st := resource.JobStatusOf(job)
	status := job.State
	if job.Deleting || status == resource.StateDeleting {
		status = resource.JobCancelRequested
		for i := len(st.Phases) - 1; i >= 0; i-- {
			if resource.JobTerminal(st.Phases[i].Status) {
				status = st.Phases[i].Status
				break
			}
		}
	}
	doc := envelope(job, wsID+"/jobs/"+job.Name, typeJob)
	delete(doc, resource.IntentKey) // the server's own
	props, _ := doc["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		doc["properties"] = props
	}
	props["status"] = status
	services, _ := props["services"].(map[string]any)
	if services == nil {
		services = map[string]any{}
	}
	services["Studio"] = map[string]any{"jobServiceType": "Studio", "endpoint": JobStudioURL(r.BaseURL(), wsID, job.Name), "status": nil, "errorMessage": nil}
	services["Tracking"] = map[string]any{"jobServiceType": "Tracking", "endpoint": "azureml://" + r.Host + "/mlflow/v1.0" + wsID + "?", "status": nil, "errorMessage": nil}
	props["services"] = services
	outputs, _ := props["outputs"].(map[string]any)
	if outputs == nil {
		outputs = map[string]any{}
	}
	outputs["default"] = map[string]any{"jobOutputType": "uri_folder", "mode": "ReadWriteMount", "uri": resource.JobDefaultOutputURI(job.Name), "description": nil}
	props["outputs"] = outputs
	if _, ok := props["parameters"]; !ok {
		props["parameters"] = map[string]any{}
	}

	reason := st.Reason
	if job.State == resource.JobQueued {
		cl := a.jobCompute(r, job.Owner, cache)
		if qr := resource.ClusterQueueReason(cl); qr != "" {
			reason = resource.WaitingForNode(qr)
			for _, e := range resource.ClusterErrors(cl) {
				reason += " " + e
			}
		}
	}
	m := map[string]any{"reason": reason, "phases": st.Phases, "attempt": st.Attempt}
	if len(st.Attempts) > 0 {
		m["attempts"] = st.Attempts
	}
	if len(st.Nodes) > 0 {
		m["nodes"] = st.Nodes
	}
	if st.StartTime != nil {
		m["startTime"] = st.StartTime
	}
	if st.EndTime != nil {
		m["endTime"] = st.EndTime
	}
	if st.ExitCode != nil {
		m["exitCode"] = *st.ExitCode
	}
	if st.Error != nil {
		m["error"] = st.Error
	}
	if st.Environment != "" {
		m["environment"] = st.Environment
		m["python"] = st.Python
	}
	props["mlw"] = m
	return doc
}

// jobCompute reads the compute named by a job's Owner (cached per request).
func (a *API) jobCompute(r *Request, owner string, cache map[string]*resource.Object) *resource.Object {
	if c, ok := cache[owner]; ok {
		return c
	}
	c := a.svc.ComputeByOpKey(r.Ctx(), owner)
	if cache != nil {
		cache[owner] = c
	}
	return c
}

// renderClusterLive adds a cluster's live figures: nodes by state and the
// current node count, read from its node rows.
func (a *API) renderClusterLive(r *Request, ws, c *resource.Object, props map[string]any) {
	_, cs := resource.ClusterStatusOf(c)
	if cs.AllocationState == "" {
		// Not reconciled yet: a new cluster, steady at its minimum.
		cs.AllocationState, cs.AllocationStateTransitionTime = "Steady", c.CreatedAt
		if spec, err := resource.ComputeSpecOf(c); err == nil && spec.Cluster != nil {
			cs.TargetNodeCount = spec.Cluster.Scale.Min
		}
	}
	props["allocationState"] = cs.AllocationState
	props["allocationStateTransitionTime"] = cs.AllocationStateTransitionTime.UTC().Format(time.RFC3339Nano)
	props["targetNodeCount"] = cs.TargetNodeCount
	var errs []any
	for _, cond := range cs.Conditions {
		if cond.Status == resource.ConditionFalse {
			errs = append(errs, map[string]any{"error": map[string]any{"code": cond.Reason, "message": cond.Message}})
		}
	}
	props["errors"] = errs
	if cs.ScaleReason != "" {
		props["scaleReason"] = cs.ScaleReason
	}
	if cs.LastScaleTime != nil {
		props["lastScaleTime"] = cs.LastScaleTime.UTC().Format(time.RFC3339Nano)
	}
	if cs.QueueReason != "" {
		props["queueReason"] = cs.QueueReason
	}
	if cs.Isolation != "" {
		props["mlw"] = map[string]any{"isolation": cs.Isolation}
	}
	nodes, err := a.svc.ClusterNodes(r.Ctx(), c)
	if err != nil {
		return
	}
	props["currentNodeCount"] = resource.CurrentNodeCount(nodes)
	props["nodeStateCounts"] = resource.NodeStateCounts(nodes)
}

// jobLogs lists a job's log files (mlw's API; the SDK uses run history).
func (a *API) jobLogs(r *Request) (any, error) {
	ws, job, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	files, err := a.svc.JobLogFiles(ws, job)
	if err != nil {
		return nil, err
	}
	if files == nil {
		files = []service.JobFile{}
	}
	return map[string]any{"value": files, "status": job.State}, nil
}

// jobLog serves one log file. With follow=true it streams the file as
// it grows (chunked), from offset=N, and ends when the job has ended and
// everything was sent; the job's final status is in the trailer
// Mlw-Job-Status. A file that does not exist yet is waited for.
func (a *API) jobLog(r *Request) (any, error) {
	ws, job, err := a.svc.GetJob(r.Ctx(), r.Workspace(), r.Param("name"))
	if err != nil {
		return nil, err
	}
	path := r.Param("path")
	q := r.URL.Query()
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"
	var offset int64
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.ParseInt(v, 10, 64); err != nil || offset < 0 {
			return nil, core.Invalid("offset", "offset must be a byte offset (0 or more), not %q.", v)
		}
	}
	account := resource.WorkspaceStatusOf(ws).StorageAccount
	if !follow {
		o, err := a.svc.OpenJobFile(account, job.Name, path)
		if err != nil {
			return nil, err
		}
		defer o.Close()
		if offset > 0 {
			if _, err := o.Seek(offset, io.SeekStart); err != nil {
				return nil, core.Internal(err)
			}
		}
		r.W.Header().Set("Content-Type", "text/plain; charset=utf-8")
		r.W.WriteHeader(http.StatusOK)
		_, _ = io.Copy(r.W, o)
		return handled, nil
	}
	// Refuse a bad path before the stream starts; a file that does not
	// exist yet is waited for. The file opened here must be closed: the
	// stream below opens it again at each tick.
	o, err := a.svc.OpenJobFile(account, job.Name, path)
	if err != nil {
		var e *core.Error
		if errors.As(err, &e) && e.Status == http.StatusBadRequest {
			return nil, err
		}
	} else {
		o.Close()
	}
	release, err := a.beginStream(r)
	if err != nil {
		return nil, err
	}
	defer release()
	w := r.W
	w.Header().Set("Trailer", "Mlw-Job-Status")
	rc := openStream(w, "text/plain; charset=utf-8")
	flush := func() { _ = rc.Flush() }
	flush()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	state := job.State
	for {
		// Read the state before the file, so that everything written
		// before the job ended is sent before the stream ends.
		cur, err := a.svc.Reread(r.Ctx(), job)
		ended := err != nil || resource.JobTerminal(cur.State) || cur.Deleting
		if err == nil {
			state = cur.State
		}
		if o, err := a.svc.OpenJobFile(account, job.Name, path); err == nil {
			if _, err := o.Seek(offset, io.SeekStart); err == nil {
				n, _ := io.Copy(w, o)
				offset += n
				if n > 0 {
					flush()
				}
			}
			o.Close()
		}
		if ended {
			w.Header().Set("Mlw-Job-Status", state)
			return handled, nil
		}
		select {
		case <-r.Context().Done():
			return handled, nil
		case <-a.stopping:
			// The server is shutting down: end the stream without the
			// status trailer; clients resume from their offset.
			return handled, nil
		case <-tick.C:
		}
	}
}

// studioJobPage is the job page that services.Studio.endpoint opens.
func (a *API) studioJobPage(r *Request) (any, error) {
	name := r.Param("name")
	if webui.ServeTitled(r.W, r.Request, "Job "+name) {
		return handled, nil
	}
	wsid := r.URL.Query().Get("wsid")
	w := r.W
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return handled, nil
	}
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Job %[1]s · mlw</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:3em auto;padding:0 1em;color:#222}code{background:#f3f3f3;padding:.1em .3em}</style></head>
<body><h1>Job <code>%[1]s</code></h1>
<p>Workspace: <code>%[2]s</code></p>
<p>Follow it from a terminal:</p>
<pre><code>mlw job show --name %[1]s
mlw job stream --name %[1]s</code></pre>
<p>The mlw studio will show the job here.</p>
</body></html>
`, html.EscapeString(name), html.EscapeString(wsid))
	return handled, nil
}

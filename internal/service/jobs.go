package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/store"
)

// Command jobs (azureml-protocol §10). A PUT validates the job against the
// workspace (compute, code, environment, datastores), fills in what the
// service owns (default output paths), and stores it as NotStarted; the
// job reconciler and the scheduler take it from there. A PUT on an
// existing job may change only its tags, properties, description, display
// name and archive flag (the SDK's archive/restore do exactly that).

// jobIOName is the rule for input and output names.
var jobIOName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// JobSpec is the typed view of a job's properties that admission and the
// reconciler act on; the stored document keeps everything the client sent.
type JobSpec struct {
	JobType              string               `json:"jobType"`
	Command              string               `json:"command"`
	CodeID               string               `json:"codeId"`
	EnvironmentID        string               `json:"environmentId"`
	ComputeID            string               `json:"computeId"`
	DisplayName          string               `json:"displayName"`
	ExperimentName       string               `json:"experimentName"`
	Description          string               `json:"description"`
	IsArchived           bool                 `json:"isArchived"`
	Tags                 map[string]any       `json:"tags"`
	EnvironmentVariables map[string]any       `json:"environmentVariables"`
	Inputs               map[string]JobInput  `json:"inputs"`
	Outputs              map[string]JobOutput `json:"outputs"`
	Resources            *struct {
		InstanceCount *int   `json:"instanceCount"`
		InstanceType  string `json:"instanceType"`
		ShmSize       string `json:"shmSize"`
	} `json:"resources"`
	Distribution *struct {
		DistributionType        string `json:"distributionType"`
		ProcessCountPerInstance *int   `json:"processCountPerInstance"`
		WorkerCount             *int   `json:"workerCount"`
		ParameterServerCount    *int   `json:"parameterServerCount"`
	} `json:"distribution"`
	Limits *struct {
		JobLimitsType string          `json:"jobLimitsType"`
		Timeout       json.RawMessage `json:"timeout"`
	} `json:"limits"`
}

// JobInput is one input: a literal or a URI.
type JobInput struct {
	JobInputType string          `json:"jobInputType"`
	Value        json.RawMessage `json:"value"`
	URI          string          `json:"uri"`
	Mode         string          `json:"mode"`
}

// Literal returns a literal input's value as a string.
func (in JobInput) Literal() string {
	var s string
	if json.Unmarshal(in.Value, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(in.Value))
}

// JobOutput is one output: where the job writes it.
type JobOutput struct {
	JobOutputType string `json:"jobOutputType"`
	URI           string `json:"uri"`
	Mode          string `json:"mode"`
}

// InstanceCount is resources.instanceCount (default 1).
func (j *JobSpec) InstanceCount() int {
	if j.Resources == nil || j.Resources.InstanceCount == nil {
		return 1
	}
	return *j.Resources.InstanceCount
}

// ProcessesPerInstance is distribution.processCountPerInstance (default 1).
func (j *JobSpec) ProcessesPerInstance() int {
	if j.Distribution == nil || j.Distribution.ProcessCountPerInstance == nil {
		return 1
	}
	return *j.Distribution.ProcessCountPerInstance
}

// Timeout is limits.timeout (0 when none).
func (j *JobSpec) Timeout() (time.Duration, error) {
	if j.Limits == nil || len(j.Limits.Timeout) == 0 || string(j.Limits.Timeout) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(j.Limits.Timeout, &s) != nil {
		s = string(j.Limits.Timeout) // a number of seconds
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return 0, core.Invalid("properties.limits.timeout", "limits.timeout must be positive, not %s.", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := core.ParseISODuration(s)
	if err != nil {
		return 0, core.Invalid("properties.limits.timeout", "limits.timeout: %v (or a number of seconds).", err)
	}
	if d <= 0 {
		return 0, core.Invalid("properties.limits.timeout", "limits.timeout must be positive, not %s.", s)
	}
	return d, nil
}

// JobSpecOf decodes a stored job's properties.
func JobSpecOf(r *store.Resource) (*JobSpec, error) {
	var doc struct {
		Properties JobSpec `json:"properties"`
	}
	if err := json.Unmarshal(r.Spec, &doc); err != nil {
		return nil, fmt.Errorf("job %s: stored spec: %w", r.Name, err)
	}
	return &doc.Properties, nil
}

// jobReadOnly are properties the server owns; a client sending them back
// (GET, edit, PUT) changes nothing.
var jobReadOnly = []string{"status", "mlw", "parameters", "creationContext", "logFiles"}

// jobImmutable are properties a PUT on an existing job may not change.
var jobImmutable = []string{"jobType", "command", "codeId", "environmentId", "computeId", "inputs", "outputs",
	"environmentVariables", "resources", "distribution", "limits", "experimentName", "identity"}

// JobDefaultOutputURI is where a job's artifacts (outputs, logs) live:
// outputs.default of the job.
func JobDefaultOutputURI(name string) string {
	return "azureml://datastores/" + DatastoreArtifacts + "/ExperimentRun/dcid." + name
}

// JobArtifactPrefix is the blob prefix of a job's artifacts in the
// artifact store's container.
func JobArtifactPrefix(name string) string { return "ExperimentRun/dcid." + name + "/" }

// JobNamedOutputPath is the default path of a named output in the default
// datastore (where jobs.download looks for it).
func JobNamedOutputPath(job, output string) string { return "azureml/" + job + "/" + output + "/" }

// PutJob creates a job (NotStarted) or updates the mutable fields of an
// existing one. created reports a new job.
func (s *Service) PutJob(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (*store.Resource, bool, error) {
	_, job, created, err := s.PutJobIn(ctx, ref, name, body)
	return job, created, err
}

// PutJobIn is PutJob that also returns the job's workspace (which a
// response renders with), read once.
func (s *Service) PutJobIn(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (ws, job *store.Resource, created bool, err error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, nil, false, err
	}
	ws, err = s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, false, err
	}
	if ws.Deleting {
		return nil, nil, false, core.Conflict("WorkspaceBeingDeleted", "The workspace '%s' is being deleted; no job can be submitted to it.", ws.Name)
	}
	if err := core.ValidateJobName(name); err != nil {
		return nil, nil, false, err
	}
	doc := body.Doc
	for _, k := range []string{"id", "name", "type", "systemData"} {
		delete(doc, k)
	}
	pr, ok := doc["properties"].(map[string]any)
	if !ok {
		return nil, nil, false, core.Invalid("properties", "A job needs a \"properties\" object with jobType, command, environmentId and computeId.")
	}
	for _, k := range jobReadOnly {
		delete(pr, k)
	}
	if svc, ok := pr["services"].(map[string]any); ok {
		delete(svc, "Studio")
		delete(svc, "Tracking")
		if len(svc) == 0 {
			delete(pr, "services")
		}
	}
	if outs, ok := pr["outputs"].(map[string]any); ok {
		delete(outs, "default")
	}
	var spec JobSpec
	if err := (&Body{Raw: Encode(pr)}).Into(&spec); err != nil {
		if e, ok := core.AsError(err); ok && e.Target != "" && e.Target != "body" {
			e.Target = "properties." + e.Target
			e.Message = strings.Replace(e.Message, "Field \"", "Field \"properties.", 1)
		}
		return nil, nil, false, err
	}
	existing, err := s.Store.Get(ctx, core.KindJob, WorkspaceKey(ws), name)
	switch {
	case err == nil:
		job, created, err = s.updateJob(ctx, existing, doc)
		return ws, job, created, err
	case !errors.Is(err, store.ErrNotFound):
		return nil, nil, false, core.Internal(err)
	}
	compute, err := s.admitJob(ctx, ws, name, &spec, pr)
	if err != nil {
		return nil, nil, false, err
	}
	now := s.Now().UTC()
	st := &JobStatus{Reason: "Submitted; waiting to be queued.", WorkspaceUID: ws.UID, ComputeUID: compute.UID}
	if p != nil {
		st.SubmitterID = p.UserID
	}
	st.Enter(JobNotStarted, now)
	job = &store.Resource{Kind: core.KindJob, Parent: WorkspaceKey(ws), Name: name, UID: NewUID(), Spec: Encode(doc),
		Status: Encode(st), State: JobNotStarted, Owner: ResourceOpKey(compute),
		CreatedAt: now, CreatedBy: principalName(p), ModifiedBy: principalName(p)}
	if err := s.Store.Create(ctx, job); err != nil {
		if errors.Is(err, store.ErrExists) {
			// A concurrent PUT of the same name won: treat this one as an
			// update of it.
			if existing, gerr := s.Store.Get(ctx, core.KindJob, WorkspaceKey(ws), name); gerr == nil {
				job, created, err = s.updateJob(ctx, existing, doc)
				return ws, job, created, err
			}
		}
		return nil, nil, false, storeErr(err, "job", name)
	}
	s.Queue.Enqueue(core.KindJob, Key(job))
	return ws, job, true, nil
}

// admitJob validates a new job's properties and normalises them in pr:
// computeId becomes the compute's ARM id, named outputs get their default
// paths, experimentName and displayName their defaults.
func (s *Service) admitJob(ctx context.Context, ws *store.Resource, name string, spec *JobSpec, pr map[string]any) (*store.Resource, error) {
	ref := WorkspaceRefOf(ws)
	if spec.JobType == "" {
		return nil, core.Invalid("properties.jobType", "The job needs properties.jobType; mlw runs \"Command\" jobs.")
	}
	if !strings.EqualFold(spec.JobType, "Command") {
		return nil, core.Invalid("properties.jobType", "jobType %q is not supported; mlw runs \"Command\" jobs (pipelines and sweeps are not available yet).", spec.JobType)
	}
	pr["jobType"] = "Command"
	if strings.TrimSpace(spec.Command) == "" {
		return nil, core.Invalid("properties.command", "The job needs a command to run, for example \"python train.py\".")
	}
	compute, err := s.jobCompute(ctx, ws, spec.ComputeID)
	if err != nil {
		return nil, err
	}
	pr["computeId"] = ComputeARMID(ws, compute)
	isCluster := ComputeTypeOf(compute) == AmlCompute
	if !isCluster {
		// A job on an instance runs as the instance's user, in its home.
		if err := checkAssigned(PrincipalFrom(ctx), compute, InstanceStatusOf(compute),
			"run jobs on it; submit to a compute cluster or to an instance of your own"); err != nil {
			return nil, err
		}
	}

	if strings.TrimSpace(spec.EnvironmentID) == "" {
		return nil, core.Invalid("properties.environmentId", "The job needs an environment, for example \"azureml:AzureML-sklearn-1.5@latest\".")
	}
	if _, err := s.ResolveEnvironment(ctx, ref, spec.EnvironmentID); err != nil {
		return nil, asJobError(err, "properties.environmentId")
	}
	if spec.CodeID != "" {
		if _, err := s.JobCode(ctx, ws, spec.CodeID); err != nil {
			return nil, err
		}
	}
	n := spec.InstanceCount()
	if n < 1 || n > 100 {
		return nil, core.Invalid("properties.resources.instanceCount", "resources.instanceCount must be from 1 to 100, not %d.", n)
	}
	if isCluster {
		_, props := ComputeSpec(compute)
		if ss, err := ClusterScale(props); err == nil && n > ss.Max {
			return nil, core.Invalid("properties.resources.instanceCount",
				"The job asks for %d nodes but the cluster '%s' has at most %d (maxNodeCount). Lower instance_count or raise the cluster's max_instances.", n, compute.Name, ss.Max)
		}
	} else if n != 1 {
		return nil, core.Invalid("properties.resources.instanceCount", "A compute instance runs one node; instance_count must be 1, not %d. Use a compute cluster for distributed jobs.", n)
	}
	if d := spec.Distribution; d != nil {
		switch strings.ToLower(d.DistributionType) {
		case "pytorch", "mpi", "tensorflow":
		default:
			return nil, core.Invalid("properties.distribution.distributionType", "distributionType must be PyTorch, Mpi or TensorFlow, not %q.", d.DistributionType)
		}
		if c := spec.ProcessesPerInstance(); c < 1 || c > 64 {
			return nil, core.Invalid("properties.distribution.processCountPerInstance", "processCountPerInstance must be from 1 to 64, not %d.", c)
		}
	}
	if _, err := spec.Timeout(); err != nil {
		return nil, err
	}
	for k, v := range spec.EnvironmentVariables {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, core.Invalid("properties.environmentVariables", "Invalid environment variable name %q.", k)
		}
		switch v.(type) {
		case string, float64, bool, json.Number, nil:
		default:
			return nil, core.Invalid("properties.environmentVariables."+k, "Environment variable %s must be a string.", k)
		}
	}
	for k, in := range spec.Inputs {
		if err := s.checkJobInput(ctx, ws, k, in); err != nil {
			return nil, err
		}
	}
	outs, _ := pr["outputs"].(map[string]any)
	for k, out := range spec.Outputs {
		if !jobIOName.MatchString(k) {
			return nil, core.Invalid("properties.outputs."+k, "Invalid output name %q: use letters, digits and underscores, starting with a letter.", k)
		}
		o, _ := outs[k].(map[string]any)
		if o == nil {
			continue
		}
		switch strings.ToLower(out.JobOutputType) {
		case "uri_folder", "uri_file", "mltable", "custom_model", "mlflow_model", "triton_model":
		default:
			return nil, core.Invalid("properties.outputs."+k+".jobOutputType", "Output %s has jobOutputType %q; use uri_folder or uri_file.", k, out.JobOutputType)
		}
		if out.URI == "" {
			o["uri"] = "azureml://datastores/" + DatastoreBlob + "/paths/" + JobNamedOutputPath(name, k)
		} else if _, _, err := s.datastorePath(ctx, ws, out.URI, "properties.outputs."+k+".uri"); err != nil {
			return nil, err
		}
		if out.Mode == "" {
			o["mode"] = "ReadWriteMount"
		}
	}
	if spec.ExperimentName == "" {
		pr["experimentName"] = "Default"
	}
	if spec.DisplayName == "" {
		pr["displayName"] = name
	}
	if _, ok := pr["isArchived"]; !ok {
		pr["isArchived"] = false
	}
	return compute, nil
}

// jobCompute finds the compute a job names: an ARM id of this workspace's
// compute, "azureml:<name>" or "<name>". The SDK sends
// "…/computes/azureml:aml-cluster" for compute="azureml:aml-cluster", so
// the prefix is also stripped from the last segment.
func (s *Service) jobCompute(ctx context.Context, ws *store.Resource, id string) (*store.Resource, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, core.Invalid("properties.computeId", "The job needs a compute: the name of a compute cluster or instance of workspace '%s' (`mlw compute list`).", ws.Name)
	}
	name := core.StripAzureMLPrefix(id)
	if strings.HasPrefix(name, "/") {
		wref, rest, ok := core.ParseWorkspaceID(name)
		seg := strings.Split(rest, "/")
		if !ok || len(seg) != 2 || !strings.EqualFold(seg[0], "computes") {
			return nil, core.Invalid("properties.computeId", "computeId %q is not a compute: use its name or …/workspaces/<workspace>/computes/<name>.", id)
		}
		if !strings.EqualFold(wref.Workspace, ws.Name) || !strings.EqualFold(wref.ResourceGroup, WorkspaceRefOf(ws).ResourceGroup) {
			return nil, core.Invalid("properties.computeId", "The compute %q belongs to workspace '%s'; a job runs on a compute of its own workspace '%s'.", id, wref.Workspace, ws.Name)
		}
		name = core.StripAzureMLPrefix(seg[1])
	}
	c, err := s.Store.Get(ctx, core.KindCompute, WorkspaceKey(ws), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.InvalidCode("ComputeNotFound", "properties.computeId",
			"The compute '%s' was not found in workspace '%s'. Create it (`mlw compute create --name %s --type AmlCompute`) or pick one from `mlw compute list`.", name, ws.Name, name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	if c.Deleting {
		return nil, core.Conflict("ComputeBeingDeleted", "The compute '%s' is being deleted; submit the job to another compute.", c.Name)
	}
	switch ComputeTypeOf(c) {
	case AmlCompute, ComputeInstance:
	default:
		return nil, core.Invalid("properties.computeId", "The compute '%s' is a %s; jobs run on compute clusters and compute instances.", c.Name, ComputeTypeOf(c))
	}
	return c, nil
}

// asJobError turns a resolver's error about a referenced asset into a 400
// that names the job's field (the job request is what is wrong).
func asJobError(err error, target string) error {
	e, ok := core.AsError(err)
	if !ok || e.Status >= 500 {
		return err
	}
	c := *e
	c.Status = http.StatusBadRequest
	c.Target = target
	return &c
}

func (s *Service) checkJobInput(ctx context.Context, ws *store.Resource, k string, in JobInput) error {
	field := "properties.inputs." + k
	if !jobIOName.MatchString(k) {
		return core.Invalid(field, "Invalid input name %q: use letters, digits and underscores, starting with a letter.", k)
	}
	switch strings.ToLower(in.JobInputType) {
	case "literal":
		if len(in.Value) == 0 {
			return core.Invalid(field+".value", "Literal input %s needs a value.", k)
		}
		return nil
	case "uri_file", "uri_folder", "mltable", "custom_model", "mlflow_model", "triton_model":
	case "":
		return core.Invalid(field+".jobInputType", "Input %s needs a jobInputType: literal, uri_file or uri_folder.", k)
	default:
		return core.Invalid(field+".jobInputType", "Input %s has jobInputType %q; use literal, uri_file or uri_folder.", k, in.JobInputType)
	}
	if in.URI == "" {
		return core.Invalid(field+".uri", "Input %s needs a uri: azureml://datastores/<datastore>/paths/<path>, a blob URL of this server, or an http(s) URL.", k)
	}
	_, _, err := s.datastorePath(ctx, ws, in.URI, field+".uri")
	return err
}

// DataLocation is where a URI's data lives in the workspace's storage:
// a blob path of one container (the files are plain files on disk), or
// an external URL that a job downloads.
type DataLocation struct {
	Account, Container, Path string
	// URL is set for data outside mlw (http or https).
	URL string
}

// ResolveDataURI maps an input or output URI of a job to where its data is.
func (s *Service) ResolveDataURI(ctx context.Context, ws *store.Resource, uri string) (*DataLocation, error) {
	loc, _, err := s.datastorePath(ctx, ws, uri, "uri")
	return loc, err
}

// datastorePath understands the URI forms a job's inputs and outputs use:
//
//	azureml://datastores/<ds>/paths/<path>
//	azureml://datastores/<ds>/<path>          (outputs.default's form)
//	azureml://jobs/<job>/outputs/artifacts/paths/<path>
//	https://<this server>/blob/<account>/<container>/<path>
//	https://<account>.blob.core.windows.net/<container>/<path>
//	http(s)://anything else (downloaded by the job)
func (s *Service) datastorePath(ctx context.Context, ws *store.Resource, uri, field string) (*DataLocation, bool, error) {
	lower := strings.ToLower(uri)
	account := WorkspaceStatusOf(ws).StorageAccount
	switch {
	case strings.HasPrefix(lower, "azureml://datastores/"):
		rest := uri[len("azureml://datastores/"):]
		dsName, p, _ := strings.Cut(rest, "/")
		p = strings.TrimPrefix(p, "paths/")
		ds, err := s.datastoreOf(ctx, ws, dsName)
		if err != nil {
			return nil, false, asJobError(err, field)
		}
		acct, container := DatastoreLocation(ws, ds)
		return &DataLocation{Account: acct, Container: container, Path: strings.TrimPrefix(p, "/")}, true, nil
	case strings.HasPrefix(lower, "azureml://jobs/"):
		rest := uri[len("azureml://jobs/"):]
		job, p, _ := strings.Cut(rest, "/")
		p = strings.TrimPrefix(p, "outputs/artifacts/paths/")
		p = strings.TrimPrefix(p, "outputs/artifacts/")
		return &DataLocation{Account: account, Container: "azureml", Path: JobArtifactPrefix(job) + strings.TrimPrefix(p, "/")}, true, nil
	case strings.HasPrefix(lower, "azureml:"):
		return nil, false, core.Invalid(field, "%q names a data asset; mlw has no data assets yet. Use azureml://datastores/<datastore>/paths/<path> or a URL.", uri)
	case strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "http://"):
		host, path, _ := strings.Cut(uri[strings.Index(uri, "://")+3:], "/")
		path, _, _ = strings.Cut(path, "?")
		if rest, ok := strings.CutPrefix(path, "blob/"); ok {
			seg := strings.SplitN(rest, "/", 3)
			if len(seg) == 3 && seg[0] == account {
				return &DataLocation{Account: seg[0], Container: seg[1], Path: seg[2]}, true, nil
			}
		}
		if acct, ok := strings.CutSuffix(strings.ToLower(host), ".blob.core.windows.net"); ok && acct == account {
			c, p, _ := strings.Cut(path, "/")
			return &DataLocation{Account: acct, Container: c, Path: p}, true, nil
		}
		return &DataLocation{URL: uri}, false, nil
	}
	return nil, false, core.Invalid(field, "%q is not a URI mlw can read: use azureml://datastores/<datastore>/paths/<path> or an http(s) URL (local paths are uploaded by the CLI or SDK first).", uri)
}

// JobCode returns where a job's code snapshot is: the blob folder of the
// code version's codeUri.
func (s *Service) JobCode(ctx context.Context, ws *store.Resource, codeID string) (*DataLocation, error) {
	const field = "properties.codeId"
	id := core.StripAzureMLPrefix(strings.TrimSpace(codeID))
	var name, version string
	if strings.HasPrefix(id, "/") {
		wref, rest, ok := core.ParseWorkspaceID(id)
		seg := strings.Split(rest, "/")
		if !ok || len(seg) != 4 || !strings.EqualFold(seg[0], "codes") || !strings.EqualFold(seg[2], "versions") {
			return nil, core.Invalid(field, "codeId %q is not a code version: it looks like …/workspaces/<workspace>/codes/<name>/versions/<version>.", codeID)
		}
		if !strings.EqualFold(wref.Workspace, ws.Name) {
			return nil, core.Invalid(field, "The code %q belongs to workspace '%s'; a job uses code of its own workspace '%s'.", codeID, wref.Workspace, ws.Name)
		}
		name, version = seg[1], seg[3]
	} else if n, v, ok := strings.Cut(id, ":"); ok && n != "" && v != "" {
		name, version = n, v
	} else {
		return nil, core.Invalid(field, "codeId %q is not a code version: use …/codes/<name>/versions/<version> or azureml:<name>:<version>.", codeID)
	}
	v, err := s.assetVersion(ctx, ws, CodeAssets, name, version)
	if err != nil {
		return nil, asJobError(err, field)
	}
	uri, _ := props(Decode(v.Spec))["codeUri"].(string)
	loc, inStore, err := s.datastorePath(ctx, ws, uri, field)
	if err != nil {
		return nil, err
	}
	if !inStore {
		return nil, core.Invalid(field, "The code '%s' version '%s' points at %s, outside this workspace's storage; mlw runs code uploaded to its datastores.", name, version, uri)
	}
	return loc, nil
}

// updateJob applies a PUT to an existing job: only the mutable fields may
// differ.
func (s *Service) updateJob(ctx context.Context, job *store.Resource, doc map[string]any) (*store.Resource, bool, error) {
	if job.Deleting {
		return nil, false, core.ConflictRetry("JobBeingDeleted", retryDeletion, "The job '%s' is being deleted; once it is gone, the name can be used again.", job.Name)
	}
	old := Decode(job.Spec)
	oldPr, _ := old["properties"].(map[string]any)
	newPr, _ := doc["properties"].(map[string]any)
	for _, k := range jobImmutable {
		nv, sent := newPr[k]
		if !sent {
			continue
		}
		if k == "computeId" {
			if s, ok := nv.(string); ok && sameCompute(s, oldPr[k]) {
				continue
			}
		}
		if k == "outputs" && sameOutputs(nv, oldPr[k]) {
			continue
		}
		if !sameJSONValue(nv, oldPr[k]) && !(isEmptyJSON(nv) && isEmptyJSON(oldPr[k])) {
			return nil, false, core.Conflict("JobAlreadyExists",
				"A job named '%s' already exists, and its %s cannot change: only tags, properties, description, displayName and isArchived can. Submit it under another name (or leave the name out to get a new one).", job.Name, k)
		}
	}
	for _, k := range []string{"tags", "properties", "description", "displayName", "isArchived"} {
		if v, ok := newPr[k]; ok {
			oldPr[k] = v
		}
	}
	if v, ok := doc["tags"]; ok {
		old["tags"] = v
	}
	p := PrincipalFrom(ctx)
	// The reconciler may move the job meanwhile; the spec is admission's,
	// so it is re-applied on the current row.
	job, err := s.updateRetrying(ctx, job, func(job *store.Resource) (bool, error) {
		job.Spec = Encode(old)
		job.ModifiedBy = principalName(p)
		return false, nil
	})
	if err != nil {
		return nil, false, err
	}
	return job, false, nil
}

func sameCompute(sent string, stored any) bool {
	st, _ := stored.(string)
	last := func(s string) string {
		s = s[strings.LastIndex(s, "/")+1:]
		return strings.ToLower(core.StripAzureMLPrefix(s))
	}
	return last(sent) == last(st)
}

// sameOutputs compares outputs ignoring "default" and the server-filled
// uri and mode of named outputs.
func sameOutputs(sent, stored any) bool {
	a, _ := sent.(map[string]any)
	b, _ := stored.(map[string]any)
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			if k != "default" {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	if !slices.Equal(keys(a), keys(b)) {
		return false
	}
	for k := range b {
		x, _ := a[k].(map[string]any)
		y, _ := b[k].(map[string]any)
		if x == nil || y == nil {
			continue
		}
		if !strings.EqualFold(fmt.Sprint(x["jobOutputType"]), fmt.Sprint(y["jobOutputType"])) {
			return false
		}
	}
	return true
}

func sameJSONValue(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func isEmptyJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

// GetJob returns one job of a workspace.
func (s *Service) GetJob(ctx context.Context, ref core.WorkspaceRef, name string) (ws, job *store.Resource, err error) {
	ws, err = s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	job, err = s.Store.Get(ctx, core.KindJob, WorkspaceKey(ws), name)
	if errors.Is(err, store.ErrNotFound) {
		return ws, nil, core.NotFound("UserError", "The job '%s' was not found in workspace '%s'. List jobs with `mlw job list`.", name, ws.Name)
	}
	if err != nil {
		return ws, nil, core.Internal(err)
	}
	return ws, job, nil
}

// JobFilter selects jobs of a list.
type JobFilter struct {
	View ListView
	// JobType keeps jobs of this type ("Command").
	JobType string
	// Tag is "key" or "key=value".
	Tag string
	// Experiment keeps jobs of one experiment.
	Experiment string
	// Status keeps jobs in one status.
	Status string
	// Compute keeps jobs of one compute (its name).
	Compute string
	// Search keeps jobs whose name or display name contains it, in any
	// case (mlw's own parameter, mlwSearch: Azure's job list has none).
	Search string
	Page   Page
}

// ListJobs lists a workspace's jobs, newest first.
func (s *Service) ListJobs(ctx context.Context, ref core.WorkspaceRef, f JobFilter) (*store.Resource, []*store.Resource, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, "", err
	}
	o := store.ListOptions{Kind: core.KindJob, Parent: WorkspaceKey(ws), State: f.Status}
	if f.Compute != "" {
		o.Owner = WorkspaceKey(ws) + "/computes/" + strings.ToLower(core.StripAzureMLPrefix(f.Compute))
	}
	all, err := s.Store.List(ctx, o)
	if err != nil {
		return nil, nil, "", core.Internal(err)
	}
	tagKey, tagVal, hasVal := strings.Cut(f.Tag, "=")
	filterless := f.JobType == "" && f.Experiment == "" && f.Tag == ""
	search := newJobSearch(f.Search)
	var keep []*store.Resource
	for _, j := range all {
		if j.Deleting {
			continue
		}
		if search != nil && !search.keeps(j) {
			continue
		}
		// Decoding every spec is a third of the cost of a long history.
		// Specs are stored compact (Encode), so one that does not contain
		// "isArchived":true is not archived, and without filters on the
		// spec it needs no decoding.
		if filterless && !bytes.Contains(j.Spec, []byte(`"isArchived":true`)) {
			if f.View.Keeps(false) {
				keep = append(keep, j)
			}
			continue
		}
		spec, err := JobSpecOf(j)
		if err != nil {
			continue
		}
		if !f.View.Keeps(spec.IsArchived) {
			continue
		}
		if f.JobType != "" && !strings.EqualFold(spec.JobType, f.JobType) {
			continue
		}
		if f.Experiment != "" && !strings.EqualFold(spec.ExperimentName, f.Experiment) {
			continue
		}
		if f.Tag != "" {
			v, ok := spec.Tags[tagKey]
			if !ok || hasVal && fmt.Sprint(v) != tagVal {
				continue
			}
		}
		keep = append(keep, j)
	}
	sort.SliceStable(keep, func(a, b int) bool {
		if !keep[a].CreatedAt.Equal(keep[b].CreatedAt) {
			return keep[a].CreatedAt.After(keep[b].CreatedAt)
		}
		return keep[a].Name < keep[b].Name
	})
	page, next, err := PageSlice(keep, f.Page)
	return ws, page, next, err
}

// jobSearch is JobFilter.Search: a job whose name or display name
// contains the text, in any case.
type jobSearch struct {
	lower string
	// plain: the text has only ASCII characters that a stored spec holds
	// as they are (Encode escapes ", \, <, >, & and control characters),
	// so a spec without it in any case has no display name with it either,
	// and needs no decoding.
	plain bool
}

func newJobSearch(text string) *jobSearch {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	plain := true
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			plain = false
			break
		}
	}
	return &jobSearch{lower: strings.ToLower(text), plain: plain}
}

func (s *jobSearch) keeps(j *store.Resource) bool {
	if strings.Contains(strings.ToLower(j.Name), s.lower) {
		return true
	}
	if s.plain && !containsFoldASCII(j.Spec, s.lower) {
		return false
	}
	return strings.Contains(strings.ToLower(specDisplayName(j.Spec)), s.lower)
}

// specDisplayName reads properties.displayName of a stored job spec,
// scanning only as far as it and allocating nothing for what it skips: a
// search by display name reads every job's (10,000 for one page), and a
// whole decode of each would cost that page more than all else.
func specDisplayName(b []byte) string {
	i, ok := jsonEnter(b, 0)
	for ok {
		var key []byte
		if key, i, ok = jsonKey(b, i); !ok {
			return ""
		}
		if string(key) != "properties" {
			i, ok = jsonNext(b, jsonSkip(b, i))
			continue
		}
		for i, ok = jsonEnter(b, i); ok; i, ok = jsonNext(b, jsonSkip(b, i)) {
			if key, i, ok = jsonKey(b, i); !ok {
				return ""
			}
			if string(key) == "displayName" {
				var name string
				if end := jsonSkip(b, i); end > i {
					_ = json.Unmarshal(b[i:end], &name)
				}
				return name
			}
		}
		return ""
	}
	return ""
}

// The scanner of specDisplayName, for valid JSON (a stored spec): each
// takes and returns the offset of the next byte to read.

func jsonSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonEnter steps into an object: ok when it has a first member.
func jsonEnter(b []byte, i int) (int, bool) {
	i = jsonSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	i = jsonSpace(b, i+1)
	return i, i < len(b) && b[i] == '"'
}

// jsonKey reads a member's key (as written, without its quotes) and the
// colon after it.
func jsonKey(b []byte, i int) ([]byte, int, bool) {
	end := jsonSkip(b, i)
	if end <= i+1 {
		return nil, i, false
	}
	key := b[i+1 : end-1]
	i = jsonSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, i, false
	}
	return key, jsonSpace(b, i+1), true
}

// jsonNext steps over the comma to the next member: ok when there is one.
func jsonNext(b []byte, i int) (int, bool) {
	i = jsonSpace(b, i)
	if i >= len(b) || b[i] != ',' {
		return i, false
	}
	i = jsonSpace(b, i+1)
	return i, i < len(b) && b[i] == '"'
}

// jsonSkip returns the end of the value at i (a string, object, array or
// literal).
func jsonSkip(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			i++ // the closing quote
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			if depth == 0 {
				return i
			}
			depth--
			i++
		case depth == 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return i
		default:
			i++
		}
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return min(i, len(b))
		}
	}
	return len(b)
}

// containsFoldASCII reports whether b contains lower (lower-case ASCII) in
// any ASCII case.
func containsFoldASCII(b []byte, lower string) bool {
	if lower == "" {
		return true
	}
	// next is the position of the next c in b at or after from (len(b)
	// when there is none): candidates come from IndexByte, which is fast.
	next := func(c byte, from int) int {
		if k := bytes.IndexByte(b[from:], c); k >= 0 {
			return from + k
		}
		return len(b)
	}
	lo, up := lower[0], lower[0]
	if 'a' <= lo && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	atLo, atUp := next(lo, 0), len(b)
	if up != lo {
		atUp = next(up, 0)
	}
	for {
		i := min(atLo, atUp)
		if i+len(lower) > len(b) {
			return false
		}
		n := 1
		for ; n < len(lower); n++ {
			c := b[i+n]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[n] {
				break
			}
		}
		if n == len(lower) {
			return true
		}
		if i == atLo {
			atLo = next(lo, i+1)
		} else {
			atUp = next(up, i+1)
		}
	}
}

// CancelJob asks for a job to be canceled. It returns the job and an
// operation to poll, or no operation when the job had already ended.
func (s *Service) CancelJob(ctx context.Context, ref core.WorkspaceRef, name string) (*store.Resource, *store.Operation, error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, nil, err
	}
	_, job, err := s.GetJob(ctx, ref, name)
	if err != nil {
		return nil, nil, err
	}
	reason := "Canceled by " + principalName(p) + "."
	ok, err := s.RequestJobCancel(ctx, job, principalName(p), reason)
	if err != nil || !ok {
		return job, nil, err
	}
	op := &store.Operation{ID: NewUID(), ResourceID: ResourceOpKey(job), Name: "Cancel"}
	if err := s.Store.CreateOperation(ctx, op); err != nil {
		return nil, nil, core.Internal(fmt.Errorf("record cancel operation: %w", err))
	}
	// The job may have ended between the request and the operation: the
	// reconciler finishes every open operation of a terminal job.
	s.Queue.Enqueue(core.KindJob, Key(job))
	return job, op, nil
}

// RequestJobCancel moves a job to CancelRequested (guarded by version,
// retried on a lost race) and enqueues it. It reports false when the job
// had already ended (or is being deleted).
func (s *Service) RequestJobCancel(ctx context.Context, job *store.Resource, by, reason string) (bool, error) {
	ended := false
	job, err := s.updateRetrying(ctx, job, func(job *store.Resource) (bool, error) {
		if ended = JobTerminal(job.State) || job.Deleting; ended || job.State == JobCancelRequested {
			return true, nil
		}
		st := JobStatusOf(job)
		st.CancelRequest = &JobCancel{By: by, At: s.Now().UTC(), Reason: reason}
		job.Status = Encode(st)
		job.State = JobCancelRequested
		return false, nil
	})
	if err != nil || ended {
		return false, err
	}
	s.Queue.Enqueue(core.KindJob, Key(job))
	return true, nil
}

// DeleteJob starts deleting a job: it is stopped if it runs, then removed
// with its logs and artifacts (named outputs in datastores stay).
func (s *Service) DeleteJob(ctx context.Context, ref core.WorkspaceRef, name string) (*store.Operation, error) {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	_, job, err := s.GetJob(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	return s.startDeleteKeyed(ctx, job, ResourceOpKey(job))
}

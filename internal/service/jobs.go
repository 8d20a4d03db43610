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
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
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

// jobReadOnly are properties the server owns; a client sending them back
// (GET, edit, PUT) changes nothing.
var jobReadOnly = []string{"status", "mlw", "parameters", "creationContext", "logFiles"}

// jobImmutable are properties a PUT on an existing job may not change.
var jobImmutable = []string{"jobType", "command", "codeId", "environmentId", "computeId", "inputs", "outputs",
	"environmentVariables", "resources", "distribution", "limits", "experimentName", "identity"}

// PutJob creates a job (NotStarted) or updates the mutable fields of an
// existing one. created reports a new job.
func (s *Service) PutJob(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (*resource.Object, bool, error) {
	_, job, created, err := s.PutJobIn(ctx, ref, name, body)
	return job, created, err
}

// PutJobIn is PutJob that also returns the job's workspace (which a
// response renders with), read once.
func (s *Service) PutJobIn(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (ws, job *resource.Object, created bool, err error) {
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
	for _, k := range []string{"id", "name", "type", "systemData", resource.IntentKey} {
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
	var spec resource.JobSpec
	if err := (&Body{Raw: resource.Encode(pr)}).Into(&spec); err != nil {
		if e, ok := core.AsError(err); ok && e.Target != "" && e.Target != "body" {
			e.Target = "properties." + e.Target
			e.Message = strings.Replace(e.Message, "Field \"", "Field \"properties.", 1)
		}
		return nil, nil, false, err
	}
	existing, err := s.Store.Get(ctx, core.KindJob, resource.WorkspaceKey(ws), name)
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
	st := &resource.JobStatus{Reason: "Submitted; waiting to be queued.", WorkspaceUID: ws.UID, ComputeUID: compute.UID}
	if p != nil {
		st.SubmitterID = p.UserID
	}
	st.Enter(resource.JobNotStarted, now)
	job = &resource.Object{Kind: core.KindJob, Parent: resource.WorkspaceKey(ws), Name: name, UID: resource.NewUID(), Spec: resource.Encode(doc),
		Status: resource.Encode(st), State: resource.JobNotStarted, Owner: resource.ResourceOpKey(compute),
		CreatedAt: now, CreatedBy: principalName(p), ModifiedBy: principalName(p)}
	if err := s.Store.Create(ctx, job); err != nil {
		if errors.Is(err, store.ErrExists) {
			// A concurrent PUT of the same name won: treat this one as an
			// update of it.
			if existing, gerr := s.Store.Get(ctx, core.KindJob, resource.WorkspaceKey(ws), name); gerr == nil {
				job, created, err = s.updateJob(ctx, existing, doc)
				return ws, job, created, err
			}
		}
		return nil, nil, false, storeErr(err, "job", name)
	}
	s.Queue.Enqueue(core.KindJob, resource.Key(job))
	return ws, job, true, nil
}

// admitJob validates a new job's properties and normalises them in pr:
// computeId becomes the compute's ARM id, named outputs get their default
// paths, experimentName and displayName their defaults.
func (s *Service) admitJob(ctx context.Context, ws *resource.Object, name string, spec *resource.JobSpec, pr map[string]any) (*resource.Object, error) {
	if err := checkJobCommand(spec, pr); err != nil {
		return nil, err
	}
	compute, err := s.admitJobCompute(ctx, ws, spec, pr)
	if err != nil {
		return nil, err
	}
	if err := s.checkJobEnvironmentAndCode(ctx, ws, spec); err != nil {
		return nil, err
	}
	if err := checkJobResources(spec, compute); err != nil {
		return nil, err
	}
	if err := checkJobEnvironmentVariables(spec); err != nil {
		return nil, err
	}
	for k, in := range spec.Inputs {
		if err := s.checkJobInput(ctx, ws, k, in); err != nil {
			return nil, err
		}
	}
	if err := s.admitJobOutputs(ctx, ws, name, spec, pr); err != nil {
		return nil, err
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

// checkJobCommand checks that the job is a Command job (normalising the
// jobType's spelling in pr) with a command to run.
func checkJobCommand(spec *resource.JobSpec, pr map[string]any) error {
	if spec.JobType == "" {
		return core.Invalid("properties.jobType", "The job needs properties.jobType; mlw runs \"Command\" jobs.")
	}
	if !strings.EqualFold(spec.JobType, "Command") {
		return core.Invalid("properties.jobType", "jobType %q is not supported; mlw runs \"Command\" jobs (pipelines and sweeps are not available yet).", spec.JobType)
	}
	pr["jobType"] = "Command"
	if strings.TrimSpace(spec.Command) == "" {
		return core.Invalid("properties.command", "The job needs a command to run, for example \"python train.py\".")
	}
	return nil
}

// admitJobCompute finds the job's compute, writes its ARM id into pr, and
// checks that the caller may run jobs on it: anyone on a cluster, only the
// assigned user on an instance.
func (s *Service) admitJobCompute(ctx context.Context, ws *resource.Object, spec *resource.JobSpec, pr map[string]any) (*resource.Object, error) {
	compute, err := s.jobCompute(ctx, ws, spec.ComputeID)
	if err != nil {
		return nil, err
	}
	pr["computeId"] = resource.ComputeARMID(ws, compute)
	if resource.ComputeTypeOf(compute) == resource.ComputeInstance {
		// A job on an instance runs as the instance's user, in its home.
		if err := checkAssigned(PrincipalFrom(ctx), compute, resource.InstanceStatusOf(compute),
			"run jobs on it; submit to a compute cluster or to an instance of your own"); err != nil {
			return nil, err
		}
	}
	return compute, nil
}

// checkJobEnvironmentAndCode checks that the job names an environment that
// resolves, and that its code, if any, exists.
func (s *Service) checkJobEnvironmentAndCode(ctx context.Context, ws *resource.Object, spec *resource.JobSpec) error {
	if strings.TrimSpace(spec.EnvironmentID) == "" {
		return core.Invalid("properties.environmentId", "The job needs an environment, for example \"azureml:AzureML-sklearn-1.5@latest\".")
	}
	if _, err := s.ResolveEnvironment(ctx, resource.WorkspaceRefOf(ws), spec.EnvironmentID); err != nil {
		return asJobError(err, "properties.environmentId")
	}
	if spec.CodeID != "" {
		if _, err := s.JobCode(ctx, ws, spec.CodeID); err != nil {
			return err
		}
	}
	return nil
}

// checkJobResources checks the node count against the compute (at most a
// cluster's maxNodeCount; one on an instance), the distribution, and the
// timeout.
func checkJobResources(spec *resource.JobSpec, compute *resource.Object) error {
	n := spec.InstanceCount()
	if n < 1 || n > 100 {
		return core.Invalid("properties.resources.instanceCount", "resources.instanceCount must be from 1 to 100, not %d.", n)
	}
	if resource.ComputeTypeOf(compute) == resource.Kubernetes {
		cs, err := resource.ComputeSpecOf(compute)
		if err != nil {
			return core.Internal(fmt.Errorf("kubernetes compute %s: stored spec: %w", compute.Name, err))
		}
		if _, _, err := cs.Kubernetes.InstanceType(spec.InstanceType()); err != nil {
			return err
		}
	} else if resource.ComputeTypeOf(compute) == resource.AmlCompute {
		cs, err := resource.ComputeSpecOf(compute)
		if err != nil {
			return core.Internal(fmt.Errorf("cluster %s: stored spec: %w", compute.Name, err))
		}
		if max := cs.Cluster.Scale.Max; n > max {
			return core.Invalid("properties.resources.instanceCount",
				"The job asks for %d nodes but the cluster '%s' has at most %d (maxNodeCount). Lower instance_count or raise the cluster's max_instances.", n, compute.Name, max)
		}
	} else if n != 1 {
		return core.Invalid("properties.resources.instanceCount", "A compute instance runs one node; instance_count must be 1, not %d. Use a compute cluster for distributed jobs.", n)
	}
	if d := spec.Distribution; d != nil {
		switch strings.ToLower(d.DistributionType) {
		case "pytorch", "mpi", "tensorflow":
		default:
			return core.Invalid("properties.distribution.distributionType", "distributionType must be PyTorch, Mpi or TensorFlow, not %q.", d.DistributionType)
		}
		if c := spec.ProcessesPerInstance(); c < 1 || c > 64 {
			return core.Invalid("properties.distribution.processCountPerInstance", "processCountPerInstance must be from 1 to 64, not %d.", c)
		}
	}
	_, err := spec.Timeout()
	return err
}

// checkJobEnvironmentVariables checks that each environment variable has a
// valid name and a scalar value.
func checkJobEnvironmentVariables(spec *resource.JobSpec) error {
	for k, v := range spec.EnvironmentVariables {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return core.Invalid("properties.environmentVariables", "Invalid environment variable name %q.", k)
		}
		switch v.(type) {
		case string, float64, bool, json.Number, nil:
		default:
			return core.Invalid("properties.environmentVariables."+k, "Environment variable %s must be a string.", k)
		}
	}
	return nil
}

// admitJobOutputs checks the outputs' names, types and URIs, and gives each
// output in pr a default path on the workspace blob store and a default
// mode when it names none.
func (s *Service) admitJobOutputs(ctx context.Context, ws *resource.Object, name string, spec *resource.JobSpec, pr map[string]any) error {
	outs, _ := pr["outputs"].(map[string]any)
	for k, out := range spec.Outputs {
		if !jobIOName.MatchString(k) {
			return core.Invalid("properties.outputs."+k, "Invalid output name %q: use letters, digits and underscores, starting with a letter.", k)
		}
		o, _ := outs[k].(map[string]any)
		if o == nil {
			continue
		}
		switch strings.ToLower(out.JobOutputType) {
		case "uri_folder", "uri_file", "mltable", "custom_model", "mlflow_model", "triton_model":
		default:
			return core.Invalid("properties.outputs."+k+".jobOutputType", "Output %s has jobOutputType %q; use uri_folder or uri_file.", k, out.JobOutputType)
		}
		if out.URI == "" {
			o["uri"] = "azureml://datastores/" + resource.DatastoreBlob + "/paths/" + resource.JobNamedOutputPath(name, k)
		} else if _, _, err := s.datastorePath(ctx, ws, out.URI, "properties.outputs."+k+".uri"); err != nil {
			return err
		}
		if out.Mode == "" {
			o["mode"] = "ReadWriteMount"
		}
	}
	return nil
}

// jobCompute finds the compute a job names: an ARM id of this workspace's
// compute, "azureml:<name>" or "<name>". The SDK sends
// "…/computes/azureml:aml-cluster" for compute="azureml:aml-cluster", so
// the prefix is also stripped from the last segment.
func (s *Service) jobCompute(ctx context.Context, ws *resource.Object, id string) (*resource.Object, error) {
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
		if !strings.EqualFold(wref.Workspace, ws.Name) || !strings.EqualFold(wref.ResourceGroup, resource.WorkspaceRefOf(ws).ResourceGroup) {
			return nil, core.Invalid("properties.computeId", "The compute %q belongs to workspace '%s'; a job runs on a compute of its own workspace '%s'.", id, wref.Workspace, ws.Name)
		}
		name = core.StripAzureMLPrefix(seg[1])
	}
	c, err := s.Store.Get(ctx, core.KindCompute, resource.WorkspaceKey(ws), name)
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
	switch resource.ComputeTypeOf(c) {
	case resource.AmlCompute, resource.ComputeInstance, resource.Kubernetes:
	default:
		return nil, core.Invalid("properties.computeId", "The compute '%s' is a %s; jobs run on compute clusters, compute instances and Kubernetes computes.", c.Name, resource.ComputeTypeOf(c))
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

func (s *Service) checkJobInput(ctx context.Context, ws *resource.Object, k string, in resource.JobInput) error {
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

// ResolveDataURI maps an input or output URI of a job to where its data is.
func (s *Service) ResolveDataURI(ctx context.Context, ws *resource.Object, uri string) (*resource.DataLocation, error) {
	loc, _, err := s.datastorePath(ctx, ws, uri, "uri")
	return loc, err
}

// datastorePath understands the URI forms a job's inputs and outputs use:
//
//	azureml://datastores/<ds>/paths/<path>
//	azureml://subscriptions/<sub>/resourcegroups/<rg>/workspaces/<ws>/datastores/<ds>/paths/<path>
//	azureml://datastores/<ds>/<path>          (outputs.default's form)
//	azureml://jobs/<job>/outputs/artifacts/paths/<path>
//	https://<this server>/blob/<account>/<container>/<path>
//	https://<account>.blob.core.windows.net/<container>/<path>
//	http(s)://anything else (downloaded by the job)
func (s *Service) datastorePath(ctx context.Context, ws *resource.Object, uri, field string) (*resource.DataLocation, bool, error) {
	lower := strings.ToLower(uri)
	account := resource.WorkspaceStatusOf(ws).StorageAccount
	if long, ok := parseLongDatastoreURI(uri); ok {
		// The long form azure-ai-ml writes a model's path in.
		if !strings.EqualFold(long.ws.Workspace, ws.Name) {
			return nil, false, core.Invalid(field, "%q is in workspace '%s'; use a datastore of workspace '%s'.", uri, long.ws.Workspace, ws.Name)
		}
		uri, lower = "azureml://datastores/"+long.datastore+"/paths/"+long.path, "azureml://datastores/"
	}
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
		return &resource.DataLocation{Account: acct, Container: container, Path: strings.TrimPrefix(p, "/")}, true, nil
	case strings.HasPrefix(lower, "azureml://jobs/"):
		rest := uri[len("azureml://jobs/"):]
		job, p, _ := strings.Cut(rest, "/")
		p = strings.TrimPrefix(p, "outputs/artifacts/paths/")
		p = strings.TrimPrefix(p, "outputs/artifacts/")
		return &resource.DataLocation{Account: account, Container: "azureml", Path: resource.JobArtifactPrefix(job) + strings.TrimPrefix(p, "/")}, true, nil
	case strings.HasPrefix(lower, "azureml:"):
		return nil, false, core.Invalid(field, "%q names a data asset; mlw has no data assets yet. Use azureml://datastores/<datastore>/paths/<path> or a URL.", uri)
	case strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "http://"):
		host, path, _ := strings.Cut(uri[strings.Index(uri, "://")+3:], "/")
		path, _, _ = strings.Cut(path, "?")
		if rest, ok := strings.CutPrefix(path, "blob/"); ok {
			seg := strings.SplitN(rest, "/", 3)
			if len(seg) == 3 && seg[0] == account {
				return &resource.DataLocation{Account: seg[0], Container: seg[1], Path: seg[2]}, true, nil
			}
		}
		if acct, ok := strings.CutSuffix(strings.ToLower(host), ".blob.core.windows.net"); ok && acct == account {
			c, p, _ := strings.Cut(path, "/")
			return &resource.DataLocation{Account: acct, Container: c, Path: p}, true, nil
		}
		return &resource.DataLocation{URL: uri}, false, nil
	}
	return nil, false, core.Invalid(field, "%q is not a URI mlw can read: use azureml://datastores/<datastore>/paths/<path> or an http(s) URL (local paths are uploaded by the CLI or SDK first).", uri)
}

// JobCode returns where a job's code snapshot is: the blob folder of the
// code version's codeUri.
func (s *Service) JobCode(ctx context.Context, ws *resource.Object, codeID string) (*resource.DataLocation, error) {
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
	uri := resource.AssetSpecOf(v).Properties.CodeURI
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
func (s *Service) updateJob(ctx context.Context, job *resource.Object, doc map[string]any) (*resource.Object, bool, error) {
	if job.Deleting {
		return nil, false, core.ConflictRetry("JobBeingDeleted", retryDeletion, "The job '%s' is being deleted; once it is gone, the name can be used again.", job.Name)
	}
	old := resource.Decode(job.Spec)
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
	p := PrincipalFrom(ctx)
	// The job may change meanwhile (a cancel's intent): the mutable
	// fields are applied to the current spec.
	job, err := s.update(ctx, job, func(job *resource.Object) error {
		cur := resource.Decode(job.Spec)
		curPr, _ := cur["properties"].(map[string]any)
		if curPr == nil {
			curPr = map[string]any{}
			cur["properties"] = curPr
		}
		for _, k := range []string{"tags", "properties", "description", "displayName", "isArchived"} {
			if v, ok := newPr[k]; ok {
				curPr[k] = v
			}
		}
		if v, ok := doc["tags"]; ok {
			cur["tags"] = v
		}
		job.Spec = resource.Encode(cur)
		job.ModifiedBy = principalName(p)
		return nil
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
func (s *Service) GetJob(ctx context.Context, ref core.WorkspaceRef, name string) (ws, job *resource.Object, err error) {
	ws, err = s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	job, err = s.Store.Get(ctx, core.KindJob, resource.WorkspaceKey(ws), name)
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

// ListJobs lists a workspace's jobs, newest first, a page at a time: the
// store reads them in that order (an index), so a page costs the rows it
// reads, not the workspace's whole history.
func (s *Service) ListJobs(ctx context.Context, ref core.WorkspaceRef, f JobFilter) (*resource.Object, []*resource.Object, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, "", err
	}
	o := store.ListOptions{Kind: core.KindJob, Parent: resource.WorkspaceKey(ws), State: f.Status, NewestFirst: true}
	if f.Compute != "" {
		o.Owner = resource.WorkspaceKey(ws) + "/computes/" + strings.ToLower(core.StripAzureMLPrefix(f.Compute))
	}
	search := newJobSearch(f.Search)
	if search != nil && search.plain {
		// The database leaves out the jobs whose name and spec do not
		// contain the text; keeps checks the display name of the rest.
		o.Contains = search.lower
	}
	page, next, err := s.listFiltered(ctx, o, f.Page, f.keeps(search))
	return ws, page, next, err
}

// keeps is the part of the filter the store does not apply (search is
// f.Search's, nil for none).
func (f JobFilter) keeps(search *jobSearch) func(*resource.Object) bool {
	tagKey, tagVal, hasVal := strings.Cut(f.Tag, "=")
	filterless := f.JobType == "" && f.Experiment == "" && f.Tag == ""
	return func(j *resource.Object) bool {
		if j.Deleting {
			return false
		}
		if search != nil && !search.keeps(j) {
			return false
		}
		// Decoding every spec is a third of the cost of a long history.
		// Specs are stored compact (Encode), so one that does not contain
		// "isArchived":true is not archived, and without filters on the
		// spec it needs no decoding.
		if filterless && !bytes.Contains(j.Spec, []byte(`"isArchived":true`)) {
			return f.View.Keeps(false)
		}
		spec, err := resource.JobSpecOf(j)
		if err != nil || !f.View.Keeps(spec.IsArchived) {
			return false
		}
		if f.JobType != "" && !strings.EqualFold(spec.JobType, f.JobType) {
			return false
		}
		if f.Experiment != "" && !strings.EqualFold(spec.ExperimentName, f.Experiment) {
			return false
		}
		if f.Tag != "" {
			v, ok := spec.Tags[tagKey]
			if !ok || hasVal && fmt.Sprint(v) != tagVal {
				return false
			}
		}
		return true
	}
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

func (s *jobSearch) keeps(j *resource.Object) bool {
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
func (s *Service) CancelJob(ctx context.Context, ref core.WorkspaceRef, name string) (*resource.Object, *resource.Operation, error) {
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
	op := &resource.Operation{ID: resource.NewUID(), ResourceID: resource.ResourceOpKey(job), Name: "Cancel"}
	if err := s.Store.CreateOperation(ctx, op); err != nil {
		return nil, nil, core.Internal(fmt.Errorf("record cancel operation: %w", err))
	}
	// The job may have ended between the request and the operation: the
	// reconciler finishes every open operation of a terminal job.
	s.Queue.Enqueue(core.KindJob, resource.Key(job))
	return job, op, nil
}

// RequestJobCancel records the user's cancellation in the job's spec
// (resource.Intent, guarded by version, retried on a lost race) and
// enqueues the job: the job reconciler moves it to CancelRequested and
// stops it. It reports false when the job had already ended (or is being
// deleted).
func (s *Service) RequestJobCancel(ctx context.Context, job *resource.Object, by, reason string) (bool, error) {
	ended := false
	job, err := s.update(ctx, job, func(job *resource.Object) error {
		if ended = resource.JobTerminal(job.State) || job.Deleting; ended || job.State == resource.JobCancelRequested {
			return nil
		}
		in := resource.IntentOf(job.Spec)
		if in.Cancel != nil {
			return nil // asked already
		}
		in.Cancel = &resource.JobCancel{By: by, At: s.Now().UTC(), Reason: reason}
		job.Spec = resource.WithIntent(job.Spec, in)
		return nil
	})
	if err != nil || ended {
		return false, err
	}
	s.Queue.Enqueue(core.KindJob, resource.Key(job))
	return true, nil
}

// DeleteJob starts deleting a job: it is stopped if it runs, then removed
// with its logs and artifacts (named outputs in datastores stay).
func (s *Service) DeleteJob(ctx context.Context, ref core.WorkspaceRef, name string) (*resource.Operation, error) {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	_, job, err := s.GetJob(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	return s.startDeleteKeyed(ctx, job, resource.ResourceOpKey(job))
}

package api

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// SubmitOptions tune SubmitJob.
type SubmitOptions struct {
	// Progress, if set, reports uploads: what ("code src", "input data"),
	// bytes sent so far and the total.
	Progress func(what string, sent, total int64)
	// Notef, if set, receives a line for people about each step
	// ("Code unchanged: 0 bytes uploaded").
	Notef func(format string, args ...any)
}

// SubmitResult is what SubmitJob did.
type SubmitResult struct {
	Job *Job
	// Code is the code upload (nil when the job has no local code).
	Code *CodeUpload
	// Inputs are the uploads of local inputs, by input name.
	Inputs map[string]*Upload
	// EnvironmentID is the environmentId sent.
	EnvironmentID string
}

// SubmitJob does what azure-ai-ml does to submit a job file: it checks that
// the compute and datastores exist, resolves or registers the environment,
// uploads the code and local inputs (nothing when unchanged), and PUTs the
// job. Errors about the file name its line and field.
func (c *Client) SubmitJob(ctx context.Context, ws WorkspaceRef, f *JobFile, opts SubmitOptions) (*SubmitResult, error) {
	notef := opts.Notef
	if notef == nil {
		notef = func(string, ...any) {}
	}
	wsID, err := c.WorkspaceID(ctx, ws)
	if err != nil {
		return nil, err
	}
	if _, err := c.GetWorkspace(ctx, ws.Group, ws.Name); err != nil {
		return nil, err
	}
	s := &submission{c: c, ws: ws, wsID: wsID, f: f, job: f.Job, // a copy: f stays reusable
		res: &SubmitResult{Inputs: map[string]*Upload{}}, progress: opts.Progress, notef: notef}
	p := &s.job.Properties
	p.Inputs = cloneMap(p.Inputs)
	if err := s.checkCompute(ctx); err != nil {
		return nil, err
	}
	if err := s.checkDatastores(ctx); err != nil {
		return nil, err
	}
	envID, err := c.resolveJobEnvironment(ctx, ws, wsID, f)
	if err != nil {
		return nil, err
	}
	p.EnvironmentID = envID
	s.res.EnvironmentID = envID
	if err := s.code(ctx); err != nil {
		return nil, err
	}
	if err := s.uploadInputs(ctx); err != nil {
		return nil, err
	}
	out, err := c.CreateJob(ctx, ws, f.Name, &s.job)
	if err != nil {
		return nil, f.serverError(err)
	}
	s.res.Job = out
	return s.res, nil
}

// submission is one SubmitJob under way: the job it builds from the file
// and what it has done.
type submission struct {
	c        *Client
	ws       WorkspaceRef
	wsID     string
	f        *JobFile
	job      Job
	res      *SubmitResult
	progress func(what string, sent, total int64)
	notef    func(format string, args ...any)
}

// checkCompute sets the job's computeId and checks that the compute exists.
func (s *submission) checkCompute(ctx context.Context) error {
	p, f := &s.job.Properties, s.f
	p.ComputeID = f.ComputeID
	if p.ComputeID == "" {
		p.ComputeID = s.wsID + "/computes/" + f.Compute
	}
	if _, err := s.c.Do(ctx, http.MethodGet, s.wsID+"/computes/"+url.PathEscape(f.Compute), nil, nil); err != nil {
		if IsNotFound(err) {
			return f.Errorf("compute", "the compute %q was not found in workspace %s. Create it (mlw compute create --name %s --type AmlCompute --size STANDARD_DS11_V2) or pick one from `mlw compute list`", f.Compute, s.ws.Name, f.Compute)
		}
		return err
	}
	return nil
}

// checkDatastores checks the datastores named by azureml://datastores/
// paths.
func (s *submission) checkDatastores(ctx context.Context) error {
	f := s.f
	for _, ds := range sortedKeys(f.Datastores) {
		if _, err := s.c.Do(ctx, http.MethodGet, withVersion(s.wsID+"/datastores/"+url.PathEscape(ds), DatastoreAPIVersion), nil, nil); err != nil {
			if IsNotFound(err) {
				return f.Errorf(f.Datastores[ds], "the datastore %q was not found in workspace %s (every workspace has workspaceblobstore and workspaceartifactstore)", ds, s.ws.Name)
			}
			return err
		}
	}
	return nil
}

// code sets the job's codeId: a local folder is uploaded and registered as
// a code version, a code asset is referred to.
func (s *submission) code(ctx context.Context) error {
	p, f := &s.job.Properties, s.f
	switch {
	case f.Code != "":
		code, err := s.uploadCode(ctx)
		if err != nil {
			return err
		}
		s.res.Code = code
		p.CodeID = code.ID
	case f.CodeRef != "":
		ref := stripAzureML(f.CodeRef)
		if strings.HasPrefix(ref, "/") {
			p.CodeID = ref
		} else {
			name, version, ok := strings.Cut(ref, ":")
			if !ok || name == "" || version == "" {
				return f.Errorf("code", "%q: a code asset is azureml:<name>:<version>", f.CodeRef)
			}
			p.CodeID = s.wsID + "/codes/" + name + "/versions/" + version
		}
	}
	return nil
}

// uploadCode uploads the code folder (nothing when unchanged) and
// registers it as a code version.
func (s *submission) uploadCode(ctx context.Context) (*CodeUpload, error) {
	f := s.f
	snap, err := NewSnapshot(f.Code, SnapshotLimits{})
	if err != nil {
		return nil, f.Errorf("code", "%v", err)
	}
	var progress func(int64, int64)
	if s.progress != nil {
		progress = func(sent, total int64) { s.progress("code "+snap.Name, sent, total) }
	}
	up, err := s.c.UploadSnapshot(ctx, s.ws, snap, UploadOptions{Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("upload the code folder %s: %w", f.Code, err)
	}
	if up.Unchanged {
		s.notef("Code unchanged: 0 bytes uploaded (%s, %d files, %s)", up.Path, len(snap.Files), FormatBytes(snap.Size))
	} else {
		s.notef("Code uploaded: %s in %d files (%s)", FormatBytes(up.BytesUploaded), up.FilesUploaded, up.Path)
	}
	return s.c.CreateCodeVersion(ctx, s.ws, up)
}

// uploadInputs uploads the local inputs (nothing when unchanged) and
// points the job's inputs at the uploads.
func (s *submission) uploadInputs(ctx context.Context) error {
	p, f := &s.job.Properties, s.f
	for _, k := range sortedKeys(f.LocalInputs) {
		snap, err := NewSnapshot(f.LocalInputs[k], SnapshotLimits{MaxBytes: 1 << 62, MaxFiles: 1 << 30})
		if err != nil {
			return f.Errorf("inputs."+k+".path", "%v", err)
		}
		var progress func(int64, int64)
		if s.progress != nil {
			progress = func(sent, total int64) { s.progress("input "+k, sent, total) }
		}
		up, err := s.c.UploadSnapshot(ctx, s.ws, snap, UploadOptions{Datastore: f.InputDatastores[k], Version: uuid.NewString(), Progress: progress})
		if err != nil {
			return fmt.Errorf("upload input %s (%s): %w", k, f.LocalInputs[k], err)
		}
		if up.Unchanged {
			s.notef("Input %s unchanged: 0 bytes uploaded (%s)", k, up.Path)
		} else {
			s.notef("Input %s uploaded: %s in %d files (%s)", k, FormatBytes(up.BytesUploaded), up.FilesUploaded, up.Path)
		}
		in := p.Inputs[k]
		in.URI = up.DatastoreURI()
		p.Inputs[k] = in
		s.res.Inputs[k] = up
	}
	return nil
}

// serverError points an API error about a job field at the file's line.
func (f *JobFile) serverError(err error) error {
	var ae *Error
	if !errors.As(err, &ae) {
		return err
	}
	target := strings.TrimPrefix(ae.Target, "properties.")
	fields := map[string]string{"environmentId": "environment", "computeId": "compute", "codeId": "code",
		"command": "command", "limits": "limits", "distribution": "distribution", "resources": "resources"}
	field := ""
	for k, v := range fields {
		if target == k || strings.HasPrefix(target, k+".") {
			field = v
		}
	}
	if strings.HasPrefix(target, "inputs.") || strings.HasPrefix(target, "outputs.") {
		field = target
	}
	if field == "" {
		return err
	}
	return f.Errorf(field, "%s", ae.Error())
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// resolveJobEnvironment turns the job's environment into an environmentId,
// the way azure-ai-ml does: curated and registry names go as they are
// (the server resolves them), name@latest is looked up, name:version
// becomes an ARM id, and an inline environment is registered.
func (c *Client) resolveJobEnvironment(ctx context.Context, ws WorkspaceRef, wsID string, f *JobFile) (string, error) {
	e := f.Environment
	switch {
	case e.Inline != nil:
		version := AnonymousEnvironmentVersion(e.Inline.Image, e.Inline.CondaFile)
		p := wsID + "/environments/" + AnonymousEnvironmentName + "/versions/" + version
		props := map[string]any{"isAnonymous": true, "isArchived": false, "osType": "Linux"}
		if e.Inline.Image != "" {
			props["image"] = e.Inline.Image
		}
		if e.Inline.CondaFile != "" {
			props["condaFile"] = e.Inline.CondaFile
		}
		if e.Inline.Description != "" {
			props["description"] = e.Inline.Description
		}
		if len(e.Inline.Tags) > 0 {
			props["tags"] = e.Inline.Tags
		}
		if e.Inline.OSType != "" {
			props["osType"] = e.Inline.OSType
		}
		var out struct {
			ID string `json:"id"`
		}
		if _, err := c.Do(ctx, http.MethodPut, withVersion(p, AssetAPIVersion), map[string]any{"properties": props}, &out); err != nil {
			return "", f.Errorf("environment", "registering the inline environment failed: %v", err)
		}
		if out.ID != "" {
			return out.ID, nil
		}
		return p, nil
	case e.ID != "":
		return e.ID, nil
	case e.Latest:
		p := wsID + "/environments/" + url.PathEscape(e.Name) + "/versions?$orderBy=" + url.QueryEscape("createdtime desc") + "&$top=1"
		var page List[struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}]
		_, err := c.Do(ctx, http.MethodGet, withVersion(p, AssetAPIVersion), nil, &page)
		if err != nil && !IsNotFound(err) {
			return "", err
		}
		if err != nil || len(page.Value) == 0 {
			return "", f.Errorf("environment", "the environment %q has no version in workspace %s; create one with `mlw environment create --file env.yml`, or list them with `mlw environment list`", e.Name, ws.Name)
		}
		if page.Value[0].ID != "" {
			return page.Value[0].ID, nil
		}
		return wsID + "/environments/" + e.Name + "/versions/" + page.Value[0].Name, nil
	default:
		p := wsID + "/environments/" + url.PathEscape(e.Name) + "/versions/" + url.PathEscape(e.Version)
		if _, err := c.Do(ctx, http.MethodGet, withVersion(p, AssetAPIVersion), nil, nil); err != nil {
			if IsNotFound(err) {
				return "", f.Errorf("environment", "the environment %s:%s was not found in workspace %s; list environments with `mlw environment list`", e.Name, e.Version, ws.Name)
			}
			return "", err
		}
		return wsID + "/environments/" + e.Name + "/versions/" + e.Version, nil
	}
}

// AnonymousEnvironmentVersion is the version azure-ai-ml gives an inline
// environment: an MD5 over the MD5s of its image and conda file, combined
// as the SDK combines them (str.join).
func AnonymousEnvironmentVersion(image, condaFile string) string {
	md5hex := func(s string) string {
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	join := func(sep, s string) string {
		parts := strings.Split(s, "")
		return strings.Join(parts, sep)
	}
	h := ""
	if image != "" {
		h = join(h, md5hex(image))
	}
	if condaFile != "" {
		h = join(h, md5hex(condaFile))
	}
	return md5hex(h)
}

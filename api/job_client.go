package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Job is an Azure ML job (a command job, for mlw) as the API returns it.
type Job struct {
	ID         string        `json:"id,omitempty"`
	Name       string        `json:"name,omitempty"`
	Type       string        `json:"type,omitempty"`
	SystemData *SystemData   `json:"systemData,omitempty"`
	Properties JobProperties `json:"properties"`
}

// JobProperties are a command job's fields (azureml-resources §3.3).
type JobProperties struct {
	JobType              string                `json:"jobType"`
	Command              string                `json:"command,omitempty"`
	CodeID               string                `json:"codeId,omitempty"`
	EnvironmentID        string                `json:"environmentId,omitempty"`
	ComputeID            string                `json:"computeId,omitempty"`
	DisplayName          string                `json:"displayName,omitempty"`
	ExperimentName       string                `json:"experimentName,omitempty"`
	Description          string                `json:"description,omitempty"`
	IsArchived           bool                  `json:"isArchived"`
	Tags                 map[string]string     `json:"tags"`
	Properties           map[string]string     `json:"properties"`
	EnvironmentVariables map[string]string     `json:"environmentVariables"`
	Inputs               map[string]JobInput   `json:"inputs"`
	Outputs              map[string]JobOutput  `json:"outputs"`
	Resources            *JobResources         `json:"resources,omitempty"`
	Distribution         map[string]any        `json:"distribution,omitempty"`
	Limits               *JobLimits            `json:"limits,omitempty"`
	Identity             map[string]any        `json:"identity,omitempty"`
	Services             map[string]JobService `json:"services,omitempty"`
	QueueSettings        map[string]any        `json:"queueSettings,omitempty"`
	// Status is set by the server (NotStarted … Completed).
	Status string `json:"status,omitempty"`
	// MLW is mlw's account of the job (read-only; absent on Azure).
	MLW *JobMLW `json:"mlw,omitempty"`
}

// JobMLW is mlw's account of a job: why it waits or failed, when it
// entered each status, its attempts.
type JobMLW struct {
	Reason    string     `json:"reason,omitempty"`
	Phases    []JobPhase `json:"phases,omitempty"`
	Attempt   int        `json:"attempt,omitempty"`
	Nodes     []string   `json:"nodes,omitempty"`
	StartTime *time.Time `json:"startTime,omitempty"`
	EndTime   *time.Time `json:"endTime,omitempty"`
	ExitCode  *int       `json:"exitCode,omitempty"`
	Error     *Error     `json:"error,omitempty"`
	// Environment is the resolved environment and Python the interpreter
	// the job ran with.
	Environment string `json:"environment,omitempty"`
	Python      string `json:"python,omitempty"`
}

// JobPhase is when a job entered a status, and the reason it had when it
// left it (why it waited, for a Queued phase).
type JobPhase struct {
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// JobInput is one input: a literal (Value) or data (URI and Mode).
type JobInput struct {
	JobInputType string `json:"jobInputType"`
	Value        string `json:"value,omitempty"`
	URI          string `json:"uri,omitempty"`
	Mode         string `json:"mode,omitempty"`
	Description  string `json:"description,omitempty"`
}

// JobOutput is one output.
type JobOutput struct {
	JobOutputType string `json:"jobOutputType"`
	URI           string `json:"uri,omitempty"`
	Mode          string `json:"mode,omitempty"`
	AssetName     string `json:"assetName,omitempty"`
	AssetVersion  string `json:"assetVersion,omitempty"`
	Description   string `json:"description,omitempty"`
}

// JobResources say how many nodes a job takes.
type JobResources struct {
	InstanceCount int            `json:"instanceCount,omitempty"`
	InstanceType  string         `json:"instanceType,omitempty"`
	Properties    map[string]any `json:"properties"`
	ShmSize       string         `json:"shmSize,omitempty"`
	DockerArgs    string         `json:"dockerArgs,omitempty"`
}

// JobLimits bound a job's run time (an ISO 8601 duration).
type JobLimits struct {
	JobLimitsType string `json:"jobLimitsType"`
	Timeout       string `json:"timeout,omitempty"`
}

// JobService is an endpoint of a job (Studio, Tracking, …).
type JobService struct {
	JobServiceType string         `json:"jobServiceType,omitempty"`
	Endpoint       string         `json:"endpoint,omitempty"`
	Port           int            `json:"port,omitempty"`
	Nodes          map[string]any `json:"nodes,omitempty"`
	Properties     map[string]any `json:"properties,omitempty"`
	Status         string         `json:"status,omitempty"`
	ErrorMessage   string         `json:"errorMessage,omitempty"`
}

// JobTerminal reports whether a job status is final (the statuses after
// which azure-ai-ml stops streaming and allows a download).
func JobTerminal(status string) bool {
	switch status {
	case "Completed", "Failed", "Canceled", "NotResponding", "Paused":
		return true
	}
	return false
}

// JobPath is the ARM path of a job.
func (c *Client) JobPath(ctx context.Context, ws WorkspaceRef, name string) (string, error) {
	wsID, err := c.WorkspaceID(ctx, ws)
	if err != nil {
		return "", err
	}
	return wsID + "/jobs/" + url.PathEscape(name), nil
}

// CreateJob submits a job as it is (PUT {WS}/jobs/{name}); SubmitJob does
// the uploads and lookups that come first.
func (c *Client) CreateJob(ctx context.Context, ws WorkspaceRef, name string, job *Job) (*Job, error) {
	p, err := c.JobPath(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	var out Job
	if _, err := c.Do(ctx, http.MethodPut, p, job, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, ws WorkspaceRef, name string) (*Job, error) {
	p, err := c.JobPath(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	var out Job
	if _, err := c.Do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelJob asks the server to cancel a job and waits until it accepted
// (the job then moves to Canceled on its own).
func (c *Client) CancelJob(ctx context.Context, ws WorkspaceRef, name string) error {
	p, err := c.JobPath(ctx, ws, name)
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, http.MethodPost, p+"/cancel", nil, nil)
	if err != nil {
		return err
	}
	if resp.Header.Get("Azure-AsyncOperation") != "" {
		return c.Wait(ctx, resp, nil)
	}
	// Location polling: 202 while running, 200/204 when done.
	loc := resp.Header.Get("Location")
	for resp.StatusCode == http.StatusAccepted && loc != "" {
		if err := sleepCtx(ctx, retryAfter(resp, 200*time.Millisecond)); err != nil {
			return err
		}
		if resp, err = c.Do(ctx, http.MethodGet, loc, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

func retryAfter(resp *Response, def time.Duration) time.Duration {
	if s := resp.Header.Get("Retry-After"); s == "0" {
		return 50 * time.Millisecond
	}
	return def
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RunDetails is run history's view of a job (azureml-protocol §11.1).
type RunDetails struct {
	RunID        string            `json:"runId"`
	Status       string            `json:"status"`
	Target       string            `json:"target"`
	StartTimeUTC string            `json:"startTimeUtc"`
	EndTimeUTC   string            `json:"endTimeUtc"`
	Error        *RunError         `json:"error"`
	Warnings     []map[string]any  `json:"warnings"`
	LogFiles     map[string]string `json:"logFiles"`
}

// RunError wraps a run-history error object.
type RunError struct {
	Error *Error `json:"error"`
}

// HistoryBase returns the run-history base URL of a workspace: the "api"
// of its discovery document (fetched without credentials, as the SDK does).
func (c *Client) HistoryBase(ctx context.Context, ws WorkspaceRef) (string, error) {
	w, err := c.GetWorkspace(ctx, ws.Group, ws.Name)
	if err != nil {
		return "", err
	}
	if w.Properties.DiscoveryURL == "" {
		return c.BaseURL, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.Properties.DiscoveryURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("workspace discovery: %w", err)
	}
	defer resp.Body.Close()
	var doc map[string]string
	if err := decodeJSON(resp, &doc); err != nil {
		return "", fmt.Errorf("workspace discovery: %w", err)
	}
	if doc["api"] == "" {
		return c.BaseURL, nil
	}
	return strings.TrimRight(doc["api"], "/"), nil
}

// GetRunDetails reads a job's run-history details (status, error, log files).
func (c *Client) GetRunDetails(ctx context.Context, ws WorkspaceRef, historyBase, name string) (*RunDetails, error) {
	wsID, err := c.WorkspaceID(ctx, ws)
	if err != nil {
		return nil, err
	}
	var d RunDetails
	_, err = c.Do(ctx, http.MethodGet, historyBase+"/history/v1.0"+wsID+"/runs/"+url.PathEscape(name)+"/details", nil, &d)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Which run-history log files a stream follows: rank 0's user log (as
// azure-ai-ml does) and the preparation logs before it.
var (
	userLogRE  = regexp.MustCompile(`^user_logs/std_log[^\d]*0*(_ps)?\.txt$`)
	otherLogRE = regexp.MustCompile(`^(azureml-logs|system_logs|logs/azureml)/.*\.(txt|log)$`)
)

// streamedLog reports whether a log file of the given name is streamed.
func streamedLog(name string) bool {
	return userLogRE.MatchString(name) || otherLogRE.MatchString(name)
}

// StreamOptions tune StreamJob.
type StreamOptions struct {
	// Out receives the job's output: rank 0's user log (default io.Discard).
	Out io.Writer
	// Progress, if set, receives mlw's account of the job as it happens
	// (queueing, node assignment, environment preparation: the lifecycle
	// log), so that Out holds only what the job printed.
	Progress io.Writer
	// OnStatus, if set, is called when StreamJob learns a new status.
	OnStatus func(status string)
	// ReasonFunc, if set, is called with the job's status and mlw's
	// reason for it (properties.mlw.reason: why it is queued, what it
	// prepares) whenever either changes while the job is followed: the
	// job is read every PollInterval. It is called from one goroutine at a
	// time, but not the one that writes Progress.
	ReasonFunc func(status, reason string)
	// PollInterval is the longest wait between polls when the server has
	// no log-follow endpoint, and between reads of the job for ReasonFunc
	// (default 2 s).
	PollInterval time.Duration
}

// Log files of an mlw job (names under its artifacts).
const (
	JobLifecycleLog = "system_logs/lifecycler/execution-wrapper.log"
	JobUserLog      = "user_logs/std_log.txt"
)

// StreamJob follows a job's logs until the job ends and returns the final
// job. It uses mlw's log-follow endpoint (GET …/jobs/{name}/logs/{file}?
// follow=true, resumed from the last offset if the connection drops, as it
// does when the server restarts); against a server without it, it polls
// run history as azure-ai-ml does.
func (c *Client) StreamJob(ctx context.Context, ws WorkspaceRef, name string, opts StreamOptions) (*Job, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	job, err := c.GetJob(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	if opts.OnStatus != nil {
		opts.OnStatus(job.Properties.Status)
	}
	p, err := c.JobPath(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	if _, err := c.Do(ctx, http.MethodGet, p+"/logs", nil, nil); err != nil {
		if IsNotFound(err) {
			return c.streamRunHistory(ctx, ws, name, opts, job.Properties.Status)
		}
		return nil, err
	}
	user := JobUserLog
	if world := jobWorldSize(job); world > 1 {
		user = "user_logs/std_log_process_0.txt"
	}
	follows := []struct {
		file string
		w    io.Writer
	}{{user, opts.Out}}
	if opts.Progress != nil {
		follows = append(follows, struct {
			file string
			w    io.Writer
		}{JobLifecycleLog, opts.Progress})
	}
	errs := make(chan error, len(follows))
	for _, f := range follows {
		go func() { errs <- c.followLog(ctx, p, f.file, f.w) }()
	}
	watched := make(chan struct{})
	stopWatch := func() {}
	if opts.ReasonFunc != nil {
		wctx, cancel := context.WithCancel(ctx)
		stopWatch = func() { cancel(); <-watched }
		go func() {
			defer close(watched)
			c.watchReason(wctx, ws, name, job, opts)
		}()
	} else {
		close(watched)
	}
	for range follows {
		if err := <-errs; err != nil {
			stopWatch()
			return nil, err
		}
	}
	stopWatch()
	job, err = c.GetJob(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	if opts.OnStatus != nil {
		opts.OnStatus(job.Properties.Status)
	}
	return job, nil
}

// watchReason reports the job's status and reason, starting with those
// of job, and again whenever they change, until ctx ends. A failed read
// (the server restarting) is skipped: the log followers deal with it.
func (c *Client) watchReason(ctx context.Context, ws WorkspaceRef, name string, job *Job, opts StreamOptions) {
	last := ""
	report := func(j *Job) {
		reason := ""
		if j.Properties.MLW != nil {
			reason = j.Properties.MLW.Reason
		}
		if key := j.Properties.Status + "\x00" + reason; key != last {
			last = key
			opts.ReasonFunc(j.Properties.Status, reason)
		}
	}
	report(job)
	for sleepCtx(ctx, opts.PollInterval) == nil {
		if j, err := c.GetJob(ctx, ws, name); err == nil {
			report(j)
		}
	}
}

// jobWorldSize is the number of processes of a job.
func jobWorldSize(j *Job) int {
	n := 1
	if r := j.Properties.Resources; r != nil && r.InstanceCount > 1 {
		n = r.InstanceCount
	}
	if v, ok := j.Properties.Distribution["processCountPerInstance"].(float64); ok && v > 1 {
		n *= int(v)
	}
	return n
}

// followLog copies one log file to w as it grows, until the server ends
// the stream because the job has ended. A dropped connection (a server
// restart) is resumed from the last offset.
func (c *Client) followLog(ctx context.Context, jobPath, file string, w io.Writer) error {
	hc := *c.HTTP
	hc.Timeout = 0 // a follow lasts as long as the job
	var offset int64
	failures := 0
	for {
		u := c.BaseURL + jobPath + "/logs/" + file + "?follow=true&offset=" + fmt.Sprint(offset) + "&api-version=" + DefaultAPIVersion
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		if c.UserAgent != "" {
			req.Header.Set("User-Agent", c.UserAgent)
		}
		resp, err := hc.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var env struct {
				Error *Error `json:"error"`
			}
			if json.Unmarshal(raw, &env) == nil && env.Error != nil && resp.StatusCode < 500 {
				env.Error.StatusCode = resp.StatusCode
				return env.Error
			}
			err = fmt.Errorf("follow %s: %s", file, resp.Status)
		}
		if err == nil {
			n, cerr := io.Copy(w, resp.Body)
			resp.Body.Close()
			offset += n
			if n > 0 {
				failures = 0
			}
			if cerr == nil && resp.Trailer.Get("Mlw-Job-Status") != "" {
				return nil // the job ended and everything was sent
			}
			err = cerr
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The server went away (a restart) or the connection broke:
		// resume from offset, for up to about two minutes.
		failures++
		if failures > 60 {
			return fmt.Errorf("lost the log stream of %s: %w", file, err)
		}
		if err := sleepCtx(ctx, time.Duration(min(failures, 10))*200*time.Millisecond); err != nil {
			return err
		}
	}
}

// streamRunHistory follows a job through run history as azure-ai-ml does:
// details, then each log file, printing what was not printed yet.
func (c *Client) streamRunHistory(ctx context.Context, ws WorkspaceRef, name string, opts StreamOptions, lastStatus string) (*Job, error) {
	base, err := c.HistoryBase(ctx, ws)
	if err != nil {
		return nil, err
	}
	printed := map[string]int{}
	delay := 100 * time.Millisecond
	for {
		d, err := c.GetRunDetails(ctx, ws, base, name)
		if err != nil {
			return nil, err
		}
		if d.Status != lastStatus {
			lastStatus = d.Status
			if opts.OnStatus != nil {
				opts.OnStatus(d.Status)
			}
			delay = 100 * time.Millisecond
		}
		names := make([]string, 0, len(d.LogFiles))
		for n := range d.LogFiles {
			if streamedLog(n) {
				names = append(names, n)
			}
		}
		sort.Slice(names, func(i, j int) bool { return logOrder(names[i]) < logOrder(names[j]) })
		grew := false
		for _, n := range names {
			body, err := c.fetchLog(ctx, d.LogFiles[n])
			if err != nil {
				return nil, err
			}
			if len(body) <= printed[n] {
				continue
			}
			// Whole lines only, unless the job has ended.
			chunk := body[printed[n]:]
			if !JobTerminal(d.Status) {
				if i := strings.LastIndexByte(chunk, '\n'); i >= 0 {
					chunk = chunk[:i+1]
				} else {
					chunk = ""
				}
			}
			if chunk == "" {
				continue
			}
			w := opts.Out
			if !userLogRE.MatchString(n) {
				if w = opts.Progress; w == nil {
					w = opts.Out
				}
			}
			if _, err := io.WriteString(w, chunk); err != nil {
				return nil, err
			}
			printed[n] += len(chunk)
			grew = true
		}
		if JobTerminal(d.Status) {
			return c.GetJob(ctx, ws, name)
		}
		if grew {
			delay = 100 * time.Millisecond
		} else {
			delay = min(2*delay, opts.PollInterval)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// logOrder sorts preparation logs before user logs.
func logOrder(name string) string {
	if strings.HasPrefix(name, "user_logs/") {
		return "1" + name
	}
	return "0" + name
}

// fetchLog downloads a log file by URL, without credentials (the URL
// carries its own); a missing file is empty.
func (c *Client) fetchLog(ctx context.Context, u string) (string, error) {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.BaseURL + u
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch a log file: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if resp.StatusCode >= 300 {
		return "", fmt.Errorf("fetch a log file: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// DownloadOptions say what DownloadJob fetches.
type DownloadOptions struct {
	// Path is the local folder (default "."). Artifacts (outputs/, logs/,
	// user_logs/ of the job) go to <Path>/artifacts, named outputs to
	// <Path>/named-outputs/<name>, as azure-ai-ml lays them out.
	Path string
	// OutputName downloads one named output instead of the artifacts.
	OutputName string
	// All downloads the artifacts and every named output.
	All bool
	// Progress, if set, is called after each file with its local path and
	// size.
	Progress func(local string, size int64)
}

// DownloadResult counts what DownloadJob wrote.
type DownloadResult struct {
	Files int
	Bytes int64
	// Dirs are the local folders written (artifacts, named-outputs/x).
	Dirs []string
}

// DownloadJob downloads a finished job's artifacts and outputs.
func (c *Client) DownloadJob(ctx context.Context, ws WorkspaceRef, name string, opts DownloadOptions) (*DownloadResult, error) {
	job, err := c.GetJob(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	if !JobTerminal(job.Properties.Status) {
		return nil, fmt.Errorf("job %s is %s; its outputs can be downloaded once it has finished (follow it with `mlw job stream %s`)", name, job.Properties.Status, name)
	}
	if opts.Path == "" {
		opts.Path = "."
	}
	sources, err := downloadSources(job, name, opts)
	if err != nil {
		return nil, err
	}
	res := &DownloadResult{}
	containers := map[string]*BlobContainer{}
	for _, s := range sources {
		ds, prefix, ok := ParseDatastoreURI(s.uri)
		if !ok {
			return nil, fmt.Errorf("cannot download %s: only azureml://datastores/… locations can be downloaded", s.uri)
		}
		cont := containers[ds]
		if cont == nil {
			if cont, err = c.DatastoreContainer(ctx, ws, ds); err != nil {
				return nil, err
			}
			containers[ds] = cont
		}
		if err := downloadPrefix(ctx, cont, prefix, s.local, res, opts.Progress); err != nil {
			return nil, err
		}
		// The folder exists even when the output is empty (it says so).
		if err := os.MkdirAll(s.local, 0o755); err != nil {
			return nil, err
		}
		res.Dirs = append(res.Dirs, s.local)
	}
	return res, nil
}

// downloadSource is a datastore location DownloadJob fetches, and the
// local folder it goes to.
type downloadSource struct{ uri, local string }

// downloadSources are the locations DownloadJob fetches for opts: the
// artifacts, then the named outputs by name.
func downloadSources(job *Job, name string, opts DownloadOptions) ([]downloadSource, error) {
	var sources []downloadSource
	if opts.OutputName == "" || opts.All {
		uri := "azureml://datastores/" + WorkspaceArtifactStore + "/paths/ExperimentRun/dcid." + name + "/"
		if d, ok := job.Properties.Outputs["default"]; ok && d.URI != "" {
			uri = d.URI
		}
		sources = append(sources, downloadSource{uri, filepath.Join(opts.Path, "artifacts")})
	}
	var names []string
	for n := range job.Properties.Outputs {
		if n != "default" && (opts.All || n == opts.OutputName) {
			names = append(names, n)
		}
	}
	if opts.OutputName != "" && opts.OutputName != "default" && len(names) == 0 {
		return nil, noSuchOutput(job, name, opts.OutputName)
	}
	if opts.OutputName == "default" {
		sources = append(sources, downloadSource{job.Properties.Outputs["default"].URI, filepath.Join(opts.Path, "artifacts")})
	}
	sort.Strings(names)
	for _, n := range names {
		uri := job.Properties.Outputs[n].URI
		if uri == "" {
			uri = "azureml://datastores/" + WorkspaceBlobStore + "/paths/azureml/" + name + "/" + n + "/"
		}
		sources = append(sources, downloadSource{uri, filepath.Join(opts.Path, "named-outputs", n)})
	}
	return sources, nil
}

// noSuchOutput is the error for a named output the job does not have.
func noSuchOutput(job *Job, name, output string) error {
	have := make([]string, 0, len(job.Properties.Outputs))
	for n := range job.Properties.Outputs {
		if n != "default" {
			have = append(have, n)
		}
	}
	sort.Strings(have)
	if len(have) == 0 {
		return fmt.Errorf("job %s has no output named %s: it has no named outputs (download its artifacts without --output-name)", name, output)
	}
	return fmt.Errorf("job %s has no output named %s; its outputs are: %s", name, output, strings.Join(have, ", "))
}

// downloadPrefix downloads the blobs of cont under prefix (a folder when
// it ends in /, else one blob or a folder without the slash) into local,
// counting them in res.
func downloadPrefix(ctx context.Context, cont *BlobContainer, prefix, local string, res *DownloadResult, progress func(string, int64)) error {
	blobs, err := cont.List(ctx, prefix)
	if err != nil {
		return err
	}
	folder := strings.HasSuffix(prefix, "/") || prefix == ""
	for _, b := range blobs {
		rel := strings.TrimPrefix(b.Name, prefix)
		if !folder {
			if b.Name != prefix && !strings.HasPrefix(b.Name, prefix+"/") {
				continue
			}
			if b.Name == prefix {
				rel = path.Base(b.Name)
			} else {
				rel = strings.TrimPrefix(b.Name, prefix+"/")
			}
		}
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue
		}
		dst, err := safeJoin(local, rel)
		if err != nil {
			return err
		}
		n, err := downloadTo(ctx, cont, b.Name, dst)
		if err != nil {
			return err
		}
		res.Files++
		res.Bytes += n
		if progress != nil {
			progress(dst, n)
		}
	}
	return nil
}

// ParseDatastoreURI splits azureml://datastores/<ds>/paths/<p> into the
// datastore and the blob prefix. The artifact form without "paths/"
// (azureml://datastores/<ds>/ExperimentRun/dcid.<job>) is accepted too.
func ParseDatastoreURI(uri string) (datastore, prefix string, ok bool) {
	rest, found := strings.CutPrefix(uri, "azureml://datastores/")
	if !found {
		return "", "", false
	}
	ds, p, _ := strings.Cut(rest, "/")
	if ds == "" {
		return "", "", false
	}
	p = strings.TrimPrefix(p, "paths/")
	return ds, p, true
}

// safeJoin joins a blob path under dir, refusing paths that leave it.
func safeJoin(dir, rel string) (string, error) {
	clean := path.Clean("/" + rel)
	if clean == "/" {
		return "", fmt.Errorf("bad blob path %q", rel)
	}
	return filepath.Join(dir, filepath.FromSlash(clean[1:])), nil
}

func downloadTo(ctx context.Context, cont *BlobContainer, blob, local string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return 0, err
	}
	tmp := local + ".mlw-download"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := cont.Download(ctx, blob, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	return n, os.Rename(tmp, local)
}

func decodeJSON(resp *http.Response, v any) error {
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

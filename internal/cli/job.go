package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// jobColumns are the table columns of job lists.
var jobColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Display name", Path: "properties.displayName"},
	{Header: "Experiment", Path: "properties.experimentName"},
	{Header: "Status", Path: "properties.status"},
	{Header: "Compute", Func: func(d Doc) string { return lastSegment(str(d, "properties.computeId")) }},
	{Header: "Created", Func: func(d Doc) string { return shortTime(str(d, "systemData.createdAt")) }},
}

// jobShowColumns add why the job waits or failed.
var jobShowColumns = append(append([]column{}, jobColumns...), column{Header: "Details", Func: jobDetails})

func jobDetails(d Doc) string {
	if m := str(d, "properties.mlw.error.message"); m != "" {
		return m
	}
	return str(d, "properties.mlw.reason")
}

func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// shortTime shows an RFC 3339 time in local time, to the second.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func jobCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "job",
		Aliases: []string{"jobs"},
		Short:   "Submit and follow command jobs",
		Long: `Submit command jobs from Azure ML YAML files (commandJob.schema.json), follow
their logs, and download their outputs. The code folder is uploaded once per
content: resubmitting unchanged code uploads nothing.`,
		Example: `  mlw job create --file job.yml --stream
  mlw job list --experiment diabetes-training
  mlw job download teal_answer_v5t7yq9zwn --all`,
	}
	var s scope
	ws := func() (*api.Client, api.WorkspaceRef, error) {
		if err := app.resolveWorkspace(&s); err != nil {
			return nil, api.WorkspaceRef{}, err
		}
		c, err := app.Client()
		if err != nil {
			return nil, api.WorkspaceRef{}, err
		}
		return c, api.WorkspaceRef{Group: s.group, Name: s.workspace}, nil
	}
	var name string
	jobName := func(args []string, verb string) (string, error) {
		switch {
		case len(args) == 1 && name != "" && args[0] != name:
			return "", fmt.Errorf("two job names given (%s and --name %s): pass one", args[0], name)
		case len(args) == 1:
			return args[0], nil
		case name != "":
			return name, nil
		}
		return "", fmt.Errorf("pass the job's name: mlw job %s NAME (see `mlw job list`)", verb)
	}
	// getJob reads a job's REST document.
	getJob := func(ctx context.Context, c *api.Client, ref api.WorkspaceRef, name string) (Doc, error) {
		p, err := c.JobPath(ctx, ref, name)
		if err != nil {
			return nil, err
		}
		return app.getDoc(ctx, p)
	}
	// target resolves the job a verb acts on and its workspace's client.
	target := func(args []string, verb string) (*api.Client, api.WorkspaceRef, string, error) {
		n, err := jobName(args, verb)
		if err != nil {
			return nil, api.WorkspaceRef{}, "", err
		}
		c, ref, err := ws()
		return c, ref, n, err
	}
	addName := func(c *cobra.Command) {
		c.Flags().StringVarP(&name, "name", "n", "", "job name (or give it as the argument)")
		addWorkspaceFlags(c, &s)
	}

	// create
	var file string
	var sets []string
	var stream bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Submit a command job from a YAML file",
		Long: `Submit a command job described by an Azure ML job YAML file
(commandJob.schema.json): command, code, environment, compute, inputs,
outputs, environment_variables, display_name, experiment_name, description,
tags, resources.instance_count, distribution and limits.timeout.

The code folder and local input paths are uploaded to the workspaceblobstore
datastore, content-addressed as azure-ai-ml does (LocalUpload/<hash>/...),
honouring .amlignore (or .gitignore); unchanged content is not uploaded again.
--set overrides any field before the file is checked (dotted paths, YAML
values). Without --name the job gets a generated name like
teal_answer_v5t7yq9zwn.

With --stream the command follows the job's output until it ends and exits
non-zero unless it completed; otherwise it prints the submitted job.`,
		Example: `  mlw job create --file job.yml
  mlw job create -f job.yml --stream
  mlw job create -f job.yml --set inputs.learning_rate=0.05 --set compute=azureml:gpu-cluster --name tuned_run_1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("pass the job file with --file/-f (an Azure ML command job YAML)")
			}
			f, err := api.ReadJobFile(file, api.JobFileOptions{Set: sets, Name: name})
			if err != nil {
				return err
			}
			c, ref, err := ws()
			if err != nil {
				return err
			}
			up := app.uploadProgress()
			res, err := c.SubmitJob(cmd.Context(), ref, f, api.SubmitOptions{
				Progress: up.report,
				Notef: func(format string, args ...any) {
					up.finish()
					app.errf(format+"\n", args...)
				},
			})
			up.finish()
			if err != nil {
				return err
			}
			app.errf("Submitted job %s to %s (status %s).\n", res.Job.Name, f.Compute, res.Job.Properties.Status)
			if stream {
				return app.streamJob(cmd.Context(), c, ref, res.Job.Name)
			}
			if app.peopleTable() {
				app.errf("Follow it with: mlw job stream %s\n", res.Job.Name)
			}
			doc, err := getJob(cmd.Context(), c, ref, res.Job.Name)
			if err != nil {
				return err
			}
			return app.printView(doc, view{shape: jobShape, cols: jobShowColumns})
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "the job's YAML file")
	create.Flags().StringArrayVar(&sets, "set", nil, "override a field of the file: dotted.path=value (repeatable)")
	create.Flags().BoolVarP(&stream, "stream", "s", false, "follow the job's output until it ends")
	create.Flags().StringVarP(&name, "name", "n", "", "job name (default: the file's name, or a generated one)")
	addWorkspaceFlags(create, &s)
	_ = create.MarkFlagFilename("file", "yml", "yaml")

	// show
	show := &cobra.Command{
		Use:     "show [NAME]",
		Short:   "Show a job",
		Example: "  mlw job show teal_answer_v5t7yq9zwn\n  mlw job show --name teal_answer_v5t7yq9zwn --output yaml",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, n, err := target(args, "show")
			if err != nil {
				return err
			}
			doc, err := getJob(cmd.Context(), c, ref, n)
			if err != nil {
				return err
			}
			return app.printView(doc, view{shape: jobShape, cols: jobShowColumns})
		},
	}
	addName(show)

	// list
	var experiment string
	var maxResults int
	var allResults bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List jobs, newest first",
		Example: "  mlw job list\n  mlw job list --experiment diabetes-training --max-results 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ref, err := ws()
			if err != nil {
				return err
			}
			if maxResults < 1 && !allResults {
				return errors.New("--max-results must be at least 1 (or pass --all-results)")
			}
			wsID, err := c.WorkspaceID(cmd.Context(), ref)
			if err != nil {
				return err
			}
			next := wsID + "/jobs?listViewType=ActiveOnly"
			if experiment != "" {
				next += "&experimentName=" + url.QueryEscape(experiment)
			}
			docs := []Doc{}
			for next != "" && (allResults || len(docs) < maxResults) {
				var page api.List[Doc]
				if _, err := c.Do(cmd.Context(), "GET", next, nil, &page); err != nil {
					return err
				}
				for _, d := range page.Value {
					if experiment == "" || str(d, "properties.experimentName") == experiment {
						docs = append(docs, d)
					}
				}
				next = page.NextLink
			}
			if !allResults && len(docs) > maxResults {
				docs = docs[:maxResults]
			}
			return app.printView(docs, view{shape: jobShape, cols: jobColumns})
		},
	}
	list.Flags().StringVar(&experiment, "experiment", "", "only jobs of this experiment")
	list.Flags().IntVarP(&maxResults, "max-results", "r", 50, "list at most this many jobs")
	list.Flags().BoolVar(&allResults, "all-results", false, "list every job")
	addWorkspaceFlags(list, &s)

	// stream
	streamCmd := &cobra.Command{
		Use:   "stream [NAME]",
		Short: "Follow a job's output until it ends",
		Long: `Print the job's output (rank 0's user_logs/std_log.txt) as it is written, and
mlw's account of the job (queueing, environment preparation) and, whenever
it changes, why it waits (queued for nodes, a cluster scaling up or short of
room on the host, preparing) on stderr, until
the job ends. The command then prints the final status and exits non-zero
unless the job completed. Interrupting it leaves the job running.`,
		Example: "  mlw job stream teal_answer_v5t7yq9zwn\n  mlw job stream --name teal_answer_v5t7yq9zwn > train.log",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, n, err := target(args, "stream")
			if err != nil {
				return err
			}
			return app.streamJob(cmd.Context(), c, ref, n)
		},
	}
	addName(streamCmd)

	// cancel
	cancel := &cobra.Command{
		Use:     "cancel [NAME]",
		Short:   "Cancel a job (its whole process tree is stopped)",
		Example: "  mlw job cancel teal_answer_v5t7yq9zwn",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, n, err := target(args, "cancel")
			if err != nil {
				return err
			}
			app.errf("Canceling job %s...\n", n)
			start := time.Now()
			if err := c.CancelJob(cmd.Context(), ref, n); err != nil {
				return err
			}
			doc, err := getJob(cmd.Context(), c, ref, n)
			if err != nil {
				return err
			}
			app.errf("Job %s: %s (in %s)\n", n, str(doc, "properties.status"), time.Since(start).Round(10*time.Millisecond))
			return app.printView(doc, view{shape: jobShape, cols: jobShowColumns})
		},
	}
	addName(cancel)

	// download
	var outputName, downloadPath string
	var all bool
	download := &cobra.Command{
		Use:   "download [NAME]",
		Short: "Download a finished job's artifacts and outputs",
		Long: `Download what a finished job left: its artifacts (./outputs, ./logs and the
user logs) into <download-path>/artifacts, and with --output-name or --all its
named outputs into <download-path>/named-outputs/<name>, as az ml does.`,
		Example: "  mlw job download teal_answer_v5t7yq9zwn\n  mlw job download teal_answer_v5t7yq9zwn --output-name model --download-path ./results\n  mlw job download teal_answer_v5t7yq9zwn --all",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && outputName != "" {
				return errors.New("pass either --output-name or --all, not both")
			}
			c, ref, n, err := target(args, "download")
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if app.errIsTTY {
				bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(app.Err), progressbar.OptionSpinnerType(14),
					progressbar.OptionSetDescription("Downloading "+n), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
			}
			res, err := c.DownloadJob(cmd.Context(), ref, n, api.DownloadOptions{Path: downloadPath, OutputName: outputName, All: all,
				Progress: func(local string, size int64) {
					if bar != nil {
						_ = bar.Add(1)
					}
				}})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			app.errf("Downloaded %d files (%s) to %s\n", res.Files, api.FormatBytes(res.Bytes), strings.Join(res.Dirs, ", "))
			return nil
		},
	}
	download.Flags().StringVar(&outputName, "output-name", "", "download this named output (instead of the artifacts)")
	download.Flags().BoolVar(&all, "all", false, "download the artifacts and every named output")
	download.Flags().StringVarP(&downloadPath, "download-path", "p", ".", "local folder to download into")
	addName(download)

	cmd.AddCommand(create, show, list, streamCmd, cancel, download)
	return cmd
}

// streamJob follows a job to its end: its output on stdout, mlw's account
// of it on stderr, then the final status; an error unless it completed.
func (a *App) streamJob(ctx context.Context, c *api.Client, ref api.WorkspaceRef, name string) error {
	start := time.Now()
	a.errf("Streaming job %s (interrupting leaves it running).\n", name)
	progress := &lineWriter{w: a.Err}
	job, err := c.StreamJob(ctx, ref, name, api.StreamOptions{Out: a.Out, Progress: progress,
		ReasonFunc: func(status, reason string) {
			// Running and the end are in the log and the final line, and so
			// is a reason that names its own status ("Queued on
			// aml-cluster.", "Preparing on tvm-…"); the waits (for nodes, a
			// cluster scaling up or short of room on the host) are said
			// whenever they change.
			if reason == "" || status == "Running" || api.JobTerminal(status) || strings.HasPrefix(reason, status) {
				return
			}
			progress.line(a.paint(yellow, status+":") + " " + reason)
		}})
	progress.flush()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped following job %s; it keeps running (follow it again with `mlw job stream %s`)", name, name)
		}
		return err
	}
	st := job.Properties.Status
	web := ""
	if s, ok := job.Properties.Services["Studio"]; ok && s.Endpoint != "" {
		web = ", web view: " + s.Endpoint
	}
	switch st {
	case "Completed":
		// The job's own duration (submitted to ended) when known: it may
		// have ended before the stream began.
		took := time.Since(start)
		if m := job.Properties.MLW; m != nil && m.EndTime != nil && len(m.Phases) > 0 {
			took = m.EndTime.Sub(m.Phases[0].Time)
		}
		a.errf("%s job %s completed in %s%s\n", a.paint(green, "Done:"), name, took.Round(100*time.Millisecond), web)
		return nil
	case "Canceled":
		return fmt.Errorf("job %s was canceled%s", name, web)
	}
	msg := fmt.Sprintf("job %s ended %s", name, st)
	if m := job.Properties.MLW; m != nil && m.Error != nil && progress.said(m.Error.Message) {
		msg += " (the error is above)" // an environment build's, in the log
	} else if m != nil && m.Error != nil && m.Error.Message != "" {
		msg += ": " + m.Error.Message
	} else if m != nil && m.ExitCode != nil {
		msg += fmt.Sprintf(" (exit code %d)", *m.ExitCode)
	}
	return errors.New(msg + web)
}

// lineWriter serializes two writers of one stream (the lifecycle log
// and the status lines) so that neither cuts into a line of the other.
type lineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	tail    []byte // the last lines written, to tell whether a message was
}

// lineTail is how much of what it wrote a lineWriter remembers.
const lineTail = 64 << 10

// said reports whether msg was among the last lines written.
func (l *lineWriter) said(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return msg != "" && bytes.Contains(l.tail, []byte(msg))
}

func (l *lineWriter) remember(b []byte) {
	l.tail = append(l.tail, b...)
	if len(l.tail) > lineTail {
		l.tail = append([]byte(nil), l.tail[len(l.tail)-lineTail:]...)
	}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	if i := bytes.LastIndexByte(l.partial, '\n'); i >= 0 {
		if _, err := l.w.Write(l.partial[:i+1]); err != nil {
			return 0, err
		}
		l.remember(l.partial[:i+1])
		l.partial = append([]byte(nil), l.partial[i+1:]...)
	}
	return len(p), nil
}

// line writes one whole line between the lines of Write.
func (l *lineWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, s)
}

// flush writes what is left of an unfinished line.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		_, _ = l.w.Write(l.partial)
		l.partial = nil
	}
}

// uploadBars shows a progress bar for each large upload on a terminal.
type uploadBars struct {
	app  *App
	what string
	bar  *progressbar.ProgressBar
}

// largeUpload is the size from which an upload gets a progress bar.
const largeUpload = 1 << 20

func (a *App) uploadProgress() *uploadBars { return &uploadBars{app: a} }

func (u *uploadBars) report(what string, sent, total int64) {
	if !u.app.errIsTTY || total < largeUpload {
		return
	}
	if u.bar == nil || u.what != what {
		u.finish()
		u.what = what
		u.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(u.app.Err), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("Uploading "+what), progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount())
	}
	_ = u.bar.Set64(sent)
}

func (u *uploadBars) finish() {
	if u.bar != nil {
		_ = u.bar.Finish()
		u.bar = nil
	}
}

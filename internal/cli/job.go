package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

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
	cmd.AddCommand(jobCreateCmd(app), jobShowCmd(app), jobListCmd(app), jobStreamCmd(app), jobCancelCmd(app), jobDownloadCmd(app))
	return cmd
}

// jobWorkspace resolves the workspace of s (flags, then defaults) and
// returns its client and reference.
func (a *App) jobWorkspace(s *scope) (*api.Client, api.WorkspaceRef, error) {
	if err := a.resolveWorkspace(s); err != nil {
		return nil, api.WorkspaceRef{}, err
	}
	c, err := a.Client()
	if err != nil {
		return nil, api.WorkspaceRef{}, err
	}
	return c, api.WorkspaceRef{Group: s.group, Name: s.workspace}, nil
}

// jobDoc reads a job's REST document.
func (a *App) jobDoc(ctx context.Context, c *api.Client, ref api.WorkspaceRef, name string) (Doc, error) {
	p, err := c.JobPath(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	return a.getDoc(ctx, p)
}

// jobTarget is the job a verb acts on: the NAME argument or --name, in
// the workspace of -g and -w.
type jobTarget struct {
	scope
	name string
}

func (t *jobTarget) addFlags(c *cobra.Command) {
	c.Flags().StringVarP(&t.name, "name", "n", "", "job name (or give it as the argument)")
	addWorkspaceFlags(c, &t.scope)
}

// jobName is the job's name, from the argument or --name.
func (t *jobTarget) jobName(args []string, verb string) (string, error) {
	switch {
	case len(args) == 1 && t.name != "" && args[0] != t.name:
		return "", fmt.Errorf("two job names given (%s and --name %s): pass one", args[0], t.name)
	case len(args) == 1:
		return args[0], nil
	case t.name != "":
		return t.name, nil
	}
	return "", fmt.Errorf("pass the job's name: mlw job %s NAME (see `mlw job list`)", verb)
}

// resolve returns the job's workspace client and reference and its name.
func (t *jobTarget) resolve(app *App, args []string, verb string) (*api.Client, api.WorkspaceRef, string, error) {
	n, err := t.jobName(args, verb)
	if err != nil {
		return nil, api.WorkspaceRef{}, "", err
	}
	c, ref, err := app.jobWorkspace(&t.scope)
	return c, ref, n, err
}

func jobShowCmd(app *App) *cobra.Command {
	var t jobTarget
	cmd := &cobra.Command{
		Use:     "show [NAME]",
		Short:   "Show a job",
		Example: "  mlw job show teal_answer_v5t7yq9zwn\n  mlw job show --name teal_answer_v5t7yq9zwn --output yaml",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, n, err := t.resolve(app, args, "show")
			if err != nil {
				return err
			}
			doc, err := app.jobDoc(cmd.Context(), c, ref, n)
			if err != nil {
				return err
			}
			return app.printView(doc, view{shape: jobShape, cols: jobShowColumns})
		},
	}
	t.addFlags(cmd)
	return cmd
}

func jobListCmd(app *App) *cobra.Command {
	var s scope
	var experiment string
	var maxResults int
	var allResults bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List jobs, newest first",
		Example: "  mlw job list\n  mlw job list --experiment diabetes-training --max-results 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ref, err := app.jobWorkspace(&s)
			if err != nil {
				return err
			}
			if maxResults < 1 && !allResults {
				return errors.New("--max-results must be at least 1 (or pass --all-results)")
			}
			docs, err := listJobDocs(cmd.Context(), c, ref, experiment, maxResults, allResults)
			if err != nil {
				return err
			}
			return app.printView(docs, view{shape: jobShape, cols: jobColumns})
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "only jobs of this experiment")
	cmd.Flags().IntVarP(&maxResults, "max-results", "r", 50, "list at most this many jobs")
	cmd.Flags().BoolVar(&allResults, "all-results", false, "list every job")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// listJobDocs reads the REST documents of a workspace's jobs, newest
// first: those of experiment (all when empty), at most max unless all.
// They stay documents: an api.Job would drop fields that -o rest prints.
func listJobDocs(ctx context.Context, c *api.Client, ref api.WorkspaceRef, experiment string, max int, all bool) ([]Doc, error) {
	wsID, err := c.WorkspaceID(ctx, ref)
	if err != nil {
		return nil, err
	}
	next := wsID + "/jobs?listViewType=ActiveOnly"
	if experiment != "" {
		next += "&experimentName=" + url.QueryEscape(experiment)
	}
	docs := []Doc{}
	for next != "" && (all || len(docs) < max) {
		var page api.List[Doc]
		if _, err := c.Do(ctx, "GET", next, nil, &page); err != nil {
			return nil, err
		}
		for _, d := range page.Value {
			if experiment == "" || str(d, "properties.experimentName") == experiment {
				docs = append(docs, d)
			}
		}
		next = page.NextLink
	}
	if !all && len(docs) > max {
		docs = docs[:max]
	}
	return docs, nil
}

func jobCancelCmd(app *App) *cobra.Command {
	var t jobTarget
	cmd := &cobra.Command{
		Use:     "cancel [NAME]",
		Short:   "Cancel a job (its whole process tree is stopped)",
		Example: "  mlw job cancel teal_answer_v5t7yq9zwn",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, n, err := t.resolve(app, args, "cancel")
			if err != nil {
				return err
			}
			app.errf("Canceling job %s...\n", n)
			start := time.Now()
			if err := c.CancelJob(cmd.Context(), ref, n); err != nil {
				return err
			}
			doc, err := app.jobDoc(cmd.Context(), c, ref, n)
			if err != nil {
				return err
			}
			app.errf("Job %s: %s (in %s)\n", n, str(doc, "properties.status"), time.Since(start).Round(10*time.Millisecond))
			return app.printView(doc, view{shape: jobShape, cols: jobShowColumns})
		},
	}
	t.addFlags(cmd)
	return cmd
}

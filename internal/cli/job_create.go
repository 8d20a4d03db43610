package cli

import (
	"errors"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

func jobCreateCmd(app *App) *cobra.Command {
	var s scope
	var file, name string
	var sets []string
	var stream bool
	cmd := &cobra.Command{
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
			c, ref, err := app.jobWorkspace(&s)
			if err != nil {
				return err
			}
			res, err := app.submitJob(cmd, c, ref, f)
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
			doc, err := app.jobDoc(cmd.Context(), c, ref, res.Job.Name)
			if err != nil {
				return err
			}
			return app.printView(doc, view{shape: jobShape, cols: jobShowColumns})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the job's YAML file")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a field of the file: dotted.path=value (repeatable)")
	cmd.Flags().BoolVarP(&stream, "stream", "s", false, "follow the job's output until it ends")
	cmd.Flags().StringVarP(&name, "name", "n", "", "job name (default: the file's name, or a generated one)")
	addWorkspaceFlags(cmd, &s)
	_ = cmd.MarkFlagFilename("file", "yml", "yaml")
	return cmd
}

// submitJob submits a job file, with a progress bar for each large upload
// and a line for people about each step.
func (a *App) submitJob(cmd *cobra.Command, c *api.Client, ref api.WorkspaceRef, f *api.JobFile) (*api.SubmitResult, error) {
	up := a.uploadProgress()
	res, err := c.SubmitJob(cmd.Context(), ref, f, api.SubmitOptions{
		Progress: up.report,
		Notef: func(format string, args ...any) {
			up.finish()
			a.errf(format+"\n", args...)
		},
	})
	up.finish()
	return res, err
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

package cli

import (
	"errors"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

func jobDownloadCmd(app *App) *cobra.Command {
	var t jobTarget
	var outputName, downloadPath string
	var all bool
	cmd := &cobra.Command{
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
			c, ref, n, err := t.resolve(app, args, "download")
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
	cmd.Flags().StringVar(&outputName, "output-name", "", "download this named output (instead of the artifacts)")
	cmd.Flags().BoolVar(&all, "all", false, "download the artifacts and every named output")
	cmd.Flags().StringVarP(&downloadPath, "download-path", "p", ".", "local folder to download into")
	t.addFlags(cmd)
	return cmd
}

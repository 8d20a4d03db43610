package cli

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// ServerCommands are `mlw server status` and `mlw server stop`, which main
// adds under `mlw server`. They act on the server of one data directory,
// found by the lock it holds there, never on every mlw process of the
// machine.
func ServerCommands(app *App) []*cobra.Command {
	return []*cobra.Command{serverStatusCmd(app), serverStopCmd(app)}
}

var serverColumns = []column{
	{Header: "State", Func: func(d Doc) string {
		if d["running"] == true {
			return "Running"
		}
		return "Stopped"
	}},
	{Header: "PID", Path: "pid"},
	{Header: "URL", Path: "url"},
	{Header: "Version", Path: "version"},
	{Header: "Data directory", Path: "dataDir"},
}

func addDataDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "data-dir", "", "the server's data directory (default $MLW_HOME or ~/.mlw)")
}

func (a *App) inspectServer(dir string) (*api.LocalServerState, error) {
	if dir == "" {
		dir = a.Home
	}
	return api.InspectLocalServer(dir)
}

func serverStatusCmd(app *App) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say whether a server runs from the data directory, and where it listens",
		Long: `Say whether an mlw server runs from the data directory ($MLW_HOME, default
~/.mlw, or --data-dir): the process that holds the directory's lock, the URL
of its server.json, and the version it reports on /healthz.

The exit status is 0 while a server runs and 3 when none does, so scripts can
ask ` + "`mlw server status -o none`" + `.`,
		Example: "  mlw server status\n  mlw server status --data-dir /srv/mlw -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := app.inspectServer(dir)
			if err != nil {
				return err
			}
			doc := Doc{"dataDir": st.DataDir, "running": st.Running}
			if st.Running {
				doc["pid"] = float64(st.PID)
				doc["url"], doc["subscription"] = st.URL, st.Subscription
				doc["version"] = app.serverVersion(cmd.Context(), st)
			}
			if err := app.print(doc, serverColumns); err != nil {
				return err
			}
			if !st.Running {
				return &exitError{code: 3, msg: fmt.Sprintf("no mlw server is running from %s (start one with `mlw server`)", st.DataDir)}
			}
			return nil
		},
	}
	addDataDirFlag(cmd, &dir)
	return cmd
}

// serverVersion asks a running server's /healthz for its version ("" when
// it does not answer: still starting, or stuck).
func (a *App) serverVersion(ctx context.Context, st *api.LocalServerState) string {
	if st.URL == "" {
		return ""
	}
	ca, _ := api.ReadCAFile(st.DataDir + "/" + api.LocalCAFile)
	c, err := api.NewClient(st.URL, "", ca)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var h struct {
		Version string `json:"version"`
	}
	if _, err := c.Do(ctx, "GET", "/healthz", nil, &h); err != nil {
		return ""
	}
	return h.Version
}

func serverStopCmd(app *App) *cobra.Command {
	var dir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the server of the data directory (SIGTERM, then wait until it has stopped)",
		Long: `Stop the mlw server that runs from the data directory ($MLW_HOME, default
~/.mlw, or --data-dir): send SIGTERM to the process holding the directory's
lock, and wait until it has released it. In-flight requests finish first;
jobs and compute instances keep running, and the next ` + "`mlw server`" + ` picks
them up. Only that one process is signalled; other mlw servers on the machine
(other data directories) are left alone.

Stopping when no server runs is not an error.`,
		Example: "  mlw server stop\n  mlw server stop --data-dir /srv/mlw --timeout 2m",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := app.inspectServer(dir)
			if err != nil {
				return err
			}
			if !st.Running {
				app.errf("No mlw server is running from %s.\n", st.DataDir)
				return nil
			}
			start := time.Now()
			app.errf("Stopping mlw server (pid %d, data directory %s) ...\n", st.PID, st.DataDir)
			if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("signal mlw server (pid %d): %w", st.PID, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			for {
				now, err := api.InspectLocalServer(st.DataDir)
				if err != nil {
					return err
				}
				if !now.Running || now.PID != st.PID {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("the mlw server (pid %d) is still stopping after %s (finishing requests, closing the database); wait and run `mlw server status`, or end it with kill -KILL %d", st.PID, timeout, st.PID)
				case <-time.After(50 * time.Millisecond):
				}
			}
			app.errf("Stopped mlw server (pid %d) in %s.\n", st.PID, time.Since(start).Round(10*time.Millisecond))
			return nil
		},
	}
	addDataDirFlag(cmd, &dir)
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the server to stop")
	return cmd
}

// exitError ends the CLI with its own exit status (a status that is an
// answer, not a failure, such as `server status` of a stopped server).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

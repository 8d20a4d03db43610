package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

func jobStreamCmd(app *App) *cobra.Command {
	var t jobTarget
	cmd := &cobra.Command{
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
			c, ref, n, err := t.resolve(app, args, "stream")
			if err != nil {
				return err
			}
			return app.streamJob(cmd.Context(), c, ref, n)
		},
	}
	t.addFlags(cmd)
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

package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Build states of EnvBuildReport.Status.
const (
	EnvBuildNotNeeded  = "NotNeeded"
	EnvBuildNotStarted = "NotStarted"
	EnvBuildRunning    = "Running"
	EnvBuildSucceeded  = "Succeeded"
	EnvBuildFailed     = "Failed"
)

// EnvBuildReport answers GET …/environments/{name}/versions/{version}/buildLog.
type EnvBuildReport struct {
	Environment string     `json:"environment"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason"`
	BuiltAt     *time.Time `json:"builtAt,omitempty"`
	// Log is the build log (its last MaxBuildLog bytes); Truncated says
	// that its beginning was left out.
	Log       string `json:"log"`
	Truncated bool   `json:"truncated,omitempty"`
}

// MaxBuildLog is how much of a build log EnvironmentBuild returns.
const MaxBuildLog = 256 << 10

// EnvironmentBuild reports how an environment version's build went on
// this server, with its build log. Custom environments are built the
// first time a job uses them (internal/envbuild); curated ones run on the
// machine's Python and are never built.
func (s *Service) EnvironmentBuild(ctx context.Context, ref core.WorkspaceRef, name, version string) (*EnvBuildReport, error) {
	env, err := s.ResolveEnvironment(ctx, ref, "azureml:"+name+":"+version)
	if err != nil {
		return nil, err
	}
	rep := &EnvBuildReport{Environment: env.ID}
	var b resource.EnvBuild
	if s.EnvBuildFunc != nil {
		b = s.EnvBuildFunc(env)
	}
	switch {
	case env.Curated:
		rep.Status = EnvBuildNotNeeded
		rep.Reason = "Curated environments are not built: jobs run them on this machine's Python, and each job's preparation checks that their packages import (see the job's system_logs)."
		return rep, nil
	case s.EnvBuildFunc == nil:
		rep.Status = EnvBuildNotStarted
		rep.Reason = "This server builds no environments (it runs no jobs)."
		return rep, nil
	case !b.Needed:
		rep.Status = EnvBuildNotNeeded
		rep.Reason = "Nothing to build: the environment asks pip for no packages, so its jobs run on this machine's Python as it is."
		return rep, nil
	}
	log, truncated, err := tailFile(b.LogPath, MaxBuildLog)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, core.Internal(fmt.Errorf("read build log of environment %s:%s: %w", name, version, err))
	}
	rep.Log, rep.Truncated = log, truncated
	switch {
	case b.Building:
		rep.Status, rep.Reason = EnvBuildRunning, "Building: a job is waiting for it (its log follows here)."
	case b.Ready:
		at := b.BuiltAt.UTC()
		rep.Status, rep.BuiltAt = EnvBuildSucceeded, &at
		rep.Reason = "Built; every job that uses it reuses this build."
	case errors.Is(err, fs.ErrNotExist):
		rep.Status = EnvBuildNotStarted
		rep.Reason = "Not built yet: a custom environment is built the first time a job uses it, and cached for the jobs after."
	default:
		rep.Status = EnvBuildFailed
		rep.Reason = buildFailure(log)
	}
	return rep, nil
}

// buildFailure finds why a build failed in its log: the builder ends a
// failed build with an "ERROR: " line; a log without one is a build that
// was interrupted.
func buildFailure(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], "ERROR: "); ok {
			return msg
		}
	}
	return "The build did not finish (the server stopped during it); the next job that uses the environment builds it again."
}

// tailFile reads the last max bytes of a file, from the start of a line.
func tailFile(path string, max int64) (string, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	off := fi.Size() - max
	if off <= 0 {
		b, err := io.ReadAll(f)
		return string(b), false, err
	}
	b := make([]byte, max)
	n, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	b = b[:n]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b), true, nil
}

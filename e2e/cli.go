package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Command returns an `mlw args...` command set up like a user's shell on
// the server's machine: MLW_HOME is the server's data directory (so the
// CLI finds server.json, ca.crt and token there), no other MLW_ variable,
// NO_COLOR=1, and WorkDir as working directory. Use it for what Run does
// not cover (stdin, extra environment, a context).
func (s *Server) Command(ctx context.Context, args ...string) *exec.Cmd {
	return command(ctx, s.t, s.Dir, s.WorkDir, args...)
}

func command(ctx context.Context, t testing.TB, home, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = cleanEnv(home)
	cmd.Dir = dir
	return cmd
}

// Run runs the CLI and returns what it wrote and its exit code. It does not
// fail the test when the command fails; MustRun does.
func (s *Server) Run(args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	return RunMLW(s.t, s.Dir, s.WorkDir, args...)
}

// RunMLW runs `mlw args...` without a server of the harness, with
// MLW_HOME=home, no other MLW_ variable, and dir as working directory
// (for commands that need no server, or a server started by hand).
func RunMLW(t testing.TB, home, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*AwaitTimeout)
	defer cancel()
	cmd := command(ctx, t, home, dir, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("e2e: run mlw %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// MustRun runs the CLI, fails the test unless it exits 0, and returns its
// stdout.
func (s *Server) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	stdout, stderr, code := s.Run(args...)
	if code != 0 {
		t.Fatalf("e2e: mlw %s exited %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), code, stderr, stdout)
	}
	return stdout
}

// MustRunJSON runs the CLI with --output json (the shape az ml prints:
// status, compute: azureml:…) and decodes its stdout into v.
func (s *Server) MustRunJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	s.mustRunDecode(t, v, "json", args...)
}

// MustRunREST runs the CLI with --output rest (the REST API's body:
// properties.status, …) and decodes its stdout into v.
func (s *Server) MustRunREST(t testing.TB, v any, args ...string) {
	t.Helper()
	s.mustRunDecode(t, v, "rest", args...)
}

func (s *Server) mustRunDecode(t testing.TB, v any, format string, args ...string) {
	t.Helper()
	out := s.MustRun(t, append(args, "--output", format)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("e2e: mlw %s printed something that is not the expected JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

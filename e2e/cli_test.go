package e2e

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// subcommands parses the "Available Commands:" section of a help text.
func subcommands(help string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(help))
	in := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			in = true
		case in && strings.TrimSpace(line) == "":
			in = false
		case in:
			names = append(names, strings.Fields(line)[0])
		}
	}
	return names
}

// helpFlagProblems finds flag lines of a help text that read wrong: a
// default said twice ("(default 4) (default 4)": the usage says it and
// pflag adds it), or a value name of several words (pflag takes a
// `quoted` word of the usage as the value's name: "--size mlw compute
// list-sizes").
func helpFlagProblems(help string) []string {
	var out []string
	for _, line := range strings.Split(help, "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "-") {
			continue
		}
		if strings.Count(line, "(default ") > 1 {
			out = append(out, "default given twice: "+trimmed)
		}
		left, _, ok := strings.Cut(trimmed, "   ")
		if !ok {
			continue
		}
		fields := strings.Fields(left)
		for i, f := range fields {
			if strings.HasPrefix(f, "--") && len(fields)-i-1 > 1 {
				out = append(out, "the value's name is several words: "+trimmed)
			}
		}
	}
	return out
}

// TestHelpHasExamples: every command, down to the leaves, shows an
// example in its --help; people learn a CLI from its examples.
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	home, dir := t.TempDir(), t.TempDir()
	seen := 0
	var walk func(path []string)
	walk = func(path []string) {
		stdout, stderr, code := RunMLW(t, home, dir, append(path, "--help")...)
		name := strings.Join(append([]string{"mlw"}, path...), " ")
		require.Zero(t, code, "%s --help: %s", name, stderr)
		// Report every command without an example, not just the first.
		if _, examples, ok := strings.Cut(stdout, "\nExamples:\n"); !ok {
			t.Errorf("%s --help shows no Examples section", name)
		} else if !strings.Contains(strings.SplitN(examples, "\n\n", 2)[0], "mlw") {
			t.Errorf("%s --help: the example should show an mlw command line", name)
		}
		for _, bad := range helpFlagProblems(stdout) {
			t.Errorf("%s --help: %s", name, bad)
		}
		seen++
		for _, sub := range subcommands(stdout) {
			walk(append(append([]string{}, path...), sub))
		}
	}
	walk(nil)
	require.Greater(t, seen, 10, "the walk found too few commands")
}

// TestCompletion: `mlw completion bash` prints a script that bash accepts,
// and flag values complete.
func TestCompletion(t *testing.T) {
	t.Parallel()
	home, dir := t.TempDir(), t.TempDir()
	stdout, stderr, code := RunMLW(t, home, dir, "completion", "bash")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "__start_mlw")

	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-c", "source /dev/stdin && complete -p mlw")
		cmd.Stdin = strings.NewReader(stdout)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "bash refused the completion script: %s", out)
		require.Contains(t, string(out), "mlw")
	}

	stdout, _, code = RunMLW(t, home, dir, "__complete", "--output", "")
	require.Zero(t, code)
	for _, v := range []string{"table", "json", "yaml", "none"} {
		require.Contains(t, stdout, v)
	}
	stdout, _, code = RunMLW(t, home, dir, "__complete", "workspace", "")
	require.Zero(t, code)
	for _, v := range []string{"create", "list", "show", "delete", "download-config"} {
		require.Contains(t, stdout, v)
	}
}

// TestOutputFormats: --output json, yaml and table print the same
// resources; stdout carries only them; errors go to stderr with a
// non-zero exit.
func TestOutputFormats(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "eastus", "--output", "table")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1", "--description", "first one")

	var fromJSON []map[string]any
	require.NoError(t, json.Unmarshal([]byte(s.MustRun(t, "workspace", "list", "--output", "json")), &fromJSON))
	require.Len(t, fromJSON, 1)
	var fromYAML []map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(s.MustRun(t, "workspace", "list", "-o", "yaml")), &fromYAML))
	require.Len(t, fromYAML, 1)
	require.Equal(t, fromJSON[0]["id"], fromYAML[0]["id"])
	require.Equal(t, "first one", fromYAML[0]["description"], "the shape az ml prints")
	var rest []map[string]any
	require.NoError(t, json.Unmarshal([]byte(s.MustRun(t, "workspace", "list", "-o", "rest")), &rest))
	require.Equal(t, "first one", rest[0]["properties"].(map[string]any)["description"], "-o rest: the REST body")

	// As in az, --output none prints nothing (the command still runs).
	require.Empty(t, s.MustRun(t, "group", "create", "-n", "rg-quiet", "-l", "eastus", "-o", "none"))
	s.MustRun(t, "group", "show", "-n", "rg-quiet")

	table := s.MustRun(t, "workspace", "list", "-o", "table")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 3, "header, rule, one row:\n%s", table)
	require.Equal(t, []string{"Name", "Location", "Status", "Description"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"ws1", "eastus", "Succeeded", "first", "one"}, strings.Fields(lines[2]))

	// A single resource in each format.
	var one map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(s.MustRun(t, "group", "show", "-n", "rg1", "-o", "yaml")), &one))
	require.Equal(t, "rg1", one["name"])
	require.Contains(t, s.MustRun(t, "group", "show", "-n", "rg1", "-o", "table"), "rg1")

	// Without a terminal the default is JSON, for scripts.
	require.NoError(t, json.Unmarshal([]byte(s.MustRun(t, "group", "list")), &fromJSON))

	// An unknown format is refused before anything is done.
	stdout, stderr, code := s.Run("group", "create", "-n", "rg2", "-l", "eastus", "-o", "xml")
	require.NotZero(t, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "xml")
	require.NotContains(t, s.MustRun(t, "group", "list"), "rg2", "a refused command must not act")

	// API errors: stderr, non-zero, nothing on stdout.
	stdout, stderr, code = s.Run("group", "show", "-n", "nosuchgroup", "-o", "json")
	require.NotZero(t, code)
	require.Empty(t, stdout)
	require.True(t, strings.HasPrefix(stderr, "ERROR: "), stderr)
	require.Contains(t, stderr, "nosuchgroup")

	// Usage errors too.
	stdout, stderr, code = s.Run("group", "create", "-l", "eastus")
	require.NotZero(t, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "name")
	// A mistyped verb fails (rather than printing help and exiting 0).
	stdout, stderr, code = s.Run("group", "craete", "-n", "rg3")
	require.NotZero(t, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "create", "suggest the verb that was meant")

	// No server to talk to: a message that says how to get one.
	stdout, stderr, code = RunMLW(t, t.TempDir(), t.TempDir(), "group", "list")
	require.NotZero(t, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "mlw server")
}

// Package cli is the mlw command line: `mlw <noun> <verb>`, mirroring
// `az ml`. It talks to the server only through the public api package.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// App carries what every command needs: where to talk, how to print.
type App struct {
	Out, Err io.Writer
	In       io.Reader
	Home     string

	output   string
	query    *query
	conn     api.Connection
	client   *api.Client
	profile  *api.Profile
	outIsTTY bool
	errIsTTY bool
}

// NewRoot builds the command tree. Extra commands (the server) are added by
// main.
func NewRoot(version string) (*cobra.Command, *App) {
	app := &App{Out: os.Stdout, Err: os.Stderr, In: os.Stdin, Home: api.Home()}
	app.outIsTTY = isatty.IsTerminal(os.Stdout.Fd())
	app.errIsTTY = isatty.IsTerminal(os.Stderr.Fd())
	root := &cobra.Command{
		Use:   "mlw",
		Short: "mlw: the Azure Machine Learning compute workflow, self-hosted",
		Long: `mlw runs Azure ML's compute workflow on your own machines: resource groups,
workspaces, compute instances and clusters, and command jobs, with the same
REST API, CLI verbs and YAML files as Azure ML.

Start a server with ` + "`mlw server`" + `; every other command is a client of it.`,
		Example: `  mlw server &
  mlw group create --name rg-dp100-labs --location eastus
  mlw workspace create --name mlw-dp100-labs -g rg-dp100-labs`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.VarP(outputFlag{&app.output}, "output", "o", "output format: table, json, yaml, tsv, rest (the REST API's body) or none (default: table on a terminal, json otherwise)")
	pf.Var(queryFlag{&app.query}, "query", "JMESPath query applied to the output, as az's --query (see https://jmespath.org), e.g. --query \"[].{name: name, status: status}\"")
	pf.StringVar(&app.conn.Server, "server", "", "server URL (default: $MLW_SERVER, the saved login, or the local server)")
	pf.StringVar(&app.conn.Token, "token", "", "API token (default: $MLW_TOKEN, the saved login, or the local server's token)")
	pf.StringVar(&app.conn.CAFile, "ca-file", "", "PEM file of the CA to trust for the server (default: the local server's CA)")
	pf.StringVar(&app.conn.Subscription, "subscription", "", "subscription id (default: the server's)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormatList, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(groupCmd(app), workspaceCmd(app), computeCmd(app), configureCmd(app), loginCmd(app), userCmd(app), tokenCmd(app), environmentCmd(app), modelCmd(app), datastoreCmd(app), fileCmd(app), envCmd(app), jobCmd(app), studioCmd(app), roleCmd(app))
	return root, app
}

// Execute runs the CLI and returns the process exit code. Errors go to
// stderr in the `az` style.
func Execute(ctx context.Context, root *cobra.Command, app *App) int {
	finishTree(root)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(app.Err, ee.msg)
		return ee.code
	}
	var ae *api.Error
	msg := err.Error()
	if errors.As(err, &ae) {
		msg = ae.Error()
		if ae.Target != "" && !strings.Contains(ae.Message, ae.Target) {
			msg += " (field: " + ae.Target + ")"
		}
	}
	fmt.Fprintln(app.Err, app.paint(red, "ERROR: ")+msg)
	return 1
}

// Client returns a client for the resolved server.
func (a *App) Client() (*api.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	conn, err := api.Resolve(a.Home, a.conn)
	if err != nil {
		return nil, err
	}
	c, err := api.Connect(conn)
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}

// clientSub returns the client and the subscription id to put in paths.
func (a *App) clientSub(ctx context.Context) (*api.Client, string, error) {
	c, err := a.Client()
	if err != nil {
		return nil, "", err
	}
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return nil, "", err
	}
	return c, sub, nil
}

// workspacePath resolves the scope's workspace (flags, then defaults) and
// returns a client and the workspace's ARM path.
func (a *App) workspacePath(ctx context.Context, s *scope) (*api.Client, string, error) {
	if err := a.resolveWorkspace(s); err != nil {
		return nil, "", err
	}
	c, sub, err := a.clientSub(ctx)
	if err != nil {
		return nil, "", err
	}
	return c, api.WorkspacePath(sub, s.group, s.workspace), nil
}

// Profile returns the saved CLI profile.
func (a *App) Profile() *api.Profile {
	if a.profile == nil {
		p, err := api.LoadProfile(a.Home)
		if err != nil {
			fmt.Fprintln(a.Err, "WARNING:", err)
			p = &api.Profile{Defaults: map[string]string{}}
		}
		a.profile = p
	}
	return a.profile
}

// format returns the output format in effect.
func (a *App) format() string {
	if a.output != "" {
		return a.output
	}
	if a.outIsTTY {
		return "table"
	}
	return "json"
}

// scope holds the -g / -w flags of a workspace-scoped command.
type scope struct {
	group, workspace string
}

func addGroupFlag(cmd *cobra.Command, s *scope) {
	cmd.Flags().StringVarP(&s.group, "resource-group", "g", "", "resource group (default: the one set with mlw configure --defaults group=NAME)")
}

func addWorkspaceFlags(cmd *cobra.Command, s *scope) {
	addGroupFlag(cmd, s)
	cmd.Flags().StringVarP(&s.workspace, "workspace-name", "w", "", "workspace (default: the one set with mlw configure --defaults workspace=NAME)")
}

// resolveGroup fills the group from defaults, or explains how to give one.
func (a *App) resolveGroup(s *scope) error {
	if s.group == "" {
		s.group = a.Profile().Defaults["group"]
	}
	if s.group == "" {
		return errors.New("a resource group is required: pass -g/--resource-group, or set a default with `mlw configure --defaults group=<name>`")
	}
	return nil
}

// resolveWorkspace fills group and workspace from defaults.
func (a *App) resolveWorkspace(s *scope) error {
	if err := a.resolveGroup(s); err != nil {
		return err
	}
	if s.workspace == "" {
		s.workspace = a.Profile().Defaults["workspace"]
	}
	if s.workspace == "" {
		return errors.New("a workspace is required: pass -w/--workspace-name, or set a default with `mlw configure --defaults workspace=<name>`")
	}
	return nil
}

// confirm asks a yes/no question on the terminal; without a terminal the
// user must pass --yes.
func (a *App) confirm(question string, yes bool) error {
	if yes {
		return nil
	}
	f, ok := a.In.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return errors.New("this deletes data: pass --yes to confirm when not running on a terminal")
	}
	fmt.Fprintf(a.Err, "%s (y/n): ", question)
	var answer string
	_, _ = fmt.Fscanln(a.In, &answer)
	if a := strings.ToLower(strings.TrimSpace(answer)); a == "y" || a == "yes" {
		return nil
	}
	return errors.New("canceled")
}

// outputFlag is the --output flag. It refuses an unknown format while the
// flags are parsed, so that no command acts (creates, deletes) before
// failing to print its result.
type outputFlag struct{ p *string }

func (o outputFlag) String() string { return *o.p }
func (o outputFlag) Type() string   { return "string" }

func (o outputFlag) Set(v string) error {
	for _, f := range outputFormatList {
		if v == f {
			*o.p = v
			return nil
		}
	}
	return errors.New("use " + outputFormats)
}

// outputFormatList are the --output formats: az's (json, yaml, table,
// tsv, none) and rest, the REST API's own body.
var outputFormatList = []string{"table", "json", "yaml", "tsv", "rest", "none"}

var outputFormats = "table, json, yaml, tsv, rest or none"

// finishTree completes the command tree once every command is in it (main
// adds the server): cobra's own help and completion commands get examples,
// and so does every noun, from its verbs' examples.
func finishTree(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	builtin := map[string]string{
		"help":       "  mlw help workspace create",
		"bash":       "  source <(mlw completion bash)\n  mlw completion bash > /etc/bash_completion.d/mlw",
		"zsh":        "  mlw completion zsh > \"${fpath[1]}/_mlw\"",
		"fish":       "  mlw completion fish > ~/.config/fish/completions/mlw.fish",
		"powershell": "  mlw completion powershell | Out-String | Invoke-Expression",
	}
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			for _, cmd := range append([]*cobra.Command{c}, c.Commands()...) {
				if cmd.Example == "" {
					cmd.Example = builtin[cmd.Name()]
				}
			}
		}
	}
	prepareNouns(root)
}

// prepareNouns visits every noun (a command that only groups verbs):
//   - without an example of its own it shows the first example of each verb;
//   - alone it shows its help, and with an unknown verb it fails. Left to
//     cobra, `mlw group craete` prints the help and exits 0, which hides
//     the typo from scripts.
func prepareNouns(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		prepareNouns(c)
	}
	if !cmd.HasParent() || !cmd.HasSubCommands() || cmd.Runnable() {
		return // the root checks its own arguments
	}
	if cmd.Example == "" {
		var lines []string
		for _, verb := range cmd.Commands() {
			if first, _, _ := strings.Cut(verb.Example, "\n"); verb.IsAvailableCommand() && first != "" {
				lines = append(lines, first)
			}
		}
		cmd.Example = strings.Join(lines, "\n")
	}
	cmd.Args = cobra.ArbitraryArgs
	// The verb's flags come with the mistyped verb; they are not the error.
	cmd.FParseErrWhitelist.UnknownFlags = true
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only for the root
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return errors.New(msg + " (see " + c.CommandPath() + " --help)")
	}
}

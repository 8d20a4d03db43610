package cli

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// studioCmd opens the studio in a browser with a one-time sign-in link.
func studioCmd(app *App) *cobra.Command {
	var noBrowser bool
	var page string
	var s scope
	cmd := &cobra.Command{
		Use:   "studio",
		Short: "Open the studio (mlw's web UI) in your browser, signed in as you",
		Long: `Print a one-time link that signs your browser in to the studio, the web UI
that mlw server serves at /studio, as the user of this CLI's token, and open it
in the default browser when there is one. The link works once, for two minutes;
the browser then holds a studio session (an HttpOnly cookie, valid 12 hours).
Users with a password (mlw user set-password) can also sign in at /studio with
their user name and password.

Without --page the link opens the list of workspaces (or, with -w, that
workspace). --page opens a page of a workspace: -g/-w, else the defaults set
with mlw configure --defaults. Pages: home, notebooks, compute, jobs,
environments, or one thing in them (compute/NAME, jobs/NAME,
environments/NAME); resource-groups needs no workspace.`,
		Example: "  mlw studio\n  mlw studio --no-browser\n  mlw studio --page compute\n  mlw studio --page jobs/teal_answer_v5t7yq9zwn -g rg-dp100-labs -w mlw-dp100-labs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := app.studioTarget(cmd, page, &s)
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			link, err := c.CreateSignInLink(cmd.Context(), target)
			if err != nil {
				return err
			}
			return app.printSignInLink(link, noBrowser)
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the link")
	cmd.Flags().StringVar(&page, "page", "", "a page of the studio to open: home, notebooks, compute, jobs, environments (of the workspace), or resource-groups")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// studioPages are the studio's pages of a workspace, as its URLs name
// them (/studio/ws/<subscription>/<group>/<workspace>/<page>).
var studioPages = []string{"home", "notebooks", "compute", "jobs", "environments"}

// studioTarget is the studio path a link opens: a workspace's page lives
// under /studio/ws/<subscription>/<group>/<workspace>/, so --page needs a
// workspace (flags, then the CLI's defaults, as every workspace command).
func (app *App) studioTarget(cmd *cobra.Command, page string, s *scope) (string, error) {
	page = strings.Trim(page, "/")
	first, rest, _ := strings.Cut(page, "/")
	first = strings.ToLower(first)
	switch {
	case page == "" && s.workspace == "":
		return "/studio/", nil
	case first == "resource-groups":
		return "/studio/resource-groups", nil
	case page != "" && !slices.Contains(studioPages, first):
		return "", fmt.Errorf("--page %s: the studio has no such page; use one of %s, or resource-groups", page, strings.Join(studioPages, ", "))
	}
	if err := app.resolveWorkspace(s); err != nil {
		return "", fmt.Errorf("--page %s opens a page of a workspace: %w", page, err)
	}
	_, sub, err := app.clientSub(cmd.Context())
	if err != nil {
		return "", err
	}
	p := "/studio/ws/" + url.PathEscape(sub) + "/" + url.PathEscape(s.group) + "/" + url.PathEscape(s.workspace)
	if first != "" && first != "home" {
		p += "/" + first
		if rest != "" {
			p += "/" + (&url.URL{Path: rest}).EscapedPath()
		}
	}
	return p, nil
}

// printSignInLink prints a one-time link (or its document with -o
// json|yaml) and opens it in the browser unless told not to.
func (app *App) printSignInLink(link *api.SignInLink, noBrowser bool) error {
	if app.structured() {
		return app.print(link, nil)
	}
	fmt.Fprintln(app.Out, link.URL)
	if !noBrowser && app.outIsTTY && openBrowser(link.URL) {
		app.errf("Opened in your browser (the link works once, until %s).\n", link.ExpiresOn)
	} else if app.outIsTTY {
		app.errf("Open this link in your browser; it works once, until %s.\n", link.ExpiresOn)
	}
	return nil
}

// readPassword reads a password: the first line of r (--password-stdin).
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on standard input: pipe it in, e.g. `printf '%%s\\n' \"$PW\" | mlw user set-password --name bob --password-stdin`")
	}
	return pw, nil
}

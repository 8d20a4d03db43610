package cli

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// studioCmd opens the studio in a browser with a one-time sign-in link.
func studioCmd(app *App) *cobra.Command {
	var noBrowser bool
	var page string
	cmd := &cobra.Command{
		Use:   "studio",
		Short: "Open the studio (mlw's web UI) in your browser, signed in as you",
		Long: `Print a one-time link that signs your browser in to the studio, the web UI
that mlw server serves at /studio, as the user of this CLI's token, and open it
in the default browser when there is one. The link works once, for two minutes;
the browser then holds a studio session (an HttpOnly cookie, valid 12 hours).
Users with a password (mlw user set-password) can also sign in at /studio with
their user name and password.`,
		Example: "  mlw studio\n  mlw studio --no-browser\n  mlw studio --page compute",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			target := "/studio/"
			if page != "" {
				target += (&url.URL{Path: strings.Trim(page, "/")}).EscapedPath()
			}
			link, err := c.CreateSignInLink(cmd.Context(), target)
			if err != nil {
				return err
			}
			return app.printSignInLink(link, noBrowser)
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the link")
	cmd.Flags().StringVar(&page, "page", "", "a page of the studio to open, e.g. compute or jobs")
	return cmd
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

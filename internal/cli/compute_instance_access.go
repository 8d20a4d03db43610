package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mlw-project/mlw/api"
)

// The verbs that reach into a compute instance: connect-ssh, terminal
// and open-jupyter.

func computeConnectSSHCmd(app *App) *cobra.Command {
	var s scope
	var name, keyFile string
	cmd := &cobra.Command{
		Use:   "connect-ssh",
		Short: "Open an SSH session on a compute instance (runs your ssh client)",
		Long: `Run the system ssh client against the instance's SSH endpoint, as user
azureuser on the port the instance reports. The instance needs SSH public
access and your public key (compute create --ssh-public-access --ssh-key-value).`,
		Example: "  mlw compute connect-ssh --name ci-1\n  mlw compute connect-ssh --name ci-1 --private-key-file-path ~/.ssh/id_ed25519",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			return runSSH(cmd.Context(), app, d, name, keyFile, args)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
	cmd.Flags().StringVar(&keyFile, "private-key-file-path", "", "private key to use (default: ssh's own choice)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// runSSH runs the system ssh client against the SSH endpoint of the
// instance d (its REST document), trusting exactly the host key the
// server reports; args go to ssh after the destination.
func runSSH(ctx context.Context, app *App, d Doc, name, keyFile string, args []string) error {
	port := str(d, "properties.properties.sshSettings.sshPort")
	if port == "" || str(d, "properties.properties.sshSettings.sshPublicAccess") != "Enabled" {
		return fmt.Errorf("the compute instance '%s' has no SSH endpoint: create it with --ssh-public-access --ssh-key-value @~/.ssh/id_ed25519.pub", name)
	}
	if st := str(d, "properties.properties.state"); st != "Running" {
		return fmt.Errorf("the compute instance '%s' is %s; start it with `mlw compute start --name %s`", name, st, name)
	}
	c, _ := app.Client()
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return err
	}
	user := str(d, "properties.properties.sshSettings.adminUserName")
	if user == "" {
		user = "azureuser"
	}
	sshArgs := []string{"-p", port}
	if hk := str(d, "properties.properties.sshSettings.hostPublicKey"); hk != "" {
		// Trust exactly the host key the server reports.
		kh, err := os.CreateTemp("", "mlw-known-hosts-")
		if err != nil {
			return err
		}
		defer os.Remove(kh.Name())
		fmt.Fprintf(kh, "[%s]:%s %s\n", u.Hostname(), port, hk)
		kh.Close()
		sshArgs = append(sshArgs, "-o", "UserKnownHostsFile="+kh.Name(), "-o", "StrictHostKeyChecking=yes")
	}
	if keyFile != "" {
		sshArgs = append(sshArgs, "-i", expandHome(keyFile))
	}
	sshArgs = append(append(sshArgs, user+"@"+u.Hostname()), args...)
	ssh := exec.CommandContext(ctx, "ssh", sshArgs...)
	ssh.Stdin, ssh.Stdout, ssh.Stderr = app.In, app.Out, app.Err
	if err := ssh.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("ssh exited with code %d", ee.ExitCode())
		}
		return fmt.Errorf("run ssh (install an OpenSSH client): %w", err)
	}
	return nil
}

func computeTerminalCmd(app *App) *cobra.Command {
	var s scope
	var name string
	cmd := &cobra.Command{
		Use:   "terminal",
		Short: "Attach this terminal to a shell inside a compute instance",
		Long: `Open a login shell on a PTY inside the instance through the server's
terminal WebSocket (the same endpoint the studio uses). Exit the shell (or
press Ctrl-D) to leave. Without a terminal on stdin, input is sent as is.`,
		Example: "  mlw compute terminal --name ci-1\n  echo 'ls ~/cloudfiles/code' | mlw compute terminal --name ci-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			return runTerminal(cmd.Context(), app, p)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func computeOpenJupyterCmd(app *App) *cobra.Command {
	var s scope
	var name, path string
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "open-jupyter",
		Short: "Open a compute instance's Jupyter in your browser (a one-time sign-in link)",
		Long: `Print a one-time link that signs your browser in to the instance's Jupyter,
and open it in the default browser when there is one. The link works once, for
two minutes; it gives the browser a session (a cookie for this instance's
Jupyter only, valid 12 hours) of the instance's assigned user. With --path the
link opens a notebook or folder of the workspace file share.`,
		Example: `  mlw compute open-jupyter --name ci-1
  mlw compute open-jupyter --name ci-1 --path "Users/me/Labs/04/Work with compute.ipynb" --no-browser`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			target, err := jupyterTarget(d, name, path)
			if err != nil {
				return err
			}
			c, _ := app.Client()
			link, err := c.CreateSignInLink(cmd.Context(), target)
			if err != nil {
				return err
			}
			return app.printSignInLink(link, noBrowser)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
	cmd.Flags().StringVar(&path, "path", "", "a notebook or folder of the file share to open, e.g. Users/me/lab.ipynb")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the link")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// jupyterTarget is the URL of the Jupyter of the running instance d (its
// REST document), at path of the file share when path is given.
func jupyterTarget(d Doc, name, path string) (string, error) {
	if t := str(d, "properties.computeType"); t != "ComputeInstance" {
		return "", fmt.Errorf("the compute '%s' is %s, not a compute instance: only instances have Jupyter", name, t)
	}
	if st := str(d, "properties.properties.state"); st != "Running" {
		return "", fmt.Errorf("the compute instance '%s' is %s; start it with `mlw compute start --name %s`", name, st, name)
	}
	base := ""
	if apps, ok := lookup(d, "properties.properties.applications").([]any); ok {
		for _, a := range apps {
			if m, ok := a.(map[string]any); ok && m["displayName"] == "Jupyter" {
				base = strings.TrimSuffix(fmt.Sprint(m["endpointUri"]), "tree")
			}
		}
	}
	if base == "" {
		return "", fmt.Errorf("the compute instance '%s' has no Jupyter: the mlw server's host needs Debian's jupyter-notebook package", name)
	}
	target := base + "tree"
	if path != "" {
		clean := strings.Trim(filepath.ToSlash(filepath.Clean("/"+path)), "/")
		kind := "tree/"
		if strings.HasSuffix(clean, ".ipynb") {
			kind = "notebooks/"
		}
		target = base + kind + (&url.URL{Path: clean}).EscapedPath()
	}
	return target, nil
}

// openBrowser opens url in the desktop's browser ($BROWSER, or xdg-open on
// a graphical session) and reports whether it started one.
func openBrowser(url string) bool {
	argv := []string{}
	if b := os.Getenv("BROWSER"); b != "" {
		argv = []string{b, url}
	} else if os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "" {
		argv = []string{"xdg-open", url}
	}
	if len(argv) == 0 {
		return false
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Start() != nil {
		return false
	}
	go func() { _ = cmd.Wait() }()
	return true
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, p[2:])
	}
	return p
}

// runTerminal speaks the terminal protocol (docs/instances.md): binary
// frames are bytes both ways, text frames carry JSON control messages.
func runTerminal(ctx context.Context, app *App, computePath string) error {
	c, err := app.Client()
	if err != nil {
		return err
	}
	in, _ := app.In.(*os.File)
	isTTY := in != nil && term.IsTerminal(int(in.Fd()))
	cols, rows := 80, 24
	if isTTY {
		if w, h, err := term.GetSize(int(in.Fd())); err == nil {
			cols, rows = w, h
		}
	}
	u := c.BaseURL + computePath + "/terminal?api-version=" + api.DefaultAPIVersion + "&cols=" + strconv.Itoa(cols) + "&rows=" + strconv.Itoa(rows)
	u = "ws" + strings.TrimPrefix(u, "http")
	hc := *c.HTTP
	hc.Timeout = 0
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.Token)
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: &hc, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.Body != nil {
			var env struct {
				Error *api.Error `json:"error"`
			}
			b, _ := io.ReadAll(resp.Body)
			if json.Unmarshal(b, &env) == nil && env.Error != nil {
				env.Error.StatusCode = resp.StatusCode
				return env.Error
			}
		}
		return fmt.Errorf("open the terminal: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 22)
	if isTTY {
		old, err := term.MakeRaw(int(in.Fd()))
		if err == nil {
			defer term.Restore(int(in.Fd()), old)
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(int(in.Fd())); err == nil {
					b, _ := json.Marshal(map[string]any{"type": "resize", "cols": w, "rows": h})
					_ = conn.Write(ctx, websocket.MessageText, b)
				}
			}
		}()
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := app.In.Read(buf)
			if n > 0 {
				if conn.Write(ctx, websocket.MessageBinary, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				if !isTTY {
					// End of piped input: end the shell too.
					_ = conn.Write(ctx, websocket.MessageBinary, []byte("\nexit\n"))
				}
				return
			}
		}
	}()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil
			}
			return fmt.Errorf("terminal: %w", err)
		}
		if typ == websocket.MessageBinary {
			if _, err := app.Out.Write(b); err != nil {
				return err
			}
		}
	}
}

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

// instanceFlags are the ComputeInstance flags of `compute create`.
type instanceFlags struct {
	setupScript, startupScript string
	sshPublicAccess            bool
	sshKeyValue                string
	idleMinutes                int
	userObjectID, userTenantID string
}

func addInstanceCreateFlags(cmd *cobra.Command, f *instanceFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.setupScript, "setup-script", "", "ComputeInstance: creation script in the workspace file share, e.g. Users/me/compute-setup.sh")
	fl.StringVar(&f.startupScript, "startup-script", "", "ComputeInstance: script run at every start, in the workspace file share")
	fl.BoolVarP(&f.sshPublicAccess, "ssh-public-access", "p", false, "ComputeInstance: enable the SSH endpoint (needs --ssh-key-value)")
	fl.StringVar(&f.sshKeyValue, "ssh-key-value", "", "ComputeInstance: SSH public key, or @file to read it from a file")
	fl.IntVar(&f.idleMinutes, "idle-time-before-shutdown-minutes", 0, "ComputeInstance: stop after this many idle minutes (15 to 4320)")
	fl.StringVar(&f.userObjectID, "user-object-id", "", "ComputeInstance: create on behalf of the user with this object id")
	fl.StringVar(&f.userTenantID, "user-tenant-id", "", "ComputeInstance: tenant of --user-object-id")
}

// applyInstanceFlags copies flags the user set into an instance body.
func applyInstanceFlags(cmd *cobra.Command, f *instanceFlags, body Doc) error {
	props := body["properties"].(Doc)["properties"].(Doc)
	script := func(path string) Doc {
		return Doc{"scriptSource": "workspaceStorage", "scriptData": path, "timeout": "15m"}
	}
	if f.setupScript != "" || f.startupScript != "" {
		scripts := Doc{}
		if f.setupScript != "" {
			scripts["creationScript"] = script(f.setupScript)
		}
		if f.startupScript != "" {
			scripts["startupScript"] = script(f.startupScript)
		}
		props["setupScripts"] = Doc{"scripts": scripts}
	}
	if f.sshPublicAccess || f.sshKeyValue != "" {
		key, err := readKeyValue(f.sshKeyValue)
		if err != nil {
			return err
		}
		if key == "" {
			return fmt.Errorf("--ssh-public-access needs --ssh-key-value (a public key, or @~/.ssh/id_ed25519.pub)")
		}
		props["sshSettings"] = Doc{"sshPublicAccess": "Enabled", "adminPublicKey": key}
	}
	if f.idleMinutes != 0 {
		props["idleTimeBeforeShutdown"] = fmt.Sprintf("PT%dM", f.idleMinutes)
	}
	if f.userObjectID != "" {
		props["personalComputeInstanceSettings"] = Doc{"assignedUser": Doc{"objectId": f.userObjectID, "tenantId": f.userTenantID}}
	}
	return nil
}

// readKeyValue reads "@path" (with ~ expanded) or returns the value.
func readKeyValue(v string) (string, error) {
	if !strings.HasPrefix(v, "@") {
		return strings.TrimSpace(v), nil
	}
	p := v[1:]
	if strings.HasPrefix(p, "~/") {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, p[2:])
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read SSH key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// instanceYAML is computeInstance.schema.json.
type instanceYAML struct {
	computeYAML      `yaml:",inline"`
	Size             string `yaml:"size"`
	CreateOnBehalfOf *struct {
		UserTenantID string `yaml:"user_tenant_id"`
		UserObjectID string `yaml:"user_object_id"`
	} `yaml:"create_on_behalf_of"`
	SSHSettings *struct {
		SSHKeyValue string `yaml:"ssh_key_value"`
		// Dump-only (compute show).
		AdminUsername any `yaml:"admin_username"`
		SSHPort       any `yaml:"ssh_port"`
	} `yaml:"ssh_settings"`
	SSHPublicAccessEnabled *bool `yaml:"ssh_public_access_enabled"`
	Schedules              *struct {
		ComputeStartStop []struct {
			Action  string `yaml:"action"`
			State   string `yaml:"state"`
			Trigger struct {
				Type       string `yaml:"type"`
				Expression string `yaml:"expression"`
				StartTime  string `yaml:"start_time"`
				TimeZone   string `yaml:"time_zone"`
				Frequency  string `yaml:"frequency"`
				Interval   int    `yaml:"interval"`
				Schedule   *struct {
					Hours    []int    `yaml:"hours"`
					Minutes  []int    `yaml:"minutes"`
					WeekDays []string `yaml:"week_days"`
				} `yaml:"schedule"`
			} `yaml:"trigger"`
		} `yaml:"compute_start_stop"`
	} `yaml:"schedules"`
	IdleTimeBeforeShutdown        string `yaml:"idle_time_before_shutdown"`
	IdleTimeBeforeShutdownMinutes *int   `yaml:"idle_time_before_shutdown_minutes"`
	CustomApplications            []any  `yaml:"custom_applications"`
	SetupScripts                  *struct {
		CreationScript *scriptYAML `yaml:"creation_script"`
		StartupScript  *scriptYAML `yaml:"startup_script"`
	} `yaml:"setup_scripts"`
	EnableNodePublicIP *bool `yaml:"enable_node_public_ip"`
	EnableSSO          *bool `yaml:"enable_sso"`
	EnableRootAccess   *bool `yaml:"enable_root_access"`
	ReleaseQuotaOnStop *bool `yaml:"release_quota_on_stop"`
	EnableOSPatching   *bool `yaml:"enable_os_patching"`

	// Dump-only (compute show).
	State           any `yaml:"state"`
	LastOperation   any `yaml:"last_operation"`
	Services        any `yaml:"services"`
	OSImageMetadata any `yaml:"os_image_metadata"`
}

type scriptYAML struct {
	Path           string `yaml:"path"`
	Command        string `yaml:"command"`
	TimeoutMinutes int    `yaml:"timeout_minutes"`
}

func (s *scriptYAML) rest() Doc {
	d := Doc{"scriptSource": "workspaceStorage", "scriptData": s.Path}
	if s.Command != "" {
		d["scriptArguments"] = s.Command
	}
	if s.TimeoutMinutes > 0 {
		d["timeout"] = fmt.Sprintf("%dm", s.TimeoutMinutes)
	}
	return d
}

// instanceFromYAML maps a computeInstance YAML file to the REST body.
func instanceFromYAML(path string, raw []byte) (Doc, error) {
	var y instanceYAML
	if err := api.DecodeYAML(path, raw, &y); err != nil {
		return nil, err
	}
	props := Doc{"applicationSharingPolicy": "Personal", "computeInstanceAuthorizationType": "personal"}
	if y.Size != "" {
		props["vmSize"] = y.Size
	}
	if y.CreateOnBehalfOf != nil {
		props["personalComputeInstanceSettings"] = Doc{"assignedUser": Doc{"objectId": y.CreateOnBehalfOf.UserObjectID, "tenantId": y.CreateOnBehalfOf.UserTenantID}}
	}
	if y.SSHPublicAccessEnabled != nil {
		ssh := Doc{"sshPublicAccess": "Disabled"}
		if *y.SSHPublicAccessEnabled {
			ssh["sshPublicAccess"] = "Enabled"
		}
		if y.SSHSettings != nil {
			key, err := readKeyValue(y.SSHSettings.SSHKeyValue)
			if err != nil {
				return nil, err
			}
			ssh["adminPublicKey"] = key
		}
		props["sshSettings"] = ssh
	}
	if y.Schedules != nil {
		var list []Doc
		for _, s := range y.Schedules.ComputeStartStop {
			status := "Enabled"
			if strings.EqualFold(s.State, "disabled") {
				status = "Disabled"
			}
			item := Doc{"action": titleCase(s.Action), "status": status}
			switch strings.ToLower(s.Trigger.Type) {
			case "cron":
				item["triggerType"] = "Cron"
				item["cron"] = Doc{"expression": s.Trigger.Expression, "startTime": s.Trigger.StartTime, "timeZone": orUTC(s.Trigger.TimeZone)}
			case "recurrence":
				item["triggerType"] = "Recurrence"
				rec := Doc{"frequency": titleCase(s.Trigger.Frequency), "interval": s.Trigger.Interval, "startTime": s.Trigger.StartTime, "timeZone": orUTC(s.Trigger.TimeZone)}
				if s.Trigger.Schedule != nil {
					rec["schedule"] = Doc{"hours": s.Trigger.Schedule.Hours, "minutes": s.Trigger.Schedule.Minutes, "weekDays": s.Trigger.Schedule.WeekDays}
				}
				item["recurrence"] = rec
			default:
				return nil, fmt.Errorf("%s: schedules.compute_start_stop trigger.type must be cron or recurrence, not %q", path, s.Trigger.Type)
			}
			list = append(list, item)
		}
		props["schedules"] = Doc{"computeStartStop": list}
	}
	if y.IdleTimeBeforeShutdown != "" {
		props["idleTimeBeforeShutdown"] = y.IdleTimeBeforeShutdown
	}
	if y.IdleTimeBeforeShutdownMinutes != nil {
		props["idleTimeBeforeShutdown"] = fmt.Sprintf("PT%dM", *y.IdleTimeBeforeShutdownMinutes)
	}
	if len(y.CustomApplications) > 0 {
		props["customServices"] = y.CustomApplications
	}
	if y.SetupScripts != nil {
		scripts := Doc{}
		if y.SetupScripts.CreationScript != nil {
			scripts["creationScript"] = y.SetupScripts.CreationScript.rest()
		}
		if y.SetupScripts.StartupScript != nil {
			scripts["startupScript"] = y.SetupScripts.StartupScript.rest()
		}
		props["setupScripts"] = Doc{"scripts": scripts}
	}
	for k, v := range map[string]*bool{"enableNodePublicIp": y.EnableNodePublicIP, "enableSSO": y.EnableSSO,
		"enableRootAccess": y.EnableRootAccess, "releaseQuotaOnStop": y.ReleaseQuotaOnStop, "enableOSPatching": y.EnableOSPatching} {
		if v != nil {
			props[k] = *v
		}
	}
	return y.body(path, "ComputeInstance", props)
}

func orUTC(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// instanceCommands are the verbs only compute instances have.
func instanceCommands(app *App, s *scope, computePath func(context.Context, string) (string, error)) []*cobra.Command {
	var out []*cobra.Command
	for _, verb := range []struct{ use, short, ing string }{
		{"start", "Start a stopped compute instance", "Starting"},
		{"stop", "Stop a compute instance (it keeps its files and its quota)", "Stopping"},
		{"restart", "Restart a compute instance", "Restarting"},
	} {
		var name string
		var noWait bool
		cmd := &cobra.Command{
			Use:     verb.use,
			Short:   verb.short,
			Example: "  mlw compute " + verb.use + " --name ci-1",
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				p, err := computePath(cmd.Context(), name)
				if err != nil {
					return err
				}
				c, _ := app.Client()
				resp, err := c.Do(cmd.Context(), "POST", p+"/"+verb.use, nil, nil)
				if err != nil {
					return err
				}
				if noWait {
					app.errf("%s compute instance '%s'.\n", verb.ing, name)
					return nil
				}
				return app.wait(cmd.Context(), c, resp, verb.ing+" compute instance "+name)
			},
		}
		cmd.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
		cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the operation has started")
		addWorkspaceFlags(cmd, s)
		out = append(out, cmd)
	}
	return append(out, instanceAccessCommands(app, s, computePath)...)
}

// printInstanceLogs prints the setup script logs of an instance (`compute
// show --logs`).
func printInstanceLogs(ctx context.Context, app *App, computePath string) error {
	c, err := app.Client()
	if err != nil {
		return err
	}
	var out struct {
		Value []struct {
			Name    string `json:"name"`
			Path    string `json:"path"`
			Content string `json:"content"`
		} `json:"value"`
	}
	if _, err := c.Do(ctx, "GET", computePath+"/logs", nil, &out); err != nil {
		return err
	}
	if !app.peopleTable() {
		return app.print(out.Value, nil)
	}
	if len(out.Value) == 0 {
		app.errf("No setup script has run on this instance.\n")
		return nil
	}
	for _, l := range out.Value {
		fmt.Fprintf(app.Out, "==> %s (file share: %s) <==\n%s", l.Name, l.Path, l.Content)
		if !strings.HasSuffix(l.Content, "\n") {
			fmt.Fprintln(app.Out)
		}
	}
	return nil
}

// instanceAccessCommands are connect-ssh and terminal.
func instanceAccessCommands(app *App, s *scope, computePath func(context.Context, string) (string, error)) []*cobra.Command {
	var name, keyFile string
	ssh := &cobra.Command{
		Use:   "connect-ssh",
		Short: "Open an SSH session on a compute instance (runs your ssh client)",
		Long: `Run the system ssh client against the instance's SSH endpoint, as user
azureuser on the port the instance reports. The instance needs SSH public
access and your public key (compute create --ssh-public-access --ssh-key-value).`,
		Example: "  mlw compute connect-ssh --name ci-1\n  mlw compute connect-ssh --name ci-1 --private-key-file-path ~/.ssh/id_ed25519",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := computePath(cmd.Context(), name)
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
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
			ssh := exec.CommandContext(cmd.Context(), "ssh", sshArgs...)
			ssh.Stdin, ssh.Stdout, ssh.Stderr = app.In, app.Out, app.Err
			if err := ssh.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return fmt.Errorf("ssh exited with code %d", ee.ExitCode())
				}
				return fmt.Errorf("run ssh (install an OpenSSH client): %w", err)
			}
			return nil
		},
	}
	ssh.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
	ssh.Flags().StringVar(&keyFile, "private-key-file-path", "", "private key to use (default: ssh's own choice)")
	addWorkspaceFlags(ssh, s)

	var tname string
	terminal := &cobra.Command{
		Use:   "terminal",
		Short: "Attach this terminal to a shell inside a compute instance",
		Long: `Open a login shell on a PTY inside the instance through the server's
terminal WebSocket (the same endpoint the studio uses). Exit the shell (or
press Ctrl-D) to leave. Without a terminal on stdin, input is sent as is.`,
		Example: "  mlw compute terminal --name ci-1\n  echo 'ls ~/cloudfiles/code' | mlw compute terminal --name ci-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := computePath(cmd.Context(), tname)
			if err != nil {
				return err
			}
			return runTerminal(cmd.Context(), app, p)
		},
	}
	terminal.Flags().StringVarP(&tname, "name", "n", "", "compute instance name")
	addWorkspaceFlags(terminal, s)
	return []*cobra.Command{ssh, terminal, openJupyterCmd(app, s, computePath)}
}

func openJupyterCmd(app *App, s *scope, computePath func(context.Context, string) (string, error)) *cobra.Command {
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
			p, err := computePath(cmd.Context(), name)
			if err != nil {
				return err
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			if t := str(d, "properties.computeType"); t != "ComputeInstance" {
				return fmt.Errorf("the compute '%s' is %s, not a compute instance: only instances have Jupyter", name, t)
			}
			if st := str(d, "properties.properties.state"); st != "Running" {
				return fmt.Errorf("the compute instance '%s' is %s; start it with `mlw compute start --name %s`", name, st, name)
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
				return fmt.Errorf("the compute instance '%s' has no Jupyter: the mlw server's host needs Debian's jupyter-notebook package", name)
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
	addWorkspaceFlags(cmd, s)
	return cmd
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

// printInstanceDetails shows one compute instance for people: its state,
// what mlw applied (limits, isolation, network), idle shutdown, access.
func printInstanceDetails(app *App, d Doc) error {
	p := "properties.properties."
	rows := [][2]string{
		{"Name", str(d, "name")},
		{"State", str(d, p+"state")},
		{"Size", str(d, p+"vmSize")},
	}
	if lo, ok := lookup(d, p+"lastOperation").(map[string]any); ok {
		rows = append(rows, [2]string{"Last operation", fmt.Sprintf("%v %v (%v, %v)", lo["operationName"], lo["operationStatus"], lo["operationTrigger"], lo["operationTime"])})
	}
	if errs, ok := lookup(d, p+"errors").([]any); ok {
		for _, e := range errs {
			if m, ok := e.(map[string]any); ok {
				if in, ok := m["error"].(map[string]any); ok {
					rows = append(rows, [2]string{"Error", fmt.Sprintf("(%v) %v", in["code"], in["message"])})
				}
			}
		}
	}
	if s := str(d, p+"idleShutdown.status"); s != "" {
		rows = append(rows, [2]string{"Idle shutdown", s + " (after " + str(d, p+"idleTimeBeforeShutdown") + ")"})
	}
	if list, ok := lookup(d, p+"schedules.computeStartStop").([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				trigger := str(m, "cron.expression")
				tz := str(m, "cron.timeZone")
				if trigger == "" {
					trigger = "every " + str(m, "recurrence.interval") + " " + str(m, "recurrence.frequency")
					tz = str(m, "recurrence.timeZone")
				}
				rows = append(rows, [2]string{"Schedule", fmt.Sprintf("%v at %s (%s), %v", m["action"], trigger, tz, m["status"])})
			}
		}
	}
	rows = append(rows,
		[2]string{"Limits", str(d, p+"mlw.limits")},
		[2]string{"Isolation", str(d, p+"mlw.isolation")},
		[2]string{"Network", str(d, p+"mlw.network")},
	)
	if envs, ok := lookup(d, p+"mlw.environments").([]any); ok {
		for _, e := range envs {
			if m, ok := e.(map[string]any); ok {
				line := fmt.Sprintf("%s (Python %v, %v): kernel %q (%v)", m["name"], m["python"], m["path"], m["kernelDisplayName"], m["kernel"])
				if m["default"] == true {
					line += ", the default"
				}
				rows = append(rows, [2]string{"Environment", line})
			}
		}
	}
	if str(d, p+"sshSettings.sshPublicAccess") == "Enabled" {
		rows = append(rows, [2]string{"SSH", fmt.Sprintf("%s@<server host> port %s (`mlw compute connect-ssh --name %s`)",
			str(d, p+"sshSettings.adminUserName"), str(d, p+"sshSettings.sshPort"), str(d, "name"))})
	}
	if apps, ok := lookup(d, p+"applications").([]any); ok {
		for _, a := range apps {
			if m, ok := a.(map[string]any); ok {
				rows = append(rows, [2]string{fmt.Sprint(m["displayName"]), fmt.Sprint(m["endpointUri"])})
			}
		}
	}
	if u := str(d, p+"personalComputeInstanceSettings.assignedUser.objectId"); u != "" {
		rows = append(rows, [2]string{"Assigned user", u})
	} else if u := str(d, p+"createdBy.userName"); u != "" {
		rows = append(rows, [2]string{"Assigned user", u + " (the creator)"})
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(app.Out, "%-15s %s\n", r[0]+":", r[1])
		}
	}
	return nil
}

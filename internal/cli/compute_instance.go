package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

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

// computeInstanceOpCmd is `compute start`, `stop` or `restart` (use):
// short is its help, ing its progress ("Starting").
func computeInstanceOpCmd(app *App, use, short, ing string) *cobra.Command {
	var s scope
	var name string
	var noWait bool
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  mlw compute " + use + " --name ci-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			c, _ := app.Client()
			resp, err := c.Do(cmd.Context(), "POST", p+"/"+use, nil, nil)
			if err != nil {
				return err
			}
			if noWait {
				app.errf("%s compute instance '%s'.\n", ing, name)
				return nil
			}
			return app.wait(cmd.Context(), c, resp, ing+" compute instance "+name)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the operation has started")
	addWorkspaceFlags(cmd, &s)
	return cmd
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

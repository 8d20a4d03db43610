package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/rooted"
	"github.com/mlw-project/mlw/internal/schedule"
	"github.com/mlw-project/mlw/internal/store"
)

// DefaultInstanceSize is the SDK's default compute instance size.
const DefaultInstanceSize = "STANDARD_DS3_V2"

// Compute instance states (ComputeInstanceState). Admission moves an
// instance into Creating, Starting, Stopping and Restarting (user
// actions); the instance reconciler moves it through every other state,
// and into Starting/Stopping for schedules and idle shutdown.
const (
	InstanceCreating        = "Creating"
	InstanceCreateFailed    = "CreateFailed"
	InstanceSettingUp       = "SettingUp"
	InstanceSetupFailed     = "SetupFailed"
	InstanceUserSettingUp   = "UserSettingUp"
	InstanceUserSetupFailed = "UserSetupFailed"
	InstanceRunning         = "Running"
	InstanceStopping        = "Stopping"
	InstanceStopped         = "Stopped"
	InstanceStarting        = "Starting"
	InstanceRestarting      = "Restarting"
	InstanceDeleting        = "Deleting"
)

// Operation triggers of lastOperation.
const (
	TriggerUser         = "User"
	TriggerSchedule     = "Schedule"
	TriggerIdleShutdown = "IdleShutdown"
)

// Idle shutdown bounds, as in Azure.
const (
	MinIdleShutdown = 15 * time.Minute
	MaxIdleShutdown = 72 * time.Hour
)

// InstanceInternal is the part of an instance's status that only the
// server reads; it is kept under properties.properties._mlw and never
// rendered.
type InstanceInternal struct {
	AssignedUserID   string          `json:"assignedUserId,omitempty"`
	AssignedUserName string          `json:"assignedUserName,omitempty"`
	TokenHash        string          `json:"tokenHash,omitempty"`
	JupyterToken     string          `json:"jupyterToken,omitempty"`
	Handle           json.RawMessage `json:"handle,omitempty"`
	// Scripts still to run in the current start ("creation", "startup").
	Scripts []string `json:"scripts,omitempty"`
	// Script is the running script's handle, name and start.
	Script          json.RawMessage `json:"script,omitempty"`
	ScriptName      string          `json:"scriptName,omitempty"`
	ScriptStartedAt time.Time       `json:"scriptStartedAt,omitzero"`
	// ScheduleCheckedAt: schedules firing up to this moment are handled.
	ScheduleCheckedAt time.Time `json:"scheduleCheckedAt,omitzero"`
	// LastFired records each schedule's last firing that was acted on.
	LastFired map[string]time.Time `json:"lastFired,omitempty"`
	// IdleSince is when the instance last became idle (zero: busy).
	IdleSince time.Time `json:"idleSince,omitzero"`
	// Info is what the backend reported it applied.
	Limits    string `json:"limits,omitempty"`
	Isolation string `json:"isolation,omitempty"`
	Network   string `json:"network,omitempty"`
	Jupyter   bool   `json:"jupyter,omitempty"`
	SSHPort   int    `json:"sshPort,omitempty"`
	// HostUID is the unprivileged host uid the instance's processes run
	// as (its user's, as for the user's jobs) and ShareGID the group of the
	// workspace's file share; allocated at the first start.
	HostUID  int `json:"hostUid,omitempty"`
	ShareGID int `json:"shareGid,omitempty"`
}

// InstanceStatus is a decoded instance status: the whole document, its
// properties.properties, and the internal part.
type InstanceStatus struct {
	Doc      map[string]any
	Props    map[string]any
	Internal InstanceInternal
}

// InstanceStatusOf decodes an instance's status.
func InstanceStatusOf(c *store.Resource) *InstanceStatus {
	doc := Decode(c.Status)
	props := NestedProps(doc)
	st := &InstanceStatus{Doc: doc, Props: props}
	if raw, ok := props["_mlw"]; ok {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &st.Internal)
	}
	return st
}

// State is the instance state.
func (st *InstanceStatus) State() string { s, _ := st.Props["state"].(string); return s }

// Encode writes the status back into c (State column included).
func (st *InstanceStatus) Encode(c *store.Resource) {
	b, _ := json.Marshal(st.Internal)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	st.Props["_mlw"] = m
	outer := st.Doc["properties"].(map[string]any)
	outer["provisioningState"] = provisioningOf(st.State(), outer["provisioningState"])
	c.Status = Encode(st.Doc)
	c.State = st.State()
}

// SetState moves the instance to state.
func (st *InstanceStatus) SetState(state string) { st.Props["state"] = state }

// SetLastOperation records lastOperation.
func (st *InstanceStatus) SetLastOperation(name, status, trigger string, now time.Time) {
	st.Props["lastOperation"] = map[string]any{"operationName": name, "operationTime": now.UTC().Format(time.RFC3339),
		"operationStatus": status, "operationTrigger": trigger}
}

// LastOperation returns lastOperation's name and trigger.
func (st *InstanceStatus) LastOperation() (name, trigger string) {
	lo, _ := st.Props["lastOperation"].(map[string]any)
	name, _ = lo["operationName"].(string)
	trigger, _ = lo["operationTrigger"].(string)
	return name, trigger
}

// SetErrors sets the errors list (nil clears it).
func (st *InstanceStatus) SetErrors(code, msg string) {
	if code == "" {
		st.Props["errors"] = nil
		return
	}
	st.Props["errors"] = []any{map[string]any{"error": map[string]any{"code": code, "message": msg}}}
}

func provisioningOf(state string, cur any) string {
	switch state {
	case InstanceCreating, InstanceSettingUp:
		return StateCreating
	case InstanceUserSettingUp:
		if s, _ := cur.(string); s == StateCreating {
			return StateCreating
		}
		return StateSucceeded
	case InstanceCreateFailed, InstanceSetupFailed, InstanceUserSetupFailed:
		if s, _ := cur.(string); s == StateSucceeded {
			return StateSucceeded // a start's script failed; the compute exists
		}
		return StateFailed
	case InstanceDeleting:
		return StateDeleting
	default:
		return StateSucceeded
	}
}

// ScriptRef is a parsed setup script reference.
type ScriptRef struct {
	Source    string // workspaceStorage or inline
	Path      string // inside the file share (workspaceStorage)
	Inline    []byte
	Args      string
	Timeout   time.Duration
	TimeoutIn string
}

// InstanceScripts decodes and validates setupScripts: the creation and
// startup scripts (nil when absent).
func InstanceScripts(props map[string]any) (creation, startup *ScriptRef, err error) {
	ss, _ := props["setupScripts"].(map[string]any)
	if ss == nil {
		return nil, nil, nil
	}
	scripts, _ := ss["scripts"].(map[string]any)
	if scripts == nil {
		return nil, nil, nil
	}
	parse := func(name string) (*ScriptRef, error) {
		raw, ok := scripts[name]
		if !ok || raw == nil {
			return nil, nil
		}
		at := "properties.properties.setupScripts.scripts." + name
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, core.Invalid(at, "%s must be an object with scriptSource, scriptData, scriptArguments and timeout.", name)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		ref := &ScriptRef{Args: str("scriptArguments"), Timeout: 15 * time.Minute}
		data := str("scriptData")
		switch src := str("scriptSource"); {
		case src == "" || strings.EqualFold(src, "workspaceStorage"):
			ref.Source = "workspaceStorage"
			p := strings.TrimPrefix(strings.ReplaceAll(data, "\\", "/"), "/")
			if p == "" {
				return nil, core.Invalid(at+".scriptData", "The %s needs scriptData: the script's path in the workspace file share, e.g. Users/<you>/compute-setup.sh.", name)
			}
			if clean := path.Clean(p); clean != p || strings.HasPrefix(clean, "../") || clean == ".." {
				return nil, core.Invalid(at+".scriptData", "scriptData %q must be a plain path inside the workspace file share, e.g. Users/<you>/compute-setup.sh (no .. or //).", data)
			}
			ref.Path = p
		case strings.EqualFold(src, "inline"):
			ref.Source = "inline"
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil || len(b) == 0 {
				return nil, core.Invalid(at+".scriptData", "An inline %s's scriptData must be the script's text in base64.", name)
			}
			ref.Inline = b
		default:
			return nil, core.Invalid(at+".scriptSource", "scriptSource must be workspaceStorage or inline, not %q.", src)
		}
		if t := str("timeout"); t != "" {
			d, err := parseScriptTimeout(t)
			if err != nil || d <= 0 || d > 24*time.Hour {
				return nil, core.Invalid(at+".timeout", "timeout %q must be a duration such as 10m, 90s, 1h or PT10M, at most 24 hours.", t)
			}
			ref.Timeout = d
		}
		return ref, nil
	}
	if creation, err = parse("creationScript"); err != nil {
		return nil, nil, err
	}
	if startup, err = parse("startupScript"); err != nil {
		return nil, nil, err
	}
	return creation, startup, nil
}

func parseScriptTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToUpper(s), "P") {
		return core.ParseISODuration(s)
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	var n int
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("bad timeout")
		}
		n = n*10 + int(r-'0')
	}
	if s == "" {
		return 0, errors.New("empty")
	}
	return time.Duration(n) * time.Minute, nil // a bare number is minutes
}

// IdleShutdownOf returns the instance's idle shutdown time (0: none).
func IdleShutdownOf(props map[string]any) (time.Duration, error) {
	v, ok := props["idleTimeBeforeShutdown"]
	if !ok || v == nil || v == "" {
		return 0, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, core.Invalid("properties.properties.idleTimeBeforeShutdown", "idleTimeBeforeShutdown must be an ISO 8601 duration such as PT30M.")
	}
	d, err := core.ParseISODuration(s)
	if err != nil {
		return 0, core.Invalid("properties.properties.idleTimeBeforeShutdown", "%v", err)
	}
	if d < MinIdleShutdown || d > MaxIdleShutdown {
		return 0, core.Invalid("properties.properties.idleTimeBeforeShutdown",
			"idleTimeBeforeShutdown %s is out of range: it must be from 15 minutes (PT15M) to 3 days (P3D).", s)
	}
	return d, nil
}

// InstanceSSH returns the SSH public key when SSH access is enabled.
func InstanceSSH(props map[string]any) (string, bool) {
	ss, _ := props["sshSettings"].(map[string]any)
	if ss == nil {
		return "", false
	}
	if a, _ := ss["sshPublicAccess"].(string); !strings.EqualFold(a, "Enabled") {
		return "", false
	}
	k, _ := ss["adminPublicKey"].(string)
	return k, true
}

// InstanceSubnet returns the subnet id, when the instance has one.
func InstanceSubnet(props map[string]any) string {
	if m, ok := props["subnet"].(map[string]any); ok {
		id, _ := m["id"].(string)
		return id
	}
	return ""
}

type instanceType struct{}

// Quota: an instance holds its size's vCPUs, running or stopped.
func (instanceType) Quota(props map[string]any, size core.VMSize) (int, bool) {
	return size.VCPUs, false
}

func (instanceType) Admit(ctx context.Context, a *ComputeAdmission) error {
	p := a.Props
	if a.Old != nil {
		return core.Conflict("Conflict", "The compute instance '%s' already exists. Delete it first, or use start, stop and restart to change its state.", a.Old.Name)
	}
	if v, ok := p["vmSize"]; !ok || v == nil || v == "" {
		p["vmSize"] = DefaultInstanceSize
	}
	if _, ok := p["vmSize"].(string); !ok {
		return core.Invalid("properties.properties.vmSize", "vmSize must be a string such as STANDARD_DS11_V2.")
	}
	if _, err := sizeOf(p); err != nil {
		return err
	}
	if _, _, err := InstanceScripts(p); err != nil {
		return err
	}
	if _, err := schedule.Parse(p); err != nil {
		return err
	}
	if _, err := IdleShutdownOf(p); err != nil {
		return err
	}
	if key, on := InstanceSSH(p); on {
		if key == "" {
			return core.Invalid("properties.properties.sshSettings.adminPublicKey", "SSH public access needs adminPublicKey: your SSH public key (ssh_settings.ssh_key_value in YAML, --ssh-key-value on the CLI).")
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key)); err != nil {
			return core.Invalid("properties.properties.sshSettings.adminPublicKey", "adminPublicKey is not an SSH public key (expected a line like \"ssh-ed25519 AAAA… you@host\").")
		}
	}
	if v, ok := p["subnet"]; ok && v != nil {
		if _, ok := v.(map[string]any); !ok {
			return core.Invalid("properties.properties.subnet", "subnet must be an object like {\"id\": \"<subnet resource id>\"}.")
		}
	}
	st := map[string]any{"state": InstanceCreating, "errors": nil}
	internal := InstanceInternal{}
	who := a.Principal
	if pcs, _ := p["personalComputeInstanceSettings"].(map[string]any); pcs != nil {
		au, _ := pcs["assignedUser"].(map[string]any)
		oid, _ := au["objectId"].(string)
		if oid == "" {
			return core.Invalid("properties.properties.personalComputeInstanceSettings.assignedUser.objectId",
				"assignedUser needs objectId: the id of the user the instance is for (see `mlw user list`).")
		}
		u, err := a.Service.Store.GetUser(ctx, oid)
		if errors.Is(err, store.ErrNotFound) {
			return core.Invalid("properties.properties.personalComputeInstanceSettings.assignedUser.objectId",
				"No user has object id %q; assignedUser must name a user of this server.", oid)
		}
		if err != nil {
			return core.Internal(err)
		}
		if who != nil && who.UserID != u.ID && !who.IsOwner() {
			return core.Forbidden("Creating a compute instance on behalf of another user (%s) needs the Owner role; %q has the %s role.", u.Name, who.Name, who.Role)
		}
		internal.AssignedUserID, internal.AssignedUserName = u.ID, u.Name
	} else if who != nil {
		internal.AssignedUserID, internal.AssignedUserName = who.UserID, who.Name
	}
	if who != nil {
		st["createdBy"] = map[string]any{"userName": who.Name, "userOrgId": a.Service.TenantID, "userId": who.UserID}
	}
	now := a.Service.Now()
	internal.ScheduleCheckedAt = now.UTC()
	b, _ := json.Marshal(internal)
	var im map[string]any
	_ = json.Unmarshal(b, &im)
	st["_mlw"] = im
	st["lastOperation"] = map[string]any{"operationName": "Create", "operationTime": now.UTC().Format(time.RFC3339),
		"operationStatus": "InProgress", "operationTrigger": TriggerUser}
	a.State = InstanceCreating
	a.Status = st
	return nil
}

// Act runs start, stop, restart and updateIdleShutdownSetting.
func (instanceType) Act(ctx context.Context, req *ComputeAction) (*ActionResult, error) {
	s := req.Service
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	action := strings.ToLower(req.Action)
	if action == "updateidleshutdownsetting" {
		return s.updateIdleShutdown(ctx, req)
	}
	type move struct {
		from   []string
		to, op string
	}
	moves := map[string]move{
		"start":   {[]string{InstanceStopped}, InstanceStarting, "Start"},
		"stop":    {[]string{InstanceRunning, InstanceUserSetupFailed, InstanceSetupFailed}, InstanceStopping, "Stop"},
		"restart": {[]string{InstanceRunning, InstanceUserSetupFailed, InstanceSetupFailed}, InstanceRestarting, "Restart"},
	}
	m, ok := moves[action]
	if !ok {
		return nil, core.Invalid("action", "A compute instance has the actions start, stop, restart and updateIdleShutdownSetting, not %q.", req.Action)
	}
	c, err := s.updateRetrying(ctx, req.Compute, func(c *store.Resource) (bool, error) {
		if c.Deleting {
			return false, core.Conflict("ComputeBeingDeleted", "The compute instance '%s' is being deleted.", c.Name)
		}
		st := InstanceStatusOf(c)
		cur := st.State()
		if !slices.Contains(m.from, cur) {
			hint := "wait until it is " + strings.Join(m.from, " or ")
			if action == "start" && cur == InstanceRunning {
				hint = "it is already running"
			}
			if action == "stop" && cur == InstanceStopped {
				hint = "it is already stopped"
			}
			e := core.Conflict("UnableToPerformOperation",
				"Cannot %s the compute instance '%s' while it is %s: %s.", action, c.Name, cur, hint)
			if slices.Contains([]string{InstanceCreating, InstanceSettingUp, InstanceUserSettingUp, InstanceStarting, InstanceStopping, InstanceRestarting}, cur) {
				e.RetryAfter = retryTransition // it moves on by itself
			}
			return false, e
		}
		st.SetState(m.to)
		st.SetErrors("", "")
		st.SetLastOperation(m.op, "InProgress", TriggerUser, s.Now())
		st.Encode(c)
		c.ModifiedBy = principalName(PrincipalFrom(ctx))
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	op, err := s.StartOp(ctx, c, m.op)
	if err != nil {
		return nil, err
	}
	return &ActionResult{Op: op}, nil
}

func (s *Service) updateIdleShutdown(ctx context.Context, req *ComputeAction) (*ActionResult, error) {
	v, ok := req.Body.Doc["idleTimeBeforeShutdown"]
	if !ok {
		return nil, core.Invalid("idleTimeBeforeShutdown", "The body needs idleTimeBeforeShutdown, e.g. {\"idleTimeBeforeShutdown\": \"PT30M\"}.")
	}
	if _, err := IdleShutdownOf(map[string]any{"idleTimeBeforeShutdown": v}); err != nil {
		return nil, err
	}
	c, err := s.updateRetrying(ctx, req.Compute, func(c *store.Resource) (bool, error) {
		doc, props := ComputeSpec(c)
		props["idleTimeBeforeShutdown"] = v
		c.Spec = Encode(doc)
		c.Generation++
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	s.Queue.Enqueue(c.Kind, Key(c))
	return &ActionResult{Body: map[string]any{"idleTimeBeforeShutdown": v}}, nil
}

// WorkspaceSharePath is the host directory of a workspace's file share
// (the "code-<guid>" share, "Notebooks" in the studio).
func WorkspaceSharePath(dataDir string, ws *store.Resource) string {
	return blob.ContainerDir(dataDir, WorkspaceStatusOf(ws).StorageAccount, "code-"+ws.UID)
}

// InstanceLog is one log file of an instance.
type InstanceLog struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Content string `json:"content"`
}

// InstanceLogs returns an instance's setup script logs.
func (s *Service) InstanceLogs(ctx context.Context, ref core.WorkspaceRef, name string) ([]InstanceLog, error) {
	ws, c, err := s.GetCompute(ctx, ref, name)
	if err != nil {
		return nil, err
	}
	if ComputeTypeOf(c) != ComputeInstance {
		return nil, core.Invalid("name", "The compute '%s' is not a compute instance; only instances have setup script logs.", c.Name)
	}
	// The share is the users': read it through an os.Root, so that a link
	// planted there (to the data directory, say) serves nothing outside it.
	out := []InstanceLog{}
	share, err := os.OpenRoot(WorkspaceSharePath(s.DataDir, ws))
	if os.IsNotExist(err) {
		return out, nil
	} else if err != nil {
		return nil, core.Internal(err)
	}
	defer share.Close()
	dir := "Logs/" + c.Name
	ents, err := fs.ReadDir(share.FS(), dir)
	if err != nil && !os.IsNotExist(err) && !rooted.IsOutside(err) {
		return nil, core.Internal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := share.ReadFile(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		const max = 1 << 20
		if len(b) > max {
			b = b[len(b)-max:]
		}
		out = append(out, InstanceLog{Name: e.Name(), Path: "Logs/" + c.Name + "/" + e.Name(), Content: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// InstanceForAccess returns a running instance the caller may open a
// terminal, Jupyter or SSH session on: its assigned user only.
func (s *Service) InstanceForAccess(ctx context.Context, ref core.WorkspaceRef, name string) (*store.Resource, *store.Resource, error) {
	ws, c, err := s.GetCompute(ctx, ref, name)
	if err != nil {
		return nil, nil, err
	}
	if ComputeTypeOf(c) != ComputeInstance {
		return nil, nil, core.Invalid("name", "The compute '%s' is not a compute instance.", c.Name)
	}
	st := InstanceStatusOf(c)
	if err := CheckAssignedUser(PrincipalFrom(ctx), c, st); err != nil {
		return nil, nil, err
	}
	if c.Deleting || st.State() != InstanceRunning {
		state := st.State()
		if c.Deleting {
			state = InstanceDeleting
		}
		return nil, nil, &core.Error{Status: http.StatusConflict, Code: "ComputeNotRunning",
			Message: "The compute instance '" + c.Name + "' is " + state + ", not Running. Start it with `mlw compute start --name " + c.Name + "`."}
	}
	return ws, c, nil
}

// CheckAssignedUser refuses anyone but the instance's assigned user.
func CheckAssignedUser(p *identity.Principal, c *store.Resource, st *InstanceStatus) error {
	return checkAssigned(p, c, st, "open its terminal, Jupyter or SSH sessions")
}

// checkAssigned refuses anyone but the instance's assigned user what
// (the Owner role included, as in Azure ML: an instance is personal).
func checkAssigned(p *identity.Principal, c *store.Resource, st *InstanceStatus, what string) error {
	if p == nil || st.Internal.AssignedUserID == "" || p.UserID == st.Internal.AssignedUserID {
		return nil
	}
	return core.Forbidden("The compute instance '%s' is assigned to user '%s'; only that user may %s.",
		c.Name, st.Internal.AssignedUserName, what)
}

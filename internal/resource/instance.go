package resource

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
)

// DefaultInstanceSize is the SDK's default compute instance size.
const DefaultInstanceSize = "STANDARD_DS3_V2"

// Compute instance states (ComputeInstanceState). Admission creates an
// instance in Creating; every other move is the instance reconciler's:
// into Starting, Stopping and Restarting for a user's action (which
// admission records in the spec, Intent.Action, after checking it against
// InstanceActions), for schedules and for idle shutdown, and through the
// set-up states as the instance boots.
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

// InstanceAction is what a user's start, stop or restart does: the
// states it may be taken from, the state it moves to and the name of its
// operation.
type InstanceAction struct {
	From []string
	To   string
	Op   string
}

// InstanceActions are the user's actions on an instance. Admission
// checks the state and records the request in the spec (Intent.Action);
// the instance reconciler makes the move.
var InstanceActions = map[string]InstanceAction{
	"start":   {[]string{InstanceStopped}, InstanceStarting, "Start"},
	"stop":    {[]string{InstanceRunning, InstanceUserSetupFailed, InstanceSetupFailed}, InstanceStopping, "Stop"},
	"restart": {[]string{InstanceRunning, InstanceUserSetupFailed, InstanceSetupFailed}, InstanceRestarting, "Restart"},
}

// PendingAction returns the user's action that the reconciler has not
// acted on yet, and whether it applies from the instance's state.
func (st *InstanceStatus) PendingAction(spec json.RawMessage) (*ActionIntent, bool) {
	a := IntentOf(spec).Action
	if a == nil || a.Seq <= st.Internal.ActedIntent {
		return nil, false
	}
	act, ok := InstanceActions[a.Name]
	return a, ok && slices.Contains(act.From, st.State())
}

// EffectiveState is the instance's state with its pending action applied:
// what it is about to be, as clients are shown it.
func (st *InstanceStatus) EffectiveState(spec json.RawMessage) string {
	if a, ok := st.PendingAction(spec); ok {
		return InstanceActions[a.Name].To
	}
	return st.State()
}

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
	// ActedIntent is the Seq of the last user action (Intent.Action) the
	// reconciler acted on.
	ActedIntent int64 `json:"actedIntent,omitempty"`
	// Observed: the backend reported what it applied at the last boot
	// (Limits, Isolation, Network, Jupyter, SSH, Environments).
	Observed     bool            `json:"observed,omitempty"`
	SSHHostKey   string          `json:"sshHostKey,omitempty"`
	Environments json.RawMessage `json:"environments,omitempty"`
	// Failure is why the instance is in a failed state (for the
	// operation that ends with it).
	Failure *JobError `json:"failure,omitempty"`
}

// InstanceStatus is a decoded instance status: the whole document, its
// properties.properties, and the internal part.
type InstanceStatus struct {
	Doc      map[string]any
	Props    map[string]any
	Internal InstanceInternal
}

// InstanceInternalKey is where an instance's status document keeps its
// InstanceInternal: beside "properties", which is what clients see, so
// that no renderer can show it by mistake.
const InstanceInternalKey = "internal"

// InstanceStatusOf decodes an instance's status.
func InstanceStatusOf(c *Object) *InstanceStatus {
	doc := Decode(c.Status)
	props := NestedProps(doc)
	st := &InstanceStatus{Doc: doc, Props: props}
	raw, ok := doc[InstanceInternalKey]
	if !ok {
		raw, ok = props["_mlw"] // where servers before 2026-12 kept it
	}
	if ok {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &st.Internal)
	}
	return st
}

// State is the instance state.
func (st *InstanceStatus) State() string { s, _ := st.Props["state"].(string); return s }

// Encode writes the status back into c (State column included).
func (st *InstanceStatus) Encode(c *Object) {
	st.Doc[InstanceInternalKey] = st.Internal
	delete(st.Props, "_mlw")
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

// instanceScripts decodes and validates setupScripts: the creation and
// startup scripts (nil when absent).
func instanceScripts(props map[string]any) (creation, startup *ScriptRef, err error) {
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

// idleShutdownOf returns the instance's idle shutdown time (0: none).
func idleShutdownOf(props map[string]any) (time.Duration, error) {
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

// instanceSSH returns the SSH public key when SSH access is enabled.
func instanceSSH(props map[string]any) (string, bool) {
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

// WorkspaceSharePath is the host directory of a workspace's file share
// (the "code-<guid>" share, "Notebooks" in the studio).
func WorkspaceSharePath(dataDir string, ws *Object) string {
	return blob.ContainerDir(dataDir, WorkspaceStatusOf(ws).StorageAccount, "code-"+ws.UID)
}

// InstanceLogDir is where an instance's setup script logs are kept, in the
// workspace file share.
func InstanceLogDir(dataDir string, ws *Object, instance string) string {
	return filepath.Join(WorkspaceSharePath(dataDir, ws), "Logs", instance)
}

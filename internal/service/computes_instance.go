package service

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/rooted"
	"github.com/mlw-project/mlw/internal/store"
)

type instanceType struct{}

// Quota: an instance holds its size's vCPUs, running or stopped.
func (instanceType) Quota(spec *resource.ComputeSpec) (int, bool) {
	return spec.Size.VCPUs, false
}

func (instanceType) Admit(ctx context.Context, a *ComputeAdmission) error {
	p := a.Props
	if a.Old != nil {
		return core.Conflict("Conflict", "The compute instance '%s' already exists. Delete it first, or use start, stop and restart to change its state.", a.Old.Name)
	}
	if v, ok := p["vmSize"]; !ok || v == nil || v == "" {
		p["vmSize"] = resource.DefaultInstanceSize
	}
	if _, ok := p["vmSize"].(string); !ok {
		return core.Invalid("properties.properties.vmSize", "vmSize must be a string such as STANDARD_DS11_V2.")
	}
	spec, err := resource.ParseComputeSpec(a.Doc)
	if err != nil {
		return err
	}
	if key, on := spec.Instance.SSHKey, spec.Instance.SSH; on {
		if key == "" {
			return core.Invalid("properties.properties.sshSettings.adminPublicKey", "SSH public access needs adminPublicKey: your SSH public key (ssh_settings.ssh_key_value in YAML, --ssh-key-value on the CLI).")
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key)); err != nil {
			return core.Invalid("properties.properties.sshSettings.adminPublicKey", "adminPublicKey is not an SSH public key (expected a line like \"ssh-ed25519 AAAA… you@host\").")
		}
	}
	st := map[string]any{"state": resource.InstanceCreating, "errors": nil}
	internal := resource.InstanceInternal{}
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
	a.Internal = internal
	st["lastOperation"] = map[string]any{"operationName": "Create", "operationTime": now.UTC().Format(time.RFC3339),
		"operationStatus": "InProgress", "operationTrigger": resource.TriggerUser}
	a.State = resource.InstanceCreating
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
	m, ok := resource.InstanceActions[action]
	if !ok {
		return nil, core.Invalid("action", "A compute instance has the actions start, stop, restart and updateIdleShutdownSetting, not %q.", req.Action)
	}
	// Admission checks the move and records it in the spec; the instance
	// reconciler makes it (the status is never admission's to write).
	c, err := s.update(ctx, req.Compute, func(c *resource.Object) error {
		if c.Deleting {
			return core.Conflict("ComputeBeingDeleted", "The compute instance '%s' is being deleted.", c.Name)
		}
		st := resource.InstanceStatusOf(c)
		cur := st.EffectiveState(c.Spec)
		if !slices.Contains(m.From, cur) {
			hint := "wait until it is " + strings.Join(m.From, " or ")
			if action == "start" && cur == resource.InstanceRunning {
				hint = "it is already running"
			}
			if action == "stop" && cur == resource.InstanceStopped {
				hint = "it is already stopped"
			}
			e := core.Conflict("UnableToPerformOperation",
				"Cannot %s the compute instance '%s' while it is %s: %s.", action, c.Name, cur, hint)
			if slices.Contains([]string{resource.InstanceCreating, resource.InstanceSettingUp, resource.InstanceUserSettingUp, resource.InstanceStarting, resource.InstanceStopping, resource.InstanceRestarting}, cur) {
				e.RetryAfter = retryTransition // it moves on by itself
			}
			return e
		}
		in := resource.IntentOf(c.Spec)
		seq := st.Internal.ActedIntent + 1
		if in.Action != nil && in.Action.Seq >= seq {
			seq = in.Action.Seq + 1
		}
		in.Action = &resource.ActionIntent{Name: action, Seq: seq, At: s.Now().UTC(), By: principalName(PrincipalFrom(ctx))}
		c.Spec = resource.WithIntent(c.Spec, in)
		c.ModifiedBy = principalName(PrincipalFrom(ctx))
		return nil
	})
	if err != nil {
		return nil, err
	}
	op, err := s.StartOp(ctx, c, m.Op)
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
	c, err := s.update(ctx, req.Compute, func(c *resource.Object) error {
		doc := resource.ComputeDoc(c)
		resource.NestedProps(doc)["idleTimeBeforeShutdown"] = v
		if _, err := resource.ParseComputeSpec(doc); err != nil {
			return err
		}
		c.Spec = resource.Encode(doc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Queue.Enqueue(c.Kind, resource.Key(c))
	return &ActionResult{Body: map[string]any{"idleTimeBeforeShutdown": v}}, nil
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
	if resource.ComputeTypeOf(c) != resource.ComputeInstance {
		return nil, core.Invalid("name", "The compute '%s' is not a compute instance; only instances have setup script logs.", c.Name)
	}
	// The share is the users': read it through an os.Root, so that a link
	// planted there (to the data directory, say) serves nothing outside it.
	out := []InstanceLog{}
	share, err := os.OpenRoot(resource.WorkspaceSharePath(s.DataDir, ws))
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
func (s *Service) InstanceForAccess(ctx context.Context, ref core.WorkspaceRef, name string) (*resource.Object, *resource.Object, error) {
	ws, c, err := s.GetCompute(ctx, ref, name)
	if err != nil {
		return nil, nil, err
	}
	if resource.ComputeTypeOf(c) != resource.ComputeInstance {
		return nil, nil, core.Invalid("name", "The compute '%s' is not a compute instance.", c.Name)
	}
	st := resource.InstanceStatusOf(c)
	if err := CheckAssignedUser(PrincipalFrom(ctx), c, st); err != nil {
		return nil, nil, err
	}
	if c.Deleting || st.State() != resource.InstanceRunning {
		state := st.State()
		if c.Deleting {
			state = resource.InstanceDeleting
		}
		return nil, nil, &core.Error{Status: http.StatusConflict, Code: "ComputeNotRunning",
			Message: "The compute instance '" + c.Name + "' is " + state + ", not Running. Start it with `mlw compute start --name " + c.Name + "`."}
	}
	return ws, c, nil
}

// CheckAssignedUser refuses anyone but the instance's assigned user.
func CheckAssignedUser(p *identity.Principal, c *resource.Object, st *resource.InstanceStatus) error {
	return checkAssigned(p, c, st, "open its terminal, Jupyter or SSH sessions")
}

// checkAssigned refuses anyone but the instance's assigned user what
// (the Owner role included, as in Azure ML: an instance is personal).
func checkAssigned(p *identity.Principal, c *resource.Object, st *resource.InstanceStatus, what string) error {
	if p == nil || st.Internal.AssignedUserID == "" || p.UserID == st.Internal.AssignedUserID {
		return nil
	}
	return core.Forbidden("The compute instance '%s' is assigned to user '%s'; only that user may %s.",
		c.Name, st.Internal.AssignedUserName, what)
}

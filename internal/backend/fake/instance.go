// Package fake is an in-memory backend for reconciler unit tests: it
// records what it was asked to do and lets the test decide how scripts
// end and what activity an instance has.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"

	"github.com/mlw-project/mlw/internal/backend"
)

// Instances is a fake backend.Instances.
type Instances struct {
	mu       sync.Mutex
	running  map[string]bool
	deleted  map[string]bool
	scripts  map[string]*Script
	activity map[string]backend.Activity
	// StartErr, when set, fails every Start.
	StartErr error
	// Starts and Stops count calls per instance id.
	Starts map[string]int
	Stops  map[string]int
	// Specs are the last specs Start was given, by id.
	Specs map[string]*backend.InstanceSpec
	// Files are the home files of the last boot, by id.
	Files map[string]map[string][]byte
}

// Script is one script run; the test ends it with Finish.
type Script struct {
	ID     string
	Name   string
	Spec   backend.ScriptSpec
	result *backend.ScriptResult
	Killed bool
}

var _ backend.Instances = (*Instances)(nil)

// New returns an empty fake.
func New() *Instances {
	return &Instances{running: map[string]bool{}, deleted: map[string]bool{}, scripts: map[string]*Script{},
		activity: map[string]backend.Activity{}, Starts: map[string]int{}, Stops: map[string]int{}, Specs: map[string]*backend.InstanceSpec{}, Files: map[string]map[string][]byte{}}
}

type handle struct {
	ID string `json:"id"`
}

func id(raw backend.InstanceHandle) string {
	var h handle
	_ = json.Unmarshal(raw, &h)
	return h.ID
}

// Start implements backend.Instances.
func (f *Instances) Start(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle) (backend.InstanceHandle, backend.InstanceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.StartErr != nil {
		return nil, backend.InstanceInfo{}, f.StartErr
	}
	if !f.running[spec.ID] {
		f.Starts[spec.ID]++
	}
	f.running[spec.ID] = true
	f.Specs[spec.ID] = spec
	if spec.Files != nil {
		f.Files[spec.ID] = spec.Files
	}
	b, _ := json.Marshal(handle{ID: spec.ID})
	info := backend.InstanceInfo{Limits: "fake", Isolation: "fake", Network: "fake", Jupyter: spec.Jupyter}
	if spec.SSH != nil {
		info.SSHPort = 50000
	}
	return b, info, nil
}

// Running implements backend.Instances.
func (f *Instances) Running(ctx context.Context, raw backend.InstanceHandle) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[id(raw)]
}

// IsRunning reports whether an instance runs (for tests).
func (f *Instances) IsRunning(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[id]
}

// IsDeleted reports whether Delete was called for an instance.
func (f *Instances) IsDeleted(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleted[id]
}

// Crash makes an instance's processes vanish, as a host reboot would.
func (f *Instances) Crash(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[id] = false
}

// Stop implements backend.Instances.
func (f *Instances) Stop(ctx context.Context, raw backend.InstanceHandle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[id(raw)] {
		f.Stops[id(raw)]++
	}
	f.running[id(raw)] = false
	return nil
}

// Delete implements backend.Instances.
func (f *Instances) Delete(ctx context.Context, iid string, raw backend.InstanceHandle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[iid] = false
	f.deleted[iid] = true
	return nil
}

// StartScript implements backend.Instances.
func (f *Instances) StartScript(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle, s backend.ScriptSpec) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running[spec.ID] {
		return nil, backend.ErrNotRunning
	}
	sid := spec.ID + "/" + s.Name
	f.scripts[sid] = &Script{ID: sid, Name: s.Name, Spec: s}
	b, _ := json.Marshal(sid)
	return b, nil
}

// Script returns the latest run of an instance's script by name.
func (f *Instances) Script(instanceID, name string) *Script {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scripts[instanceID+"/"+name]
}

// Finish ends a script with an exit code.
func (f *Instances) Finish(instanceID, name string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.scripts[instanceID+"/"+name]; s != nil {
		s.result = &backend.ScriptResult{ExitCode: code}
	}
}

// ScriptDone implements backend.Instances.
func (f *Instances) ScriptDone(ctx context.Context, raw json.RawMessage) (*backend.ScriptResult, bool) {
	var sid string
	_ = json.Unmarshal(raw, &sid)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.scripts[sid]
	if s == nil {
		return &backend.ScriptResult{ExitCode: -1, Error: "lost"}, true
	}
	return s.result, s.result != nil
}

// KillScript implements backend.Instances.
func (f *Instances) KillScript(ctx context.Context, raw json.RawMessage) {
	var sid string
	_ = json.Unmarshal(raw, &sid)
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.scripts[sid]; s != nil {
		s.Killed = true
		s.result = &backend.ScriptResult{ExitCode: 137}
	}
}

// Shell implements backend.Instances (not supported by the fake).
func (f *Instances) Shell(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle, cols, rows int) (backend.Shell, error) {
	return nil, errors.New("the fake backend has no shells")
}

// DialJupyter implements backend.Instances (not supported by the fake).
func (f *Instances) DialJupyter(ctx context.Context, raw backend.InstanceHandle) (net.Conn, error) {
	return nil, errors.New("the fake backend has no Jupyter")
}

// SetActivity sets what Activity reports for an instance.
func (f *Instances) SetActivity(id string, a backend.Activity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.activity[id] = a
}

// Activity implements backend.Instances.
func (f *Instances) Activity(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle) backend.Activity {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.activity[id(raw)]
}

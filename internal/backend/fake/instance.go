// Package fake is an in-memory backend for reconciler unit tests: it
// records what it was asked to do and lets the test decide how scripts
// end and what activity an instance has.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// NoSandbox simulates a host that cannot sandbox: Start fails with
	// backend.ErrNoSandbox, unless AllowUnsandboxed.
	NoSandbox, AllowUnsandboxed bool
	// Starts and Stops count calls per instance id.
	Starts map[string]int
	Stops  map[string]int
	// Specs are the last specs Start was given, by id.
	Specs map[string]*backend.InstanceSpec
	// Files are the home files of the last boot, by id.
	Files map[string]map[string][]byte
	// Procs runs the job processes started inside instances
	// (StartProcess): the test watches and ends them there.
	Procs *Cluster
	// JobProcs are the processes started inside each instance, by id,
	// with the instance's spec at the time.
	JobProcs map[string][]JobProcess
}

// JobProcess is a job's process started inside an instance.
type JobProcess struct {
	Spec     backend.ProcessSpec
	Instance *backend.InstanceSpec
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
		activity: map[string]backend.Activity{}, Starts: map[string]int{}, Stops: map[string]int{}, Specs: map[string]*backend.InstanceSpec{}, Files: map[string]map[string][]byte{},
		JobProcs: map[string][]JobProcess{}}
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
	if f.NoSandbox && !f.AllowUnsandboxed {
		return nil, backend.InstanceInfo{}, fmt.Errorf("start instance %s: %w", spec.Name, backend.ErrNoSandbox)
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

// Stop implements backend.Instances: the instance's job processes end
// with it.
func (f *Instances) Stop(ctx context.Context, raw backend.InstanceHandle) error {
	f.mu.Lock()
	if f.running[id(raw)] {
		f.Stops[id(raw)]++
	}
	f.running[id(raw)] = false
	f.mu.Unlock()
	f.killJobs(id(raw))
	return nil
}

// Delete implements backend.Instances.
func (f *Instances) Delete(ctx context.Context, iid string, raw backend.InstanceHandle) error {
	f.mu.Lock()
	f.running[iid] = false
	f.deleted[iid] = true
	f.mu.Unlock()
	f.killJobs(iid)
	return nil
}

// killJobs ends the job processes of an instance (killed: exit code 137).
func (f *Instances) killJobs(iid string) {
	f.mu.Lock()
	procs := f.JobProcs[iid]
	f.mu.Unlock()
	if f.Procs == nil {
		return
	}
	for _, p := range procs {
		f.Procs.Kill(p.Spec.ID)
	}
}

// StartProcess implements backend.Instances: the process runs in Procs.
func (f *Instances) StartProcess(ctx context.Context, spec *backend.InstanceSpec, raw backend.InstanceHandle, p backend.ProcessSpec) (backend.ProcessHandle, error) {
	f.mu.Lock()
	if !f.running[id(raw)] || id(raw) != spec.ID {
		f.mu.Unlock()
		return backend.ProcessHandle{}, backend.ErrNotRunning
	}
	if f.Procs == nil {
		f.mu.Unlock()
		return backend.ProcessHandle{}, errors.New("the fake instances have no Procs")
	}
	known := false
	for _, jp := range f.JobProcs[spec.ID] {
		known = known || jp.Spec.ID == p.ID
	}
	if !known {
		f.JobProcs[spec.ID] = append(f.JobProcs[spec.ID], JobProcess{Spec: p, Instance: spec})
	}
	f.mu.Unlock()
	return f.Procs.Start(ctx, p)
}

// Jobs returns the job processes started inside an instance.
func (f *Instances) Jobs(iid string) []JobProcess {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]JobProcess(nil), f.JobProcs[iid]...)
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

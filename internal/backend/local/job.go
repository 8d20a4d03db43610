package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
)

func jobCgroupName(id string) string { return "job-" + id }

// checkProcID refuses a process id that is not a plain file name.
func checkProcID(id string) error {
	if id == "" || strings.ContainsAny(id, "/") || id == "." || id == ".." {
		return fmt.Errorf("start process: bad id %q", id)
	}
	return nil
}

// known reports whether this server already tracks process id.
func (c *Cluster) known(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.procs[id]
	return ok
}

// Start implements backend.Processes. A process whose supervisor
// directory already holds a pid file was started before (perhaps by a
// server that has since restarted): Start returns it instead of starting
// the command again.
func (c *Cluster) Start(ctx context.Context, spec backend.ProcessSpec) (backend.ProcessHandle, error) {
	if err := checkProcID(spec.ID); err != nil {
		return backend.ProcessHandle{}, err
	}
	h := backend.ProcessHandle{ID: spec.ID, RunDir: c.procDir(spec.ID), Node: spec.Node}
	if c.known(spec.ID) {
		return h, nil
	}
	plan, err := c.sandbox(&spec)
	if err != nil {
		return h, fmt.Errorf("start process %s: %w", spec.ID, err)
	}
	if _, err := os.Stat(filepath.Join(h.RunDir, pidFile)); err == nil {
		if spec.Node != "" {
			c.resendToAgent(spec.Node, h.RunDir, plan)
		}
		if p, err := OpenProc(h.RunDir); err == nil {
			c.remember(spec.ID, p)
			return h, nil
		}
	}
	if spec.Command != "" && spec.Node != "" {
		p, ok, err := c.startOnAgent(spec.Node, h.RunDir, spec.Dir, spec.Log, spec.Env, spec.Command, plan)
		if err != nil {
			return h, fmt.Errorf("start process %s: %w", spec.ID, err)
		}
		if ok {
			c.remember(spec.ID, p)
			return h, nil
		}
	}
	var cgroupProcs []string
	switch {
	case spec.Node != "":
		if v, _ := CgroupSupport(); v != 0 {
			cg := OpenCgroup(nodeCgroupName(spec.Node))
			if isDir(cg.dirs[0]) {
				cgroupProcs = cg.ProcsFiles()
			}
		}
	case spec.Limits.MilliCPU > 0 || spec.Limits.MemoryBytes > 0:
		cg, _, err := NewCgroup(jobCgroupName(spec.ID), Limits{MilliCPU: spec.Limits.MilliCPU, MemoryBytes: spec.Limits.MemoryBytes})
		if err != nil {
			return h, fmt.Errorf("start process %s: %w", spec.ID, err)
		}
		cgroupProcs = cg.ProcsFiles()
	}
	ps := ProcSpec{RunDir: h.RunDir, Argv: spec.Argv, Dir: spec.Dir, Env: spec.Env,
		Stdout: spec.Log, Stderr: spec.Log, CgroupProcs: cgroupProcs}
	var p *Proc
	switch {
	case plan != nil:
		argv := spec.Argv
		if spec.Command != "" {
			argv = []string{"/bin/bash", "-c", spec.Command}
		}
		ps.Argv = append(append([]string(nil), plan.prefix...), argv...)
		p, err = spawnLight(ps)
	case spec.Command != "":
		p, err = spawnCommand(ps, spec.Command)
	default:
		p, err = spawnLight(ps)
	}
	if err != nil {
		return h, fmt.Errorf("start process %s: %w", spec.ID, err)
	}
	c.remember(spec.ID, p)
	return h, nil
}

// sandbox plans the sandbox a process asks for (nil: none) and gives it
// the files it writes. Without sandbox support here it is refused, unless
// the server allows unsandboxed processes.
func (c *Cluster) sandbox(spec *backend.ProcessSpec) (*sandboxPlan, error) {
	if spec.Sandbox == nil {
		return nil, nil
	}
	if ok, reason := jobSandboxSupport(); !ok {
		if c.AllowUnsandboxed {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s. Make it possible (run mlw server as root with bubblewrap installed), or start the server with --allow-unsandboxed-jobs to run jobs as the server's own user (docs/security.md)", backend.ErrNoSandbox, reason)
	}
	procs := filepath.Join(c.Dir, "procs")
	if err := os.MkdirAll(procs, 0o711); err != nil {
		return nil, err
	}
	// Others may enter, not list: no sandbox sees which jobs exist.
	_ = os.Chmod(procs, 0o711)
	binds := []backend.Bind{{Path: procs}}
	if spec.Node != "" {
		binds = append(binds, backend.Bind{Path: c.nodeDir(spec.Node)})
	}
	plan, err := planSandbox(spec.Sandbox, c.HideDirs, binds...)
	if err != nil {
		return nil, err
	}
	uid := spec.Sandbox.UID
	for _, p := range outermost(append([]string{spec.Dir}, spec.Sandbox.Writable...)) {
		if err := giveTree(p, uid); err != nil {
			return nil, fmt.Errorf("give %s to the job's user: %w", p, err)
		}
	}
	if spec.Log != "" {
		if err := giveFile(spec.Log, uid); err != nil {
			return nil, fmt.Errorf("give the log to the job's user: %w", err)
		}
	}
	spec.Env = sandboxEnv(spec.Env)
	return plan, nil
}

func (c *Cluster) remember(id string, p *Proc) {
	c.mu.Lock()
	c.procs[id] = p
	c.mu.Unlock()
}

// proc returns the handle of a process, reattaching from disk after a
// restart.
func (c *Cluster) proc(h backend.ProcessHandle) (*Proc, error) {
	c.mu.Lock()
	p := c.procs[h.ID]
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	dir := h.RunDir
	if dir == "" {
		dir = c.procDir(h.ID)
	}
	p, err := OpenProc(dir)
	if err != nil {
		return nil, err
	}
	c.remember(h.ID, p)
	return p, nil
}

// State implements backend.Processes. A process with no supervisor files
// at all was never started (or was released): it reports as lost.
func (c *Cluster) State(ctx context.Context, h backend.ProcessHandle) (backend.ProcessState, error) {
	p, err := c.proc(h)
	if errors.Is(err, os.ErrNotExist) {
		return backend.ProcessState{ExitCode: -1, Error: "the process is gone: its supervisor files were removed"}, nil
	}
	if err != nil {
		return backend.ProcessState{}, err
	}
	st, done := p.Exit()
	if !done {
		return backend.ProcessState{Running: true}, nil
	}
	ps := backend.ProcessState{ExitCode: st.Code, Signal: st.Signal, Error: st.Error, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt}
	if ps.Signal == "" && ps.ExitCode > 128 && ps.ExitCode < 128+65 {
		// The light supervisor reports a signal as the shell does: 128+n.
		ps.Signal = signalName(ps.ExitCode - 128)
	}
	return ps, nil
}

// Wait implements backend.Processes. A process this server's child
// supervises ends the wait at once; others (run by a node agent, or
// reattached after a restart) are polled, quickly at first, then every
// 100 ms.
func (c *Cluster) Wait(ctx context.Context, h backend.ProcessHandle) error {
	p, err := c.proc(h)
	if err != nil {
		return nil // nothing to wait for: State reports it lost
	}
	if p.done != nil {
		_, err = p.Wait(ctx)
		return err
	}
	// The exit record is awaited with inotify; a supervisor (or node
	// agent) that dies without one is noticed by a slower check.
	written, release, werr := c.exits.watch(p.RunDir)
	if werr == nil {
		defer release()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, done := p.Exit(); done {
			return nil
		}
		if _, err := os.Stat(p.RunDir); errors.Is(err, os.ErrNotExist) {
			return nil // released: nothing left to wait for
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-written:
			written = nil // fires once; the ticker covers the rest
		case <-tick.C:
		}
	}
}

// Stop implements backend.Processes: SIGTERM to the process group, SIGKILL
// after grace to the group and every process carrying its tag, and the
// process's own cgroup (jobs on instances) emptied.
func (c *Cluster) Stop(ctx context.Context, h backend.ProcessHandle, grace time.Duration) error {
	p, err := c.proc(h)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, done := p.Exit(); done {
		return nil // stragglers go in Release
	}
	// A node agent records the job's process group a moment after it
	// takes the job: wait for it, so that the signal reaches the job.
	for i := 0; i < 500 && p.ChildPID() == 0; i++ {
		if _, done := p.Exit(); done {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	var cg *Cgroup
	if v, _ := CgroupSupport(); v != 0 {
		if own := OpenCgroup(jobCgroupName(h.ID)); isDir(own.dirs[0]) {
			cg = own
		}
	}
	if st := p.Kill(ctx, grace, cg); st.Code == -1 && st.Error != "" {
		// The SIGKILL after the grace period reached the supervisor too
		// (the command supervisor leads the process group it signals),
		// which died before it could record the exit. Record it as what
		// it was, a kill, rather than leave the process reported lost.
		if _, ok := readExit(p.RunDir); !ok {
			writeExit(p.RunDir, &ExitStatus{Code: 128 + 9, Signal: "SIGKILL", FinishedAt: time.Now().UTC()})
		}
	}
	return nil
}

// Sweep implements backend.Processes: processes the job left behind
// (started in the background, still running after the main process ended)
// are killed — everything left in the node's cgroup but its agent, or in
// the process's own cgroup; without a cgroup (none here, or a process
// inside a compute instance), every process carrying its tag.
func (c *Cluster) Sweep(ctx context.Context, h backend.ProcessHandle) error {
	v, _ := CgroupSupport()
	switch own := OpenCgroup(jobCgroupName(h.ID)); {
	case v != 0 && isDir(own.dirs[0]):
		own.Kill()
		_ = waitEmpty(ctx, own)
	case v != 0 && h.Node != "":
		// Everything left on the node but its agent belongs to the job.
		cg := OpenCgroup(nodeCgroupName(h.Node))
		if pids := cg.PIDs(); len(pids) > 0 {
			agent := c.agentProcs(h.Node)
			for _, pid := range pids {
				if !slices.Contains(agent, pid) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	default:
		KillTagged(c.runDir(h))
	}
	return nil
}

// Release implements backend.Processes: it removes the process's own
// cgroup (empty after Sweep) and its run directory. It never touches the
// node's cgroup, which may already run the next job. Without cgroups it
// kills what carries the process's own tag (Sweep did too; a caller may
// release without sweeping); with them the cgroups hold every descendant,
// and the scan of /proc (most of a millisecond per job) is not repeated.
func (c *Cluster) Release(ctx context.Context, h backend.ProcessHandle) error {
	c.mu.Lock()
	delete(c.procs, h.ID)
	c.mu.Unlock()
	if v, _ := CgroupSupport(); v != 0 {
		if own := OpenCgroup(jobCgroupName(h.ID)); isDir(own.dirs[0]) {
			own.Kill()
			_ = waitEmpty(ctx, own)
			_ = own.Remove()
		}
	} else {
		KillTagged(c.runDir(h)) // only this process's own tag: never another job's
	}
	if err := os.RemoveAll(c.runDir(h)); err != nil {
		return fmt.Errorf("release process %s: %w", h.ID, err)
	}
	return nil
}

func (c *Cluster) runDir(h backend.ProcessHandle) string {
	if h.RunDir != "" {
		return h.RunDir
	}
	return c.procDir(h.ID)
}

// waitEmpty waits until a cgroup's processes are gone (after a kill, the
// kernel needs a moment to reap them).
func waitEmpty(ctx context.Context, cg *Cgroup) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(5 * time.Second)
	for len(cg.PIDs()) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("cgroup %s still has processes %v after SIGKILL", cg.Name, cg.PIDs())
		case <-t.C:
		}
	}
	return nil
}

// lightSupervisor is the supervisor of job processes: /bin/sh running
// this script, which does what the mlw shim does (see Spawn) at a
// fraction of its cost. Starting the mlw binary as a shim costs tens of
// milliseconds of CPU (its package initialisation), which would cap job
// throughput on a small machine; dash costs about one. The script joins
// the cgroups, starts the command in a session of its own (setsid, so
// that signals and kills reach its whole process group) carrying the run
// directory tag, records its pid, waits for it, and records its exit code
// in the same files the shim writes, so that OpenProc, Exit, Wait and Kill
// work unchanged.
//
//	$1 run directory, $2 the setsid program, $3 number of cgroup.procs
//	files, then those files, then the command.
const lightSupervisor = `d=$1; s=$2; n=$3; shift 3
while [ "$n" -gt 0 ]; do
  echo $$ > "$1" || { printf '{"code":127,"error":"cannot join the cgroup %s"}\n' "$1" > "$d/exit.json"; exit 1; }
  shift; n=$((n-1))
done
` + TagEnv + `="$d" "$s" "$@" &
echo $! > "$d/child.pid"
wait $!
printf '{"code":%d}\n' $? > "$d/exit.json"
`

// commandSupervisor runs a job's bash command inside the supervisor
// itself: bash, started by the server in a session of its own, joins the
// cgroups, records its pid (the process group to signal), runs the command
// in a subshell (a fork, no new program: "exit 3" in the command ends only
// the subshell), and records the exit code where the mlw shim would. It
// outlives a SIGTERM to its process group (the trap, which the subshell
// does not inherit), so that a command that shuts down gracefully has its
// grace period and its exit code recorded. The
// job costs one program start (bash) instead of three, which is what job
// throughput on a small machine is made of. Its variables are named so
// that they do not clash with the command's.
//
//	$1 run directory, $2 number of cgroup.procs files, then those files,
//	then the command.
const commandSupervisor = `__mlw_d=$1; __mlw_n=$2; shift 2
while [ "$__mlw_n" -gt 0 ]; do
  echo $$ > "$1" || { printf '{"code":127,"error":"cannot join the cgroup %s"}\n' "$1" > "$__mlw_d/exit.json"; exit 1; }
  shift; __mlw_n=$((__mlw_n-1))
done
__mlw_c=$1; shift; set --
trap : TERM INT
echo $$ > "$__mlw_d/child.pid"
( eval "$__mlw_c" )
printf '{"code":%d}\n' $? > "$__mlw_d/exit.json"
`

var lightTools = sync.OnceValue(func() bool {
	for _, p := range []string{"/bin/sh", "setsid"} {
		if _, err := exec.LookPath(p); err != nil {
			return false
		}
	}
	return true
})

// spawnCommand starts a bash command under the command supervisor (or,
// without /bin/bash, as bash -c under spawnLight).
func spawnCommand(spec ProcSpec, command string) (*Proc, error) {
	if _, err := os.Stat("/bin/bash"); err != nil || spec.UID != 0 || spec.GID != 0 {
		spec.Argv = []string{"/bin/sh", "-c", command}
		return spawnLight(spec)
	}
	args := []string{"-c", commandSupervisor, "mlw-job", spec.RunDir, strconv.Itoa(len(spec.CgroupProcs))}
	args = append(args, spec.CgroupProcs...)
	args = append(args, command)
	return startSupervisor(spec, "/bin/bash", args, append(append([]string(nil), spec.Env...), TagEnv+"="+spec.RunDir))
}

// spawnLight starts a supervised process with the light supervisor, or
// with the mlw shim (Spawn) where /bin/sh or setsid is missing.
func spawnLight(spec ProcSpec) (*Proc, error) {
	if !lightTools() || len(spec.Argv) == 0 || spec.UID != 0 || spec.GID != 0 {
		return Spawn(spec)
	}
	setsid, _ := exec.LookPath("setsid")
	args := []string{"-c", lightSupervisor, "mlw-supervise", spec.RunDir, setsid, strconv.Itoa(len(spec.CgroupProcs))}
	args = append(args, spec.CgroupProcs...)
	args = append(args, spec.Argv...)
	return startSupervisor(spec, "/bin/sh", args, spec.Env)
}

// startSupervisor starts a supervisor shell in a session of its own, with
// the process's log as its output, and records its pid as Spawn does.
func startSupervisor(spec ProcSpec, shell string, args, env []string) (*Proc, error) {
	switch err := os.Mkdir(spec.RunDir, 0o755); {
	case err == nil:
	case errors.Is(err, os.ErrExist):
		// Left by a start that failed half-way: no pid file, so nothing ran.
		_ = os.Remove(filepath.Join(spec.RunDir, exitFile))
	default:
		if err := os.MkdirAll(spec.RunDir, 0o755); err != nil {
			return nil, fmt.Errorf("spawn: %w", err)
		}
	}
	cmd := exec.Command(shell, args...)
	cmd.Dir = spec.Dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if spec.Stdout != "" {
		f, err := os.OpenFile(spec.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if errors.Is(err, os.ErrNotExist) {
			if err = os.MkdirAll(filepath.Dir(spec.Stdout), 0o755); err == nil {
				f, err = os.OpenFile(spec.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("spawn: open the log: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	return runSupervisor(cmd, spec.RunDir)
}

func signalName(n int) string {
	names := map[int]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
		9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM"}
	if s, ok := names[n]; ok {
		return s
	}
	return "signal " + strconv.Itoa(n)
}

// outermost are the paths of ps (cleaned, empty ones and repeats dropped)
// that are not below another of them: giving those gives all.
func outermost(ps []string) []string {
	var out []string
	for i, p := range ps {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		covered := false
		for j, q := range ps {
			q = filepath.Clean(q)
			if j != i && ps[j] != "" && (p != q && underAny(p, []string{q}) || p == q && j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Limits are the resources a size grants: CPU in thousandths of a core and
// memory in bytes. Zero means unlimited.
type Limits struct {
	MilliCPU    int
	MemoryBytes int64
	// PIDs caps the number of processes and threads (pids.max), where the
	// pids controller is available; 0 leaves it unlimited.
	PIDs int
}

// CgroupRoot is where mlw's cgroups live; tests may change it.
var CgroupRoot = "/sys/fs/cgroup"

// cgroupSupport is detected once: which cgroup version can enforce limits
// here, or why none can.
var cgroupSupport = sync.OnceValues(detectCgroups)

// CgroupSupport reports the cgroup version mlw uses for limits (1 or 2), or
// 0 and the reason limits cannot be enforced on this host.
func CgroupSupport() (int, string) { return cgroupSupport() }

func detectCgroups() (int, string) {
	if os.Geteuid() != 0 {
		return 0, "mlw server is not running as root, so it cannot create cgroups; CPU and memory limits are not enforced"
	}
	// cgroup v2 with the cpu and memory controllers at the root.
	if b, err := os.ReadFile(filepath.Join(CgroupRoot, "cgroup.controllers")); err == nil {
		c := " " + strings.TrimSpace(string(b)) + " "
		if strings.Contains(c, " memory ") && strings.Contains(c, " cpu ") {
			if err := enableV2(); err == nil {
				return 2, ""
			} else {
				return 0, "cgroup v2 is mounted but its cpu and memory controllers cannot be delegated to mlw: " + err.Error()
			}
		}
	}
	// cgroup v1 with separate memory and cpu hierarchies.
	mem, cpu := filepath.Join(CgroupRoot, "memory"), filepath.Join(CgroupRoot, "cpu")
	if isDir(mem) && isDir(cpu) {
		for _, d := range []string{mem, cpu} {
			if err := os.MkdirAll(filepath.Join(d, "mlw"), 0o755); err != nil {
				return 0, "cgroup v1 is mounted but mlw cannot create its cgroups: " + err.Error()
			}
		}
		if pids := filepath.Join(CgroupRoot, "pids"); isDir(pids) {
			_ = os.MkdirAll(filepath.Join(pids, "mlw"), 0o755)
		}
		return 1, ""
	}
	return 0, "this host has no cgroup v1 memory/cpu hierarchy and no cgroup v2 cpu/memory controllers; CPU and memory limits are not enforced"
}

func enableV2() error {
	if err := os.WriteFile(filepath.Join(CgroupRoot, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0); err != nil {
		return err
	}
	dir := filepath.Join(CgroupRoot, "mlw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Cgroup is one group of processes with limits (an instance, a node, a job).
type Cgroup struct {
	Name string
	dirs []string
}

// NewCgroup creates (or reuses) the cgroup mlw/<name> with these limits. It
// returns nil and the reason when this host cannot enforce limits.
func NewCgroup(name string, l Limits) (*Cgroup, string, error) {
	version, reason := CgroupSupport()
	if version == 0 {
		return nil, reason, nil
	}
	cg := OpenCgroup(name)
	for _, d := range cg.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, "", fmt.Errorf("create cgroup %s: %w", d, err)
		}
	}
	write := func(dir, file, v string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
			return fmt.Errorf("cgroup %s: set %s=%s: %w", name, file, v, err)
		}
		return nil
	}
	if version == 2 {
		d := cg.dirs[0]
		mem, cpu := "max", "max 100000"
		if l.MemoryBytes > 0 {
			mem = strconv.FormatInt(l.MemoryBytes, 10)
		}
		if l.MilliCPU > 0 {
			cpu = strconv.Itoa(l.MilliCPU*100) + " 100000"
		}
		if err := write(d, "memory.max", mem); err != nil {
			return nil, "", err
		}
		if err := write(d, "cpu.max", cpu); err != nil {
			return nil, "", err
		}
		if err := setPIDs(d, l.PIDs); err != nil {
			return nil, "", fmt.Errorf("cgroup %s: %w", name, err)
		}
		return cg, "", nil
	}
	memDir, cpuDir := cg.dirs[0], cg.dirs[1]
	mem := "-1"
	if l.MemoryBytes > 0 {
		mem = strconv.FormatInt(l.MemoryBytes, 10)
	}
	if err := write(memDir, "memory.limit_in_bytes", mem); err != nil {
		return nil, "", err
	}
	quota := "-1"
	if l.MilliCPU > 0 {
		quota = strconv.Itoa(l.MilliCPU * 100)
	}
	if err := write(cpuDir, "cpu.cfs_period_us", "100000"); err != nil {
		return nil, "", err
	}
	if err := write(cpuDir, "cpu.cfs_quota_us", quota); err != nil {
		return nil, "", err
	}
	if len(cg.dirs) > 2 {
		if err := setPIDs(cg.dirs[2], l.PIDs); err != nil {
			return nil, "", fmt.Errorf("cgroup %s: %w", name, err)
		}
	}
	return cg, "", nil
}

// setPIDs writes pids.max in dir, where the pids controller has it.
func setPIDs(dir string, n int) error {
	f := filepath.Join(dir, "pids.max")
	if _, err := os.Stat(f); err != nil {
		return nil
	}
	v := "max"
	if n > 0 {
		v = strconv.Itoa(n)
	}
	if err := os.WriteFile(f, []byte(v), 0); err != nil {
		return fmt.Errorf("set pids.max=%s: %w", v, err)
	}
	return nil
}

// PIDsEnforced reports whether pids.max applies to mlw's cgroups here.
func PIDsEnforced() bool {
	switch v, _ := CgroupSupport(); v {
	case 2:
		b, _ := os.ReadFile(filepath.Join(CgroupRoot, "mlw", "cgroup.subtree_control"))
		return strings.Contains(" "+string(b)+" ", " pids")
	case 1:
		return isDir(filepath.Join(CgroupRoot, "pids", "mlw"))
	}
	return false
}

// OpenCgroup names an existing cgroup (after a restart) without changing it.
func OpenCgroup(name string) *Cgroup {
	version, _ := CgroupSupport()
	switch version {
	case 2:
		return &Cgroup{Name: name, dirs: []string{filepath.Join(CgroupRoot, "mlw", name)}}
	case 1:
		dirs := []string{filepath.Join(CgroupRoot, "memory", "mlw", name), filepath.Join(CgroupRoot, "cpu", "mlw", name)}
		if isDir(filepath.Join(CgroupRoot, "pids", "mlw")) {
			dirs = append(dirs, filepath.Join(CgroupRoot, "pids", "mlw", name))
		}
		return &Cgroup{Name: name, dirs: dirs}
	}
	return &Cgroup{Name: name}
}

// ProcsFiles are the cgroup.procs files a process writes its pid into to
// join the group (one per hierarchy).
func (c *Cgroup) ProcsFiles() []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, d := range c.dirs {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	return out
}

// Add moves a process into the group.
func (c *Cgroup) Add(pid int) error { return joinCgroup(c.ProcsFiles(), pid) }

func joinCgroup(files []string, pid int) error {
	for _, f := range files {
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", f, err)
		}
	}
	return nil
}

// PIDs lists the processes in the group.
func (c *Cgroup) PIDs() []int {
	if c == nil || len(c.dirs) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dirs[0], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Kill sends SIGKILL to every process in the group.
func (c *Cgroup) Kill() {
	for _, pid := range c.PIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Remove deletes the group; it must be empty (kill its processes first).
func (c *Cgroup) Remove() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, d := range c.dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MemoryPeak returns the most memory the group has used, when known.
func (c *Cgroup) MemoryPeak() int64 {
	if c == nil || len(c.dirs) == 0 {
		return 0
	}
	for _, f := range []string{"memory.peak", "memory.max_usage_in_bytes"} {
		if b, err := os.ReadFile(filepath.Join(c.dirs[0], f)); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return n
		}
	}
	return 0
}

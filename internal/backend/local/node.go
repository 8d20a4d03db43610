package local

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/mlw-project/mlw/internal/backend"
)

// Cluster is the local backend of compute clusters: a node is a slot on
// this machine with its size's CPU and memory budget (a cgroup
// node-<id> where the kernel allows), and a job process is a supervised
// process (see Spawn) inside its node's cgroup. It implements
// backend.Nodes and backend.Processes.
//
// Everything it needs after a restart of mlw server is on disk under Dir:
// procs/<process id>/ holds each process's supervisor files.
type Cluster struct {
	Dir string
	// HideDirs are host directories sandboxed processes must not see (the
	// data directory with its keys); what a process needs is bound back.
	HideDirs []string
	// AllowUnsandboxed runs processes that ask for a sandbox without one
	// where this host cannot sandbox them (the server's explicit opt-in,
	// --allow-unsandboxed-jobs); otherwise Start fails with ErrNoSandbox.
	AllowUnsandboxed bool
	// SandboxedJobs says that the server's jobs ask for sandboxes, so that
	// a node's agent is started by its first job, as that job's user,
	// rather than ahead of it.
	SandboxedJobs bool

	capacity backend.Resources

	mu sync.Mutex
	// procs caches the handles of processes this server spawned: their
	// supervisor is our child, so Wait learns of an exit at once.
	procs map[string]*Proc
	// exits tells Wait when other processes' exit records appear.
	exits exitWatcher
}

// NewCluster returns the local cluster backend keeping its files in dir.
// capacity is what nodes may use in total; zero fields are taken from the
// host (all CPUs; 90% of physical memory).
func NewCluster(dir string, capacity backend.Resources) *Cluster {
	host := HostResources()
	if capacity.MilliCPU <= 0 {
		capacity.MilliCPU = host.MilliCPU
	}
	if capacity.MemoryBytes <= 0 {
		capacity.MemoryBytes = host.MemoryBytes * 9 / 10
	}
	if capacity.GPUs <= 0 {
		capacity.GPUs = host.GPUs
	}
	return &Cluster{Dir: dir, capacity: capacity, procs: map[string]*Proc{}}
}

// HostResources are this machine's CPUs (those this process may use) and
// physical memory. GPUs are not detected: the local backend has none.
func HostResources() backend.Resources {
	r := backend.Resources{MilliCPU: runtime.NumCPU() * 1000}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				r.MemoryBytes = kb * 1024
				break
			}
		}
	}
	return r
}

// Capacity implements backend.Nodes.
func (c *Cluster) Capacity() backend.Resources { return c.capacity }

func nodeCgroupName(id string) string { return "node-" + id }

// StartNode implements backend.Nodes: it creates (or finds again) the
// node's cgroup with its size's limits.
func (c *Cluster) StartNode(ctx context.Context, spec backend.NodeSpec) (backend.NodeInfo, error) {
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/.") {
		return backend.NodeInfo{}, fmt.Errorf("start node: bad node id %q", spec.ID)
	}
	info := backend.NodeInfo{PrivateIP: "127.0.0.1", PublicIP: "127.0.0.1", Port: 50000 + spec.Index}
	cg, reason, err := NewCgroup(nodeCgroupName(spec.ID), Limits{MilliCPU: spec.Limits.MilliCPU, MemoryBytes: spec.Limits.MemoryBytes,
		PIDs: NodePIDs(spec.Limits.MilliCPU)})
	if err != nil {
		return backend.NodeInfo{}, fmt.Errorf("start node %s: %w", spec.ID, err)
	}
	if cg == nil {
		info.Note = reason
	} else {
		info.Enforced = true
	}
	if ok, _ := jobSandboxSupport(); !ok || !c.SandboxedJobs {
		if _, _, alive := c.agentPID(spec.ID); !alive {
			// Without an agent jobs run under their own supervisors:
			// slower, not wrong. (Sandboxed agents run as the user of
			// the node's job: the first job starts one.)
			_ = c.startAgent(spec.ID, nil)
		}
	}
	return info, nil
}

// NodePIDs is the most processes and threads a node of milliCPU may run
// (pids.max): 512 per vCPU, at least 256; enough for data loaders and
// compilers, not for a fork bomb to take the host.
func NodePIDs(milliCPU int) int {
	return max(256, 512*milliCPU/1000)
}

// StopNode implements backend.Nodes: whatever still runs in the node's
// cgroup is killed and the cgroup removed.
func (c *Cluster) StopNode(ctx context.Context, id string) error {
	c.stopAgent(id)
	if v, _ := CgroupSupport(); v == 0 {
		return nil
	}
	cg := OpenCgroup(nodeCgroupName(id))
	for range 10 {
		if len(cg.PIDs()) == 0 {
			break
		}
		cg.Kill()
		if err := waitEmpty(ctx, cg); err != nil {
			return err
		}
	}
	if err := cg.Remove(); err != nil {
		return fmt.Errorf("stop node %s: %w", id, err)
	}
	return nil
}

// procDir is the supervisor directory of one process.
func (c *Cluster) procDir(id string) string { return filepath.Join(c.Dir, "procs", id) }

package slurm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// mlw's node states, as listNodes reports them. They are the strings of
// internal/resource's Node* constants (a test checks that), repeated here
// because backends do not import the resource model.
const (
	NodeIdle      = "idle"
	NodeRunning   = "running"
	NodeLeaving   = "leaving"
	NodePreempted = "preempted"
	NodePreparing = "preparing"
	NodeUnusable  = "unusable"
)

// Partition is a Slurm partition and its nodes.
type Partition struct {
	Name string
	// Up is Slurm's State=UP (jobs are started); State is Slurm's word.
	Up      bool
	State   string
	Default bool
	// MaxNodes a job may use and MaxTime it may run (0: unlimited).
	MaxNodes int
	MaxTime  time.Duration
	Nodes    []Node
}

// Node is one node of a partition, as sinfo reports it.
type Node struct {
	Name string
	// SlurmState is sinfo's long state, with its flags ("idle", "mixed",
	// "drained*", "idle~"); State is the mlw node state it maps to, and
	// Listed is false for nodes that do not exist as far as mlw is
	// concerned (powered down or not yet added to a cloud cluster).
	SlurmState string
	State      string
	Listed     bool
	CPUs       int
	CPUsAlloc  int
	// MemoryMB is what Slurm may give jobs (RealMemory); AllocMemoryMB is
	// given to jobs now.
	MemoryMB      int64
	AllocMemoryMB int64
	GPUs          int
	GPUsUsed      int
	// Reason is why an administrator drained or downed it.
	Reason string
}

// StateCounts counts the listed nodes by mlw state (the keys of Azure's
// nodeStateCounts: idle, running, preparing, leaving, preempted,
// unusable).
func (p Partition) StateCounts() map[string]int {
	out := map[string]int{NodeIdle: 0, NodeRunning: 0, NodePreparing: 0, NodeLeaving: 0, NodePreempted: 0, NodeUnusable: 0}
	for _, n := range p.Nodes {
		if n.Listed {
			out[n.State]++
		}
	}
	return out
}

// NodeState maps sinfo's long node state to an mlw node state; listed is
// false for a node mlw should not list (powered down, or FUTURE). Slurm
// has no preempted node state: preemption is a job's.
func NodeState(slurm string) (state string, listed bool) {
	s := strings.ToLower(strings.TrimSpace(slurm))
	base, flags, _ := strings.Cut(s, "+") // "mixed+drain" in some releases
	// sinfo's suffixes: * not responding, ~ powered off, # powering up,
	// % powering down, ! to power down when idle, ^ rebooting,
	// @ reboot pending, - planned by backfill, $ maintenance reservation.
	suffix := ""
	if i := strings.IndexAny(base, "*~#%!^@-$"); i >= 0 {
		base, suffix = base[:i], base[i:]
	}
	switch {
	case strings.Contains(suffix, "~"):
		return "", false
	case strings.Contains(suffix, "*"):
		return NodeUnusable, true
	case strings.Contains(suffix, "#"), strings.Contains(suffix, "^"):
		return NodePreparing, true
	case strings.Contains(suffix, "%"), strings.Contains(suffix, "!"):
		return NodeLeaving, true
	}
	if strings.Contains(flags, "drain") {
		if base == "idle" {
			return NodeUnusable, true
		}
		return NodeLeaving, true
	}
	switch base {
	case "idle", "planned":
		return NodeIdle, true
	case "allocated", "alloc", "mixed", "mix", "completing", "comp":
		return NodeRunning, true
	case "draining", "drng":
		return NodeLeaving, true
	case "unknown", "unk", "powering_up", "pow_up", "reboot_issued", "reboot_requested", "boot", "configuring":
		return NodePreparing, true
	case "powering_down", "powr_dn":
		return NodeLeaving, true
	case "future", "futr", "powered_down", "power_down", "pow_dn":
		return "", false
	}
	// down, drained, fail, failing, inval, maint, reserved, blocked, ...
	return NodeUnusable, true
}

var sinfoFields = []string{"NodeList", "StateLong", "CPUs", "CPUsState", "Memory", "AllocMem", "Gres", "GresUsed", "Reason"}

// Partition reports a partition and its nodes (scontrol show partition,
// then one sinfo); "" is the cluster's default partition. ErrNoPartition
// when it does not exist.
func (c *Client) Partition(ctx context.Context, name string) (Partition, error) {
	args := []string{"show", "partition", "-o"}
	if name != "" {
		args = append(args, name)
	}
	out, err := c.run.Run(ctx, Command{Name: "scontrol", Args: args})
	if err != nil {
		return Partition{}, fmt.Errorf("partition %s: %w", name, err)
	}
	var p Partition
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := parseKV(line)
		if (name == "" && f["Default"] == "YES") || (name != "" && f["PartitionName"] == name) {
			p = Partition{Name: f["PartitionName"], State: f["State"], Up: f["State"] == "UP", Default: f["Default"] == "YES",
				MaxTime: parseDuration(f["MaxTime"])}
			p.MaxNodes, _ = strconv.Atoi(f["MaxNodes"]) // UNLIMITED: 0
			found = true
			break
		}
	}
	if !found {
		if name == "" {
			return Partition{}, fmt.Errorf("default partition: %w (the cluster has none marked Default=YES)", ErrNoPartition)
		}
		return Partition{}, fmt.Errorf("partition %s: %w", name, ErrNoPartition)
	}
	fmtArg := make([]string, len(sinfoFields))
	for i, f := range sinfoFields {
		fmtArg[i] = f + ":|"
	}
	out, err = c.run.Run(ctx, Command{Name: "sinfo", Args: []string{"-h", "-N", "-p", p.Name, "-O", strings.Join(fmtArg, ",")}})
	if err != nil {
		return Partition{}, fmt.Errorf("partition %s: %w", p.Name, err)
	}
	p.Nodes, err = parseSinfo(string(out))
	if err != nil {
		return Partition{}, fmt.Errorf("partition %s: %w", p.Name, err)
	}
	return p, nil
}

func parseSinfo(out string) ([]Node, error) {
	var nodes []Node
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.SplitN(strings.TrimSuffix(line, "|"), "|", len(sinfoFields))
		if len(f) != len(sinfoFields) {
			return nil, fmt.Errorf("sinfo printed %q: want %d fields", line, len(sinfoFields))
		}
		get := func(name string) string { return strings.TrimSpace(f[slices.Index(sinfoFields, name)]) }
		n := Node{Name: get("NodeList"), SlurmState: get("StateLong"), Reason: get("Reason")}
		if n.Reason == "none" {
			n.Reason = ""
		}
		n.State, n.Listed = NodeState(n.SlurmState)
		n.CPUs, _ = strconv.Atoi(get("CPUs"))
		// CPUsState: allocated/idle/other/total.
		if a, _, ok := strings.Cut(get("CPUsState"), "/"); ok {
			n.CPUsAlloc, _ = strconv.Atoi(a)
		}
		n.MemoryMB, _ = strconv.ParseInt(get("Memory"), 10, 64)
		n.AllocMemoryMB, _ = strconv.ParseInt(get("AllocMem"), 10, 64)
		n.GPUs = gpuCount(get("Gres"))
		n.GPUsUsed = gpuCount(get("GresUsed"))
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// gpuCount sums the GPUs in a Slurm GRES list: "gpu:2", "gpu:a100:4(S:0-1)",
// "gpu:a100:1(IDX:0,2),mps:100"; "(null)" is none.
func gpuCount(gres string) int {
	total := 0
	for _, item := range splitOutsideParens(gres) {
		if i := strings.IndexByte(item, '('); i >= 0 {
			item = item[:i]
		}
		parts := strings.Split(item, ":")
		if parts[0] != "gpu" || len(parts) < 2 {
			continue
		}
		if n, err := strconv.Atoi(parts[len(parts)-1]); err == nil {
			total += n
		}
	}
	return total
}

func splitOutsideParens(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

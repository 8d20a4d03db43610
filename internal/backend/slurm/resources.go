package slurm

import (
	"fmt"

	"github.com/mlw-project/mlw/internal/core"
)

// ForVMSize is what a job on instanceCount nodes of the given VM size asks
// of Slurm: one Slurm node per instance, holding the size's vCPUs, memory
// and GPUs (--cpus-per-task times --ntasks-per-node, --mem, --gres=gpu),
// with processesPerInstance tasks on each (Azure ML's
// process_count_per_instance; 0 means 1) sharing the vCPUs evenly. A size
// whose vCPUs do not divide evenly leaves the remainder unasked.
func ForVMSize(size core.VMSize, instanceCount, processesPerInstance int) (Resources, error) {
	if instanceCount < 1 {
		instanceCount = 1
	}
	if processesPerInstance < 1 {
		processesPerInstance = 1
	}
	if size.VCPUs < 1 {
		return Resources{}, fmt.Errorf("VM size %s: %w: it has no vCPUs", size.Name, ErrBadSpec)
	}
	if processesPerInstance > size.VCPUs {
		return Resources{}, fmt.Errorf("VM size %s: %w: %d processes per instance need at least as many vCPUs; it has %d",
			size.Name, ErrBadSpec, processesPerInstance, size.VCPUs)
	}
	return Resources{
		Nodes:        instanceCount,
		TasksPerNode: processesPerInstance,
		CPUsPerTask:  size.VCPUs / processesPerInstance,
		MemoryMB:     size.MemoryMB(),
		GPUsPerNode:  size.GPUs,
	}, nil
}

// Fits says whether a job asking r can ever run in partition p: enough
// nodes that mlw may use (not unusable) each with the CPUs, memory and
// GPUs r asks per node, and no more nodes than the partition allows. The
// error wraps ErrUnsatisfiable and says what is missing; Slurm would
// refuse such a job at submit ("Requested node configuration is not
// available") or leave it pending forever.
func (r Resources) Fits(p Partition) error {
	nodes := max(r.Nodes, 1)
	cpus := max(r.TasksPerNode, 1) * max(r.CPUsPerTask, 1)
	if p.MaxNodes > 0 && nodes > p.MaxNodes {
		return fmt.Errorf("%w: %d nodes asked; partition %s allows %d per job", ErrUnsatisfiable, nodes, p.Name, p.MaxNodes)
	}
	fit, usable := 0, 0
	var best Node
	for _, n := range p.Nodes {
		if !n.Listed || n.State == NodeUnusable {
			continue
		}
		usable++
		if n.CPUs >= cpus && n.MemoryMB >= r.MemoryMB && n.GPUs >= r.GPUsPerNode {
			fit++
		}
		if n.CPUs > best.CPUs || (n.CPUs == best.CPUs && n.MemoryMB > best.MemoryMB) {
			best = n
		}
	}
	if fit >= nodes {
		return nil
	}
	if usable == 0 {
		return fmt.Errorf("%w: partition %s has no usable node", ErrUnsatisfiable, p.Name)
	}
	return fmt.Errorf("%w: each of %d nodes needs %d CPUs, %d MiB and %d GPUs; partition %s has %d such nodes (its largest: %d CPUs, %d MiB, %d GPUs)",
		ErrUnsatisfiable, nodes, cpus, r.MemoryMB, r.GPUsPerNode, p.Name, fit, best.CPUs, best.MemoryMB, best.GPUs)
}

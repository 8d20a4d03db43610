package resource

import (
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// Cluster backends (properties.properties.backend.type). A cluster without
// the field runs on the local backend: nodes are slots of this machine.
const (
	BackendLocal = "local"
	BackendSlurm = "slurm"
)

// ClusterBackend is where a compute cluster runs its jobs: the YAML field
// `backend: {type: slurm, partition: gpu}`, properties.properties.backend
// in the REST body. Type is BackendLocal (the default) or BackendSlurm;
// Partition is the Slurm partition ("" means Slurm's default partition).
// It is fixed at creation.
type ClusterBackend struct {
	Type      string
	Partition string
}

// Slurm reports whether the cluster runs on Slurm.
func (b ClusterBackend) Slurm() bool { return b.Type == BackendSlurm }

// ClusterBackendOf reads a cluster's backend from its properties
// (properties.properties). A missing or null field is the local backend.
// Its errors are core.Invalid errors naming the field and saying what to
// write instead.
func ClusterBackendOf(props map[string]any) (ClusterBackend, error) {
	const field = "properties.properties.backend"
	v, ok := props["backend"]
	if !ok || v == nil {
		return ClusterBackend{Type: BackendLocal}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ClusterBackend{}, core.Invalid(field, "backend must be an object like {type: slurm, partition: <partition>}, or left out for the local backend.")
	}
	for k := range m {
		if k != "type" && k != "partition" {
			return ClusterBackend{}, core.Invalid(field+"."+k, "backend has no field %q; it takes type (local or slurm) and, for slurm, partition.", k)
		}
	}
	t, ok := m["type"].(string)
	if !ok && m["type"] != nil {
		return ClusterBackend{}, core.Invalid(field+".type", "backend.type must be a string: local or slurm.")
	}
	b := ClusterBackend{Type: strings.ToLower(strings.TrimSpace(t))}
	if b.Type == "" {
		b.Type = BackendLocal
	}
	p, ok := m["partition"].(string)
	if !ok && m["partition"] != nil {
		return ClusterBackend{}, core.Invalid(field+".partition", "backend.partition must be a string: the name of a Slurm partition (see `sinfo -s`).")
	}
	b.Partition = strings.TrimSpace(p)
	switch b.Type {
	case BackendLocal:
		if b.Partition != "" {
			return ClusterBackend{}, core.Invalid(field+".partition", "backend.partition applies to type slurm only; write backend: {type: slurm, partition: %s}, or leave partition out.", b.Partition)
		}
	case BackendSlurm:
		if strings.ContainsAny(b.Partition, " ,\t\n\r\x00") {
			return ClusterBackend{}, core.Invalid(field+".partition", "backend.partition %q is not a Slurm partition name: write one name, without spaces or commas.", b.Partition)
		}
	default:
		return ClusterBackend{}, core.Invalid(field+".type", "backend.type %q is not supported; use local (the default) or slurm.", t)
	}
	return b, nil
}

// ClusterBackendOfCompute reads a stored cluster's backend (the local
// backend for anything that is not a valid Slurm backend: admission
// refused those).
func ClusterBackendOfCompute(c *Object) ClusterBackend {
	b, err := ClusterBackendOf(NestedProps(Decode(c.Spec)))
	if err != nil {
		return ClusterBackend{Type: BackendLocal}
	}
	return b
}

// SlurmRun is a job attempt's Slurm batch job, recorded in the job's
// status (JobStatus.Slurm) by the job reconciler.
type SlurmRun struct {
	// Name is the Slurm job name, mlw-<job uid>-a<attempt>: the same
	// attempt is found again by name after a restart, and never
	// submitted twice.
	Name string `json:"name"`
	// JobID is Slurm's job id once submitted.
	JobID     string `json:"jobId,omitempty"`
	Partition string `json:"partition,omitempty"`
	// Root is the job's directory on the shared directory (working
	// directories, checkpoints, the batch script and the ranks' logs).
	Root string `json:"root"`
	// UID and GID are the account the job runs as.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// State is Slurm's last state word and Message its meaning.
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
	// Submitted is when mlw ran sbatch.
	Submitted time.Time `json:"submitted,omitzero"`
}

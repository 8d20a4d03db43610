// Package slurmtest finds the real single-node Slurm that
// scripts/setup-slurm.sh starts, for tests outside the slurm package.
package slurmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/slurm"
)

// Require skips the test unless Slurm answers with an up default
// partition that has nodes, and the process is root (mlw submits as the
// job's account, sbatch --uid, which needs root); with MLW_REQUIRE_SLURM=1
// it fails instead. It returns the Slurm backend and that partition.
func Require(t testing.TB) (backend.Batch, backend.BatchPartition) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("MLW_REQUIRE_SLURM") == "1" {
			t.Fatalf("%s (MLW_REQUIRE_SLURM=1)", msg)
		}
		t.Skipf("%s; set MLW_REQUIRE_SLURM=1 to make this a failure", msg)
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		missing("sbatch is not installed: run scripts/setup-slurm.sh (as root) for a real single-node Slurm")
	}
	if os.Geteuid() != 0 {
		missing("Slurm-backed clusters submit as the job's account (sbatch --uid), which needs root")
	}
	b := slurm.NewBatch()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := b.Partition(ctx, "")
	if err != nil || !p.Up || len(p.Nodes) == 0 {
		missing("Slurm does not answer with an up default partition (%+v, %v): start it with scripts/setup-slurm.sh", p, err)
	}
	return b, p
}

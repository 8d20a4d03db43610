package reconciler

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
)

// slurmSpec writes the attempt's batch script (and, for several ranks,
// the rank wrapper) into the job's directory, gives the directory to the
// job's account, and returns what to submit.
//
// One process: the script runs the command in the node's working
// directory, its output the rank's log. Several: the script starts every
// rank with srun (one task per process, --kill-on-bad-exit so that one
// failed rank ends the job, as locally), each with its own log
// (std_log_process_<rank>.txt: srun's %t is the rank); the wrapper sets
// the rank variables a local job gets from Slurm's (RANK=SLURM_PROCID, ...)
// and MASTER_ADDR to the allocation's first node.
func (r *Jobs) slurmSpec(j *jobCtx, specs []backend.ProcessSpec) (backend.BatchSpec, error) {
	run := j.st.Slurm
	nodes, ppn := j.spec.InstanceCount(), j.spec.ProcessesPerInstance()
	world := nodes * ppn
	attempt := "a" + strconv.Itoa(j.st.Attempt)
	if err := os.MkdirAll(r.slurmLogDir(j), 0o755); err != nil {
		return backend.BatchSpec{}, err
	}
	acct := slurmAccountInfo{uid: run.UID, gid: run.GID}
	if u, err := user.LookupId(strconv.Itoa(run.UID)); err == nil && run.UID != 0 {
		acct.name, acct.home = u.Username, u.HomeDir
	}
	command := specs[0].Command
	var script string
	if world <= 1 {
		script = fmt.Sprintf("#!/bin/bash\n# mlw job %s, attempt %d\ncd %s || exit 1\nexec bash -c %s\n",
			j.job.Name, j.st.Attempt, shellQuote(specs[0].Dir), shellQuote(command))
	} else {
		wrapper := filepath.Join(run.Root, attempt+"-rank.sh")
		rank := strings.Join([]string{
			"#!/bin/bash",
			"# mlw job " + j.job.Name + ": one rank; Slurm's task variables become the ones a local job has.",
			`export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID NODE_RANK=$SLURM_NODEID WORLD_SIZE=$SLURM_NTASKS`,
			`export LOCAL_WORLD_SIZE=` + strconv.Itoa(ppn) + ` AZUREML_PROCESS_NAME=rank_$SLURM_PROCID AZ_BATCH_NODE_ID=$SLURMD_NODENAME`,
			`cd ` + shellQuote(filepath.Join(run.Root, attempt+"-n")) + `"$SLURM_NODEID" || exit 1`,
			`exec bash -c ` + shellQuote(command), ""}, "\n")
		if err := os.WriteFile(wrapper, []byte(rank), 0o755); err != nil {
			return backend.BatchSpec{}, err
		}
		script = strings.Join([]string{
			"#!/bin/bash",
			fmt.Sprintf("# mlw job %s, attempt %d: %d node(s) × %d process(es)", j.job.Name, j.st.Attempt, nodes, ppn),
			`export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)`,
			`export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))`,
			`exec srun --kill-on-bad-exit=1 --output=` + shellQuote(filepath.Join(r.slurmLogDir(j), "std_log_process_%t.txt")) + ` bash ` + shellQuote(wrapper), ""}, "\n")
	}
	path := filepath.Join(run.Root, attempt+"-slurm.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return backend.BatchSpec{}, err
	}
	if err := chownTree(run.Root, run.UID, run.GID); err != nil {
		return backend.BatchSpec{}, fmt.Errorf("give the job's directory to uid %d: %w", run.UID, err)
	}
	if err := os.Chmod(run.Root, 0o700); err != nil {
		return backend.BatchSpec{}, err
	}
	size := j.info.Size
	spec := backend.BatchSpec{Name: run.Name, Comment: "mlw job " + j.job.Parent + "/jobs/" + j.job.Name, Partition: run.Partition,
		Script: script, WorkDir: specs[0].Dir, Output: r.slurmBatchLog(j), Env: slurmEnv(specs[0].Env, acct, run.Root),
		Nodes: nodes, TasksPerNode: ppn, UID: run.UID, GID: run.GID,
		PerNode: backend.Resources{MilliCPU: size.VCPUs * 1000, MemoryBytes: size.MemoryMB() << 20, GPUs: size.GPUs}}
	if timeout, _ := j.spec.Timeout(); timeout > 0 {
		// mlw stops the job at its timeout; Slurm's limit is the backstop.
		spec.TimeLimit = timeout + time.Minute
	}
	return spec, nil
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

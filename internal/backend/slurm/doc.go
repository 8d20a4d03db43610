// Package slurm is mlw's Slurm backend: a small client over Slurm's own
// commands, the typed state of a Slurm job, the resources an mlw VM size
// asks of Slurm, and a partition's nodes in mlw's node states; and Batch
// (batch.go), the client as the backend.Batch through which the
// reconcilers run Slurm-backed clusters (docs/slurm.md).
//
// # Commands, not slurmrestd
//
// The client runs sbatch, squeue, scontrol, scancel, sacct and sinfo, found
// on the mlw host, rather than calling slurmrestd:
//
//   - Every Slurm installation has the commands and a working client
//     configuration on its login nodes, which is where mlw runs; slurmrestd
//     is an optional daemon that many sites do not run, and one more
//     service to secure (JWT or a unix socket per user).
//   - slurmrestd's API is versioned per Slurm release (22.05 serves
//     openapi/v0.0.38, and refuses to start with the newer data parsers
//     unless slurmdbd is configured); the commands' text formats chosen
//     here (squeue -O, sinfo -O, sacct -P) have been stable for a decade.
//   - slurmrestd refuses to run as root and runs jobs as the user it is
//     authenticated as; the commands let root submit as the job's own uid
//     (sbatch --uid), which is mlw's sandbox contract.
//   - Submission cost is the same: both end in one RPC to slurmctld. A
//     command costs a process start (a few milliseconds), and the client
//     batches queries (one squeue for many jobs) so polling does not scale
//     with the number of jobs.
//   - squeue --json exists in 22.05 but ignores its filters (-j, -t) and
//     prints every job, so the client reads the delimited text formats.
//
// # Job history without slurmdbd
//
// slurmctld forgets a finished job MinJobAge seconds after it ends. Without
// an accounting database, `sacct -c` reads the job completion log
// (JobCompType=jobcomp/filetxt), which keeps each job's final state, exit
// code and times: Jobs asks squeue first and sacct -c for the ids squeue
// no longer knows.
//
// # Running the commands
//
// Every command goes through a Runner, so that unit tests can feed outputs
// recorded from a real Slurm (testdata/, made by testdata/record.sh); the
// integration tests run the same client against the real Slurm that
// scripts/setup-slurm.sh starts.
package slurm

package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/envbuild"
	"github.com/mlw-project/mlw/internal/reconciler"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// NodeCapacityEnv sets what cluster nodes may use of this host in total,
// e.g. "cpus=16,memory=64GiB" (default: every CPU and 90% of memory).
// Raising it above the host overcommits it knowingly.
const NodeCapacityEnv = "MLW_NODE_CAPACITY"

// jobWorkers is how many jobs the job reconciler works on at once (an
// environment build holds one for its duration).
const jobWorkers = 16

// envDir is where prepared Python environments are kept.
func (s *Server) envDir() string { return filepath.Join(s.opts.DataDir, "envs") }

// buildJobs wires compute clusters and jobs: the local backend's nodes and
// processes, the environment builder, the scheduler, the cluster and job
// reconcilers (jobs on compute instances run through the instance
// reconciler).
func (s *Server) buildJobs(computes *reconciler.ComputeDispatch, be *local.Cluster, instances *reconciler.Instances, kube *reconciler.Kube) {
	sched := reconciler.NewScheduler()
	queue := resource.EnqueueFunc(s.enqueue)
	clusters := &reconciler.Clusters{Store: s.st, Nodes: be, Queue: queue, Log: s.log, Sched: sched, Slurm: s.slurm}
	computes.Types[resource.AmlCompute] = clusters
	envs := reconciler.EnvBuilder{Builder: envbuild.New(envbuild.Options{Dir: s.envDir()})}
	s.svc.EnvBuildFunc = envs.Build
	jobs := &reconciler.Jobs{Store: s.st, Queue: queue, Log: s.log, Assets: s.svc, Procs: be, Sched: sched, Instances: instances,
		Env: envs, DataDir: s.opts.DataDir, EnvDir: s.envDir(), Sandbox: true, Tracking: s.svc, Slurm: s.slurm, Kube: kube}
	computes.Types[resource.Kubernetes] = &reconciler.KubeComputes{Store: s.st, Kube: kube, Queue: queue, Log: s.log}
	s.register(core.KindJob, jobs, jobWorkers)
	// On start only unfinished jobs need a look, not the whole history.
	c := s.controllers[core.KindJob]
	s.resync[core.KindJob] = func(ctx context.Context) error {
		for _, state := range append([]string{resource.StateDeleting}, resource.JobActiveStates...) {
			rs, err := s.st.List(ctx, store.ListOptions{Kind: core.KindJob, State: state})
			if err != nil {
				return err
			}
			for _, r := range rs {
				c.Enqueue(resource.Key(r))
			}
		}
		return nil
	}
	s.periodic = append(s.periodic, periodicTask{name: "remove ended jobs' working directories", every: 10 * time.Minute, run: jobs.SweepWorkDirs})
}

// parseCapacity reads NodeCapacityEnv: "cpus=N,memory=SIZE" (SIZE in GiB
// or with a unit: 512MiB, 64GiB, 1TiB).
func parseCapacity(v string) (backend.Resources, error) {
	var r backend.Resources
	if strings.TrimSpace(v) == "" {
		return r, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%s=%q: %s; write it like cpus=16,memory=64GiB", NodeCapacityEnv, v, why)
	}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return r, bad("each part is key=value")
		}
		switch strings.ToLower(k) {
		case "cpus", "cpu":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f <= 0 {
				return r, bad("cpus must be a positive number")
			}
			r.MilliCPU = int(f * 1000)
		case "memory", "mem":
			mult := float64(1 << 30)
			num := val
			for _, u := range []struct {
				suffix string
				mult   float64
			}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}} {
				if strings.HasSuffix(val, u.suffix) {
					num, mult = strings.TrimSuffix(val, u.suffix), u.mult
					break
				}
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || f <= 0 {
				return r, bad("memory must be a positive size")
			}
			r.MemoryBytes = int64(f * mult)
		case "gpus", "gpu":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return r, bad("gpus must be a whole number")
			}
			r.GPUs = n
		default:
			return r, bad("unknown key " + k)
		}
	}
	return r, nil
}

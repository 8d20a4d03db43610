package server

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mlw-project/mlw/internal/backend/slurm"
	"github.com/mlw-project/mlw/internal/envbuild"
	"github.com/mlw-project/mlw/internal/reconciler"
	"github.com/mlw-project/mlw/internal/resource"
)

// Settings of Slurm-backed clusters (docs/slurm.md).
const (
	// SlurmSharedDirEnv is a directory mounted at the same path on this
	// host and on every node of the Slurm partitions that clusters use:
	// jobs' working directories, checkpoints, batch scripts and logs live
	// in its jobs/. Without it (or without sbatch on PATH) Slurm-backed
	// clusters say that this server has no Slurm.
	SlurmSharedDirEnv = "MLW_SLURM_SHARED_DIR"
	// SlurmAccountsEnv maps mlw users to the accounts their jobs run as on
	// Slurm: "alice=alice,bob=bsmith,*=mlwjobs" (by user name or object id;
	// "*" for anyone else). Users it leaves out run as their mlw host uid
	// when that uid has an account, and are refused otherwise.
	SlurmAccountsEnv = "MLW_SLURM_ACCOUNTS"
)

// slurmFromEnv is the Slurm setup of this server: nil when it has none.
func slurmFromEnv(queue resource.Enqueuer) (*reconciler.Slurm, error) {
	dir := os.Getenv(SlurmSharedDirEnv)
	if dir == "" {
		return nil, nil
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		return nil, fmt.Errorf("%s is set but sbatch is not on PATH: install the Slurm client commands (docs/slurm.md)", SlurmSharedDirEnv)
	}
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("%s=%q: write an absolute path", SlurmSharedDirEnv, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s=%q: not a directory on this host (it must be mounted here and on every Slurm node)", SlurmSharedDirEnv, dir)
	}
	accounts, err := parseSlurmAccounts(os.Getenv(SlurmAccountsEnv))
	if err != nil {
		return nil, err
	}
	envs := reconciler.EnvBuilder{Builder: envbuild.New(envbuild.Options{Dir: filepath.Join(dir, "envs")})}
	return &reconciler.Slurm{Batch: slurm.NewBatch(), SharedDir: dir, Accounts: accounts, Queue: queue, Env: envs}, nil
}

// parseSlurmAccounts reads SlurmAccountsEnv.
func parseSlurmAccounts(v string) (map[string]string, error) {
	return parsePairs(SlurmAccountsEnv, v, "user=account", "alice=alice,*=mlwjobs")
}

// parsePairs reads a setting of comma-separated key=value pairs; a bad
// one is an error naming the setting, the form and an example.
func parsePairs(setting, v, form, example string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" || val == "" {
			return nil, fmt.Errorf("%s: %q is not %s; write it like %s", setting, kv, form, example)
		}
		out[k] = val
	}
	return out, nil
}

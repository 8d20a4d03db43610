package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend/local"
)

// attackScript is what a hostile job tries; each attempt prints LEAK-… if
// it works. $DATA is the server's data directory, $OTHER another user's
// job's working directory, $SERVER the server's pid, $HOSTTMP a file in
// the host's /tmp.
const attackScript = `
id -u
cat "$DATA/token" && echo LEAK-token
cat "$DATA/ca.key" "$DATA/signing.key" "$DATA/sas.key" && echo LEAK-keys
head -c 16 "$DATA/mlw.db" && echo LEAK-db
ls "$DATA" | grep -q . && echo LEAK-listing
ls /root | grep -q . && echo LEAK-root
cat /etc/shadow && echo LEAK-shadow
cat "$OTHER/secret.txt" && echo LEAK-other-job
ls "$(dirname "$PWD")/.." | grep -q . && echo LEAK-jobs-listing
touch /etc/mlw-leak && echo LEAK-write-etc
touch /usr/bin/mlw-leak && echo LEAK-write-usr
touch "$DATA/mlw-leak" && echo LEAK-write-data
kill -9 "$SERVER" && echo LEAK-kill-server
kill -0 1 && echo LEAK-signal-init
grep -Eq '^CapEff:[[:space:]]+0+$' /proc/self/status || echo LEAK-capabilities
grep -Eq '^CapBnd:[[:space:]]+0+$' /proc/self/status || echo LEAK-bounding-set
grep -Eq '^NoNewPrivs:[[:space:]]+1$' /proc/self/status || echo LEAK-new-privileges
[ -e "$HOSTTMP" ] && echo LEAK-host-tmp
echo mine > /tmp/own-tmp && echo wrote-own-tmp
echo mine > /dev/shm/own-shm && echo wrote-own-shm
for f in /sys/fs/cgroup/memory/mlw/*/memory.limit_in_bytes /sys/fs/cgroup/mlw/*/memory.max; do
  [ -e "$f" ] && echo tried-memory-limit && { echo 99999999999 > "$f"; } 2>/dev/null && echo LEAK-memory-limit
done
for f in /sys/fs/cgroup/memory/cgroup.procs /sys/fs/cgroup/cgroup.procs; do
  [ -e "$f" ] && echo tried-leave-cgroup && { echo $$ > "$f"; } && echo LEAK-leave-cgroup
done
echo ok > mine.txt && echo wrote-own-dir
python3 - <<'EOF'
import os, time
n = 0
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError:
    pass
print("forked", n)
EOF
echo attacks-done
`

// hostTmpFile makes a file in the host's /tmp that a sandboxed process,
// which has a /tmp of its own, must not see.
func hostTmpFile(t *testing.T) string {
	t.Helper()
	f, err := os.CreateTemp("/tmp", "mlw-host-tmp-")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	return f.Name()
}

// checkAttacks checks the log of attackScript: no attack worked, the job
// wrote its own directory, ran as an unprivileged uid of mlw's (returned)
// and forked fewer than pidsMax processes. Where this host gives mlw
// cgroups, the job must have found its cgroup's files and failed to change
// them (not passed because the files were out of sight).
func checkAttacks(t *testing.T, log string, pidsMax int) int {
	t.Helper()
	require.NotContains(t, log, "LEAK-", "an attack worked:\n%s", log)
	require.Contains(t, log, "wrote-own-dir")
	require.Contains(t, log, "wrote-own-tmp", "its own /tmp is writable")
	require.Contains(t, log, "wrote-own-shm", "its own /dev/shm is writable (Python's multiprocessing needs it)")
	require.Contains(t, log, "attacks-done")
	require.Contains(t, log, "forked ")
	if v, _ := local.CgroupSupport(); v > 0 {
		require.Contains(t, log, "tried-memory-limit", "the job saw its cgroup's memory limit")
		require.Contains(t, log, "tried-leave-cgroup", "the job saw the root cgroup")
	}
	lines := strings.Split(log, "\n")
	uid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	require.NoError(t, err, log)
	require.GreaterOrEqual(t, uid, 2_000_000_000, "an unprivileged uid of mlw's")
	for _, l := range lines {
		if n, ok := strings.CutPrefix(l, "forked "); ok {
			forked, err := strconv.Atoi(n)
			require.NoError(t, err)
			require.Less(t, forked, pidsMax, "pids.max stops a fork bomb")
		}
	}
	return uid
}

// TestJobSandbox is the job half of the security review (issue 11): a
// Contributor's job on a cluster tries to read the server's secrets and
// other users' jobs, write outside its folders, signal the server, change
// or leave its cgroup and fork past its limit; each attempt fails and the
// server keeps serving.
func TestJobSandbox(t *testing.T) {
	t.Parallel()
	if ok, reason := local.JobSandboxSupport(); !ok {
		t.Skip(reason)
	}
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	_, bobToken := addUser(t, s.Dir, "bob", "Contributor")
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})

	// The admin's job leaves a secret in its working directory.
	e.submit(t, "admins", map[string]any{"command": "echo admin-secret > secret.txt", "computeId": "c1"})
	e.awaitJob(t, "admins", "Completed")
	other := s.JobWorkDir(t, "admins")
	require.FileExists(t, filepath.Join(other, "secret.txt"))

	body := map[string]any{"properties": map[string]any{"jobType": "Command", "command": attackScript, "computeId": "c1",
		"environmentId": "azureml:AzureML-sklearn-1.5@latest", "environmentVariables": map[string]any{
			"DATA": s.Dir, "OTHER": other, "SERVER": strconv.Itoa(s.proc.cmd.Process.Pid), "HOSTTMP": hostTmpFile(t)}}}
	req := s.NewRequest(t, http.MethodPut, e.ws+"/jobs/attack", body)
	req.Header.Set("Authorization", "Bearer "+bobToken)
	r := s.Send(t, req)
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	e.awaitJob(t, "attack", "Completed")
	log := e.userLog(t, "attack")
	uid := checkAttacks(t, log, local.NodePIDs(1000))
	for _, p := range []string{"/etc/mlw-leak", "/usr/bin/mlw-leak", filepath.Join(s.Dir, "mlw-leak")} {
		_, err := os.Stat(p)
		require.True(t, os.IsNotExist(err), "%s was written", p)
	}
	require.True(t, s.Running(), "the server survived")
	require.Equal(t, http.StatusOK, s.Do(t, http.MethodGet, "/healthz", nil).StatusCode)

	// Each user's jobs run as that user's uid; the admin's is another.
	e.submit(t, "admin-uid", map[string]any{"command": "id -u", "computeId": "c1"})
	e.awaitJob(t, "admin-uid", "Completed")
	adminUID := strings.TrimSpace(e.userLog(t, "admin-uid"))
	require.NotEqual(t, strconv.Itoa(uid), adminUID)
	require.NotEqual(t, "0", adminUID)
}

// TestInstanceSandbox is the instance half: bob's job on his own compute
// instance (the same as his terminal or notebook: it runs as the
// instance's user) tries the same attacks; each fails, it runs as bob's
// unprivileged uid, and it can change what others put in the workspace's
// file share, as on Azure's share.
func TestInstanceSandbox(t *testing.T) {
	t.Parallel()
	if ok, reason := local.JobSandboxSupport(); !ok {
		t.Skip(reason)
	}
	s := StartServer(t, Options{})
	e := newJobsEnv(t, s)
	_, bobToken := addUser(t, s.Dir, "bob", "Contributor")
	as := func(method, path string, body any) *Response {
		req := s.NewRequest(t, method, path, body)
		req.Header.Set("Authorization", "Bearer "+bobToken)
		return s.Send(t, req)
	}
	share := func(path, text string) {
		req := s.NewRequest(t, http.MethodPut, e.ws+"/files/"+path+"?overwrite=true", nil)
		req.Body = io.NopCloser(strings.NewReader(text))
		r := s.Send(t, req)
		require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.StatusCode, r)
	}
	share("Users/admin/before-boot.txt", "admin's\n")
	e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
	e.submit(t, "admins", map[string]any{"command": "echo admin-secret > secret.txt", "computeId": "c1"})
	e.awaitJob(t, "admins", "Completed")
	other := s.JobWorkDir(t, "admins")

	r := as(http.MethodPut, e.ws+"/computes/ci-bob", map[string]any{"properties": map[string]any{
		"computeType": "ComputeInstance", "properties": map[string]any{"vmSize": "STANDARD_DS1_V2"}}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	// Deleted before the server stops (cleanups run last first), so that
	// its cgroup, which is host-wide, goes with it.
	t.Cleanup(func() {
		if s.Running() {
			as(http.MethodDelete, e.ws+"/computes/ci-bob", nil)
			s.AwaitStatus(t, e.ws+"/computes/ci-bob", http.StatusNotFound)
		}
	})
	s.AwaitDoc(t, e.ws+"/computes/ci-bob", func(doc map[string]any) error {
		if st := doc["properties"].(map[string]any)["properties"].(map[string]any)["state"]; st != "Running" {
			return fmt.Errorf("instance is %v", st)
		}
		return nil
	})
	share("Users/admin/after-boot.txt", "admin's\n")
	show := s.MustRun(t, "compute", "show", "-n", "ci-bob", "-g", e.rg, "-w", e.name, "-o", "table")
	require.Contains(t, show, "Runs as azureuser, the unprivileged host uid")
	require.Contains(t, s.MustRun(t, "compute", "show", "-n", "c1", "-g", e.rg, "-w", e.name, "-o", "table"), "Isolation:      Each job runs as its submitter's own unprivileged host uid")

	// Its own jobs' directories it may list (they are all its user's):
	// look for others' instead.
	script := strings.Replace(attackScript, `ls "$(dirname "$PWD")/.." | grep -q . && echo LEAK-jobs-listing`,
		`[ "$(ls "$DATA/jobs" | wc -l)" -gt 1 ] && echo LEAK-jobs-listing`, 1) + `
id -un
echo "bob was here" >> ~/cloudfiles/code/Users/admin/before-boot.txt && echo wrote-share-before
echo "bob was here" >> ~/cloudfiles/code/Users/admin/after-boot.txt && echo wrote-share-after
mkdir -p ~/cloudfiles/code/Users/bob && echo mine > ~/cloudfiles/code/Users/bob/from-instance.txt && echo wrote-share-own
`
	r = as(http.MethodPut, e.ws+"/jobs/attack", map[string]any{"properties": map[string]any{"jobType": "Command", "command": script,
		"computeId": "ci-bob", "environmentId": "azureml:AzureML-sklearn-1.5@latest", "environmentVariables": map[string]any{
			"DATA": s.Dir, "OTHER": other, "SERVER": strconv.Itoa(s.proc.cmd.Process.Pid), "HOSTTMP": hostTmpFile(t)}}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	e.awaitJob(t, "attack", "Completed")
	log := e.userLog(t, "attack")
	uid := checkAttacks(t, log, local.InstancePIDsMax(1000))
	for _, want := range []string{"\nazureuser\n", "wrote-share-before", "wrote-share-after", "wrote-share-own"} {
		require.Contains(t, log, want)
	}
	// bob's cluster jobs run as the same uid as his instance.
	r = as(http.MethodPut, e.ws+"/jobs/bob-uid", map[string]any{"properties": map[string]any{"jobType": "Command", "command": "id -u",
		"computeId": "c1", "environmentId": "azureml:AzureML-sklearn-1.5@latest"}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	e.awaitJob(t, "bob-uid", "Completed")
	require.Equal(t, strconv.Itoa(uid), strings.TrimSpace(e.userLog(t, "bob-uid")))
	require.True(t, s.Running(), "the server survived")
	require.Equal(t, http.StatusOK, s.Do(t, http.MethodGet, "/healthz", nil).StatusCode)
}

// pathWithout is a PATH of one directory with links to every command of
// this process's PATH but those named (first one found wins, as a lookup
// would), so that a server started with it finds the host without them.
func pathWithout(t *testing.T, missing ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		ents, _ := os.ReadDir(d)
		for _, ent := range ents {
			name := ent.Name()
			if slices.Contains(missing, name) {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				continue
			}
			require.NoError(t, os.Symlink(filepath.Join(d, name), filepath.Join(dir, name)))
		}
	}
	return dir
}

// TestJobsWithoutSandbox: on a host that cannot sandbox (here: no
// bubblewrap on the server's PATH) jobs do not silently run as the
// server's user. The server warns at start, compute show says so, and a
// job fails with SandboxUnavailable naming what is missing — unless the
// server was started with --allow-unsandboxed-jobs, which it also says.
func TestJobsWithoutSandbox(t *testing.T) {
	t.Parallel()
	if ok, reason := local.JobSandboxSupport(); !ok {
		t.Skip(reason) // the refusal for a non-root server is the same path; this test removes bwrap only
	}
	path := "PATH=" + pathWithout(t, "bwrap")
	for _, tc := range []struct {
		name      string
		opts      Options
		warning   string
		isolation string
	}{
		{"refused", Options{Env: []string{path}}, "will fail with SandboxUnavailable", "None possible: bubblewrap (bwrap) is not installed"},
		{"allowed", Options{Env: []string{path}, Args: []string{"--allow-unsandboxed-jobs"}}, "WITHOUT a sandbox", "None: bubblewrap (bwrap) is not installed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := StartServer(t, tc.opts)
			require.Contains(t, s.Log(), tc.warning, "the server says so at start")
			e := newJobsEnv(t, s)
			e.putCluster(t, "c1", map[string]any{"vmSize": "STANDARD_DS1_V2", "scaleSettings": map[string]any{"maxNodeCount": 1}})
			show := s.MustRun(t, "compute", "show", "-n", "c1", "-g", e.rg, "-w", e.name, "-o", "table")
			require.Contains(t, show, tc.isolation)
			e.submit(t, "j1", map[string]any{"command": "id -u", "computeId": "c1"})
			if tc.name == "allowed" {
				e.awaitJob(t, "j1", "Completed")
				require.Equal(t, strconv.Itoa(os.Geteuid()), strings.TrimSpace(e.userLog(t, "j1")), "runs as the server's own user")
				return
			}
			doc := e.awaitJob(t, "j1", "Failed")
			jerr := doc["properties"].(map[string]any)["mlw"].(map[string]any)["error"].(map[string]any)
			require.Equal(t, "SandboxUnavailable", jerr["code"], jerr)
			require.Contains(t, jerr["message"], "bubblewrap (bwrap) is not installed")
			require.Contains(t, jerr["message"], "--allow-unsandboxed-jobs")
		})
	}
}

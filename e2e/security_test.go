package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend/local"
)

// attackScript is what a hostile job tries; each attempt prints LEAK-… if
// it works. $DATA is the server's data directory, $OTHER another user's
// job's working directory, $SERVER the server's pid.
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
for f in /sys/fs/cgroup/memory/mlw/node-*/memory.limit_in_bytes /sys/fs/cgroup/mlw/node-*/memory.max; do
  [ -e "$f" ] && { echo 99999999999 > "$f"; } && echo LEAK-memory-limit
done
for f in /sys/fs/cgroup/memory/cgroup.procs /sys/fs/cgroup/cgroup.procs; do
  [ -e "$f" ] && { echo $$ > "$f"; } && echo LEAK-leave-cgroup
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
			"DATA": s.Dir, "OTHER": other, "SERVER": strconv.Itoa(s.proc.cmd.Process.Pid)}}}
	req := s.NewRequest(t, http.MethodPut, e.ws+"/jobs/attack", body)
	req.Header.Set("Authorization", "Bearer "+bobToken)
	r := s.Send(t, req)
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	e.awaitJob(t, "attack", "Completed")
	log := e.userLog(t, "attack")
	require.NotContains(t, log, "LEAK-", "an attack worked:\n%s", log)
	require.Contains(t, log, "wrote-own-dir")
	require.Contains(t, log, "attacks-done")
	lines := strings.Split(log, "\n")
	uid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	require.NoError(t, err, log)
	require.GreaterOrEqual(t, uid, 2_000_000_000, "an unprivileged uid of mlw's")
	for _, l := range lines {
		if n, ok := strings.CutPrefix(l, "forked "); ok {
			forked, err := strconv.Atoi(n)
			require.NoError(t, err)
			require.Less(t, forked, local.NodePIDs(1000), "pids.max stops a fork bomb")
		}
	}
	require.Contains(t, log, "forked ")
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

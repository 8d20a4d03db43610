package local

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/backend"
)

// TestSandboxedJob: a job that asks for a sandbox runs as its user's
// uid, sees none of the hidden data directory but what is bound back,
// writes only its own files, and can touch neither the server nor its
// cgroup; on its node's agent and under its own supervisor alike.
func TestSandboxedJob(t *testing.T) {
	t.Parallel()
	if ok, reason := JobSandboxSupport(); !ok {
		t.Skip(reason)
	}
	data, c, node := sandboxedNode(t)
	require.NoError(t, os.WriteFile(filepath.Join(data, "token"), []byte("secret"), 0o600))
	jobs := filepath.Join(data, "jobs")
	cg := OpenCgroup(nodeCgroupName(node))
	script := `id -u; cat ` + filepath.Join(data, "token") + ` 2>/dev/null && echo LEAK-token
echo ok > here.txt && echo wrote-wd
touch /etc/mlw-sandbox-test 2>/dev/null && echo LEAK-etc
touch /tmp/x && echo own-tmp
kill -0 ` + strconv.Itoa(os.Getpid()) + ` 2>/dev/null && echo LEAK-signal
echo $HOME
`
	for _, f := range cg.dirs {
		script += `{ echo 999999999 > ` + filepath.Join(f, "memory.limit_in_bytes") + `; } 2>/dev/null && echo LEAK-cgroup
{ echo $$ > ` + filepath.Join(filepath.Dir(f), "cgroup.procs") + `; } 2>/dev/null && echo LEAK-leave
`
	}
	script += "true\n"
	uid := backend.UIDBase + 42
	for i, on := range []string{node, ""} {
		wd := filepath.Join(jobs, "j"+strconv.Itoa(i))
		require.NoError(t, os.MkdirAll(wd, 0o755))
		log := filepath.Join(data, "logs", "j"+strconv.Itoa(i)+".txt")
		h, err := c.Start(context.Background(), backend.ProcessSpec{ID: "j" + strconv.Itoa(i), Node: on, Command: script, Dir: wd,
			Env: []string{"PATH=/usr/bin:/bin", "HOME=/root"}, Log: log,
			Sandbox: &backend.Sandbox{UID: uid, Binds: []backend.Bind{{Path: jobs}, {Path: filepath.Join(data, "logs")}}}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		require.NoError(t, c.Wait(ctx, h))
		cancel()
		st, err := c.State(context.Background(), h)
		require.NoError(t, err)
		out, _ := os.ReadFile(log)
		agentLog, _ := os.ReadFile(filepath.Join(c.nodeDir(node), "agent.log"))
		require.Equal(t, 0, st.ExitCode, "%s\nagent: %s", out, agentLog)
		require.Equal(t, strconv.Itoa(uid)+"\nwrote-wd\nown-tmp\n/tmp\n", string(out), "node %q", on)
		fi, err := os.Stat(filepath.Join(wd, "here.txt"))
		require.NoError(t, err)
		require.Equal(t, uint32(uid), fileUID(fi))
	}
	_, err := os.Stat("/etc/mlw-sandbox-test")
	require.True(t, os.IsNotExist(err))
	require.NoFileExists(t, "/tmp/x")
}

// TestHiddenDirs: what hides a data directory from a sandbox.
func TestHiddenDirs(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o711))
	require.NoError(t, os.Chmod(base, 0o711))
	private := filepath.Join(base, "private")
	require.NoError(t, os.MkdirAll(filepath.Join(private, "a", "data"), 0o755))
	require.NoError(t, os.Chmod(private, 0o700))
	require.Equal(t, []string{private}, hiddenDirs([]string{filepath.Join(private, "a", "data")}), "a parent others may not enter is hidden instead")
	open := filepath.Join(base, "open", "data")
	require.NoError(t, os.MkdirAll(open, 0o755))
	require.Equal(t, []string{open}, hiddenDirs([]string{open, open}))
}

func fileUID(fi os.FileInfo) uint32 { return fi.Sys().(*syscall.Stat_t).Uid }

// TestAgentChangesHands: a node's jobs of different users each run as
// their own user (the node's agent is replaced when the user changes).
func TestAgentChangesHands(t *testing.T) {
	t.Parallel()
	if ok, reason := JobSandboxSupport(); !ok {
		t.Skip(reason)
	}
	data, c, node := sandboxedNode(t)
	jobs := filepath.Join(data, "jobs")
	var last []int
	for i, uid := range []int{backend.UIDBase + 1, backend.UIDBase + 2, backend.UIDBase + 2, backend.UIDBase + 1} {
		id := "j" + strconv.Itoa(i)
		wd := filepath.Join(jobs, id)
		require.NoError(t, os.MkdirAll(wd, 0o755))
		log := filepath.Join(jobs, id+".log")
		h, err := c.Start(context.Background(), backend.ProcessSpec{ID: id, Node: node, Command: "id -u", Dir: wd,
			Env: []string{"PATH=/usr/bin:/bin"}, Log: log, Sandbox: &backend.Sandbox{UID: uid, Binds: []backend.Bind{{Path: jobs}}}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		require.NoError(t, c.Wait(ctx, h), "job %d", i)
		cancel()
		out, _ := os.ReadFile(log)
		require.Equal(t, strconv.Itoa(uid)+"\n", string(out), "job %d", i)
		require.NoError(t, c.Sweep(context.Background(), h))
		require.NoError(t, c.Release(context.Background(), h))
		agent := c.agentProcs(node)
		require.Len(t, agent, 2, "the agent's shell is known, apart from bubblewrap")
		if i == 2 {
			require.Equal(t, last, agent, "the same user's next job reuses the agent: the sweep spared it")
		} else {
			require.NotEqual(t, last, agent, "another user's job gets an agent of its own")
		}
		last = agent
	}
}

func TestOutermost(t *testing.T) {
	require.Equal(t, []string{"/a/b", "/c"}, outermost([]string{"/a/b/wd", "", "/a/b", "/c", "/a/b/outputs/", "/c"}))
	require.Equal(t, []string{"/a/bc", "/a/b"}, outermost([]string{"/a/bc", "/a/b"}))
}

// sandboxedNode is a cluster backend that sandboxes jobs, hiding data (its
// data directory), with one node of 1 vCPU started, stopped at the end.
func sandboxedNode(t *testing.T) (data string, c *Cluster, node string) {
	t.Helper()
	data = t.TempDir()
	c = NewCluster(filepath.Join(data, "cluster"), backend.Resources{})
	c.HideDirs, c.SandboxedJobs = []string{data}, true
	t.Cleanup(func() {
		ents, _ := os.ReadDir(filepath.Join(data, "cluster", "nodes"))
		for _, e := range ents {
			_ = c.StopNode(context.Background(), e.Name())
		}
	})
	node = nodeID(t)
	_, err := c.StartNode(context.Background(), backend.NodeSpec{ID: node, Limits: backend.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}})
	require.NoError(t, err)
	return data, c, node
}

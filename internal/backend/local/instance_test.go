package local

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/mlw-project/mlw/internal/backend"
)

func newInstance(t *testing.T) (*Instances, *backend.InstanceSpec, ssh.Signer) {
	t.Helper()
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	l := &Instances{Dir: filepath.Join(dir, "instances"), HideDirs: []string{dir}}
	spec := &backend.InstanceSpec{ID: uuid.NewString(), Key: "key", Name: "ci-test", Workspace: "ws", MilliCPU: 1000, MemoryBytes: 512 << 20,
		SharePath: filepath.Join(dir, "share"), UID: backend.UIDBase + 4242, ShareGID: backend.UIDBase + 4243, Env: map[string]string{"CI_NAME": "ci-test"},
		EnvFromFiles: map[string]string{"SECRET": ".mlw/secret"}, Files: map[string][]byte{"config.json": []byte(`{"workspace_name":"ws"}`), ".mlw/secret": []byte("s3cret\n")},
		SSH: &backend.SSHSpec{PublicKey: string(ssh.MarshalAuthorizedKey(signer.PublicKey()))}}
	t.Cleanup(func() { _ = l.Delete(context.Background(), spec.ID, nil) })
	return l, spec, signer
}

// output collects what a shell prints.
type output struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *output) String() string { o.mu.Lock(); defer o.mu.Unlock(); return o.buf.String() }

func collect(sh backend.Shell) *output {
	o := &output{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := sh.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

func TestLocalInstanceShellSSHStopDelete(t *testing.T) {
	t.Parallel()
	l, spec, signer := newInstance(t)
	ctx := context.Background()
	require.NoError(t, os.MkdirAll(spec.SharePath, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(spec.SharePath, "shared.txt"), []byte("from-the-share"), 0o644))
	h, info, err := l.Start(ctx, spec, nil)
	require.NoError(t, err)
	require.NotEmpty(t, info.Limits)
	require.Positive(t, info.SSHPort)
	require.True(t, l.Running(ctx, h))

	// Start again with the handle: the same instance (idempotent).
	h2, _, err := l.Start(ctx, spec, h)
	require.NoError(t, err)
	require.JSONEq(t, string(h), string(h2))

	sh, err := l.Shell(ctx, spec, h, 80, 24)
	require.NoError(t, err)
	out := collect(sh)
	_, err = sh.Write([]byte("echo \"ci=$CI_NAME secret=$SECRET\"; cat ~/cloudfiles/code/shared.txt; echo; cat ~/config.json; echo; echo end-$((1+2))\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "end-3") }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, out.String(), "ci=ci-test secret=s3cret")
	require.Contains(t, out.String(), "from-the-share")
	require.Contains(t, out.String(), `"workspace_name":"ws"`)
	require.Equal(t, 1, l.Activity(ctx, spec, h).Terminals)

	// The same files, not copies: a file written inside is in the share.
	_, err = sh.Write([]byte("echo made-inside > ~/cloudfiles/code/inside.txt; exit\n"))
	require.NoError(t, err)
	select {
	case <-sh.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the shell did not exit")
	}
	b, err := os.ReadFile(filepath.Join(spec.SharePath, "inside.txt"))
	require.NoError(t, err)
	require.Equal(t, "made-inside\n", string(b))
	require.Eventually(t, func() bool { return l.Activity(ctx, spec, h).Terminals == 0 }, 5*time.Second, 5*time.Millisecond)

	// SSH with the key, as azureuser only.
	addr := "127.0.0.1:" + strconv.Itoa(info.SSHPort)
	cfg := &ssh.ClientConfig{User: "azureuser", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	c, err := ssh.Dial("tcp", addr, cfg)
	require.NoError(t, err)
	sess, err := c.NewSession()
	require.NoError(t, err)
	got, err := sess.Output("echo via-ssh $CI_NAME $USER")
	require.NoError(t, err)
	require.Contains(t, string(got), "via-ssh ci-test azureuser")
	c.Close()
	cfg.User = "root"
	_, err = ssh.Dial("tcp", addr, cfg)
	require.Error(t, err, "only azureuser may log in")

	require.NoError(t, l.Stop(ctx, h))
	require.False(t, l.Running(ctx, h))
	require.Empty(t, InstancePIDs(spec.ID), "no process of the instance is left")
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the SSH endpoint stops with the instance")
	require.NoError(t, l.Delete(ctx, spec.ID, h))
	_, err = os.Stat(l.rootFor(spec.ID))
	require.True(t, os.IsNotExist(err))
}

func TestLocalInstanceScriptsAndLimits(t *testing.T) {
	t.Parallel()
	l, spec, _ := newInstance(t)
	spec.SSH = nil
	ctx := context.Background()
	h, info, err := l.Start(ctx, spec, nil)
	require.NoError(t, err)
	log := filepath.Join(spec.SharePath, "Logs", "ci-test", "creation-script.log")
	sh, err := l.StartScript(ctx, spec, h, backend.ScriptSpec{Name: "creation", Inline: []byte("echo args=$@ pwd=$PWD; exit 4"), Args: "a b", LogPath: log})
	require.NoError(t, err)
	var res *backend.ScriptResult
	require.Eventually(t, func() bool { var done bool; res, done = l.ScriptDone(ctx, sh); return done }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 4, res.ExitCode)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Contains(t, string(b), "args=a b pwd=")

	if v, _ := CgroupSupport(); v == 0 {
		require.Contains(t, info.Limits, "Not enforced")
		return
	}
	require.Contains(t, info.Limits, "1 vCPU, 0.5 GiB memory")
	cg := OpenCgroup("ci-" + spec.ID)
	require.NotEmpty(t, cg.PIDs(), "the instance's processes are in its cgroup")
	if v, _ := CgroupSupport(); v == 1 {
		b, err := os.ReadFile(filepath.Join(CgroupRoot, "memory", "mlw", "ci-"+spec.ID, "memory.limit_in_bytes"))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(512<<20), strings.TrimSpace(string(b)))
	}
	require.NoError(t, l.Delete(ctx, spec.ID, h))
	for _, d := range cg.dirs {
		_, err := os.Stat(d)
		require.True(t, os.IsNotExist(err), "the cgroup %s is removed with the instance", d)
	}
}

func TestLocalInstanceIsolatedNetwork(t *testing.T) {
	t.Parallel()
	if ok, reason := sandboxSupport(); !ok {
		t.Skip(reason)
	}
	l, spec, _ := newInstance(t)
	spec.SSH = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello-from-the-server\n"))
			c.Close()
		}
	}()
	spec.IsolateNetwork, spec.ServerAddr = true, ln.Addr().String()
	ctx := context.Background()
	h, info, err := l.Start(ctx, spec, nil)
	require.NoError(t, err)
	require.Contains(t, info.Network, "Isolated")
	sh, err := l.Shell(ctx, spec, h, 80, 24)
	require.NoError(t, err)
	defer sh.Close()
	out := collect(sh)
	_, port, _ := net.SplitHostPort(spec.ServerAddr)
	_, err = sh.Write([]byte("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,; echo; exec 3<>/dev/tcp/127.0.0.1/" + port + "; cat <&3; echo fin-$((3+4))\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "fin-7") }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, out.String(), "\rlo,\r\n", "only loopback inside: %s", out.String())
	require.Contains(t, out.String(), "hello-from-the-server", "the mlw server is bridged in")
}

func TestLocalInstanceWithoutSandbox(t *testing.T) {
	t.Parallel()
	l, spec, _ := newInstance(t)
	l.NoSandbox, l.AllowUnsandboxed, spec.SSH = true, true, nil
	ctx := context.Background()
	require.NoError(t, os.MkdirAll(spec.SharePath, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(spec.SharePath, "shared.txt"), []byte("same-files"), 0o644))
	h, info, err := l.Start(ctx, spec, nil)
	require.NoError(t, err)
	require.Contains(t, info.Isolation, "None:")
	sh, err := l.Shell(ctx, spec, h, 80, 24)
	require.NoError(t, err)
	defer sh.Close()
	out := collect(sh)
	_, err = sh.Write([]byte("echo home=$HOME; cat ~/cloudfiles/code/shared.txt; echo; echo end-$((2+3))\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "end-5") }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, out.String(), "home="+filepath.Join(l.rootFor(spec.ID), "home"))
	require.Contains(t, out.String(), "same-files")
	require.NoError(t, l.Stop(ctx, h))
	require.Empty(t, InstancePIDs(spec.ID))
}

// startInstanceForJobs starts an instance whose jobs directory (bound into
// the sandbox at the same path) is returned, with the cluster backend that
// watches its job processes.
func startInstanceForJobs(t *testing.T, noSandbox bool) (*Instances, *backend.InstanceSpec, backend.InstanceHandle, *Cluster, string) {
	t.Helper()
	l, spec, _ := newInstance(t)
	l.NoSandbox, l.AllowUnsandboxed, spec.SSH = noSandbox, noSandbox, nil
	root := filepath.Dir(l.Dir)
	l.Procs = NewCluster(filepath.Join(root, "cluster"), backend.Resources{})
	jobs := filepath.Join(root, "jobs", "ci-"+spec.ID)
	spec.Binds = []backend.Bind{{Path: jobs}}
	require.NoError(t, os.MkdirAll(spec.SharePath, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(spec.SharePath, "shared.txt"), []byte("from-the-share"), 0o644))
	h, _, err := l.Start(context.Background(), spec, nil)
	require.NoError(t, err)
	return l, spec, h, l.Procs, jobs
}

func awaitFile(t *testing.T, p string) {
	t.Helper()
	require.Eventually(t, func() bool { _, err := os.Stat(p); return err == nil }, 20*time.Second, 5*time.Millisecond, "%s never appeared", p)
}

// TestLocalJobInsideInstance: a job's process started inside a running
// instance sees what the instance's processes see (its hostname, home,
// file share, environment), runs in its cgroup, writes its log from
// outside, and ends with the instance.
func TestLocalJobInsideInstance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		noSandbox bool
	}{{"sandbox", false}, {"no-sandbox", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sandboxed := !tc.noSandbox
			if ok, reason := sandboxSupport(); sandboxed && !ok {
				t.Skip(reason)
			}
			l, spec, h, c, jobs := startInstanceForJobs(t, tc.noSandbox)
			ctx := context.Background()
			wd := filepath.Join(jobs, "job1", "a1-n0")
			require.NoError(t, os.MkdirAll(wd, 0o755))
			log := filepath.Join(t.TempDir(), "std_log.txt")
			p := backend.ProcessSpec{ID: "job1-a1-r0", Dir: wd, Log: log, Env: []string{"PATH=/usr/bin:/bin", "JOBVAR=from-the-job", "CI_NAME=overridden-by-job"},
				Command: `echo "host=$(hostname) ci=$CI_NAME home=$HOME secret=$SECRET job=$JOBVAR pwd=$PWD"; echo "user=$(id -un) uid=$(id -u)"; cat ~/cloudfiles/code/shared.txt; echo; cat ~/config.json; echo; cat /proc/self/cgroup > cgroup.txt; echo ready > ready; exec sleep 300`,
				Sandbox: &backend.Sandbox{UID: spec.UID, Writable: []string{wd}}}
			ph, err := l.StartProcess(ctx, spec, h, p)
			require.NoError(t, err)
			awaitFile(t, filepath.Join(wd, "ready"))
			again, err := l.StartProcess(ctx, spec, h, p)
			require.NoError(t, err)
			require.Equal(t, ph, again, "starting the same process twice returns the first")

			out, err := os.ReadFile(log)
			require.NoError(t, err)
			home := sandboxHome
			if !sandboxed {
				home = filepath.Join(l.rootFor(spec.ID), "home")
			}
			hostname, _ := os.Hostname()
			if sandboxed {
				hostname = spec.Name
			}
			require.Contains(t, string(out), "host="+hostname+" ci=overridden-by-job home="+home+" secret=s3cret job=from-the-job pwd="+wd)
			require.Contains(t, string(out), "from-the-share")
			require.Contains(t, string(out), `"workspace_name":"ws"`)
			if sandboxed {
				require.Contains(t, string(out), fmt.Sprintf("user=azureuser uid=%d", spec.UID), "the job runs as the instance's unprivileged user")
			}
			if v, _ := CgroupSupport(); v != 0 && sandboxed {
				cg, err := os.ReadFile(filepath.Join(wd, "cgroup.txt"))
				require.NoError(t, err)
				require.Contains(t, string(cg), "mlw/ci-"+spec.ID, "the job shares the instance's cgroup")
			}
			st, err := c.State(ctx, ph)
			require.NoError(t, err)
			require.True(t, st.Running)
			require.NotEmpty(t, TaggedPIDs(ph.RunDir))

			// Stopping the instance ends its job.
			require.NoError(t, l.Stop(ctx, h))
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			require.NoError(t, c.Wait(wctx, ph))
			st, err = c.State(ctx, ph)
			require.NoError(t, err)
			require.False(t, st.Running)
			require.Empty(t, TaggedPIDs(ph.RunDir), "no process of the job is left")
			require.Empty(t, InstancePIDs(spec.ID))
			require.NoError(t, c.Release(ctx, ph))
			_, err = l.StartProcess(ctx, spec, h, backend.ProcessSpec{ID: "job2-a1-r0", Dir: wd, Command: "true"})
			require.ErrorIs(t, err, backend.ErrNotRunning)
		})
	}
}

// TestLocalJobInsideInstanceStop: stopping a job inside an instance sends
// SIGTERM to the job's process tree (not to nsenter, which passes the exit
// status on), so a job that shuts down gracefully records its own exit
// code; processes it left in the background go with Release; the instance
// keeps running.
func TestLocalJobInsideInstanceStop(t *testing.T) {
	t.Parallel()
	if ok, reason := sandboxSupport(); !ok {
		t.Skip(reason)
	}
	l, spec, h, c, jobs := startInstanceForJobs(t, false)
	ctx := context.Background()
	wd := filepath.Join(jobs, "job1", "a1-n0")
	require.NoError(t, os.MkdirAll(wd, 0o755))
	log := filepath.Join(t.TempDir(), "std_log.txt")
	ph, err := l.StartProcess(ctx, spec, h, backend.ProcessSpec{ID: "job1-a1-r0", Dir: wd, Log: log, Env: []string{"PATH=/usr/bin:/bin"},
		Command: `setsid sleep 301 & trap 'echo got-term; exit 7' TERM; echo ready > ready; while :; do sleep 0.05; done`,
		Sandbox: &backend.Sandbox{UID: spec.UID, Writable: []string{wd}}})
	require.NoError(t, err)
	awaitFile(t, filepath.Join(wd, "ready"))
	require.NoError(t, c.Stop(ctx, ph, 10*time.Second))
	st, err := c.State(ctx, ph)
	require.NoError(t, err)
	require.False(t, st.Running)
	require.Equal(t, 7, st.ExitCode, "the job's own exit code, after its TERM handler ran")
	out, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Contains(t, string(out), "got-term")
	require.NoError(t, c.Release(ctx, ph))
	// SIGKILL is delivered asynchronously: await the death.
	require.Eventually(t, func() bool { return len(TaggedPIDs(ph.RunDir)) == 0 }, 10*time.Second, 5*time.Millisecond, "the background process is gone too")
	require.True(t, l.Running(ctx, h), "the instance keeps running")

	// A directory the instance does not see is refused.
	_, err = l.StartProcess(ctx, spec, h, backend.ProcessSpec{ID: "job2-a1-r0", Dir: t.TempDir(), Command: "true"})
	require.ErrorContains(t, err, "not visible inside compute instance")
}

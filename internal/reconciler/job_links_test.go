package reconciler

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/stretchr/testify/require"
)

// Symbolic links a user can plant in storage (from a compute instance,
// in the workspace's file share, or from a job, in its outputs) must never
// lead the server — which runs as root — outside the storage account when
// it copies a code snapshot or an input into a job, creates an output
// folder, or saves a job's outputs as artifacts.

const secretText = "s3cret-of-the-server"

// linkedShare plants a folder Users/bob/evil in the workspace's file share
// that is a symbolic link to a directory outside storage, standing for the
// server's data directory, with secrets in it. It returns that directory.
func linkedShare(t *testing.T, b *jobBundle) (private string) {
	t.Helper()
	private = filepath.Join(b.dir, "private")
	require.NoError(t, os.MkdirAll(filepath.Join(private, "sub"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(private, "token"), []byte(secretText), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(private, "sub", "key"), []byte(secretText), 0o600))
	users := filepath.Join(resource.WorkspaceShareDir(b.dir, b.ws), "Users", "bob")
	require.NoError(t, os.MkdirAll(users, 0o755))
	require.NoError(t, os.Symlink(private, filepath.Join(users, "evil")))
	require.NoError(t, os.Symlink(filepath.Join(private, "token"), filepath.Join(users, "token-link")))
	return private
}

// requireNoSecret fails if a regular file under dir (symbolic links not
// followed) holds the secret, or a symbolic link there (other than those
// the test planted) points into private.
func requireNoSecret(t *testing.T, dir, private string, planted ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(p, private) {
			return filepath.SkipDir
		}
		switch {
		case slices.Contains(planted, filepath.Base(p)):
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			require.False(t, strings.HasPrefix(target, private), "%s is a link into the private directory (%s)", p, target)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NotContains(t, string(b), secretText, "%s holds the secret", p)
		}
		return nil
	})
	if !os.IsNotExist(err) {
		require.NoError(t, err)
	}
}

// TestJobDataThroughLinksOutOfStorage: a code snapshot, an input (copied
// or mounted) or an output whose path goes through a symbolic link out of
// the storage account fails the job in preparation, saying so; nothing of
// what the link points at is copied, and nothing is created there.
func TestJobDataThroughLinksOutOfStorage(t *testing.T) {
	t.Parallel()
	share := "azureml://datastores/workspaceworkingdirectory/paths/"
	for _, tc := range []struct {
		name  string
		extra string // job properties
		code  string // the code version's path in the share
	}{
		{name: "code snapshot is a link", code: "Users/bob/evil"},
		{name: "code snapshot below a link", code: "Users/bob/evil/sub"},
		{name: "folder input copied", extra: `"inputs":{"x":{"jobInputType":"uri_folder","mode":"Download","uri":"` + share + `Users/bob/evil/sub"}}`},
		{name: "file input copied", extra: `"inputs":{"x":{"jobInputType":"uri_file","mode":"Download","uri":"` + share + `Users/bob/evil/token"}}`},
		{name: "file input is a link", extra: `"inputs":{"x":{"jobInputType":"uri_file","mode":"Download","uri":"` + share + `Users/bob/token-link"}}`},
		{name: "folder input mounted", extra: `"inputs":{"x":{"jobInputType":"uri_folder","mode":"ReadOnlyMount","uri":"` + share + `Users/bob/evil/sub"}}`},
		{name: "output folder", extra: `"outputs":{"y":{"jobOutputType":"uri_folder","uri":"` + share + `Users/bob/evil/out"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupJobs(t, bundleOpts{})
			private := linkedShare(t, b)
			b.putCluster("c1", labCluster)
			var extra []string
			if tc.extra != "" {
				extra = append(extra, tc.extra)
			}
			if tc.code != "" {
				_, _, err := b.svc.PutCodeVersion(b.ctx, b.ref, "evil", "1", body(t, `{"properties":{"codeUri":"`+share+tc.code+`"}}`))
				require.NoError(t, err)
				extra = append(extra, `"codeId":"azureml:evil:1"`)
			}
			b.submit("j", command("c1", "cat x", extra...))
			b.drain()
			st := b.requireState("j", resource.JobFailed)
			require.Contains(t, st.Error.Message, "symbolic link", st.Error.Message)
			require.Contains(t, st.Error.Message, "outside the workspace's storage")
			requireNoSecret(t, filepath.Join(b.dir, "jobs"), private)
			requireNoSecret(t, filepath.Join(b.dir, "storage"), private, "evil", "token-link")
			_, err := os.Lstat(filepath.Join(private, "out"))
			require.True(t, os.IsNotExist(err), "an output folder was made outside storage")
		})
	}
}

// TestLinksInsideStorageStillWork: links that stay inside the storage
// account (a share folder that links to a sibling) are followed as before,
// and the job is given their real path.
func TestLinksInsideStorageStillWork(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	shareDir := resource.WorkspaceShareDir(b.dir, b.ws)
	require.NoError(t, os.MkdirAll(filepath.Join(shareDir, "Users", "bob", "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(shareDir, "Users", "bob", "data", "d.csv"), []byte("a,b\n"), 0o644))
	require.NoError(t, os.Symlink("data", filepath.Join(shareDir, "Users", "bob", "latest")))
	require.NoError(t, os.MkdirAll(filepath.Join(shareDir, "Users", "bob", "src"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(shareDir, "Users", "bob", "src", "train.py"), []byte("print(1)\n"), 0o644))
	require.NoError(t, os.Symlink("train.py", filepath.Join(shareDir, "Users", "bob", "src", "main.py")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(shareDir, "Users", "bob", "src", "passwd")))
	require.NoError(t, os.Symlink("../../../../..", filepath.Join(shareDir, "Users", "bob", "src", "up")))
	b.putCluster("c1", labCluster)
	share := "azureml://datastores/workspaceworkingdirectory/paths/"
	_, _, err := b.svc.PutCodeVersion(b.ctx, b.ref, "src", "1", body(t, `{"properties":{"codeUri":"`+share+`Users/bob/src"}}`))
	require.NoError(t, err)
	j := b.submit("j", command("c1", "python main.py", `"codeId":"azureml:src:1"`,
		`"inputs":{"m":{"jobInputType":"uri_folder","uri":"`+share+`Users/bob/latest"},"d":{"jobInputType":"uri_folder","mode":"Download","uri":"`+share+`Users/bob/latest"}}`))
	b.drain()
	b.requireState("j", resource.JobRunning)
	p, ok := b.be.Process(procID(j, 1, 0))
	require.True(t, ok)
	env := envOf(p.Spec)
	require.Equal(t, filepath.Join(shareDir, "Users", "bob", "data"), env["AZURE_ML_INPUT_m"], "the mount is given its real path")
	got, err := os.ReadFile(filepath.Join(env["AZURE_ML_INPUT_d"], "d.csv"))
	require.NoError(t, err)
	require.Equal(t, "a,b\n", string(got))
	main, err := os.ReadFile(filepath.Join(p.Spec.Dir, "main.py"))
	require.NoError(t, err, "a link inside the snapshot is copied")
	require.Equal(t, "print(1)\n", string(main))
	for _, out := range []string{"passwd", "up"} {
		_, err = os.Lstat(filepath.Join(p.Spec.Dir, out))
		require.True(t, os.IsNotExist(err), "a link out of the snapshot (%s) is left out", out)
	}
	lifecycle, err := os.ReadFile(filepath.Join(b.jobs.artifactDir(&jobCtx{job: j, ws: b.ws}), LifecycleLog))
	require.NoError(t, err)
	require.Contains(t, string(lifecycle), "passwd", "the lifecycle log names the links left out")
}

// TestArtifactsNeverWrittenThroughLinks: saving a job's ./outputs as
// artifacts never writes through a link the job made. Rank 0 replaces its
// ./outputs with a link to a directory outside storage; rank 1 writes a
// file there. The file must land in the artifacts, not in that directory;
// a link out of ./outputs is not saved, a link inside it is.
func TestArtifactsNeverWrittenThroughLinks(t *testing.T) {
	t.Parallel()
	b := setupJobs(t, bundleOpts{})
	b.putCluster("c1", `{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":2}}`)
	j := b.submit("dist", command("c1", "python -m train", `"resources":{"instanceCount":2}`))
	b.drain()
	b.requireState("dist", resource.JobRunning)
	victim := filepath.Join(b.dir, "victim")
	require.NoError(t, os.MkdirAll(victim, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(victim, "passwd"), []byte("root:x:0:0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(b.dir, "token"), []byte(secretText), 0o600))

	wd := func(rank int) string {
		p, ok := b.be.Process(procID(j, 1, rank))
		require.True(t, ok)
		return p.Spec.Dir
	}
	out0 := filepath.Join(wd(0), "outputs")
	require.NoError(t, os.RemoveAll(out0))
	require.NoError(t, os.Symlink(victim, out0))
	out1 := filepath.Join(wd(1), "outputs")
	require.NoError(t, os.WriteFile(filepath.Join(out1, "model.pkl"), []byte("pwned"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(b.dir, "token"), filepath.Join(out1, "token")))
	require.NoError(t, os.Symlink("model.pkl", filepath.Join(out1, "latest.pkl")))
	require.NoError(t, os.MkdirAll(filepath.Join(wd(1), "logs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(wd(1), "logs", "metrics.txt"), []byte("loss 0.1\n"), 0o644))

	b.exit("dist", 0, 0)
	b.exit("dist", 1, 0)
	b.requireState("dist", resource.JobCompleted)
	arts := b.jobs.artifactDir(&jobCtx{job: j, ws: b.ws})

	_, err := os.Lstat(filepath.Join(victim, "model.pkl"))
	require.True(t, os.IsNotExist(err), "an artifact was written through rank 0's link")
	fi, err := os.Lstat(filepath.Join(arts, "outputs"))
	require.NoError(t, err)
	require.True(t, fi.IsDir(), "the artifacts' ./outputs is a directory, not rank 0's link")
	got, err := os.ReadFile(filepath.Join(arts, "outputs", "model.pkl"))
	require.NoError(t, err)
	require.Equal(t, "pwned", string(got))
	got, err = os.ReadFile(filepath.Join(arts, "outputs", "latest.pkl"))
	require.NoError(t, err, "a link inside ./outputs is kept")
	require.Equal(t, "pwned", string(got))
	_, err = os.Lstat(filepath.Join(arts, "outputs", "token"))
	require.True(t, os.IsNotExist(err), "a link out of ./outputs is not saved")
	got, err = os.ReadFile(filepath.Join(arts, "logs", "metrics.txt"))
	require.NoError(t, err)
	require.Equal(t, "loss 0.1\n", string(got))
	requireNoSecret(t, filepath.Join(b.dir, "storage"), victim)
}

// TestSetupScriptLogNeverThroughLinks: an instance's setup script log is
// written by the server (as root) into the workspace file share, where
// users can plant links. A Logs/<instance> folder that leads outside the
// share fails the instance, saying why, before anything is written there;
// one that stays inside is written at its real path.
func TestSetupScriptLogNeverThroughLinks(t *testing.T) {
	t.Parallel()
	scripts := `{"vmSize":"STANDARD_DS11_V2","setupScripts":{"scripts":{"creationScript":{"scriptData":"Users/admin/setup.sh"}}}}`
	t.Run("outside", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, monday)
		b.writeShare("Users/admin/setup.sh", "echo hi")
		outside := filepath.Join(b.svc.DataDir, "etc")
		require.NoError(t, os.MkdirAll(outside, 0o755))
		share := resource.WorkspaceSharePath(b.svc.DataDir, b.ws)
		require.NoError(t, os.MkdirAll(filepath.Join(share, "Logs"), 0o755))
		require.NoError(t, os.Symlink(outside, filepath.Join(share, "Logs", "ci1")))
		c, op := b.create("ci1", scripts)
		b.reconcile("ci1")
		require.Equal(t, resource.InstanceUserSetupFailed, b.state("ci1"))
		require.Contains(t, b.op(op.ID).ErrorMsg, "symbolic link")
		require.Contains(t, b.op(op.ID).ErrorMsg, "Logs/ci1")
		require.Nil(t, b.be.Script(c.UID, "creation"), "the script did not start")
		ents, err := os.ReadDir(outside)
		require.NoError(t, err)
		require.Empty(t, ents, "nothing was written through the link")
	})
	t.Run("inside", func(t *testing.T) {
		t.Parallel()
		b := setupInstances(t, monday)
		b.writeShare("Users/admin/setup.sh", "echo hi")
		share := resource.WorkspaceSharePath(b.svc.DataDir, b.ws)
		require.NoError(t, os.MkdirAll(filepath.Join(share, "Logs", "kept"), 0o755))
		require.NoError(t, os.Symlink("kept", filepath.Join(share, "Logs", "ci1")))
		c, _ := b.create("ci1", scripts)
		b.reconcile("ci1")
		s := b.be.Script(c.UID, "creation")
		require.NotNil(t, s)
		require.Equal(t, filepath.Join(share, "Logs", "kept", "creation-script.log"), s.Spec.LogPath)
	})
}

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// instanceEnv is a server with a group and a workspace for instance tests.
type instanceEnv struct {
	*Server
	rg, ws string
}

func startInstanceEnv(t *testing.T) *instanceEnv {
	t.Helper()
	s := StartServer(t, Options{})
	e := &instanceEnv{Server: s, rg: "rg-ci", ws: "ws-ci"}
	s.MustRun(t, "group", "create", "-n", e.rg, "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", e.ws, "-g", e.rg)
	// Instances outlive their server by design; a failed test must not
	// leave them running. The server stops first: killed while it runs,
	// they would be started again behind the test's back.
	t.Cleanup(func() { stopAndKillJobs(s) })
	return e
}

// cli runs the CLI with the workspace flags appended.
func (e *instanceEnv) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return e.Run(append(args, "-g", e.rg, "-w", e.ws)...)
}

func (e *instanceEnv) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	return e.MustRun(t, append(args, "-g", e.rg, "-w", e.ws)...)
}

func (e *instanceEnv) computePath(name string) string {
	return e.WorkspacePath(e.rg, e.ws) + "/computes/" + name
}

func (e *instanceEnv) show(t *testing.T, name string) map[string]any {
	t.Helper()
	r := e.Do(t, "GET", e.computePath(name), nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	return r.JSON(t)
}

func instProps(doc map[string]any) map[string]any {
	return doc["properties"].(map[string]any)["properties"].(map[string]any)
}

func (e *instanceEnv) state(t *testing.T, name string) string {
	t.Helper()
	s, _ := instProps(e.show(t, name))["state"].(string)
	return s
}

// instancePIDs lists the processes of instance name of this server (every
// instance process carries CI_NAME and MLW_SERVER in its environment).
func (e *instanceEnv) instancePIDs(name string) []int {
	tags := []string{"\x00CI_NAME=" + name + "\x00", "\x00MLW_SERVER=" + e.URL + "\x00"}
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/environ")
		if err != nil {
			continue
		}
		env := "\x00" + string(b) + "\x00"
		if strings.Contains(env, tags[0]) && strings.Contains(env, tags[1]) {
			if st, err := os.ReadFile("/proc/" + d.Name() + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
				out = append(out, pid)
			}
		}
	}
	return out
}

func (e *instanceEnv) awaitNoProcesses(t *testing.T, name string) {
	t.Helper()
	Await(t, "no process of instance "+name, func() error {
		if pids := e.instancePIDs(name); len(pids) > 0 {
			return fmt.Errorf("still running: %v", pids)
		}
		return nil
	})
}

// terminal opens the terminal WebSocket of an instance with token.
func (e *instanceEnv) terminal(t *testing.T, name, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return e.dialWS(t, e.computePath(name)+"/terminal?cols=120&rows=40", token)
}

// dialWS opens a WebSocket to path with token.
func (e *instanceEnv) dialWS(t *testing.T, path, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(e.Dir, api.LocalCAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	u := "wss" + strings.TrimPrefix(e.URL, "https") + path + sep + "api-version=" + api.DefaultAPIVersion
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
	defer cancel()
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
}

// termRun types line into the terminal and reads until want shows up.
func termRun(t *testing.T, c *websocket.Conn, line, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
	defer cancel()
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, []byte(line+"\n")))
	var out strings.Builder
	for !strings.Contains(out.String(), want) {
		typ, b, err := c.Read(ctx)
		require.NoError(t, err, "terminal output so far: %q", out.String())
		if typ == websocket.MessageBinary {
			out.Write(b)
		}
	}
	return out.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o755))
	return p
}

// TestInstanceLab walks the DP-100 compute instance lab with real
// processes: a creation script from the file share that clones a git
// repository, a daily 18:00 stop schedule, the terminal, stop, start,
// restart and delete, and nothing left running at the end.
func TestInstanceLab(t *testing.T) {
	t.Parallel()
	e := startInstanceEnv(t)
	const name = "ci-lab"

	// A local git repository stands for the labs' GitHub repository. It
	// lives under /var/tmp: an instance sees the host read-only, but has a
	// /tmp of its own.
	// The instance's user (an unprivileged uid) must be able to read it.
	origin, err := os.MkdirTemp("/var/tmp", "mlw-labs-origin-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(origin, 0o755))
	t.Cleanup(func() { os.RemoveAll(origin) })
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"config", "user.email", "t@example.org"}, {"config", "user.name", "t"}} {
		require.NoError(t, exec.Command("git", append([]string{"-C", origin}, args...)...).Run())
	}
	writeFile(t, origin, "README.md", "# mslearn-azure-ml\n")
	require.NoError(t, exec.Command("git", "-C", origin, "add", ".").Run())
	out, err := exec.Command("git", "-C", origin, "commit", "-q", "-m", "labs").CombinedOutput()
	require.NoError(t, err, "%s", out)

	local := t.TempDir()
	setup := writeFile(t, local, "compute-setup.sh", "#!/bin/bash\nset -e\necho \"setting up $CI_NAME in $CI_WORKSPACE/$CI_RESOURCE_GROUP for $CI_LOCAL_UBUNTU_USER\"\n"+
		// (A repository of another owner is "dubious" to git; GitHub's is not.)
		"git config --global --add safe.directory '*'\ngit clone "+origin+" azure-ml-labs\n")
	startup := writeFile(t, local, "startup.sh", "#!/bin/bash\necho started >> ~/cloudfiles/code/Users/admin/starts.txt\n")
	e.mustCLI(t, "file", "upload", "--source", setup, "--path", "Users/admin/compute-setup.sh")
	e.mustCLI(t, "file", "upload", "--source", startup, "--path", "Users/admin/startup.sh")
	yml := writeFile(t, local, "ci.yml", `$schema: https://azuremlschemas.azureedge.net/latest/computeInstance.schema.json
name: `+name+`
type: computeinstance
size: STANDARD_DS11_V2
setup_scripts:
  creation_script:
    path: Users/admin/compute-setup.sh
    timeout_minutes: 5
  startup_script:
    path: Users/admin/startup.sh
schedules:
  compute_start_stop:
    - action: stop
      trigger:
        type: cron
        start_time: "2024-01-01T00:00:00"
        time_zone: Pacific Standard Time
        expression: 0 18 * * *
`)
	e.mustCLI(t, "compute", "create", "--file", yml)
	doc := e.show(t, name)
	props := instProps(doc)
	require.Equal(t, "Running", props["state"], doc)
	require.Equal(t, "Succeeded", doc["properties"].(map[string]any)["provisioningState"])
	sched := props["schedules"].(map[string]any)["computeStartStop"].([]any)[0].(map[string]any)
	require.NotEmpty(t, sched["id"])
	require.Equal(t, "Pacific Standard Time", sched["cron"].(map[string]any)["timeZone"])
	require.NotEmpty(t, props["mlw"].(map[string]any)["limits"])

	// The creation script cloned the labs into the file share.
	files := e.mustCLI(t, "file", "list", "--path", "Users/admin", "-o", "json")
	require.Contains(t, files, "azure-ml-labs")
	logs := e.mustCLI(t, "compute", "show", "--name", name, "--logs")
	require.Contains(t, logs, "setting up ci-lab in ws-ci/rg-ci for azureuser")

	// The terminal runs a shell inside the instance, with the Azure ML
	// environment set and the file share at ~/cloudfiles/code.
	conn, _, err := e.terminal(t, name, e.Token())
	require.NoError(t, err)
	got := termRun(t, conn, `echo "answer=$((6*7)) host=$(hostname) home=$HOME"; ls ~/cloudfiles/code/Users/admin/azure-ml-labs`, "README.md")
	require.Contains(t, got, "answer=42")
	require.Contains(t, got, "home=/home/azureuser")
	got = termRun(t, conn, `cat ~/config.json; echo "mfe=$AZUREML_DEV_URL_MFE"; /usr/bin/python3 -c 'import os, ssl, urllib.request as u; r = u.Request(os.environ["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=https://management.azure.com", headers={"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]}); print(u.urlopen(r, context=ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])).read()[:40])'; echo done-$((2+2))-env`, "done-4-env")
	require.Contains(t, got, `"workspace_name": "ws-ci"`)
	require.Contains(t, got, "mfe="+e.URL)
	require.Contains(t, got, `access_token`)
	// Resize is a text frame; the shell sees the new size.
	ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
	require.NoError(t, conn.Write(ctx, websocket.MessageText, []byte(`{"type":"resize","cols":100,"rows":30}`)))
	termRun(t, conn, "stty size", "30 100")
	require.NoError(t, conn.Write(ctx, websocket.MessageBinary, []byte("exit\n")))
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "%v", err)
			break
		}
		if typ == websocket.MessageText {
			require.JSONEq(t, `{"type":"exit"}`, string(b))
		}
	}
	cancel()

	// `mlw compute terminal` with piped input.
	tctx, tcancel := context.WithTimeout(context.Background(), AwaitTimeout)
	cmd := e.Command(tctx, "compute", "terminal", "-n", name, "-g", e.rg, "-w", e.ws)
	cmd.Stdin = strings.NewReader("echo cli-$((5*5))\n")
	tout, err := cmd.CombinedOutput()
	tcancel()
	require.NoError(t, err, "%s", tout)
	require.Contains(t, string(tout), "cli-25")

	readStarts := func() int {
		r := e.Do(t, "GET", e.WorkspacePath(e.rg, e.ws)+"/files/Users/admin/starts.txt", nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		return strings.Count(string(r.Body), "started")
	}
	require.Equal(t, 1, readStarts(), "the startup script runs at creation too")

	e.mustCLI(t, "compute", "stop", "--name", name)
	require.Equal(t, "Stopped", e.state(t, name))
	e.awaitNoProcesses(t, name)
	e.mustCLI(t, "compute", "start", "--name", name)
	require.Equal(t, "Running", e.state(t, name))
	require.Equal(t, 2, readStarts(), "the startup script runs again at start")
	e.mustCLI(t, "compute", "restart", "--name", name)
	require.Equal(t, "Running", e.state(t, name))
	require.Equal(t, 3, readStarts())
	lo := instProps(e.show(t, name))["lastOperation"].(map[string]any)
	require.Equal(t, "Restart", lo["operationName"])
	require.Equal(t, "User", lo["operationTrigger"])
	require.NotEmpty(t, e.instancePIDs(name))

	e.mustCLI(t, "compute", "delete", "--name", name, "--yes")
	e.AwaitStatus(t, e.computePath(name), http.StatusNotFound)
	e.awaitNoProcesses(t, name)
	ents, _ := os.ReadDir(filepath.Join(e.Dir, "instances"))
	require.Empty(t, ents, "the instance's home is gone")
}

// addUser creates a user with a token directly in the server's database
// (mlw has no user API yet).
func addUser(t *testing.T, dir, name, role string) (*resource.User, string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mlw.db"))
	require.NoError(t, err)
	defer st.Close()
	u := &resource.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12), Name: name, Role: role}
	require.NoError(t, st.CreateUser(context.Background(), u))
	plain, hash := identity.NewToken()
	require.NoError(t, st.CreateToken(context.Background(), &resource.Token{Hash: hash, UserID: u.ID, Label: "test"}))
	return u, plain
}

// TestInstanceErrors: each failure gives a clear error or state, and
// leaves nothing behind.
func TestInstanceErrors(t *testing.T) {
	t.Parallel()
	e := startInstanceEnv(t)
	local := t.TempDir()
	failing := writeFile(t, local, "fail.sh", "#!/bin/bash\necho boom\nexit 3\n")
	e.mustCLI(t, "file", "upload", "--source", failing, "--path", "Users/admin/fail.sh")
	slow := writeFile(t, local, "slow.sh", "#!/bin/bash\necho waiting\nsleep 600\n")
	e.mustCLI(t, "file", "upload", "--source", slow, "--path", "Users/admin/slow.sh")

	t.Run("failing script", func(t *testing.T) {
		_, stderr, code := e.cli(t, "compute", "create", "-n", "ci-fail", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2", "--setup-script", "Users/admin/fail.sh")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "exited with code 3")
		props := instProps(e.show(t, "ci-fail"))
		require.Equal(t, "UserSetupFailed", props["state"])
		require.Contains(t, fmt.Sprint(props["errors"]), "Logs/ci-fail/creation-script.log")
		require.Contains(t, e.mustCLI(t, "compute", "show", "-n", "ci-fail", "--logs"), "boom")
		e.awaitNoProcesses(t, "ci-fail")
		e.mustCLI(t, "compute", "delete", "-n", "ci-fail", "--yes")
	})
	t.Run("timed out script", func(t *testing.T) {
		body := map[string]any{"properties": map[string]any{"computeType": "ComputeInstance", "properties": map[string]any{
			"vmSize": "STANDARD_DS1_V2", "setupScripts": map[string]any{"scripts": map[string]any{
				"creationScript": map[string]any{"scriptSource": "workspaceStorage", "scriptData": "Users/admin/slow.sh", "timeout": "1s"}}}}}}
		r := e.Do(t, "PUT", e.computePath("ci-slow"), body)
		require.Equal(t, http.StatusCreated, r.StatusCode, r)
		op := e.AwaitOperation(t, r.Header.Get("Azure-AsyncOperation"))
		require.Equal(t, "Failed", op["status"])
		require.Contains(t, fmt.Sprint(op["error"]), "timeout of 1s")
		require.Equal(t, "UserSetupFailed", e.state(t, "ci-slow"))
		e.awaitNoProcesses(t, "ci-slow")
		e.mustCLI(t, "compute", "delete", "-n", "ci-slow", "--yes")
	})
	t.Run("bad requests", func(t *testing.T) {
		badCron := writeFile(t, local, "cron.yml", "name: ci-cron\ntype: computeinstance\nschedules:\n  compute_start_stop:\n    - action: stop\n      trigger:\n        type: cron\n        expression: 0 25 * * *\n")
		_, stderr, code := e.cli(t, "compute", "create", "--file", badCron)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "Schedule 1")
		require.Contains(t, stderr, "line 3: schedules:", "the YAML field and its line are named")
		require.Contains(t, stderr, `"0 25 * * *" is not valid`)
		badTZ := writeFile(t, local, "tz.yml", "name: ci-tz\ntype: computeinstance\nschedules:\n  compute_start_stop:\n    - action: stop\n      trigger:\n        type: cron\n        expression: 0 18 * * *\n        time_zone: Atlantis Standard Time\n")
		_, stderr, code = e.cli(t, "compute", "create", "--file", badTZ)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "unknown time zone")
		_, stderr, code = e.cli(t, "compute", "create", "-n", "ci-size", "--type", "ComputeInstance", "--size", "STANDARD_NOPE")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "STANDARD_NOPE")
		_, stderr, code = e.cli(t, "compute", "create", "-n", "ci-quota", "--type", "ComputeInstance", "--size", "Standard_NC24ads_A100_v4", "--no-wait")
		require.Equal(t, 0, code, stderr)
		_, stderr, code = e.cli(t, "compute", "create", "-n", "ci-quota2", "--type", "ComputeInstance", "--size", "Standard_NC24ads_A100_v4", "--no-wait")
		require.Equal(t, 0, code, stderr)
		_, stderr, code = e.cli(t, "compute", "create", "-n", "ci-quota3", "--type", "ComputeInstance", "--size", "Standard_NC24ads_A100_v4")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "QuotaExceeded")
		require.Contains(t, stderr, "Current Usage: 48")
		_, stderr, code = e.cli(t, "compute", "create", "-n", "ci-quota", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "already exists")
		for _, n := range []string{"ci-cron", "ci-tz", "ci-size", "ci-quota3"} {
			require.Equal(t, http.StatusNotFound, e.Do(t, "GET", e.computePath(n), nil).StatusCode)
		}
		for _, n := range []string{"ci-quota", "ci-quota2"} {
			e.mustCLI(t, "compute", "delete", "-n", n, "--yes")
			e.awaitNoProcesses(t, n)
		}
	})
	t.Run("delete during creation", func(t *testing.T) {
		e.mustCLI(t, "compute", "create", "-n", "ci-del", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2", "--setup-script", "Users/admin/slow.sh", "--no-wait")
		Await(t, "the creation script to run", func() error {
			if s := e.state(t, "ci-del"); s != "UserSettingUp" {
				return fmt.Errorf("state %s", s)
			}
			return nil
		})
		e.mustCLI(t, "compute", "delete", "-n", "ci-del", "--yes")
		e.AwaitStatus(t, e.computePath("ci-del"), http.StatusNotFound)
		e.awaitNoProcesses(t, "ci-del")
	})
	t.Run("unassigned user", func(t *testing.T) {
		e.mustCLI(t, "compute", "create", "-n", "ci-mine", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2")
		_, bobToken := addUser(t, e.Dir, "bob", identity.RoleContributor)
		_, resp, err := e.terminal(t, "ci-mine", bobToken)
		require.Error(t, err)
		require.NotNil(t, resp)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		body, _ := io.ReadAll(resp.Body) // the dialer keeps the start of a refusal's body
		require.Contains(t, string(body), "assigned to user 'admin'", "the refusal names the instance's user")
		req := e.NewRequest(t, "GET", e.computePath("ci-mine")+"/jupyter/api/status", nil)
		req.Header.Set("Authorization", "Bearer "+bobToken)
		r := e.Send(t, req)
		require.Equal(t, http.StatusForbidden, r.StatusCode, r)
		require.Contains(t, r.Error(t).Message, "assigned to user 'admin'")
		// bob's job on admin's instance would run as admin, in admin's home.
		req = e.NewRequest(t, "PUT", e.WorkspacePath(e.rg, e.ws)+"/jobs/bobs_job", map[string]any{"properties": map[string]any{
			"jobType": "Command", "command": "cat ~/.azureml/token", "environmentId": "azureml:AzureML-sklearn-1.5@latest",
			"computeId": "ci-mine"}})
		req.Header.Set("Authorization", "Bearer "+bobToken)
		r = e.Send(t, req)
		require.Equal(t, http.StatusForbidden, r.StatusCode, r)
		require.Contains(t, r.Error(t).Message, "assigned to user 'admin'; only that user may run jobs on it")
		e.mustCLI(t, "compute", "delete", "-n", "ci-mine", "--yes")
		e.awaitNoProcesses(t, "ci-mine")
	})
	t.Run("workspace deletion", func(t *testing.T) {
		e.mustCLI(t, "compute", "create", "-n", "ci-ws", "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2")
		require.NotEmpty(t, e.instancePIDs("ci-ws"))
		e.MustRun(t, "workspace", "delete", "-n", e.ws, "-g", e.rg, "--yes")
		e.AwaitStatus(t, e.WorkspacePath(e.rg, e.ws), http.StatusNotFound)
		e.awaitNoProcesses(t, "ci-ws")
	})
	ents, _ := os.ReadDir(filepath.Join(e.Dir, "instances"))
	require.Empty(t, ents)
}

// TestInstanceSurvivesServerRestart: a Running instance stays Running
// across a restart of the server (even a SIGKILL), its Jupyter answers
// through the proxy and its processes are the same.
func TestInstanceSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	e := startInstanceEnv(t)
	const name = "ci-restart"
	key := filepath.Join(t.TempDir(), "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out)
	e.mustCLI(t, "compute", "create", "-n", name, "--type", "ComputeInstance", "--size", "STANDARD_DS1_V2", "--idle-time-before-shutdown-minutes", "30",
		"--ssh-public-access", "--ssh-key-value", "@"+key+".pub")
	ssh := func() {
		t.Helper()
		got := e.MustRun(t, "compute", "connect-ssh", "-n", name, "-g", e.rg, "-w", e.ws, "--private-key-file-path", key, "--", "echo", "ssh-$((20+1))", "$CI_NAME")
		require.Contains(t, got, "ssh-21 "+name)
	}
	ssh()
	sshSettings := instProps(e.show(t, name))["sshSettings"].(map[string]any)
	require.Equal(t, "azureuser", sshSettings["adminUserName"])
	port := sshSettings["sshPort"]
	var session *http.Cookie
	jupyter := func() {
		t.Helper()
		apps := instProps(e.show(t, name))["applications"].([]any)
		require.Equal(t, "Jupyter", apps[0].(map[string]any)["displayName"])
		r := e.Do(t, "GET", e.computePath(name)+"/jupyter/api/kernelspecs", nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		require.Contains(t, string(r.Body), `"default": "python38-azureml"`)
		require.Contains(t, string(r.Body), "Python 3.8 - AzureML")
		require.Contains(t, string(r.Body), "Python 3.10 - SDK v2")
		// A browser session (a sign-in link's cookie), from before a
		// restart of the server or after.
		if session == nil {
			session = e.signIn(t, e.Token(), e.computePath(name)+"/jupyter/tree")
		}
		require.Equal(t, http.StatusOK, e.withCookie(t, "GET", e.computePath(name)+"/jupyter/api/status", session).StatusCode)
	}
	if _, err := os.Stat("/usr/bin/jupyter-notebook"); err == nil {
		jupyter()
	}
	before := e.instancePIDs(name)
	require.NotEmpty(t, before)
	idle := instProps(e.show(t, name))["idleShutdown"].(map[string]any)
	require.Contains(t, idle["status"], "idle since")

	e.Kill()
	e.Start()
	require.Equal(t, "Running", e.state(t, name))
	if _, err := os.Stat("/usr/bin/jupyter-notebook"); err == nil {
		jupyter()
		got := e.kernelRun(t, name, "python310-sdkv2", "import os, sklearn; print(6*7, os.environ['AZUREML_DEV_URL_MFE'], os.environ['CI_NAME'])")
		require.Equal(t, fmt.Sprintf("42 %s %s\n", e.URL, name), got)
	}
	require.Equal(t, port, instProps(e.show(t, name))["sshSettings"].(map[string]any)["sshPort"], "the SSH port survives the restart")
	// The reconciler reattaches the SSH endpoint once it has resynced.
	Await(t, "the SSH endpoint to listen again", func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%v", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	ssh()
	after := e.instancePIDs(name)
	require.Subset(t, after, before, "the instance's processes kept running")
	conn, _, err := e.terminal(t, name, e.Token())
	require.NoError(t, err)
	termRun(t, conn, "echo back-$((1+1))", "back-2")
	// A terminal session makes the instance busy.
	Await(t, "the terminal session to count", func() error {
		st := instProps(e.show(t, name))["idleShutdown"].(map[string]any)["status"]
		if st != "busy: 1 terminal session" {
			return fmt.Errorf("status %v", st)
		}
		return nil
	})
	conn.Close(websocket.StatusNormalClosure, "")
	e.mustCLI(t, "compute", "delete", "-n", name, "--yes")
	e.awaitNoProcesses(t, name)
}

// TestSDKInstance drives an instance with the real azure-ai-ml SDK:
// create with a schedule and idle shutdown, stop, start, restart, delete.
// Both SDK generations.
func TestSDKInstance(t *testing.T) {
	t.Parallel()
	ForEachSDK(t, func(t *testing.T, sdk SDK) {
		e := startInstanceEnv(t)
		e.MustRun(t, "workspace", "download-config", "-n", e.ws, "-g", e.rg, "--path", "cfg")
		out := e.RunPython(t, sdk.Env(t, e.Server), "testdata/sdk_instance/sdk_instance.py", filepath.Join(e.WorkDir, "cfg"), "ci-sdk")
		require.Contains(t, out, "SDK INSTANCE OK", out)
		e.AwaitStatus(t, e.computePath("ci-sdk"), http.StatusNotFound)
		e.awaitNoProcesses(t, "ci-sdk")
	})
}

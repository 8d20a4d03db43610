package e2e

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/identity"
)

// signIn gets a browser session for target as the holder of token: a
// one-time link, opened without a token. It returns the session cookie.
func (e *instanceEnv) signIn(t *testing.T, token, target string) *http.Cookie {
	t.Helper()
	r := e.SignInLink(t, token, target)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var link struct{ URL, ExpiresOn, Target string }
	r.Decode(t, &link)
	require.True(t, strings.HasPrefix(link.URL, e.URL+"/mlw/signin?code=mlwl_"), link.URL)
	open := e.OpenLink(t, link.URL)
	require.Equal(t, http.StatusOK, open.StatusCode, open)
	require.Contains(t, string(open.Body), `url=`+link.Target, "the page leads to the target")
	for _, c := range (&http.Response{Header: open.Header}).Cookies() {
		if c.Name == identity.SessionCookie {
			require.True(t, c.HttpOnly, "HttpOnly")
			require.True(t, c.Secure, "Secure")
			require.Equal(t, http.SameSiteStrictMode, c.SameSite)
			require.True(t, strings.HasSuffix(c.Path, "/jupyter/"), c.Path)
			require.True(t, strings.HasPrefix(target, c.Path), "the cookie is scoped to the target's application: %s", c.Path)
			return c
		}
	}
	t.Fatalf("opening the link set no %s cookie: %v", identity.SessionCookie, open.Header)
	return nil
}

// withCookie sends a request as a browser with a session cookie would.
func (e *instanceEnv) withCookie(t *testing.T, method, path string, c *http.Cookie) *Response {
	t.Helper()
	req := e.NewRequest(t, method, path, nil)
	req.Header.Del("Authorization")
	req.AddCookie(c)
	return e.Send(t, req)
}

// kernelRun runs code in a new Jupyter kernel of the instance through the
// proxy (HTTP to start it, a WebSocket to talk to it) and returns what it
// printed.
func (e *instanceEnv) kernelRun(t *testing.T, name, kernel, code string) string {
	t.Helper()
	r := e.Do(t, "POST", e.computePath(name)+"/jupyter/api/kernels", map[string]any{"name": kernel})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	id := r.JSON(t)["id"].(string)
	defer e.Do(t, "DELETE", e.computePath(name)+"/jupyter/api/kernels/"+id, nil)
	conn, _, err := e.dialWS(t, e.computePath(name)+"/jupyter/api/kernels/"+id+"/channels", e.Token())
	require.NoError(t, err)
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
	defer cancel()
	msg := map[string]any{"header": map[string]any{"msg_id": "m1", "username": "t", "session": "s1", "msg_type": "execute_request", "version": "5.3"},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell", "buffers": []any{},
		"content": map[string]any{"code": code, "silent": false, "store_history": false, "user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true}}
	b, _ := json.Marshal(msg)
	require.NoError(t, conn.Write(ctx, websocket.MessageText, b))
	var out strings.Builder
	for {
		_, raw, err := conn.Read(ctx)
		require.NoError(t, err, "kernel output so far: %s", out.String())
		var m struct {
			Header struct {
				MsgType string `json:"msg_type"`
			} `json:"header"`
			Parent struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content map[string]any `json:"content"`
		}
		if json.Unmarshal(raw, &m) != nil || m.Parent.MsgID != "m1" {
			continue
		}
		switch m.Header.MsgType {
		case "stream":
			out.WriteString(fmt.Sprint(m.Content["text"]))
		case "error":
			t.Fatalf("kernel error: %v", m.Content)
		case "execute_reply":
			return out.String()
		}
	}
}

// buildWheel writes a minimal pure-Python wheel of a module named name
// that defines MESSAGE, and returns its path.
func buildWheel(t *testing.T, dir, name string) string {
	t.Helper()
	dist := name + "-1.0"
	path := filepath.Join(dir, dist+"-py3-none-any.whl")
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	files := [][2]string{
		{name + ".py", "MESSAGE = 'hello from " + name + "'\n"},
		{dist + ".dist-info/METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"},
		{dist + ".dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: mlw-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, fl := range files {
		w, err := zw.Create(fl[0])
		require.NoError(t, err)
		_, err = w.Write([]byte(fl[1]))
		require.NoError(t, err)
		sum := sha256.Sum256([]byte(fl[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", fl[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(fl[1]))
	}
	record.WriteString(dist + ".dist-info/RECORD,,\n")
	w, err := zw.Create(dist + ".dist-info/RECORD")
	require.NoError(t, err)
	_, err = w.Write([]byte(record.String()))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	return path
}

// TestLabNotebookInBrowser is issue 9's acceptance: the DP-100 lab's
// "Work with compute" notebook, from the user's folder of the file share,
// runs all its cells in the instance's Jupyter in a real browser, on the
// kernel it declares, after a sign-in with a one-time link; the SDK inside
// creates a cluster, submits the training job and streams it.
func TestLabNotebookInBrowser(t *testing.T) {
	t.Parallel()
	RequireSDK(t)
	RequireBrowser(t)
	if !jupyterInstalled() {
		t.Skip("needs Debian's jupyter-notebook")
	}
	shots := Artifacts(t)
	e := startInstanceEnv(t)
	const lab = "Users/admin/Labs/04"
	work := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		require.NoError(t, err)
		return a
	}
	e.mustCLI(t, "file", "upload", "--source", abs("testdata/notebooks/Work with compute.ipynb"), "--path", lab+"/Work with compute.ipynb")
	e.mustCLI(t, "file", "upload", "--source", abs("../examples/diabetes-training/src/diabetes.csv"), "--path", lab+"/src/diabetes.csv")
	unknown := filepath.Join(work, "unknown-kernel.ipynb")
	require.NoError(t, os.WriteFile(unknown, []byte(`{"cells": [], "metadata": {"kernelspec": {"name": "python3-from-elsewhere", "display_name": "Elsewhere"}}, "nbformat": 4, "nbformat_minor": 2}`), 0o644))
	e.mustCLI(t, "file", "upload", "--source", unknown, "--path", "Users/admin/unknown-kernel.ipynb")
	wheel := buildWheel(t, work, "mlw_probe")
	e.mustCLI(t, "file", "upload", "--source", wheel, "--path", "Users/admin/"+filepath.Base(wheel))
	const name = "ci-notebook"
	e.mustCLI(t, "compute", "create", "--name", name, "--type", "ComputeInstance", "--size", "STANDARD_DS11_V2", "-o", "none")

	// compute show lists the environments and their kernels.
	envs := instProps(e.show(t, name))["mlw"].(map[string]any)["environments"].([]any)
	require.Len(t, envs, 2)
	def := envs[0].(map[string]any)
	require.Equal(t, "azureml_py38", def["name"])
	require.Equal(t, "python38-azureml", def["kernel"])
	require.Equal(t, "Python 3.8 - AzureML", def["kernelDisplayName"])
	require.Equal(t, true, def["default"])
	require.Equal(t, "/home/azureuser/.azureml/envs/azureml_py38", def["path"])
	require.Equal(t, "python310-sdkv2", envs[1].(map[string]any)["kernel"])
	require.Contains(t, e.mustCLI(t, "compute", "show", "--name", name, "-o", "table"), `kernel "Python 3.8 - AzureML" (python38-azureml), the default`)

	// The terminal's python and pip are the default environment's; the SDK,
	// scikit-learn and pandas import; pip installs into the environment.
	conn, _, err := e.terminal(t, name, e.Token())
	require.NoError(t, err)
	got := termRun(t, conn, `python -c "import azure.ai.ml, sklearn, pandas; print('imports', 'ok')"; echo "py=$(command -v python) pip=$(command -v pip) env=$CONDA_DEFAULT_ENV"`, "env=azureml_py38")
	require.Contains(t, got, "imports ok")
	require.Contains(t, got, "py=/home/azureuser/.azureml/envs/azureml_py38/bin/python pip=/home/azureuser/.azureml/envs/azureml_py38/bin/pip")
	got = termRun(t, conn, `pip install --no-index ~/cloudfiles/code/Users/admin/`+filepath.Base(wheel)+`; echo "pip-exit=$? pip-$((1+2))"`, "pip-3")
	require.Contains(t, got, "Successfully installed mlw-probe-1.0")
	require.Contains(t, got, "pip-exit=0")
	conn.CloseNow()

	// What the user installed survives a restart of the instance, and the
	// notebook kernel sees it.
	e.mustCLI(t, "compute", "restart", "--name", name, "-o", "none")
	require.Equal(t, "Running", e.state(t, name))
	got = e.kernelRun(t, name, "python38-azureml", "import mlw_probe, sys; print(mlw_probe.MESSAGE, sys.prefix)")
	require.Equal(t, "hello from mlw_probe /home/azureuser/.azureml/envs/azureml_py38\n", got)

	// The browser: a one-time link, the tree, the lab's folder, the
	// notebook on its kernel, Cell > Run All.
	var link struct{ URL string }
	e.MustRunJSON(t, &link, "compute", "open-jupyter", "--name", name, "-g", e.rg, "-w", e.ws, "--no-browser")
	var out struct {
		TreeURL             string
		SignInToTreeMs      int
		Kernel              string
		Outputs             string
		Errors              []string
		ReusedLinkStatus    int
		ReusedLinkText      string
		UnknownKernelPrompt string
		UnknownKernelChoice string
	}
	RunBrowser(t, "jupyter", map[string]any{
		"signInUrl": link.URL, "folders": []string{"Users", "admin", "Labs", "04"}, "notebook": "Work with compute.ipynb",
		"expect": "status: Completed", "screenshots": shots, "timeoutMs": 5 * 60 * 1000,
		"unknownKernelUrl": e.URL + e.computePath(name) + "/jupyter/notebooks/Users/admin/unknown-kernel.ipynb",
	}, &out)
	t.Logf("sign-in link to rendered tree: %d ms", out.SignInToTreeMs)
	require.Empty(t, out.Errors, "cell errors; outputs:\n%s", out.Outputs)
	require.Equal(t, "Python 3.8 - AzureML", out.Kernel)
	require.Contains(t, out.Outputs, "Version: 1.4.0", "pip show azure-ai-ml")
	require.Contains(t, out.Outputs, "workspace: "+e.ws)
	require.Contains(t, out.Outputs, "Accuracy: 0.77", "the job's log, streamed into the cell")
	require.Contains(t, out.Outputs, "status: Completed")
	require.Contains(t, out.UnknownKernelPrompt, "Could not find a kernel matching Elsewhere", "Jupyter's own prompt for an unknown kernel")
	require.Equal(t, "Python 3.8 - AzureML", out.UnknownKernelChoice, "the default kernel is offered")
	require.Equal(t, http.StatusUnauthorized, out.ReusedLinkStatus, "a used link opens nothing")
	require.Contains(t, out.ReusedLinkText, "already used or has expired")
	for _, f := range []string{"01-signed-in-tree", "03-notebook-open", "04-all-cells-ran"} {
		require.FileExists(t, filepath.Join(shots, f+".png"))
	}
	// The job the notebook submitted ran on the cluster the notebook made.
	jobs := e.mustCLI(t, "job", "list", "-o", "json")
	require.Contains(t, jobs, "diabetes-train-cluster")
}

func jupyterInstalled() bool {
	_, err := os.Stat("/usr/bin/jupyter-notebook")
	return err == nil
}

// TestJupyterSignIn: a sign-in link and its cookie open one instance's
// Jupyter for its assigned user and nothing else.
func TestJupyterSignIn(t *testing.T) {
	t.Parallel()
	if !jupyterInstalled() {
		t.Skip("needs Debian's jupyter-notebook")
	}
	e := startInstanceEnv(t)
	bob, bobToken := addUser(t, e.Dir, "bob", "Contributor")
	e.mustCLI(t, "compute", "create", "--name", "ci-alice", "--type", "ComputeInstance", "--size", "STANDARD_DS11_V2", "-o", "none")
	r := e.Do(t, "PUT", e.computePath("ci-bob"), map[string]any{"properties": map[string]any{"computeType": "ComputeInstance",
		"properties": map[string]any{"vmSize": "STANDARD_DS11_V2",
			"personalComputeInstanceSettings": map[string]any{"assignedUser": map[string]any{"objectId": bob.ID, "tenantId": "t"}}}}})
	require.Less(t, r.StatusCode, 300, r)
	e.AwaitDoc(t, e.computePath("ci-bob"), func(doc map[string]any) error {
		if s := instProps(doc)["state"]; s != "Running" {
			return fmt.Errorf("state %v", s)
		}
		return nil
	})
	alice := e.computePath("ci-alice") + "/jupyter/"
	bobs := e.computePath("ci-bob") + "/jupyter/"

	// Without a session a browser gets a page that says how to sign in.
	req := e.NewRequest(t, "GET", alice+"tree", nil)
	req.Header.Del("Authorization")
	req.Header.Set("Accept", "text/html")
	r = e.Send(t, req)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
	require.Contains(t, string(r.Body), "mlw compute open-jupyter --name ci-alice")

	cookie := e.signIn(t, e.Token(), alice+"tree")
	require.Equal(t, http.StatusOK, e.withCookie(t, "GET", alice+"api/status", cookie).StatusCode)
	require.Equal(t, http.StatusOK, e.withCookie(t, "GET", alice+"tree", cookie).StatusCode)
	// The session cookie never reaches the notebook server: mlw authenticates.
	// A cookie of one instance does not open another, nor the API.
	r = e.withCookie(t, "GET", bobs+"api/status", cookie)
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	r = e.withCookie(t, "GET", e.computePath("ci-alice"), cookie)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, "a Jupyter session is not an API credential: %v", r)

	// Bob may not get a link to alice's instance; his own session opens
	// only his.
	r = e.SignInLink(t, bobToken, alice+"tree")
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	require.Contains(t, r.Error(t).Message, "assigned to user 'admin'")
	bobCookie := e.signIn(t, bobToken, bobs+"tree")
	require.Equal(t, http.StatusOK, e.withCookie(t, "GET", bobs+"api/status", bobCookie).StatusCode)
	r = e.withCookie(t, "GET", alice+"api/status", bobCookie)
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	// Admin (an Owner, but not bob) is refused bob's instance too.
	r = e.SignInLink(t, e.Token(), bobs+"tree")
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)

	// A link works once.
	r = e.SignInLink(t, e.Token(), alice+"notebooks/x.ipynb")
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var link struct{ URL string }
	r.Decode(t, &link)
	require.Equal(t, http.StatusOK, e.OpenLink(t, link.URL).StatusCode)
	again := e.OpenLink(t, link.URL)
	require.Equal(t, http.StatusUnauthorized, again.StatusCode, again)
	require.Contains(t, string(again.Body), "already used or has expired")
	require.Empty(t, again.Header.Values("Set-Cookie"))
	bad := e.OpenLink(t, e.URL+"/mlw/signin?code=mlwl_forged")
	require.Equal(t, http.StatusUnauthorized, bad.StatusCode, bad)

	// Bad targets name the field.
	for _, target := range []string{"", "relative/path", e.WorkspacePath(e.rg, e.ws) + "/jobs"} {
		r = e.SignInLink(t, e.Token(), target)
		require.Equal(t, http.StatusBadRequest, r.StatusCode, r)
		require.Equal(t, "target", r.Error(t).Target, r)
	}

	// Jupyter's Logout ends the session.
	other := e.signIn(t, e.Token(), alice+"tree")
	r = e.withCookie(t, "GET", alice+"logout", other)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	require.Contains(t, string(r.Body), "signed out")
	r = e.withCookie(t, "GET", alice+"api/status", other)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
	require.Equal(t, http.StatusOK, e.withCookie(t, "GET", alice+"api/status", cookie).StatusCode, "other sessions go on")

	// A stopped instance's Jupyter cannot be opened; the session comes back
	// with the instance.
	e.mustCLI(t, "compute", "stop", "--name", "ci-alice", "-o", "none")
	r = e.SignInLink(t, e.Token(), alice+"tree")
	require.Equal(t, http.StatusConflict, r.StatusCode, r)
	r = e.withCookie(t, "GET", alice+"api/status", cookie)
	require.Equal(t, http.StatusConflict, r.StatusCode, r)
	e.mustCLI(t, "compute", "start", "--name", "ci-alice", "-o", "none")
	require.Equal(t, http.StatusOK, e.withCookie(t, "GET", alice+"api/status", cookie).StatusCode)

	// A session is bound to the instance, not its name.
	e.mustCLI(t, "compute", "delete", "--name", "ci-alice", "--yes", "-o", "none")
	e.mustCLI(t, "compute", "create", "--name", "ci-alice", "--type", "ComputeInstance", "--size", "STANDARD_DS11_V2", "-o", "none")
	r = e.withCookie(t, "GET", alice+"api/status", cookie)
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	require.Contains(t, string(r.Body), "earlier compute instance")
}

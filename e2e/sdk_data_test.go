package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/api"
)

// TestSDKDataPlane drives the data plane with Microsoft's SDK, unchanged:
// DefaultAzureCredential through the token endpoint, workspaces,
// datastores, curated and custom environments, a code upload through the
// Blob API (twice: the second uploads nothing), and bad credentials. Both
// SDK generations: 1.4.0 uploads code with the datastore's SAS, 1.28 asks
// for a pending upload after a content-hash lookup.
func TestSDKDataPlane(t *testing.T) {
	t.Parallel()
	ForEachSDK(t, testSDKDataPlane)
}

func testSDKDataPlane(t *testing.T, sdk SDK) {
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
	s.MustRun(t, "workspace", "download-config", "-n", "ws1", "-g", "rg1", "--path", "cfg")

	out := s.RunPython(t, sdk.Env(t, s), "testdata/sdk_data/sdk_data.py", filepath.Join(s.WorkDir, "cfg"), "ws1")
	require.Contains(t, out, "SDK DATA OK", out)

	// The upload landed as plain files in the workspace's blob container,
	// where jobs find them; the second create_or_update sent no blob PUT:
	// two files and the indicator's metadata, once.
	var ds map[string]any
	r := s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1")+"/datastores/workspaceblobstore", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	r.Decode(t, &ds)
	props := ds["properties"].(map[string]any)
	account := strings.Split(props["accountName"].(string), "/")[2]
	matches, err := filepath.Glob(filepath.Join(s.Dir, "storage", account, props["containerName"].(string), "LocalUpload", "*", "src", "train.py"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	puts := regexp.MustCompile(`method=PUT path=/blob/`).FindAllString(s.Log(), -1)
	require.Len(t, puts, 3, "blob PUTs: data.csv, train.py, metadata of the indicator file")
	if sdk.Is128() {
		// The second upload found the first by its content hash, so it
		// asked for no second pending upload.
		pending := regexp.MustCompile(`method=POST path=\S+/codes/[^/ ]+/versions/1/startPendingUpload status=200`).FindAllString(s.Log(), -1)
		require.Len(t, pending, 1, s.Log())
	}
}

// TestTokenEndpoint checks the managed-identity endpoint that `mlw env`
// points DefaultAzureCredential at, and that its tokens work on the API.
func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	var env api.PythonEnv
	s.MustRunJSON(t, &env, "env")
	require.Equal(t, s.URL, env.Vars["AZUREML_DEV_URL_MFE"])
	require.Equal(t, s.Token(), env.Vars["IDENTITY_HEADER"])
	require.Equal(t, []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"}, env.Unset)
	bundle, err := os.ReadFile(env.Vars["REQUESTS_CA_BUNDLE"])
	require.NoError(t, err)
	ca, err := os.ReadFile(filepath.Join(s.Dir, api.LocalCAFile))
	require.NoError(t, err)
	require.True(t, bytes.Contains(bundle, ca), "the bundle holds mlw's CA")
	if roots, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		require.True(t, bytes.HasPrefix(bundle, roots), "and the system roots")
	}
	shell := s.MustRun(t, "env")
	require.Contains(t, shell, "export IDENTITY_ENDPOINT="+env.Vars["IDENTITY_ENDPOINT"]+"\n")
	require.Contains(t, shell, "unset AZURE_CLIENT_ID AZURE_TENANT_ID AZURE_CLIENT_SECRET\n")

	get := func(header string) *Response {
		req := s.NewRequest(t, http.MethodGet, env.Vars["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource=https://management.azure.com", nil)
		req.Header.Del("Authorization")
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		return s.Send(t, req)
	}
	r := get(env.Vars["IDENTITY_HEADER"])
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
		Resource    string `json:"resource"`
		TokenType   string `json:"token_type"`
	}
	r.Decode(t, &tok)
	require.Equal(t, 2, strings.Count(tok.AccessToken, "."), "a signed JWT")
	require.Equal(t, "Bearer", tok.TokenType)
	require.Equal(t, "https://management.azure.com", tok.Resource)
	require.Regexp(t, `^\d+$`, tok.ExpiresOn)

	// The signed token works on the API like the user's own.
	req := s.NewRequest(t, http.MethodGet, s.GroupPath("rg1"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	require.Equal(t, http.StatusOK, s.Send(t, req).StatusCode)

	for _, bad := range []string{"", "mlw_unknown", tok.AccessToken} {
		r := get(bad)
		require.Contains(t, []int{400, 401}, r.StatusCode, r)
		require.NotEmpty(t, r.Error(t).Message)
	}
}

// TestFileShareCLI walks `mlw file`: upload (a file, a directory, a large
// file), list, download, delete.
func TestFileShareCLI(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
	s.MustRun(t, "configure", "--defaults", "group=rg1", "workspace=ws1")

	local := filepath.Join(s.WorkDir, "local")
	require.NoError(t, os.MkdirAll(filepath.Join(local, "labs", "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(local, "compute-setup.sh"), []byte("#!/bin/sh\ngit clone labs azure-ml-labs\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(local, "labs", "README.md"), []byte("# labs\n"), 0o644))
	big := make([]byte, 3<<20+17)
	_, _ = rand.Read(big)
	require.NoError(t, os.WriteFile(filepath.Join(local, "labs", "data", "big.bin"), big, 0o644))

	var up []map[string]any
	s.MustRunJSON(t, &up, "file", "upload", "--source", "local/compute-setup.sh", "--path", "Users/admin/compute-setup.sh")
	require.Len(t, up, 1)
	require.Equal(t, "Users/admin/compute-setup.sh", up[0]["path"])
	_, stderr, code := s.Run("file", "upload", "--source", "local/compute-setup.sh", "--path", "Users/admin/compute-setup.sh", "--no-overwrite")
	require.NotZero(t, code)
	require.Contains(t, stderr, "already exists")
	s.MustRunJSON(t, &up, "file", "upload", "--source", "local/labs", "--path", "Users/admin/labs")
	require.Len(t, up, 2)

	var list []map[string]any
	s.MustRunJSON(t, &list, "file", "list", "--path", "Users/admin")
	var paths []string
	for _, f := range list {
		paths = append(paths, f["path"].(string))
	}
	require.Equal(t, []string{"Users/admin/compute-setup.sh", "Users/admin/labs"}, paths)
	s.MustRunJSON(t, &list, "file", "list", "--recursive")
	require.Len(t, list, 7) // Users, admin, setup, labs, README, data, big.bin

	// The share is a directory of the data dir: what the API wrote is there.
	shares, err := filepath.Glob(filepath.Join(s.Dir, "storage", "*", "code-*", "Users", "admin", "labs", "data", "big.bin"))
	require.NoError(t, err)
	require.Len(t, shares, 1)

	s.MustRun(t, "file", "download", "--path", "Users/admin/labs", "--dest", "copy")
	got, err := os.ReadFile(filepath.Join(s.WorkDir, "copy", "data", "big.bin"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got), "the large file comes back byte for byte")
	s.MustRun(t, "file", "download", "--path", "Users/admin/compute-setup.sh", "--dest", "copy")
	got, err = os.ReadFile(filepath.Join(s.WorkDir, "copy", "compute-setup.sh"))
	require.NoError(t, err)
	require.Contains(t, string(got), "azure-ml-labs")

	_, stderr, code = s.Run("file", "delete", "--path", "Users/admin/labs", "--yes")
	require.NotZero(t, code)
	require.Contains(t, stderr, "recursive")
	s.MustRun(t, "file", "delete", "--path", "Users/admin/labs", "--recursive", "--yes")
	s.MustRunJSON(t, &list, "file", "list", "--path", "Users/admin")
	require.Len(t, list, 1)
	_, stderr, code = s.Run("file", "download", "--path", "Users/nobody", "--dest", "x")
	require.NotZero(t, code)
	require.Contains(t, stderr, "does not exist")
}

// TestEnvironmentCLI creates environments from YAML and reads curated ones.
func TestEnvironmentCLI(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
	s.MustRun(t, "configure", "--defaults", "group=rg1", "workspace=ws1")

	dir := filepath.Join(s.WorkDir, "env")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conda.yml"), []byte("dependencies:\n  - python=3.11\n  - pip:\n      - scikit-learn\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "env.yml"), []byte(`$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: my-sklearn
description: lab environment
tags: {lab: "04"}
image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
conda_file: conda.yml
`), 0o644))
	var v map[string]any
	s.MustRunREST(t, &v, "environment", "create", "--file", "env/env.yml")
	require.Equal(t, "1", v["name"])
	props := v["properties"].(map[string]any)
	require.Equal(t, "UserCreated", props["environmentType"])
	require.Contains(t, props["condaFile"], "scikit-learn")
	s.MustRunJSON(t, &v, "environment", "create", "--file", "env/env.yml")
	require.Equal(t, "2", v["version"], "without a version, the next one")
	require.Equal(t, "my-sklearn", v["name"])

	var list []map[string]any
	s.MustRunJSON(t, &list, "environment", "list")
	names := map[string]string{}
	for _, e := range list {
		names[e["name"].(string)] = e["latest_version"].(string)
	}
	require.Equal(t, "2", names["my-sklearn"])
	require.Contains(t, names, "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu")
	require.Contains(t, names, "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu")
	require.Contains(t, names, "AzureML-sklearn-1.5")

	s.MustRunJSON(t, &v, "environment", "show", "--name", "AzureML-sklearn-1.5")
	require.Equal(t, names["AzureML-sklearn-1.5"], v["version"])
	s.MustRunREST(t, &v, "environment", "show", "--name", "AzureML-sklearn-1.5")
	require.Equal(t, "Curated", v["properties"].(map[string]any)["environmentType"])
	s.MustRunJSON(t, &v, "environment", "show", "--name", "my-sklearn", "--version", "1")
	require.Equal(t, "lab environment", v["description"])

	// A conda file passed as an environment file is explained.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("name: x\nchannels: [conda-forge]\ndependencies: [python=3.10]\n"), 0o644))
	_, stderr, code := s.Run("environment", "create", "--file", "env/bad.yml")
	require.NotZero(t, code)
	require.Contains(t, stderr, "conda_file")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "reserved.yml"), []byte("name: AzureML-mine\nimage: x\n"), 0o644))
	_, stderr, code = s.Run("environment", "create", "--file", "env/reserved.yml")
	require.NotZero(t, code)
	require.Contains(t, stderr, "reserved")
}

// TestDatastoresAndBlobAPI covers datastore PUT/DELETE/listSecrets and the
// Blob API's authentication: a SAS for the container, the bearer token, and
// nothing at all.
func TestDatastoresAndBlobAPI(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")
	ws := s.WorkspacePath("rg1", "ws1")

	r := s.Do(t, http.MethodPut, ws+"/datastores/labdata?api-version=2022-10-01", map[string]any{"properties": map[string]any{
		"datastoreType": "AzureBlob", "accountName": "contoso", "containerName": "lab-data",
		"credentials": map[string]any{"credentialsType": "AccountKey", "secrets": map[string]any{"key": "c2VjcmV0"}}}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	require.NotContains(t, string(r.Body), "c2VjcmV0", "secrets are never stored or echoed")
	ds := r.JSON(t)["properties"].(map[string]any)
	require.Equal(t, "lab-data", ds["containerName"])
	require.Equal(t, false, ds["isDefault"])
	acctName := ds["accountName"].(string)
	require.True(t, strings.HasSuffix(acctName, "/?x="), acctName)

	r = s.Do(t, http.MethodGet, ws+"/datastores?count=2&isDefault=true&orderByAsc=false", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var page struct {
		Value []map[string]any `json:"value"`
	}
	r.Decode(t, &page)
	require.Len(t, page.Value, 1)
	require.Equal(t, "workspaceblobstore", page.Value[0]["name"])

	r = s.Do(t, http.MethodPost, ws+"/datastores/labdata/listSecrets", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	sas := r.JSON(t)["sasToken"].(string)
	base := "https://" + strings.TrimSuffix(acctName, "/?x=") + "/lab-data"

	put := func(url, auth string) *Response {
		req := s.NewRequest(t, http.MethodPut, url, "hello")
		req.Header.Del("Authorization")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("x-ms-blob-type", "BlockBlob")
		return s.Send(t, req)
	}
	require.Equal(t, http.StatusCreated, put(base+"/a.txt?"+sas, "").StatusCode)
	r = put(base+"/b.txt", "Bearer "+s.Token())
	require.Equal(t, http.StatusCreated, r.StatusCode, r)
	r = put(base+"/c.txt", "")
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, r)
	require.Equal(t, "NoAuthenticationInformation", r.Header.Get("x-ms-error-code"))
	// The datastore's SAS does not open another container.
	other := strings.Replace(base, "/lab-data", "/azureml", 1)
	r = put(other+"/a.txt?"+sas, "")
	require.Equal(t, http.StatusForbidden, r.StatusCode, r)
	require.Equal(t, "AuthenticationFailed", r.Header.Get("x-ms-error-code"))
	require.Contains(t, string(r.Body), "<AuthenticationErrorDetail>")
	// A SAS never makes its container (listSecrets did): once the
	// container is gone, its SAS writes nothing, as in Azure.
	account := path.Base(strings.TrimSuffix(acctName, "/?x="))
	require.NoError(t, os.RemoveAll(filepath.Join(s.Dir, "storage", account, "lab-data")))
	r = put(base+"/a.txt?"+sas, "")
	require.Equal(t, http.StatusNotFound, r.StatusCode, r)
	require.Equal(t, "ContainerNotFound", r.Header.Get("x-ms-error-code"))
	require.NoDirExists(t, filepath.Join(s.Dir, "storage", account, "lab-data"))

	r = s.Do(t, http.MethodDelete, ws+"/datastores/workspaceblobstore", nil)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r)
	require.Contains(t, r.Error(t).Message, "default")
	r = s.Do(t, http.MethodDelete, ws+"/datastores/labdata", nil)
	require.Less(t, r.StatusCode, 300, r)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, ws+"/datastores/labdata", nil).StatusCode)
}

// TestSDKThroughProxy runs what the SDK cannot redirect by configuration —
// workspaces.begin_create (ARM deployments at management.azure.com) and
// host-style blob URLs ({account}.blob.core.windows.net) — through
// `mlw server --proxy-listen`, with HTTPS_PROXY set and no NO_PROXY (the
// proxy serves the mlw server's own address too).
func TestSDKThroughProxy(t *testing.T) {
	t.Parallel()
	RequireSDK(t)
	s := StartServer(t, Options{Args: []string{"--proxy-listen", "127.0.0.1:0"}})
	s.AwaitLog(t, "intercepting proxy ready")
	m := regexp.MustCompile(`intercepting proxy ready"? url=(\S+)`).FindStringSubmatch(s.Log())
	require.Len(t, m, 2, s.Log())
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")

	out := s.RunPython(t, append(s.PythonEnv(t), "HTTPS_PROXY="+m[1]), "testdata/sdk_data/sdk_proxy.py", s.Subscription, "rg1")
	require.Contains(t, out, "SDK PROXY OK", out)

	// The workspace is real: its datastores exist, the CLI sees it.
	var ws map[string]any
	s.MustRunJSON(t, &ws, "workspace", "show", "-n", "ws-proxy", "-g", "rg1")
	require.Equal(t, "made through the proxy", ws["description"])

	// Hosts other than Azure's are refused, not tunnelled.
	conn, err := net.Dial("tcp", strings.TrimPrefix(m[1], "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

package service_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// dataBundle is a service with one workspace, for the data-plane tests.
type dataBundle struct {
	svc *service.Service
	ctx context.Context // an Owner
	ref core.WorkspaceRef
	sas *identity.SASSigner
}

func dataSetup(t *testing.T) *dataBundle {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := service.New(st, nil, nil)
	svc.DataDir = t.TempDir()
	svc.DefaultSubscription = "sub-1"
	svc.Blobs = blob.NewStore(svc.DataDir)
	svc.SAS = identity.NewSASSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, svc.EnsureSubscription(context.Background(), "sub-1", "test"))
	ctx := service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u1", Name: "alice", Role: identity.RoleOwner})
	_, _, err = svc.PutGroup(ctx, "sub-1", "rg1", jsonBody(t, `{"location": "eastus"}`))
	require.NoError(t, err)
	ref := core.WorkspaceRef{Subscription: "sub-1", ResourceGroup: "rg1", Workspace: "ws1"}
	_, _, err = svc.PutWorkspace(ctx, ref, jsonBody(t, `{}`))
	require.NoError(t, err)
	return &dataBundle{svc: svc, ctx: ctx, ref: ref, sas: svc.SAS}
}

func jsonBody(t *testing.T, s string) *service.Body {
	t.Helper()
	b, err := service.ReadBody(strings.NewReader(s), 1<<20)
	require.NoError(t, err)
	return b
}

func apiErr(t *testing.T, err error) *core.Error {
	t.Helper()
	require.Error(t, err)
	e, ok := core.AsError(err)
	require.True(t, ok, "want a core.Error, got %v", err)
	return e
}

func TestCodeVersionsAreIdempotent(t *testing.T) {
	t.Parallel()
	b := dataSetup(t)
	const uri = "https://127.0.0.1:7443/blob/acct/azureml-blobstore-x/LocalUpload/0123/src"
	doc := `{"properties": {"properties": {"hash_sha256": "abc", "hash_version": "202208"}, "isAnonymous": true, "isArchived": false, "codeUri": "` + uri + `"}}`
	v, isNew, err := b.svc.PutCodeVersion(b.ctx, b.ref, "d7f7c3a2-uuid", "1", jsonBody(t, doc))
	require.NoError(t, err)
	require.True(t, isNew)
	require.Equal(t, "1", v.Name)

	// The SDK sends the same PUT on every submission of unchanged code.
	_, isNew, err = b.svc.PutCodeVersion(b.ctx, b.ref, "d7f7c3a2-uuid", "1", jsonBody(t, doc))
	require.NoError(t, err)
	require.False(t, isNew)

	_, _, err = b.svc.PutCodeVersion(b.ctx, b.ref, "d7f7c3a2-uuid", "1", jsonBody(t, strings.Replace(doc, "0123", "9999", 1)))
	e := apiErr(t, err)
	require.Equal(t, http.StatusBadRequest, e.Status)
	require.Contains(t, e.Message, "Asset paths cannot be updated")
	require.Equal(t, "properties.codeUri", e.Target)

	_, _, err = b.svc.PutCodeVersion(b.ctx, b.ref, "other", "1", jsonBody(t, `{"properties": {}}`))
	require.Equal(t, "properties.codeUri", apiErr(t, err).Target)
	_, err = b.svc.GetAssetContainer(b.ctx, b.ref, service.CodeAssets, "other")
	require.Equal(t, http.StatusNotFound, apiErr(t, err).Status, "a refused version leaves no container behind")

	// The container was created implicitly.
	c, err := b.svc.GetAssetContainer(b.ctx, b.ref, service.CodeAssets, "d7f7c3a2-uuid")
	require.NoError(t, err)
	st := service.AssetContainerStatusOf(c)
	require.Equal(t, "1", st.LatestVersion)
	require.Equal(t, "2", st.NextVersion)

	// A hash lookup searches every container, whatever the name asked
	// (the SDK sends a fresh uuid4), and finds nothing without a 404.
	found, _, err := b.svc.FindCodeVersions(b.ctx, b.ref, "ABC", "202208", service.VersionQuery{})
	require.NoError(t, err)
	require.Len(t, found, 1, "versions can be found by content hash")
	require.Equal(t, "d7f7c3a2-uuid", found[0].Container)
	require.Equal(t, "1", found[0].Name)
	found, _, err = b.svc.FindCodeVersions(b.ctx, b.ref, "other", "", service.VersionQuery{})
	require.NoError(t, err)
	require.Empty(t, found)
	found, _, err = b.svc.FindCodeVersions(b.ctx, b.ref, "abc", "199901", service.VersionQuery{})
	require.NoError(t, err)
	require.Empty(t, found, "another hash version is another hash")

	require.NoError(t, b.svc.DeleteAssetVersion(b.ctx, b.ref, service.CodeAssets, "d7f7c3a2-uuid", "1"))
	c, err = b.svc.GetAssetContainer(b.ctx, b.ref, service.CodeAssets, "d7f7c3a2-uuid")
	require.NoError(t, err)
	require.Equal(t, "", service.AssetContainerStatusOf(c).LatestVersion)
}

const condaFile = "channels: [conda-forge]\ndependencies:\n  - python=3.10\n  - pip\n  - pandas~=1.5\n  - pip:\n      - scikit-learn==1.5.0\n      - mlflow\n"

func putEnv(t *testing.T, b *dataBundle, name, version, image string) {
	t.Helper()
	_, _, err := b.svc.PutEnvVersion(b.ctx, b.ref, name, version, jsonBody(t, fmt.Sprintf(`{"properties": {"image": %q, "condaFile": %q, "description": "mine", "tags": {"a": "b"}}}`, image, condaFile)))
	require.NoError(t, err)
}

func TestEnvironmentAdmission(t *testing.T) {
	t.Parallel()
	b := dataSetup(t)
	tests := []struct {
		name, env, doc, target string
	}{
		{name: "reserved prefix", env: "AzureML-mine", doc: `{"properties": {"image": "x"}}`, target: "name"},
		{name: "reserved prefix any case", env: "azureml-sklearn-1.5", doc: `{"properties": {"image": "x"}}`, target: "name"},
		{name: "no image", env: "e1", doc: `{"properties": {"condaFile": "dependencies: []"}}`, target: "properties.image"},
		{name: "image and build", env: "e1", doc: `{"properties": {"image": "x", "build": {"contextUri": "https://x"}}}`, target: "properties.build"},
		{name: "conda file not YAML", env: "e1", doc: `{"properties": {"image": "x", "condaFile": "dependencies: [a"}}`, target: "properties.condaFile"},
		{name: "conda file not text", env: "e1", doc: `{"properties": {"image": "x", "condaFile": {"dependencies": []}}}`, target: "properties.condaFile"},
		{name: "bad os", env: "e1", doc: `{"properties": {"image": "x", "osType": "Plan9"}}`, target: "properties.osType"},
		{name: "bad name", env: "-x", doc: `{"properties": {"image": "x"}}`, target: "name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := b.svc.PutEnvVersion(b.ctx, b.ref, tc.env, "1", jsonBody(t, tc.doc))
			e := apiErr(t, err)
			require.Equal(t, http.StatusBadRequest, e.Status, e.Message)
			require.Equal(t, tc.target, e.Target, e.Message)
		})
	}
	_, _, err := b.svc.PutAssetContainer(b.ctx, b.ref, service.EnvAssets, "AzureML-x", jsonBody(t, `{}`))
	require.Equal(t, "name", apiErr(t, err).Target)
	require.Error(t, b.svc.DeleteEnvContainer(b.ctx, b.ref, "AzureML-sklearn-1.5"))

	putEnv(t, b, "my-env", "1", "img:1")
	// The same definition again is fine (200); a new description too.
	_, isNew, err := b.svc.PutEnvVersion(b.ctx, b.ref, "my-env", "1", jsonBody(t, fmt.Sprintf(`{"properties": {"image": "img:1", "condaFile": %q, "description": "new"}}`, condaFile)))
	require.NoError(t, err)
	require.False(t, isNew)
	_, _, err = b.svc.PutEnvVersion(b.ctx, b.ref, "my-env", "1", jsonBody(t, `{"properties": {"image": "img:2"}}`))
	e := apiErr(t, err)
	require.Equal(t, http.StatusConflict, e.Status, "newer SDKs take the next version on 409")
	require.Equal(t, "properties.image", e.Target)
	require.Contains(t, e.Message, "versions cannot change")

	putEnv(t, b, "my-env", "2", "img:2")
	c, err := b.svc.GetEnvContainer(b.ctx, b.ref, "MY-ENV")
	require.NoError(t, err)
	require.Equal(t, "my-env", c.Name)
	require.Equal(t, "3", service.AssetContainerStatusOf(c.Row).NextVersion)
	require.Equal(t, "2", service.AssetContainerStatusOf(c.Row).LatestVersion)

	all, next, err := b.svc.ListEnvContainers(b.ctx, b.ref, service.ActiveOnly, service.Page{})
	require.NoError(t, err)
	require.Empty(t, next)
	var names []string
	for _, c := range all {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "AzureML-sklearn-1.5", "my-env"}, names)

	// Paging: two at a time, the nextLink token continues.
	p1, tok, err := b.svc.ListEnvContainers(b.ctx, b.ref, service.ActiveOnly, service.Page{Top: 3})
	require.NoError(t, err)
	require.Len(t, p1, 3)
	require.NotEmpty(t, tok)
	p2, tok, err := b.svc.ListEnvContainers(b.ctx, b.ref, service.ActiveOnly, service.Page{Top: 3, Skip: tok})
	require.NoError(t, err)
	require.Len(t, p2, 1)
	require.Empty(t, tok)

	// environments.get(name, label="latest") lists createdtime desc, $top=1.
	vs, _, err := b.svc.ListEnvVersions(b.ctx, b.ref, "my-env", service.VersionQuery{OrderBy: "createdtime desc", Page: service.Page{Top: 1}})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.Equal(t, "2", vs[0].Version)
	vs, _, err = b.svc.ListEnvVersions(b.ctx, b.ref, "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", service.VersionQuery{OrderBy: "createdtime desc", Page: service.Page{Top: 1}})
	require.NoError(t, err)
	require.Equal(t, "49", vs[0].Version)
	_, err = b.svc.GetEnvVersion(b.ctx, b.ref, "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "99")
	require.Equal(t, http.StatusNotFound, apiErr(t, err).Status)
	_, err = b.svc.GetEnvVersion(b.ctx, b.ref, "nope", "1")
	require.Contains(t, apiErr(t, err).Message, "mlw environment list")
}

func TestResolveEnvironment(t *testing.T) {
	t.Parallel()
	b := dataSetup(t)
	putEnv(t, b, "my-env", "1", "img:1")
	putEnv(t, b, "my-env", "2", "img:2")
	ws := b.ref.ID()
	tests := []struct {
		id      string
		name    string
		version string
		curated bool
		status  int // expected error status; 0 = resolves
	}{
		{id: "azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest", name: "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", version: "49", curated: true},
		{id: "AzureML-sklearn-1.5@latest", name: "AzureML-sklearn-1.5", version: "20", curated: true},
		{id: "azureml:azureml-SKLEARN-1.5@Latest", name: "AzureML-sklearn-1.5", version: "20", curated: true},
		{id: "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:12", name: "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version: "12", curated: true},
		{id: "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:44", name: "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version: "44", curated: true},
		{id: "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest", name: "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version: "44", curated: true},
		{id: "azureml://registries/azureml/environments/sklearn-1.5/versions/5", name: "AzureML-sklearn-1.5", version: "5", curated: true},
		{id: "azureml://registries/azureml/environments/sklearn-1.5/labels/latest", name: "AzureML-sklearn-1.5", version: "20", curated: true},
		{id: "azureml://registries/azureml/environments/sklearn-1.0/versions/3", name: "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version: "3", curated: true},
		{id: ws + "/environments/my-env/versions/1", name: "my-env", version: "1"},
		{id: strings.ToLower(ws) + "/environments/My-Env/labels/latest", name: "my-env", version: "2"},
		{id: ws + "/environments/AzureML-sklearn-1.5/versions/4", name: "AzureML-sklearn-1.5", version: "4", curated: true},
		{id: "my-env:2", name: "my-env", version: "2"},
		{id: "azureml:my-env:1", name: "my-env", version: "1"},
		{id: "my-env@latest", name: "my-env", version: "2"},
		{id: "azureml:my-env@latest", name: "my-env", version: "2"},
		{id: "  my-env:1 ", name: "my-env", version: "1"},

		{id: "", status: 400},
		{id: "my-env", status: 400},
		{id: "my-env@best", status: 400},
		{id: "my-env:1@latest", status: 400},
		{id: "azureml://registries/azureml/environments/sklearn-1.5", status: 400},
		{id: "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/other/environments/my-env/versions/1", status: 400},
		{id: ws + "/environments/my-env", status: 400},
		{id: "azureml:AzureML-sklearn-1.5:99", status: 404},
		{id: "AzureML-tensorflow-2.4@latest", status: 404},
		{id: "azureml://registries/contoso/environments/sklearn-1.5/versions/1", status: 404},
		{id: "azureml://registries/azureml/environments/pytorch-2.0/versions/1", status: 404},
		{id: "my-env:7", status: 404},
		{id: "nope@latest", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			r, err := b.svc.ResolveEnvironment(b.ctx, b.ref, tc.id)
			if tc.status != 0 {
				e := apiErr(t, err)
				require.Equal(t, tc.status, e.Status, e.Message)
				if tc.status == 404 {
					require.True(t, strings.Contains(e.Message, "mlw environment list") || strings.Contains(e.Message, "sklearn-1.5"), e.Message)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.name, r.Name)
			require.Equal(t, tc.version, r.Version)
			require.Equal(t, tc.curated, r.Curated)
			require.Equal(t, ws+"/environments/"+tc.name+"/versions/"+tc.version, r.ID)
			require.NotEmpty(t, r.CondaFile)
			require.NotEmpty(t, r.Image)
		})
	}

	// The DP-100 labs ask for sklearn-1.0 version 44, the newest served.
	_, err := b.svc.ResolveEnvironment(b.ctx, b.ref, "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:45")
	require.Equal(t, 404, apiErr(t, err).Status)
	require.Contains(t, apiErr(t, err).Message, "versions 1 to 44 exist")

	r, err := b.svc.ResolveEnvironment(b.ctx, b.ref, "azureml:AzureML-sklearn-1.5@latest")
	require.NoError(t, err)
	require.Equal(t, "3.10", r.Python)
	require.Contains(t, r.Requirements, "scikit-learn~=1.5.0")
	debs := map[string]string{}
	for _, p := range r.Packages {
		debs[p.Import] = p.Debian
	}
	require.Equal(t, "python3-sklearn", debs["sklearn"])
	require.Equal(t, "python3-pandas", debs["pandas"])

	r, err = b.svc.ResolveEnvironment(b.ctx, b.ref, "my-env:1")
	require.NoError(t, err)
	require.Equal(t, "img:1", r.Image)
	require.Equal(t, "3.10", r.Python)
	require.Equal(t, []string{"pandas~=1.5", "scikit-learn==1.5.0", "mlflow"}, r.Requirements)
	require.Equal(t, []resource.PythonPackage{
		{Requirement: "pandas", Import: "pandas", Debian: "python3-pandas"},
		{Requirement: "scikit-learn", Import: "sklearn", Debian: "python3-sklearn"},
		{Requirement: "mlflow", Import: "mlflow"},
	}, r.Packages)
}

func TestRequirementName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"scikit-learn~=1.5.0": "scikit-learn", "pandas": "pandas", "conda-forge::numpy=1.22": "numpy",
		"azureml-core==1.57.0": "azureml-core", "torch >= 2": "torch", "-r requirements.txt": "",
		"git+https://github.com/x/y": "", "Py_Spy": "py-spy", "requests[socks]": "requests",
	} {
		require.Equal(t, want, service.RequirementName(in), in)
	}
}

func TestDatastores(t *testing.T) {
	t.Parallel()
	b := dataSetup(t)
	// listSecrets: a SAS for exactly the datastore's container.
	sec, err := b.svc.DatastoreSecrets(b.ctx, b.ref, resource.DatastoreBlob, service.SecretExpiry{})
	require.NoError(t, err)
	require.Equal(t, "Sas", sec["secretsType"])
	tok := sec["sasToken"].(string)
	require.False(t, strings.HasPrefix(tok, "?"))
	ws, err := b.svc.GetWorkspace(b.ctx, b.ref)
	require.NoError(t, err)
	ds, err := b.svc.GetDatastore(b.ctx, b.ref, resource.DatastoreBlob)
	require.NoError(t, err)
	account, container := service.DatastoreLocation(ws, ds)
	require.Equal(t, "azureml-blobstore-"+ws.UID, container)
	q, err := url.ParseQuery(tok)
	require.NoError(t, err)
	_, err = b.sas.Verify(q, account, container, identity.PermWrite)
	require.NoError(t, err)
	_, err = b.sas.Verify(q, account, "azureml", identity.PermRead)
	require.Error(t, err, "scoped to its container")
	require.Equal(t, service.SASTTL, sasLifetime(t, q))

	// Newer SDKs ask for an expirable secret (1 hour unless they say).
	hours := 3
	for exp, want := range map[service.SecretExpiry]time.Duration{
		{ExpirableSecret: true}:                           time.Hour,
		{ExpirableSecret: true, ExpireAfterHours: &hours}: 3 * time.Hour,
		{ExpireAfterHours: &hours}:                        service.SASTTL,
	} {
		sec, err := b.svc.DatastoreSecrets(b.ctx, b.ref, resource.DatastoreBlob, exp)
		require.NoError(t, err)
		q, err := url.ParseQuery(sec["sasToken"].(string))
		require.NoError(t, err)
		require.Equal(t, want, sasLifetime(t, q), exp)
	}

	reader := service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u2", Name: "bob", Role: identity.RoleReader})
	sec, err = b.svc.DatastoreSecrets(reader, b.ref, resource.DatastoreBlob, service.SecretExpiry{})
	require.NoError(t, err)
	q, _ = url.ParseQuery(sec["sasToken"].(string))
	_, err = b.sas.Verify(q, account, container, identity.PermRead)
	require.NoError(t, err)
	_, err = b.sas.Verify(q, account, container, identity.PermWrite)
	require.Error(t, err, "a Reader's SAS cannot write")

	// User datastores: AzureBlob only, in the workspace's account; no
	// secrets are kept.
	for i := 0; i < 40; i++ {
		_, isNew, err := b.svc.PutDatastore(b.ctx, b.ref, fmt.Sprintf("a%02d", i), jsonBody(t,
			`{"properties": {"datastoreType": "AzureBlob", "accountName": "contoso", "containerName": "data-x", "credentials": {"credentialsType": "AccountKey", "secrets": {"key": "c2VjcmV0"}}, "isDefault": true}}`))
		require.NoError(t, err)
		require.True(t, isNew)
	}
	got, err := b.svc.GetDatastore(b.ctx, b.ref, "a00")
	require.NoError(t, err)
	require.NotContains(t, string(got.Spec), "c2VjcmV0")
	require.Contains(t, string(got.Spec), `"isDefault":false`)
	_, container = service.DatastoreLocation(ws, got)
	require.Equal(t, "data-x", container)

	// isDefault=true with count=30 finds the default even past 30 others.
	dss, next, err := b.svc.ListDatastores(b.ctx, b.ref, service.DatastoreFilter{OnlyDefault: true}, service.Page{Top: 30})
	require.NoError(t, err)
	require.Len(t, dss, 1)
	require.Equal(t, resource.DatastoreBlob, dss[0].Name)
	require.Empty(t, next)
	// count pages through all 44.
	seen := 0
	page := service.Page{Top: 30}
	for {
		dss, next, err := b.svc.ListDatastores(b.ctx, b.ref, service.DatastoreFilter{}, page)
		require.NoError(t, err)
		require.LessOrEqual(t, len(dss), 30)
		seen += len(dss)
		if next == "" {
			break
		}
		page.Skip = next
	}
	require.Equal(t, 44, seen)

	for name, doc := range map[string]string{
		"bad name!":  `{"properties": {"datastoreType": "AzureBlob"}}`,
		"files":      `{"properties": {"datastoreType": "AzureFile", "fileShareName": "x"}}`,
		"notype":     `{"properties": {}}`,
		"badcontain": `{"properties": {"datastoreType": "AzureBlob", "containerName": "Bad_Name"}}`,
	} {
		_, _, err := b.svc.PutDatastore(b.ctx, b.ref, name, jsonBody(t, doc))
		require.Equal(t, http.StatusBadRequest, apiErr(t, err).Status, name)
	}
	e := apiErr(t, b.svc.DeleteDatastore(b.ctx, b.ref, resource.DatastoreBlob))
	require.Equal(t, http.StatusBadRequest, e.Status)
	require.Contains(t, e.Message, "default")
	require.NoError(t, b.svc.DeleteDatastore(b.ctx, b.ref, "a00"))
	_, err = b.svc.GetDatastore(b.ctx, b.ref, "a00")
	require.Equal(t, http.StatusNotFound, apiErr(t, err).Status)
}

func TestFileShare(t *testing.T) {
	t.Parallel()
	b := dataSetup(t)
	fi, created, err := b.svc.WriteFile(b.ctx, b.ref, "/Users/alice/compute-setup.sh", strings.NewReader("#!/bin/sh\necho hi\n"), true)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "Users/alice/compute-setup.sh", fi.Path)
	_, _, err = b.svc.WriteFile(b.ctx, b.ref, "Users/alice/compute-setup.sh", strings.NewReader("x"), false)
	require.Equal(t, http.StatusConflict, apiErr(t, err).Status)

	// Compute instances bind this directory: the same file is there.
	dir, err := b.svc.FileShareDir(b.ctx, b.ref)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "Users/alice/compute-setup.sh"))
	require.NoError(t, err)
	require.Equal(t, "#!/bin/sh\necho hi\n", string(got))
	// …and a file an instance writes shows up in the API.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "Users/alice/azure-ml-labs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Users/alice/azure-ml-labs/README.md"), []byte("labs"), 0o644))

	fs, err := b.svc.ListFiles(b.ctx, b.ref, "Users/alice", false)
	require.NoError(t, err)
	require.Len(t, fs, 2)
	require.Equal(t, "Users/alice/azure-ml-labs", fs[0].Path)
	require.True(t, fs[0].IsDir)
	fs, err = b.svc.ListFiles(b.ctx, b.ref, "", true)
	require.NoError(t, err)
	require.Len(t, fs, 5)

	f, info, err := b.svc.OpenFile(b.ctx, b.ref, "Users/alice/azure-ml-labs/README.md")
	require.NoError(t, err)
	data, _ := io.ReadAll(f)
	f.Close()
	require.Equal(t, "labs", string(data))
	require.EqualValues(t, 4, info.Size)

	_, _, err = b.svc.OpenFile(b.ctx, b.ref, "Users/alice")
	require.Equal(t, http.StatusBadRequest, apiErr(t, err).Status)
	_, _, err = b.svc.OpenFile(b.ctx, b.ref, "../../etc/passwd")
	require.Equal(t, http.StatusBadRequest, apiErr(t, err).Status)

	e := apiErr(t, b.svc.DeleteFile(b.ctx, b.ref, "Users/alice", false))
	require.Equal(t, http.StatusConflict, e.Status)
	require.NoError(t, b.svc.DeleteFile(b.ctx, b.ref, "Users/alice", true))
	_, err = b.svc.ListFiles(b.ctx, b.ref, "Users/alice", false)
	require.Equal(t, http.StatusNotFound, apiErr(t, err).Status)

	reader := service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u2", Name: "bob", Role: identity.RoleReader})
	_, _, err = b.svc.WriteFile(reader, b.ref, "Users/bob/x", strings.NewReader("x"), true)
	require.Equal(t, http.StatusForbidden, apiErr(t, err).Status)
}

// sasLifetime is how long a SAS is valid from now: its expiry less its
// start, which is backdated by five minutes for clock skew.
func sasLifetime(t *testing.T, q url.Values) time.Duration {
	t.Helper()
	st, err := time.Parse(time.RFC3339, q.Get("st"))
	require.NoError(t, err)
	se, err := time.Parse(time.RFC3339, q.Get("se"))
	require.NoError(t, err)
	return se.Sub(st) - 5*time.Minute
}

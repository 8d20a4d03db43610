package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/protocol"
)

// TestSDKCloudMetadata creates a workspace with azure-ai-ml 1.28 and no
// intercepting proxy: `mlw env` exports ARM_CLOUD_METADATA_URL, the SDK
// takes this server as its cloud, and workspaces.begin_create sends its
// ARM deployment here (TestSDKThroughProxy does it for 1.4.0, which always
// goes to management.azure.com).
func TestSDKCloudMetadata(t *testing.T) {
	t.Parallel()
	RequireSDK128(t)
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
	out := s.RunPython(t, s.PythonEnv128(t), "testdata/sdk_cloud/sdk_cloud.py", s.Subscription, "rg1")
	require.Contains(t, out, "SDK CLOUD OK", out)
	require.Regexp(t, `method=PUT path=/subscriptions/\S+/providers/Microsoft.Resources/deployments/ws-cloud-\d+ status=201`, s.Log())
}

// TestCloudMetadata reads the cloud metadata document as its clients do,
// without a token: azure-ai-ml 1.28 and azure-cli with
// ARM_CLOUD_METADATA_URL (2019-05-01: a list of clouds), `az cloud
// register --endpoint-resource-manager` (2015-01-01, one object, at
// <resource manager>/metadata/endpoints, so with a double slash), and the
// newer api-versions (one cloud).
func TestCloudMetadata(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	get := func(path string) *Response {
		req := s.NewRequest(t, http.MethodGet, s.URL+path, nil)
		req.Header.Del("Authorization")
		r := s.Send(t, req)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		return r
	}
	checkCloud := func(c map[string]any) {
		t.Helper()
		require.Equal(t, protocol.CloudName, c["name"])
		require.Equal(t, s.URL+"/", c["resourceManager"])
		require.Equal(t, s.URL, c["portal"])
		auth := c["authentication"].(map[string]any)
		require.Equal(t, s.URL+"/", auth["loginEndpoint"])
		require.Equal(t, s.URL+"/", auth["audiences"].([]any)[0])
		require.Equal(t, "core.windows.net", c["suffixes"].(map[string]any)["storage"])
	}

	var clouds []map[string]any
	get(strings.TrimPrefix(protocol.CloudMetadataURL(s.URL), s.URL)).Decode(t, &clouds)
	require.Len(t, clouds, 1)
	checkCloud(clouds[0])
	// azure-ai-ml picks the cloud whose resource manager is in the URL.
	require.Contains(t, protocol.CloudMetadataURL(s.URL), clouds[0]["resourceManager"])

	for _, v := range []string{"2015-01-01", "2022-09-01", "2023-11-01"} {
		var c map[string]any
		get("//metadata/endpoints?api-version="+v).Decode(t, &c)
		checkCloud(c)
		require.Equal(t, s.URL+"/", c["galleryEndpoint"], "az cloud register reads the 2015 keys")
		require.Equal(t, s.URL+"/", c["graphEndpoint"])
	}

	var env api.PythonEnv
	s.MustRunJSON(t, &env, "env")
	require.Equal(t, protocol.CloudMetadataURL(s.URL), env.Vars["ARM_CLOUD_METADATA_URL"])
}

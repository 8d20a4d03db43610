package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkspaceLifecycle is the first thing a user does: a group, a
// workspace in it, the config.json for the SDK, and deleting it all.
func TestWorkspaceLifecycle(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})

	var g map[string]any
	s.MustRunJSON(t, &g, "group", "create", "--name", "rg1", "--location", "eastus", "--tags", "team=ml")
	require.Equal(t, "rg1", g["name"])
	require.Equal(t, "/subscriptions/"+s.Subscription+"/resourceGroups/rg1", g["id"])
	require.Equal(t, map[string]any{"team": "ml"}, g["tags"])

	var ws map[string]any
	s.MustRunJSON(t, &ws, "workspace", "create", "-n", "ws1", "-g", "rg1", "--description", "lab workspace")
	require.Equal(t, "ws1", ws["name"])
	require.Equal(t, "eastus", ws["location"], "a workspace defaults to its group's location")
	require.Equal(t, "lab workspace", ws["description"])
	require.Equal(t, "Succeeded", ws["provisioning_state"])
	require.Equal(t, "rg1", ws["resource_group"])

	// A group's location comes from --location or the configured default.
	_, stderr, code := s.Run("group", "create", "--name", "rg-loc")
	require.NotZero(t, code)
	require.Contains(t, stderr, "pass --location")
	s.MustRun(t, "configure", "--defaults", "location=westus2")
	s.MustRunJSON(t, &g, "group", "create", "--name", "rg-loc")
	require.Equal(t, "westus2", g["location"])
	s.MustRun(t, "group", "delete", "--name", "rg-loc", "--yes")

	var list []map[string]any
	s.MustRunJSON(t, &list, "workspace", "list")
	require.Len(t, list, 1)
	require.Equal(t, ws["id"], list[0]["id"])
	s.MustRunJSON(t, &list, "workspace", "list", "-g", "rg1")
	require.Len(t, list, 1)

	_, stderr, code = s.Run("workspace", "download-config", "-n", "ws1", "-g", "rg1", "--path", "cfg")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "config.json")
	b, err := os.ReadFile(filepath.Join(s.WorkDir, "cfg", "config.json"))
	require.NoError(t, err)
	var cfg map[string]string
	require.NoError(t, json.Unmarshal(b, &cfg))
	require.Equal(t, map[string]string{"subscription_id": s.Subscription, "resource_group": "rg1", "workspace_name": "ws1"}, cfg)

	s.MustRun(t, "group", "delete", "--name", "rg1", "--yes")
	r := s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1"), nil)
	require.Equal(t, http.StatusNotFound, r.StatusCode, r)
	require.NotEmpty(t, r.Error(t).Message)
	require.Equal(t, http.StatusNotFound, s.Do(t, http.MethodGet, s.GroupPath("rg1"), nil).StatusCode)

	stdout, stderr, code := s.Run("workspace", "show", "-n", "ws1", "-g", "rg1")
	require.NotZero(t, code)
	require.Empty(t, stdout, "errors go to stderr only")
	require.Contains(t, stderr, "ERROR")
	require.Contains(t, stderr, "rg1")
	s.MustRunJSON(t, &list, "workspace", "list")
	require.Empty(t, list)
}

// TestDefaultDatastores: Azure ML SDK uploads look up workspaceblobstore by
// name, and jobs.download uses workspaceartifactstore, so every workspace
// is created with Azure's four default datastores.
func TestDefaultDatastores(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg1", "-l", "westeurope")
	s.MustRun(t, "workspace", "create", "-n", "ws1", "-g", "rg1")

	r := s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1")+"/datastores", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	var page struct {
		Value []struct {
			ID         string         `json:"id"`
			Name       string         `json:"name"`
			Type       string         `json:"type"`
			Properties map[string]any `json:"properties"`
		} `json:"value"`
	}
	r.Decode(t, &page)
	var names []string
	for _, ds := range page.Value {
		names = append(names, ds.Name)
		require.Equal(t, "Microsoft.MachineLearningServices/workspaces/datastores", ds.Type)
		require.Equal(t, s.WorkspacePath("rg1", "ws1")+"/datastores/"+ds.Name, ds.ID)
	}
	slices.Sort(names)
	require.Equal(t, []string{"workspaceartifactstore", "workspaceblobstore", "workspacefilestore", "workspaceworkingdirectory"}, names)

	for _, name := range names {
		r := s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1")+"/datastores/"+name, nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		props := r.JSON(t)["properties"].(map[string]any)
		switch props["datastoreType"] {
		case "AzureBlob":
			// azure-storage-blob appends ".blob.core.windows.net" to the
			// account name; it must lead back to this server (protocol §5.3).
			require.True(t, strings.HasPrefix(props["accountName"].(string), s.Addr()+"/blob/"), props["accountName"])
			require.NotEmpty(t, props["containerName"])
		case "AzureFile":
			require.NotEmpty(t, props["fileShareName"])
		default:
			t.Fatalf("datastore %s has type %v", name, props["datastoreType"])
		}
	}

	// datastores.get_default() asks for isDefault=true and takes the first.
	r = s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1")+"/datastores?count=30&isDefault=true&orderByAsc=false", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r)
	r.Decode(t, &page)
	require.Len(t, page.Value, 1)
	require.Equal(t, "workspaceblobstore", page.Value[0].Name)

	r = s.Do(t, http.MethodGet, s.WorkspacePath("rg1", "ws1")+"/datastores/nosuchstore", nil)
	require.Equal(t, http.StatusNotFound, r.StatusCode, r)
	require.Contains(t, r.Error(t).Message, "nosuchstore")
	require.Contains(t, r.Error(t).Message, "mlw datastore list")

	// The CLI lists and shows them.
	var listed []map[string]any
	s.MustRunJSON(t, &listed, "datastore", "list", "-g", "rg1", "-w", "ws1")
	require.Len(t, listed, 4)
	table := s.MustRun(t, "datastore", "list", "-g", "rg1", "-w", "ws1", "-o", "table")
	require.Regexp(t, `workspaceblobstore\s+AzureBlob\s+\S+\s+\S+\s+true`, table)
	var one map[string]any
	s.MustRunJSON(t, &one, "datastore", "show", "--name", "workspacefilestore", "-g", "rg1", "-w", "ws1")
	require.Equal(t, "azure_file", one["type"])
	s.MustRunREST(t, &one, "datastore", "show", "--name", "workspacefilestore", "-g", "rg1", "-w", "ws1")
	require.Equal(t, "AzureFile", one["properties"].(map[string]any)["datastoreType"])
	_, stderr, code := s.Run("datastore", "show", "--name", "nosuchstore", "-g", "rg1", "-w", "ws1")
	require.NotZero(t, code)
	require.Contains(t, stderr, "nosuchstore")
}

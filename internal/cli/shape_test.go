package cli

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/api"
)

const wsID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1"

func restDoc(t *testing.T, s string) Doc {
	t.Helper()
	var d Doc
	require.NoError(t, json.Unmarshal([]byte(s), &d))
	return d
}

// shapeYAML is what `show -o yaml` prints for a REST document.
func shapeYAML(t *testing.T, d Doc, shape func(Doc) Doc) []byte {
	t.Helper()
	app, out := testApp(t, "yaml", "")
	require.NoError(t, app.printView(d, view{shape: shape}))
	return out.Bytes()
}

// A job as the server renders it (trimmed of properties.mlw).
const restJob = `{
  "id": "` + wsID + `/jobs/j1", "name": "j1", "type": "Microsoft.MachineLearningServices/workspaces/jobs",
  "systemData": {"createdAt": "2026-12-03T09:17:45Z", "createdBy": "admin", "createdByType": "User"},
  "properties": {
    "jobType": "Command", "status": "Completed",
    "codeId": "` + wsID + `/codes/58b6/versions/1",
    "command": "python train.py ${{inputs.lr}} ${{inputs.rows}}",
    "computeId": "` + wsID + `/computes/cpu-cluster",
    "displayName": "cli job", "experimentName": "cli-e2e", "description": "first",
    "environmentId": "` + wsID + `/environments/local-python/versions/3",
    "environmentVariables": {"GREETING": "hi"},
    "inputs": {"lr": {"jobInputType": "literal", "value": "0.01"},
               "rows": {"jobInputType": "uri_file", "mode": "Download", "uri": "azureml://datastores/workspaceblobstore/paths/LocalUpload/4a11/rows.csv"}},
    "outputs": {"default": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount", "uri": "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.j1", "description": null},
                "model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount", "uri": "azureml://datastores/workspaceblobstore/paths/azureml/j1/model/"},
                "kept": {"jobOutputType": "uri_file", "mode": "Upload", "uri": "azureml://datastores/workspaceblobstore/paths/mine/kept.txt"}},
    "limits": {"jobLimitsType": "Command", "timeout": "PT3630S"},
    "resources": {"instanceCount": 2, "properties": {}, "shmSize": "2g"},
    "distribution": {"distributionType": "PyTorch", "processCountPerInstance": 2},
    "identity": {"identityType": "AMLToken"},
    "parameters": {}, "properties": {"p": "1"}, "tags": {"a": "b"},
    "services": {"Studio": {"jobServiceType": "Studio", "endpoint": "https://h/studio/runs/j1", "status": null, "errorMessage": null},
                 "Tracking": {"jobServiceType": "Tracking", "endpoint": "azureml://h/mlflow", "status": null, "errorMessage": null},
                 "ssh": {"jobServiceType": "SSH", "port": 22, "nodes": {"nodesValueType": "All"}}},
    "mlw": {"reason": "Completed."}
  }
}`

// TestJobShape: the fields az ml job show prints, with references as a
// job file writes them.
func TestJobShape(t *testing.T) {
	got := jobShape(restDoc(t, restJob))
	require.Equal(t, "j1", got["name"])
	require.Equal(t, "command", got["type"])
	require.Equal(t, "Completed", got["status"])
	require.Equal(t, "azureml:cpu-cluster", got["compute"])
	require.Equal(t, "azureml:local-python:3", got["environment"])
	require.Equal(t, "azureml:"+wsID+"/codes/58b6/versions/1", got["code"])
	require.Equal(t, "azureml:"+wsID+"/jobs/j1", got["id"])
	require.Equal(t, "cli-e2e", got["experiment_name"])
	require.Equal(t, "cli job", got["display_name"])
	require.Equal(t, "0.01", lookup(got, "inputs.lr"))
	require.Equal(t, "download", lookup(got, "inputs.rows.mode"))
	require.Equal(t, "rw_mount", lookup(got, "outputs.model.mode"))
	require.Equal(t, 2.0, lookup(got, "resources.instance_count"))
	require.Equal(t, "pytorch", lookup(got, "distribution.type"))
	require.Equal(t, int64(3630), lookup(got, "limits.timeout"))
	require.Equal(t, "aml_token", lookup(got, "identity.type"))
	require.Equal(t, "admin", lookup(got, "creation_context.created_by"))
	require.Equal(t, "Studio", lookup(got, "services.Studio.job_service_type"))
	require.Equal(t, "all", lookup(got, "services.ssh.nodes"))
	require.Nil(t, got["mlw"])
	require.Nil(t, got["properties.status"])

	curated := restDoc(t, restJob)
	curated["properties"].(Doc)["environmentId"] = "azureml:AzureML-sklearn-1.5@latest"
	require.Equal(t, "azureml:AzureML-sklearn-1.5@latest", jobShape(curated)["environment"])
}

// TestJobShowRoundTrip: what `job show -o yaml` prints, submitted under
// a new name, is the same job: the server's own parts (status, the Studio
// and Tracking services, the artifacts output, the old job's output
// locations) are left out.
func TestJobShowRoundTrip(t *testing.T) {
	rest := restDoc(t, restJob)
	f, err := api.ParseJobFile("j.yml", shapeYAML(t, rest, jobShape), t.TempDir(), api.JobFileOptions{Name: "j2"})
	require.NoError(t, err)
	require.Equal(t, "j2", f.Name)
	require.Equal(t, "cpu-cluster", f.Compute)
	require.Equal(t, "azureml:"+wsID+"/codes/58b6/versions/1", f.CodeRef)
	require.Equal(t, api.EnvironmentRef{Raw: "azureml:local-python:3", Name: "local-python", Version: "3"}, f.Environment)

	got, err := json.Marshal(f.Job.Properties)
	require.NoError(t, err)
	var gotDoc Doc
	require.NoError(t, json.Unmarshal(got, &gotDoc))
	want := rest["properties"].(Doc)
	for _, k := range []string{"command", "displayName", "experimentName", "description", "environmentVariables", "limits", "resources", "distribution", "identity", "tags", "properties", "inputs"} {
		require.Equal(t, want[k], gotDoc[k], k)
	}
	outputs := want["outputs"].(map[string]any)
	delete(outputs, "default")
	delete(outputs["model"].(map[string]any), "uri") // j2 gets its own
	require.Equal(t, outputs, gotDoc["outputs"])
	require.Equal(t, map[string]any{"ssh": map[string]any{"jobServiceType": "SSH", "port": 22.0, "nodes": map[string]any{"nodesValueType": "All"}}}, gotDoc["services"])
}

const restCluster = `{
  "id": "` + wsID + `/computes/cpu-cluster", "name": "cpu-cluster", "location": "eastus", "tags": {"team": "ml"},
  "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
  "properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded", "createdOn": "2026-12-03T09:17:42Z", "description": "lab",
    "properties": {"vmSize": "STANDARD_DS11_V2", "vmPriority": "LowPriority", "osType": "Linux",
      "scaleSettings": {"minNodeCount": 1, "maxNodeCount": 3, "nodeIdleTimeBeforeScaleDown": "PT2M"},
      "remoteLoginPortPublicAccess": "Disabled", "enableNodePublicIp": false, "subnet": {"id": "/subnets/default"},
      "allocationState": "Steady", "currentNodeCount": 1}}
}`

// TestClusterShowRoundTrip: compute show's YAML of a cluster is created
// again with the same spec.
func TestClusterShowRoundTrip(t *testing.T) {
	rest := restDoc(t, restCluster)
	shaped := computeShape(rest)
	require.Equal(t, "amlcompute", shaped["type"])
	require.Equal(t, "low_priority", shaped["tier"])
	require.Equal(t, int64(120), shaped["idle_time_before_scale_down"])
	require.Equal(t, 3.0, shaped["max_instances"])
	require.Equal(t, false, shaped["ssh_public_access_enabled"])
	require.Equal(t, "Succeeded", shaped["provisioning_state"])

	body, err := clusterFromYAML("c.yml", shapeYAML(t, rest, computeShape))
	require.NoError(t, err)
	got := body["properties"].(Doc)["properties"].(Doc)
	want := rest["properties"].(Doc)["properties"].(map[string]any)
	require.Equal(t, want["vmSize"], got["vmSize"])
	require.Equal(t, want["vmPriority"], got["vmPriority"])
	require.Equal(t, want["remoteLoginPortPublicAccess"], got["remoteLoginPortPublicAccess"])
	require.Equal(t, want["enableNodePublicIp"], got["enableNodePublicIp"])
	require.Equal(t, Doc{"id": "/subnets/default"}, got["subnet"])
	require.Equal(t, Doc{"minNodeCount": 1, "maxNodeCount": 3, "nodeIdleTimeBeforeScaleDown": "PT120S"}, got["scaleSettings"])
	require.Equal(t, "lab", body["properties"].(Doc)["description"])
	require.Equal(t, map[string]string{"team": "ml"}, body["tags"])
}

const restInstance = `{
  "id": "` + wsID + `/computes/ci-1", "name": "ci-1", "location": "eastus",
  "properties": {"computeType": "ComputeInstance", "provisioningState": "Succeeded",
    "properties": {"vmSize": "STANDARD_DS11_V2", "state": "Running", "idleTimeBeforeShutdown": "PT30M",
      "sshSettings": {"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": 50000, "adminPublicKey": "ssh-ed25519 AAAA me"},
      "lastOperation": {"operationName": "Create", "operationStatus": "Succeeded", "operationTrigger": "User"},
      "applications": [{"displayName": "Jupyter", "endpointUri": "https://h/jupyter/tree"}],
      "connectivityEndpoints": {"privateIpAddress": "127.0.0.1", "publicIpAddress": "127.0.0.1"},
      "personalComputeInstanceSettings": {"assignedUser": {"objectId": "bob", "tenantId": "t"}},
      "setupScripts": {"scripts": {"creationScript": {"scriptSource": "workspaceStorage", "scriptData": "Users/me/setup.sh", "timeout": "10m"}}},
      "schedules": {"computeStartStop": [
        {"action": "Stop", "status": "Enabled", "triggerType": "Cron", "cron": {"expression": "0 18 * * *", "startTime": "2021-03-10T21:21:07", "timeZone": "Pacific Standard Time"}},
        {"action": "Start", "status": "Disabled", "triggerType": "Recurrence", "recurrence": {"frequency": "Day", "interval": 1, "startTime": "2021-03-10T08:00:00", "timeZone": "UTC", "schedule": {"hours": [8], "minutes": [0], "weekDays": ["Monday"]}}}]}}}
}`

// TestInstanceShowRoundTrip: compute show's YAML of an instance is
// created again with the same spec.
func TestInstanceShowRoundTrip(t *testing.T) {
	rest := restDoc(t, restInstance)
	shaped := computeShape(rest)
	require.Equal(t, "computeinstance", shaped["type"])
	require.Equal(t, "Running", shaped["state"])
	require.Equal(t, int64(30), shaped["idle_time_before_shutdown_minutes"])
	require.Equal(t, "Jupyter", lookup(shaped, "services").([]any)[0].(Doc)["display_name"])

	body, err := instanceFromYAML("ci.yml", shapeYAML(t, rest, computeShape))
	require.NoError(t, err)
	got := body["properties"].(Doc)["properties"].(Doc)
	want := rest["properties"].(Doc)["properties"].(map[string]any)
	require.Equal(t, want["vmSize"], got["vmSize"])
	require.Equal(t, "PT30M", got["idleTimeBeforeShutdown"])
	require.Equal(t, Doc{"sshPublicAccess": "Enabled", "adminPublicKey": "ssh-ed25519 AAAA me"}, got["sshSettings"])
	require.Equal(t, Doc{"assignedUser": Doc{"objectId": "bob", "tenantId": "t"}}, got["personalComputeInstanceSettings"])
	require.Equal(t, Doc{"scripts": Doc{"creationScript": Doc{"scriptSource": "workspaceStorage", "scriptData": "Users/me/setup.sh", "timeout": "10m"}}}, got["setupScripts"])
	b, err := json.Marshal(got["schedules"])
	require.NoError(t, err)
	wantSched, err := json.Marshal(want["schedules"])
	require.NoError(t, err)
	require.JSONEq(t, string(wantSched), string(b))
}

// TestOtherShapes: workspaces, environments, models, datastores and nodes.
func TestOtherShapes(t *testing.T) {
	ws := workspaceShape(restDoc(t, `{"id": "`+wsID+`", "name": "ws1", "location": "eastus",
		"identity": {"type": "SystemAssigned", "principalId": "p"},
		"properties": {"friendlyName": "Lab", "description": "d", "storageAccount": "/sa", "mlFlowTrackingUri": "azureml://m", "hbiWorkspace": false}}`))
	require.Equal(t, Doc{"name": "ws1", "id": wsID, "location": "eastus", "resource_group": "rg", "display_name": "Lab", "description": "d",
		"storage_account": "/sa", "mlflow_tracking_uri": "azureml://m", "hbi_workspace": false,
		"identity": Doc{"type": "system_assigned", "principal_id": "p"}}, ws)

	env := envVersionShape(restDoc(t, `{"id": "`+wsID+`/environments/my-env/versions/2", "name": "2",
		"systemData": {"createdBy": "admin"},
		"properties": {"image": "img", "condaFile": "dependencies:\n  - python=3.11\n", "osType": "Linux", "tags": {"k": "v"}}}`))
	require.Equal(t, Doc{"name": "my-env", "version": "2", "id": "azureml:" + wsID + "/environments/my-env/versions/2", "image": "img",
		"conda_file": map[string]any{"dependencies": []any{"python=3.11"}}, "os_type": "linux", "tags": map[string]any{"k": "v"},
		"creation_context": Doc{"created_by": "admin"}}, env)

	c := envContainerShape(restDoc(t, `{"id": "`+wsID+`/environments/my-env", "name": "my-env", "properties": {"latestVersion": "2"}}`))
	require.Equal(t, Doc{"name": "my-env", "id": "azureml:" + wsID + "/environments/my-env", "latest_version": "2"}, c)

	mv := modelVersionShape(restDoc(t, `{"id": "`+wsID+`/models/diabetes/versions/3", "name": "3",
		"properties": {"modelType": "mlflow_model", "modelUri": "azureml://jobs/j1/outputs/artifacts/paths/model", "stage": "None",
		"jobName": "j1", "tags": {}, "properties": {}, "isArchived": false,
		"flavors": {"sklearn": {"data": {"sklearn_version": "1.5.1"}}}}}`))
	require.Equal(t, Doc{"name": "diabetes", "version": "3", "id": "azureml:" + wsID + "/models/diabetes/versions/3", "type": "mlflow_model",
		"path": "azureml://jobs/j1/outputs/artifacts/paths/model", "stage": "None", "job_name": "j1",
		"flavors": Doc{"sklearn": map[string]any{"sklearn_version": "1.5.1"}}}, mv)
	mc := modelContainerShape(restDoc(t, `{"id": "`+wsID+`/models/diabetes", "name": "diabetes", "properties": {"latestVersion": "3", "description": "d"}}`))
	require.Equal(t, Doc{"name": "diabetes", "id": "azureml:" + wsID + "/models/diabetes", "latest_version": "3", "description": "d"}, mc)

	ds := datastoreShape(restDoc(t, `{"id": "`+wsID+`/datastores/workspacefilestore", "name": "workspacefilestore",
		"properties": {"datastoreType": "AzureFile", "accountName": "acct", "fileShareName": "share", "endpoint": "core.windows.net", "protocol": "https"}}`))
	require.Equal(t, "azure_file", ds["type"])
	require.Equal(t, "share", ds["file_share_name"])

	n := nodeShape(restDoc(t, `{"nodeId": "tvm-1", "nodeState": "running", "port": 50000, "privateIpAddress": "127.0.0.1", "runId": "j1"}`))
	require.Equal(t, Doc{"node_id": "tvm-1", "node_state": "running", "port": 50000.0, "private_ip_address": "127.0.0.1", "current_job_name": "j1"}, n)

	var back map[string]any
	require.NoError(t, yaml.Unmarshal(shapeYAML(t, restDoc(t, restJob), jobShape), &back))
	require.Equal(t, "azureml:cpu-cluster", back["compute"])
}

func TestISOSeconds(t *testing.T) {
	for in, want := range map[string]int64{"PT600S": 600, "PT1H30S": 3630, "PT2M": 120, "P1DT1M": 86460, "pt5m": 300} {
		got, ok := isoSeconds(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "P", "PT", "600", "PT5X"} {
		_, ok := isoSeconds(in)
		require.False(t, ok, in)
	}
}

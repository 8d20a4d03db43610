package resource

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

func TestComputeSpecOfCluster(t *testing.T) {
	c := &Object{Spec: json.RawMessage(`{"location":"eastus","sku":{"name":"x"},"properties":{"computeType":"AmlCompute","description":"d",
		"properties":{"vmSize":"standard_ds11_v2","vmPriority":"LowPriority","propertyBag":{"a":1},
		"scaleSettings":{"maxNodeCount":3,"minNodeCount":1,"nodeIdleTimeBeforeScaleDown":"PT5M"}}}}`)}
	s, err := ComputeSpecOf(c)
	require.NoError(t, err)
	require.Equal(t, AmlCompute, s.Type)
	require.Equal(t, "eastus", s.Location)
	require.Equal(t, "Standard_DS11_v2", s.Size.Name)
	require.Nil(t, s.Instance)
	require.Equal(t, &ClusterSpec{Scale: ScaleSettings{Min: 1, Max: 3, IdleTime: 5 * time.Minute}, LowPriority: true}, s.Cluster)
	// What mlw does not read stays in the document, to be echoed.
	require.Equal(t, map[string]any{"name": "x"}, s.Doc["sku"])
	require.Contains(t, NestedProps(s.Doc), "propertyBag")
}

func TestComputeSpecOfInstance(t *testing.T) {
	c := &Object{Spec: json.RawMessage(`{"properties":{"computeType":"ComputeInstance","properties":{"vmSize":"STANDARD_DS11_V2",
		"idleTimeBeforeShutdown":"PT30M","subnet":{"id":"/sub/x"},
		"sshSettings":{"sshPublicAccess":"Enabled","adminPublicKey":"ssh-ed25519 AAAA"},
		"setupScripts":{"scripts":{"creationScript":{"scriptSource":"workspaceStorage","scriptData":"Users/a/s.sh"}}},
		"schedules":{"computeStartStop":[{"action":"Stop","triggerType":"Cron","cron":{"expression":"0 18 * * *","timeZone":"UTC"}}]}}}}`)}
	s, err := ComputeSpecOf(c)
	require.NoError(t, err)
	require.Nil(t, s.Cluster)
	in := s.Instance
	require.Equal(t, 30*time.Minute, in.IdleShutdown)
	require.Equal(t, "/sub/x", in.Subnet)
	require.True(t, in.SSH)
	require.Equal(t, "ssh-ed25519 AAAA", in.SSHKey)
	require.Equal(t, "Users/a/s.sh", in.Creation.Path)
	require.Nil(t, in.Startup)
	require.Len(t, in.Schedules, 1)
}

func TestComputeSpecErrorsNameTheField(t *testing.T) {
	for body, field := range map[string]string{
		`{"properties":{"computeType":"AmlCompute","properties":{"vmSize":"nope","scaleSettings":{"maxNodeCount":1}}}}`:               "properties.properties.vmSize",
		`{"properties":{"computeType":"AmlCompute","properties":{"scaleSettings":{"maxNodeCount":1}}}}`:                               "properties.properties.vmSize",
		`{"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS11_V2"}}}`:                                      "properties.properties.scaleSettings.maxNodeCount",
		`{"properties":{"computeType":"ComputeInstance","properties":{"vmSize":"STANDARD_DS11_V2","subnet":"x"}}}`:                    "properties.properties.subnet",
		`{"properties":{"computeType":"ComputeInstance","properties":{"vmSize":"STANDARD_DS11_V2","idleTimeBeforeShutdown":"PT1M"}}}`: "properties.properties.idleTimeBeforeShutdown",
		`{"properties":{"computeType":"SynapseSpark","properties":{"vmSize":"STANDARD_DS11_V2"}}}`:                                    "properties.computeType",
	} {
		_, err := ComputeSpecOf(&Object{Spec: json.RawMessage(body)})
		var apiErr *core.Error
		require.ErrorAs(t, err, &apiErr, body)
		require.Equal(t, field, apiErr.Target, body)
	}
}

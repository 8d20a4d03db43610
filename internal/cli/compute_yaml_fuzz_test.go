package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzComputeYAML: a compute YAML file is either refused with an error
// that names the file, or gives a REST body of the right computeType that
// encodes to JSON, for clusters and instances alike.
func FuzzComputeYAML(f *testing.F) {
	common := "name: c1\ndescription: lab compute\nlocation: westus2\ntags: {team: ml}\nidentity: {type: system_assigned}\nnetwork_settings: {vnet_name: v, subnet: /subnets/default}\n"
	for _, doc := range []string{
		common + "type: amlcompute\nsize: STANDARD_DS11_V2\nmin_instances: 0\nmax_instances: 2\nidle_time_before_scale_down: 120\ntier: low_priority\n",
		common + "type: computeinstance\nsize: STANDARD_DS11_V2\nidle_time_before_shutdown_minutes: 30\n",
		"type: computeinstance\nschedules: {compute_start_stop: [{action: stop, trigger: {type: cron, expression: '0 18 * * *', time_zone: UTC}}]}\n",
		"type: computeinstance\nsetup_scripts: {creation_script: {path: Users/admin/setup.sh, timeout_minutes: 10}, startup_script: {command: echo hi}}\n",
		"type: amlcompute\nssh_public_access_enabled: true\nssh_settings: {admin_username: azureuser, ssh_key_value: ssh-ed25519 AAAA}\n",
		"identity: {type: user_assigned, user_assigned_identities: [{resource_id: x, 1: 2}]}\n", "tier: gold\n", "max_instancs: 2\n",
		"", "- x", "{", "tags: {a: [1]}\n", "min_instances: -1\nmax_instances: 99999999999999999999\n", "idle_time_before_scale_down: 9223372036854775807\n",
	} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, tc := range []struct {
			file, computeType string
			read              func(string, []byte) (Doc, error)
		}{{"cluster.yml", "AmlCompute", clusterFromYAML}, {"instance.yml", "ComputeInstance", instanceFromYAML}} {
			body, err := tc.read(tc.file, []byte(doc))
			if err != nil {
				if !strings.HasPrefix(err.Error(), tc.file+": ") {
					t.Fatalf("%s %q: the error does not name the file: %v", tc.file, doc, err)
				}
				continue
			}
			p, ok := body["properties"].(Doc)
			if !ok || p["computeType"] != tc.computeType {
				t.Fatalf("%s %q: body %v has no computeType %s", tc.file, doc, body, tc.computeType)
			}
			if _, err := json.Marshal(body); err != nil {
				t.Fatalf("%s %q: the body does not encode to JSON: %v", tc.file, doc, err)
			}
		}
	})
}

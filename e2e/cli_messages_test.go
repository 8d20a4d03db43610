package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLIMessages: what a user sees for files mlw cannot use, as they
// write them: the field of the file (and its line), or the flag, and what
// is not supported yet, named.
func TestCLIMessages(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	s.MustRun(t, "group", "create", "-n", "rg-msg", "-l", "eastus")
	s.MustRun(t, "workspace", "create", "-n", "ws-msg", "-g", "rg-msg")
	s.MustRun(t, "configure", "--defaults", "group=rg-msg", "workspace=ws-msg")
	write := func(name, body string) string {
		p := filepath.Join(s.WorkDir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"size from a file names the field and line",
			[]string{"compute", "create", "--file", write("c1.yml", "name: c1\ntype: amlcompute\nsize: STANDARD_NOPE\nmax_instances: 2\n")},
			`c1.yml: line 3: size: (BadRequest) The VM size "STANDARD_NOPE" is not available`},
		{"size from a flag names the flag",
			[]string{"compute", "create", "--name", "c2", "--type", "AmlCompute", "--size", "STANDARD_NOPE"},
			`ERROR: --size STANDARD_NOPE: (BadRequest) The VM size "STANDARD_NOPE" is not available`},
		{"a YAML type error names the field and line",
			[]string{"compute", "create", "--file", write("c3.yml", "name: c3\ntype: amlcompute\nsize: STANDARD_DS11_V2\nmax_instances: two\n")},
			`c3.yml: line 4: max_instances: expected a number, not "two"`},
		{"a sweep job",
			[]string{"job", "create", "--file", write("sweep.yml", "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntype: sweep\ntrial:\n  code: src\n  command: python train.py --lr ${{search_space.lr}}\n  environment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:cpu-cluster\nsampling_algorithm: random\nsearch_space:\n  lr: {type: uniform, min_value: 0.01, max_value: 0.1}\nobjective: {goal: maximize, primary_metric: AUC}\nlimits: {max_total_trials: 4}\n")},
			"sweep.yml: line 2: type: sweep jobs are not supported yet; mlw runs command jobs (type: command)"},
		{"a pipeline job",
			[]string{"job", "create", "--file", write("pipeline.yml", "type: pipeline\njobs:\n  prep:\n    type: command\n    command: echo prep\n")},
			"pipeline.yml: line 1: type: pipeline jobs are not supported yet"},
		{"a component file",
			[]string{"job", "create", "--file", write("component.yml", "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\nname: prep_data\ndisplay_name: Prepare training data\nversion: 1\ntype: command\ncommand: python prep-data.py\nenvironment: azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest\n")},
			"component.yml: line 1: $schema: this is a command component, not a job: components are not supported yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := s.Run(tc.args...)
			require.NotZero(t, code)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.want)
			require.NotContains(t, stderr, "properties.properties")
			require.NotContains(t, stderr, "not a known field")
			require.NotContains(t, stderr, "cannot unmarshal")
		})
	}
	require.Equal(t, "[]\n", s.MustRun(t, "compute", "list", "-o", "json"), "nothing was created")
}

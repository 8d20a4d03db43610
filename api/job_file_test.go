package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// jobDir is a folder with what job files refer to: src/ (code),
// data.csv, data/ and conda.yml.
func jobDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "src", "train.py"), []byte("print('hi')\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "a.csv"), []byte("a\n1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.csv"), []byte("a\n1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conda.yml"), []byte("dependencies:\n  - python=3.11\n  - pip:\n    - mlflow\n"), 0o644))
	return dir
}

func TestJobFileMapping(t *testing.T) {
	t.Parallel()
	dir := jobDir(t)
	const full = `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: train_1
display_name: diabetes-train
experiment_name: diabetes-training
description: Train a model.
tags: {team: ml, version: 2}
properties: {origin: test}
code: src
command: >-
  python train.py --data ${{inputs.training_data}} --lr ${{inputs.lr}}
  --out ${{outputs.model}} $[[--opt ${{inputs.missing_optional}}]]
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:aml-cluster
environment_variables: {DEBUG: 1, MODE: fast}
inputs:
  training_data:
    type: uri_file
    path: data.csv
  folder:
    type: uri_folder
    path: ./data
    mode: download
  remote:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/datasets/diabetes/
  lr: 0.01
  epochs: {type: integer, default: 5}
  flag: true
outputs:
  model:
    type: mlflow_model
    mode: upload
    name: diabetes-model
  plain:
  stored:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/results/
resources:
  instance_count: 2
  shm_size: 2g
distribution:
  type: pytorch
  process_count_per_instance: 1
limits:
  timeout: 3600
identity:
  type: managed
  client_id: abc
queue_settings: {job_tier: standard}
`
	f, err := ParseJobFile("job.yml", []byte(full), dir, JobFileOptions{WorkDir: "/home/u/labs"})
	require.NoError(t, err)
	require.Equal(t, "train_1", f.Name)
	require.Equal(t, "aml-cluster", f.Compute)
	require.Equal(t, filepath.Join(dir, "src"), f.Code)
	require.Equal(t, "azureml:AzureML-sklearn-1.5@latest", f.Environment.ID)
	require.Equal(t, map[string]string{"training_data": filepath.Join(dir, "data.csv"), "folder": filepath.Join(dir, "data")}, f.LocalInputs)
	require.Equal(t, map[string]string{"workspaceblobstore": "outputs.stored.path"}, map[string]string{"workspaceblobstore": f.Datastores["workspaceblobstore"]})

	got, err := json.Marshal(f.Job)
	require.NoError(t, err)
	want := `{"properties":{
	  "jobType":"Command",
	  "command":"python train.py --data ${{inputs.training_data}} --lr ${{inputs.lr}} --out ${{outputs.model}} $[[--opt ${{inputs.missing_optional}}]]",
	  "displayName":"diabetes-train","experimentName":"diabetes-training","description":"Train a model.","isArchived":false,
	  "tags":{"team":"ml","version":"2"},"properties":{"origin":"test"},
	  "environmentVariables":{"DEBUG":"1","MODE":"fast"},
	  "inputs":{
	    "epochs":{"jobInputType":"literal","value":"5"},
	    "flag":{"jobInputType":"literal","value":"true"},
	    "folder":{"jobInputType":"uri_folder","mode":"Download"},
	    "lr":{"jobInputType":"literal","value":"0.01"},
	    "remote":{"jobInputType":"uri_folder","uri":"azureml://datastores/workspaceblobstore/paths/datasets/diabetes/"},
	    "training_data":{"jobInputType":"uri_file"}},
	  "outputs":{
	    "model":{"jobOutputType":"mlflow_model","mode":"Upload","assetName":"diabetes-model"},
	    "plain":{"jobOutputType":"uri_folder"},
	    "stored":{"jobOutputType":"uri_folder","uri":"azureml://datastores/workspaceblobstore/paths/results/"}},
	  "resources":{"instanceCount":2,"properties":{},"shmSize":"2g"},
	  "distribution":{"distributionType":"PyTorch","processCountPerInstance":1},
	  "limits":{"jobLimitsType":"Command","timeout":"PT3600S"},
	  "identity":{"clientId":"abc","identityType":"Managed"},
	  "queueSettings":{"jobTier":"standard"}}}`
	require.JSONEq(t, want, string(got))
}

func TestJobFileDefaults(t *testing.T) {
	t.Parallel()
	dir := jobDir(t)
	f, err := ParseJobFile("job.yml", []byte("command: echo hi\nenvironment: azureml:my-env:3\ncompute: cpu\n"), dir, JobFileOptions{WorkDir: "/home/u/my-project"})
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[a-z]+_[a-z]+_[bcdfghjklmnpqrstvwxyz0-9]{10}$`), f.Name, "a generated name looks like Azure's")
	require.Equal(t, f.Name, f.Job.Properties.DisplayName, "display_name defaults to the name")
	require.Equal(t, "my-project", f.Job.Properties.ExperimentName, "experiment_name defaults to the working folder's name")
	require.Equal(t, EnvironmentRef{Raw: "azureml:my-env:3", Name: "my-env", Version: "3"}, f.Environment)
	require.Empty(t, f.Code)
	require.Nil(t, f.Job.Properties.Resources)

	g, err := ParseJobFile("job.yml", []byte("command: echo hi\nenvironment: azureml:my-env:3\ncompute: cpu\n"), dir, JobFileOptions{Name: "given"})
	require.NoError(t, err)
	require.Equal(t, "given", g.Name)
	require.NotEqual(t, f.Name, GenerateJobName())
}

func TestJobFileSet(t *testing.T) {
	t.Parallel()
	dir := jobDir(t)
	doc := "command: python train.py --lr ${{inputs.lr}}\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: cpu\ninputs:\n  lr: 0.1\n"
	f, err := ParseJobFile("job.yml", []byte(doc), dir, JobFileOptions{Set: []string{
		"inputs.lr=0.5", "environment_variables.SEED=42", "compute=azureml:gpu", "display_name=tuned run", "limits.timeout=60",
	}})
	require.NoError(t, err)
	require.Equal(t, "0.5", f.Job.Properties.Inputs["lr"].Value)
	require.Equal(t, map[string]string{"SEED": "42"}, f.Job.Properties.EnvironmentVariables)
	require.Equal(t, "gpu", f.Compute)
	require.Equal(t, "tuned run", f.Job.Properties.DisplayName)
	require.Equal(t, "PT60S", f.Job.Properties.Limits.Timeout)

	_, err = ParseJobFile("job.yml", []byte(doc), dir, JobFileOptions{Set: []string{"comand=x"}})
	require.EqualError(t, err, "job.yml: --set comand=x: comand: not a known field (check its spelling and indentation)")
	_, err = ParseJobFile("job.yml", []byte(doc), dir, JobFileOptions{Set: []string{"inputs.lr.type=uri_file"}})
	require.ErrorContains(t, err, "job.yml: (from --set) inputs.lr: a uri_file input needs a path")
	_, err = ParseJobFile("job.yml", []byte(doc), dir, JobFileOptions{Set: []string{"novalue"}})
	require.EqualError(t, err, "job.yml: --set novalue: expected key=value, e.g. --set inputs.learning_rate=0.05")
}

func TestJobFileErrors(t *testing.T) {
	t.Parallel()
	dir := jobDir(t)
	const head = "command: python train.py\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:aml-cluster\n"
	tests := []struct {
		name, doc, want string
	}{
		{"misspelled field", "comand: python x.py\nenvironment: e\ncompute: c\n",
			"job.yml: line 1: comand: not a known field (check its spelling and indentation)"},
		{"wrong type", head + "resources:\n  instance_count: two\n",
			`job.yml: line 5: resources.instance_count: expected a number, not "two"`},
		{"wrong type in a sub-mapping", head + "inputs:\n  data:\n    type: uri_file\n    optional: maybe\n",
			`job.yml: line 7: inputs.data.optional: expected true or false, not "maybe"`},
		{"list for text", head + "display_name: [a, b]\n", "job.yml: line 4: display_name: expected text, not a list"},
		{"nested typo", head + "resources:\n  instnce_count: 2\n", "job.yml: line 5: resources.instnce_count: not a known field (check its spelling and indentation)"},
		{"bad indentation", "command: x\n  environment: y\n", "job.yml: line 2: mapping values are not allowed in this context"},
		{"not a mapping", "- command: x\n", "job.yml: line 1: a job file is a mapping of fields (command: …, environment: …), not a list"},
		{"empty", "", "job.yml: the file is empty; a command job needs at least command, environment and compute"},
		{"no command", "environment: e:1\ncompute: c\n", "job.yml: command: a command job needs a command, e.g. command: python train.py"},
		{"no environment", "command: x\ncompute: c\n", "job.yml: environment: a command job needs an environment, e.g. environment: azureml:AzureML-sklearn-1.5@latest"},
		{"no compute", "command: x\nenvironment: azureml:AzureML-sklearn-1.5@latest\n", "job.yml: compute: a command job needs a compute target, e.g. compute: azureml:aml-cluster (see `mlw compute list`)"},
		{"env without version", "command: x\nenvironment: azureml:my-env\ncompute: c\n",
			`job.yml: line 2: environment: "azureml:my-env" needs a version or a label: write azureml:my-env:<version> or azureml:my-env@latest`},
		{"env bad label", "command: x\nenvironment: my-env@prod\ncompute: c\n",
			`job.yml: line 2: environment: "my-env@prod": the only environment label is latest (write my-env@latest)`},
		{"pipeline job", "type: pipeline\njobs:\n  train:\n    type: command\n", `job.yml: line 1: type: pipeline jobs are not supported yet; mlw runs command jobs (type: command)`},
		{"sweep job", "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntype: sweep\ntrial:\n  command: python train.py\nsampling_algorithm: random\n" + "compute: c\n",
			`job.yml: line 2: type: sweep jobs are not supported yet; mlw runs command jobs (type: command)`},
		{"unknown job type", "type: fancy\n" + head, `job.yml: line 1: type: "fancy" is not a job type mlw runs: mlw runs command jobs (type: command)`},
		{"component file", "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\nname: prep_data\nversion: 1\ntype: command\ncommand: python prep.py\nenvironment: azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest\n",
			"job.yml: line 1: $schema: this is a command component, not a job: components are not supported yet. mlw runs command jobs: write a job file (commandJob.schema.json) with the component's command, code, environment and inputs, and a compute"},
		{"component file without schema", "name: prep_data\nversion: 1\ntype: command\ncommand: python prep.py\n",
			"job.yml: line 2: version: this is a command component, not a job: components are not supported yet. mlw runs command jobs: write a job file (commandJob.schema.json) with the component's command, code, environment and inputs, and a compute"},
		{"missing code", head + "code: ./nope\n", "job.yml: line 4: code: the code folder ./nope does not exist (paths are relative to the job file's folder, " + dir + ")"},
		{"undefined input", "command: python x.py --lr ${{inputs.lr}}\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: c\n",
			"job.yml: line 1: command: ${{inputs.lr}} refers to an input that is not defined under inputs"},
		{"undefined output", "command: python x.py --out ${{outputs.model}}\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: c\n",
			"job.yml: line 1: command: ${{outputs.model}} refers to an output that is not defined under outputs"},
		{"input typo", head + "inputs:\n  data:\n    type: uri_file\n    pth: data.csv\n",
			"job.yml: line 7: inputs.data.pth: not a known field (check its spelling and indentation); the fields here are type, path, mode, datastore, description, optional, value, default, path_on_compute"},
		{"input type", head + "inputs:\n  data:\n    type: csv\n    path: data.csv\n",
			`job.yml: line 6: inputs.data.type: "csv" is not an input type: use uri_file, uri_folder, mltable, custom_model, mlflow_model or triton_model (or give a plain value)`},
		{"input mode", head + "inputs:\n  data:\n    type: uri_file\n    path: data.csv\n    mode: rw_mount\n",
			`job.yml: line 8: inputs.data.mode: "rw_mount" is not an input mode: use ro_mount, download or direct`},
		{"missing local input", head + "inputs:\n  data:\n    type: uri_file\n    path: nope.csv\n",
			"job.yml: line 7: inputs.data.path: the local path nope.csv does not exist (paths are relative to the job file's folder, " + dir + ")"},
		{"file as folder", head + "inputs:\n  data:\n    type: uri_folder\n    path: data.csv\n",
			"job.yml: line 7: inputs.data.path: data.csv is a file; use type: uri_file, or name a folder"},
		{"folder as file", head + "inputs:\n  data:\n    type: uri_file\n    path: data\n",
			"job.yml: line 7: inputs.data.path: data is a folder; use type: uri_folder, or name a file"},
		{"null input", head + "inputs:\n  lr:\n", "job.yml: line 5: inputs.lr: the input has no value"},
		{"bad input name", head + "inputs:\n  my-data: 1\n", "job.yml: line 5: inputs.my-data: input names are letters, digits and underscores, starting with a letter or underscore"},
		{"local output", head + "outputs:\n  model:\n    type: uri_folder\n    path: ./out\n",
			"job.yml: line 7: outputs.model.path: an output path must be a datastore location, azureml://datastores/<datastore>/paths/<path>; local outputs are not uploaded (write to ./outputs instead, and download with `mlw job download`)"},
		{"instance count", head + "resources:\n  instance_count: 0\n", "job.yml: line 5: resources.instance_count: must be at least 1, not 0"},
		{"distribution", head + "distribution:\n  type: horovod\n", `job.yml: line 5: distribution.type: "horovod" is not a distribution type: use mpi, pytorch or tensorflow`},
		{"timeout", head + "limits:\n  timeout: -5\n", "job.yml: line 5: limits.timeout: must be a positive number of seconds, not -5"},
		{"timeout text", head + "limits:\n  timeout: an hour\n", `job.yml: line 5: limits.timeout: "an hour" is not a number of seconds (or an ISO 8601 duration like PT1H)`},
		{"tag mapping", head + "tags:\n  a: {b: c}\n", "job.yml: line 5: tags.a: expected a single value, not a mapping"},
		{"inline env unknown field", "command: x\ncompute: c\nenvironment:\n  image: python:3.11\n  conda: conda.yml\n",
			"job.yml: line 5: environment.conda: not a known field (check its spelling and indentation); the fields here are name, version, description, tags, image, conda_file, build, os_type, inference_config, datastore"},
		{"inline env conda missing", "command: x\ncompute: c\nenvironment:\n  image: python:3.11\n  conda_file: nope.yml\n",
			"job.yml: line 5: environment.conda_file: cannot read the conda file nope.yml (paths are relative to the job file's folder): no such file or directory"},
		{"inline env build", "command: x\ncompute: c\nenvironment:\n  build: {path: docker}\n",
			"job.yml: line 4: environment.build: building a Docker context is not supported by mlw's local backend; give an image and a conda_file instead"},
		{"bad name", "name: bad name\n" + head, `job.yml: line 1: name: "bad name" is not a valid job name: use 1 to 255 letters, digits, hyphens and underscores, starting with a letter or digit`},
		{"compute with slash", "command: x\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:a/b\n",
			`job.yml: line 3: compute: "azureml:a/b" is not a compute name: write compute: azureml:<name>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJobFile("job.yml", []byte(tt.doc), dir, JobFileOptions{})
			require.Error(t, err)
			require.Equal(t, tt.want, err.Error())
		})
	}
}

func TestJobFileInlineEnvironment(t *testing.T) {
	t.Parallel()
	dir := jobDir(t)
	f, err := ParseJobFile("job.yml", []byte("command: x\ncompute: c\nenvironment:\n  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n  conda_file: conda.yml\n"), dir, JobFileOptions{})
	require.NoError(t, err)
	require.NotNil(t, f.Environment.Inline)
	require.Equal(t, "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04", f.Environment.Inline.Image)
	require.Contains(t, f.Environment.Inline.CondaFile, "mlflow")

	g, err := ParseJobFile("job.yml", []byte("command: x\ncompute: c\nenvironment:\n  conda_file:\n    dependencies: [numpy]\n"), dir, JobFileOptions{})
	require.NoError(t, err)
	require.Equal(t, "dependencies: [numpy]\n", g.Environment.Inline.CondaFile)
}

func TestParseEnvironmentRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want EnvironmentRef
	}{
		{"azureml:AzureML-sklearn-1.5@latest", EnvironmentRef{ID: "azureml:AzureML-sklearn-1.5@latest"}},
		{"AzureML-sklearn-1.5@latest", EnvironmentRef{ID: "azureml:AzureML-sklearn-1.5@latest"}},
		{"AzureML-sklearn-0.24-ubuntu18.04-py37-cpu:47", EnvironmentRef{ID: "azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu:47"}},
		{"azureml://registries/azureml/environments/sklearn-1.5/versions/5", EnvironmentRef{ID: "azureml://registries/azureml/environments/sklearn-1.5/versions/5"}},
		{"azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e/versions/1",
			EnvironmentRef{ID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e/versions/1"}},
		{"azureml:my-env:1", EnvironmentRef{Name: "my-env", Version: "1"}},
		{"my-env@latest", EnvironmentRef{Name: "my-env", Latest: true}},
	}
	for _, tt := range tests {
		got, err := ParseEnvironmentRef(tt.in)
		require.NoError(t, err, tt.in)
		tt.want.Raw = tt.in
		require.Equal(t, tt.want, got, tt.in)
	}
}

func TestAnonymousEnvironmentVersion(t *testing.T) {
	t.Parallel()
	// Values computed with azure-ai-ml's _generate_anonymous_name_version.
	require.Equal(t, "9eb331a2c6ae7e7319bc14e50830b3a3", AnonymousEnvironmentVersion("img", "conda"))
	require.Equal(t, "0998a2c3d2ddfffbc3c72cf73326720b", AnonymousEnvironmentVersion("", "conda"))
}

// TestJobFileFreeFormMappingsAreJSON: mappings with number or boolean
// keys (yaml.v3 gives map[any]any, which encoding/json refuses; found by
// FuzzParseJobFile) are sent with the keys written as text, as
// azure-ai-ml's json.dumps writes them; keys JSON cannot hold are refused
// by field.
func TestJobFileFreeFormMappingsAreJSON(t *testing.T) {
	t.Parallel()
	const head = "command: x\nenvironment: azureml:e@latest\ncompute: c\n"
	f, err := ParseJobFile("job.yml", []byte(head+"resources: {properties: {a: {1: 2, true: x, null: y}}}\n"), t.TempDir(), JobFileOptions{})
	require.NoError(t, err)
	b, err := json.Marshal(f.Job.Properties.Resources.Properties)
	require.NoError(t, err)
	require.JSONEq(t, `{"a": {"1": 2, "true": "x", "null": "y"}}`, string(b))
	for _, doc := range []string{"resources: {properties: {a: {[1]: x}}}\n", "services: {s: {type: ssh, properties: {n: .nan}}}\n"} {
		_, err = ParseJobFile("job.yml", []byte(head+doc), t.TempDir(), JobFileOptions{})
		require.ErrorContains(t, err, "job.yml: ")
	}
}

package api

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseJobFile: any document (and --set override) either gives a
// job that has what a command job needs and encodes to the JSON body sent
// to the server, decoding back to itself, or an error that names the file.
func FuzzParseJobFile(f *testing.F) {
	example, err := os.ReadFile("../examples/diabetes-training/job.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "")
	for _, doc := range []string{
		"command: python train.py\nenvironment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:c1\n",
		"command: echo ${{inputs.x}}\nenvironment: {image: python:3.11, conda_file: {dependencies: [python=3.11]}}\ncompute: c1\ninputs: {x: 7, d: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/data/}}\noutputs: {o: {type: uri_folder}}\n",
		"command: x\nenvironment: e:1\ncompute: /subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/computes/c\nresources: {instance_count: 2, properties: {a: {1: 2}}}\ndistribution: {type: pytorch, process_count_per_instance: 2}\nlimits: {timeout: 3600}\n",
		"command: x\nenvironment: e@latest\ncompute: c\nidentity: {type: user_identity}\nservices: {s: {type: jupyter_lab, port: 8888}}\nqueue_settings: {job_tier: Spot}\ntags: {a: [1, 2]}\n",
		"command: x\nenvironment: e\ncompute: c\nenvironment_variables: {A: 1, B: true, C: null, D: {x: y}}\n",
		"command: x\nenvironment: e\ncompute: c\nservices: {s: {type: ssh, properties: {n: .nan, i: -.inf, t: 2001-12-14, b: !!binary aGk=, [1]: x}}}\n",
		"", "- a\n- b\n", "command: [x]", "comand: x\n", "name: ../../x\ncommand: x\nenvironment: e\ncompute: c\n", "type: sweep\n",
		"command: x\nenvironment: e\ncompute: a/b\n", "command: x\nenvironment: e\ncompute: c\ncode: ../../../etc\n", "&a [*a]", "command: !!binary aGk=\n",
		"command: x\nenvironment: e\ncompute: c\ninputs: {x: {type: uri_file, path: ./local.csv}}\n", "{", "\t-", "command: x\n<<: {compute: c}\n",
	} {
		f.Add(doc, "")
	}
	f.Add("command: x\nenvironment: e\ncompute: c\n", "compute=azureml:other")
	f.Add("command: x\nenvironment: e\ncompute: c\n", "inputs.x.value=3")
	f.Add("command: x\nenvironment: e\ncompute: c\n", "=")
	f.Add("command: x\nenvironment: e\ncompute: c\n", "resources.instance_count={a: b}")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc, set string) {
		opts := JobFileOptions{WorkDir: dir}
		if set != "" {
			opts.Set = []string{set}
		}
		jf, err := ParseJobFile("job.yml", []byte(doc), dir, opts)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "job.yml: ") && !strings.HasPrefix(err.Error(), "--") {
				t.Fatalf("ParseJobFile(%q): the error does not name the file: %v", doc, err)
			}
			return
		}
		p := jf.Job.Properties
		if !jobNameRE.MatchString(jf.Name) || p.JobType != "Command" || p.Command == "" || jf.Compute == "" {
			t.Fatalf("ParseJobFile(%q) accepted a job without name, command or compute: %+v", doc, jf)
		}
		if jf.ComputeID == "" && strings.ContainsAny(jf.Compute, "/:@") {
			t.Fatalf("compute %q is not a name", jf.Compute)
		}
		body, err := json.Marshal(jf.Job)
		if err != nil {
			t.Fatalf("ParseJobFile(%q): the job does not encode to JSON: %v", doc, err)
		}
		var back Job
		if err := json.Unmarshal(body, &back); err != nil {
			t.Fatalf("the job's JSON does not decode: %v\n%s", err, body)
		}
		again, err := json.Marshal(back)
		if err != nil || !reflect.DeepEqual(jsonValue(t, body), jsonValue(t, again)) {
			t.Fatalf("the job's JSON does not round-trip:\n%s\n%s", body, again)
		}
	})
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

package api

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// jobYAML is Azure ML's commandJob.schema.json (azureml-resources §3.3).
// Dump-only fields (id, status, …) are accepted and ignored, so that a
// YAML written by `show --output yaml` of another tool can be resubmitted.
type jobYAML struct {
	Schema               string               `yaml:"$schema"`
	Type                 string               `yaml:"type"`
	Name                 string               `yaml:"name"`
	DisplayName          string               `yaml:"display_name"`
	ExperimentName       string               `yaml:"experiment_name"`
	Description          string               `yaml:"description"`
	Tags                 map[string]yaml.Node `yaml:"tags"`
	Properties           map[string]yaml.Node `yaml:"properties"`
	Command              string               `yaml:"command"`
	Code                 string               `yaml:"code"`
	Environment          yaml.Node            `yaml:"environment"`
	EnvironmentVariables map[string]yaml.Node `yaml:"environment_variables"`
	Compute              string               `yaml:"compute"`
	Resources            *struct {
		InstanceCount *int           `yaml:"instance_count"`
		InstanceType  string         `yaml:"instance_type"`
		Properties    map[string]any `yaml:"properties"`
		ShmSize       string         `yaml:"shm_size"`
		DockerArgs    yaml.Node      `yaml:"docker_args"`
	} `yaml:"resources"`
	Distribution *struct {
		Type                    string `yaml:"type"`
		ProcessCountPerInstance *int   `yaml:"process_count_per_instance"`
		WorkerCount             *int   `yaml:"worker_count"`
		ParameterServerCount    *int   `yaml:"parameter_server_count"`
	} `yaml:"distribution"`
	Limits *struct {
		Timeout yaml.Node `yaml:"timeout"`
	} `yaml:"limits"`
	Inputs        map[string]yaml.Node   `yaml:"inputs"`
	Outputs       map[string]yaml.Node   `yaml:"outputs"`
	Identity      *identityYAML          `yaml:"identity"`
	Services      map[string]serviceYAML `yaml:"services"`
	QueueSettings *struct {
		JobTier  string `yaml:"job_tier"`
		Priority string `yaml:"priority"`
	} `yaml:"queue_settings"`
	ParentJobName string `yaml:"parent_job_name"`

	// Dump-only.
	ID              any `yaml:"id"`
	Status          any `yaml:"status"`
	CreationContext any `yaml:"creation_context"`
	LogFiles        any `yaml:"log_files"`
	Parameters      any `yaml:"parameters"`
}

type identityYAML struct {
	Type          string `yaml:"type"`
	ClientID      string `yaml:"client_id"`
	ObjectID      string `yaml:"object_id"`
	MSIResourceID string `yaml:"msi_resource_id"`
}

type serviceYAML struct {
	Type           string         `yaml:"type"`
	JobServiceType string         `yaml:"job_service_type"`
	Port           int            `yaml:"port"`
	Nodes          string         `yaml:"nodes"`
	Properties     map[string]any `yaml:"properties"`

	// Dump-only (job show): the server's account of the service.
	Endpoint     any `yaml:"endpoint"`
	Status       any `yaml:"status"`
	ErrorMessage any `yaml:"error_message"`
}

type inputYAML struct {
	Type          string    `yaml:"type"`
	Path          string    `yaml:"path"`
	Mode          string    `yaml:"mode"`
	Datastore     string    `yaml:"datastore"`
	Description   string    `yaml:"description"`
	Optional      *bool     `yaml:"optional"`
	Value         yaml.Node `yaml:"value"`
	Default       yaml.Node `yaml:"default"`
	PathOnCompute string    `yaml:"path_on_compute"`
}

type outputYAML struct {
	Type          string `yaml:"type"`
	Path          string `yaml:"path"`
	Mode          string `yaml:"mode"`
	Name          string `yaml:"name"`
	Version       string `yaml:"version"`
	Description   string `yaml:"description"`
	PathOnCompute string `yaml:"path_on_compute"`
}

type envYAMLInline struct {
	Name            string         `yaml:"name"`
	Version         string         `yaml:"version"`
	Description     string         `yaml:"description"`
	Tags            map[string]any `yaml:"tags"`
	Image           string         `yaml:"image"`
	CondaFile       yaml.Node      `yaml:"conda_file"`
	Build           map[string]any `yaml:"build"`
	OSType          string         `yaml:"os_type"`
	InferenceConfig map[string]any `yaml:"inference_config"`
	Datastore       string         `yaml:"datastore"`
	Schema          string         `yaml:"$schema"`
}

// JobFileOptions change how a job file is read.
type JobFileOptions struct {
	// Set are az ml's --set overrides, "dotted.path=value" with a YAML
	// value, applied to the file before it is checked.
	Set []string
	// Name overrides the file's name.
	Name string
	// WorkDir is where experiment_name defaults from (its base name, as
	// azure-ai-ml does); default: the current directory.
	WorkDir string
}

// EnvironmentRef is how a job names its environment.
type EnvironmentRef struct {
	// Raw is the reference as written.
	Raw string
	// ID is sent as environmentId as it is (curated and registry names,
	// ARM ids). Empty when Name needs resolving in the workspace.
	ID string
	// Name and Version (or Latest) name a workspace environment.
	Name, Version string
	Latest        bool
	// Inline is an anonymous environment defined in the job file.
	Inline *InlineEnvironment
}

// InlineEnvironment is an environment written inside a job file; it is
// registered as an anonymous version of CliV2AnonymousEnvironment.
type InlineEnvironment struct {
	Image       string
	CondaFile   string
	Description string
	Tags        map[string]string
	OSType      string
}

// AnonymousEnvironmentName is the container of inline environments.
const AnonymousEnvironmentName = "CliV2AnonymousEnvironment"

// JobFile is a commandJob YAML file, read and checked, ready for SubmitJob.
type JobFile struct {
	// Path is the file's name, for messages; Dir the folder relative paths
	// are resolved from.
	Path, Dir string
	// Name is the job's name (the file's, --name's, or a generated one).
	Name string
	// Job is the REST body; SubmitJob fills codeId, environmentId,
	// computeId and local inputs' URIs.
	Job Job
	// Compute is the compute's name; ComputeID a full ARM id when given.
	Compute, ComputeID string
	// Code is the local code folder to upload ("" when none); CodeRef an
	// existing code asset ("azureml:name:version" or an ARM id).
	Code, CodeRef string
	Environment   EnvironmentRef
	// LocalInputs are inputs whose local path (absolute) is uploaded.
	LocalInputs map[string]string
	// InputDatastores are the datastore each local input is uploaded to.
	InputDatastores map[string]string
	// Datastores are the datastores referenced by azureml://datastores/
	// paths, each with the field that names it.
	Datastores map[string]string

	root *yaml.Node // the document, for line numbers
}

// ReadJobFile reads and checks a commandJob YAML file.
func ReadJobFile(path string, opts JobFileOptions) (*JobFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the job file %s does not exist", path)
		}
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return ParseJobFile(path, b, dir, opts)
}

// ParseJobFile checks a commandJob YAML document; name is used in messages
// and dir resolves relative paths. Every error names the file, and the
// line and field where it can.
func ParseJobFile(name string, data []byte, dir string, opts JobFileOptions) (*JobFile, error) {
	f := &JobFile{Path: name, Dir: dir, LocalInputs: map[string]string{}, InputDatastores: map[string]string{}, Datastores: map[string]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 {
		return nil, fmt.Errorf("%s: the file is empty; a command job needs at least command, environment and compute", name)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: a job file is a mapping of fields (command: …, environment: …), not a %s", name, root.Line, kindName(root))
	}
	f.root = root
	if err := f.checkKind(); err != nil {
		return nil, err
	}
	src := data
	for _, s := range opts.Set {
		if err := applySet(root, s); err != nil {
			return nil, fmt.Errorf("%s: --set %s: %w", name, s, err)
		}
	}
	if len(opts.Set) > 0 {
		var err error
		if src, err = yaml.Marshal(root); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	var y jobYAML
	if err := DecodeYAML(name, src, &y); err != nil {
		if len(opts.Set) > 0 {
			// The line numbers of a re-encoded document are not the
			// file's: report the file's own error, or blame --set.
			var orig jobYAML
			if oerr := DecodeYAML(name, data, &orig); oerr != nil {
				return nil, oerr
			}
			msg := regexp.MustCompile(`line \d+: `).ReplaceAllString(strings.TrimPrefix(err.Error(), name+": "), "")
			return nil, fmt.Errorf("%s: --set %s: %s", name, strings.Join(opts.Set, " --set "), msg)
		}
		return nil, err
	}
	if err := f.fill(&y, opts); err != nil {
		return nil, err
	}
	return f, nil
}

// jobTypes are the job types of Azure ML's job schemas other than
// command, which mlw does not run (yet).
var jobTypes = map[string]bool{"sweep": true, "pipeline": true, "parallel": true, "spark": true, "automl": true,
	"import": true, "data_transfer": true, "finetuning": true, "distillation": true}

// checkKind refuses, before the file's fields are checked, what is not a
// command job: another job type (a sweep job's trial would otherwise be
// reported as an unknown field) or a component file.
func (f *JobFile) checkKind() error {
	typ, _ := scalarString(f.node("type"))
	schema, _ := scalarString(f.node("$schema"))
	if s := strings.ToLower(schema); strings.Contains(s, "component.schema") || (f.node("version") != nil && !strings.Contains(s, "job.schema")) {
		kind := strings.ToLower(typ)
		if kind == "" {
			kind = "command"
		}
		field := "$schema"
		if schema == "" {
			field = "version"
		}
		return f.Errorf(field, "this is a %s component, not a job: components are not supported yet. mlw runs command jobs: write a job file (commandJob.schema.json) with the component's command, code, environment and inputs, and a compute", kind)
	}
	if t := strings.ToLower(typ); jobTypes[t] {
		return f.Errorf("type", "%s jobs are not supported yet; mlw runs command jobs (type: command)", t)
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "mapping"
}

// applySet sets a dotted path ("inputs.lr", "environment_variables.X") to
// a YAML value, creating mappings on the way.
func applySet(root *yaml.Node, set string) error {
	key, val, ok := strings.Cut(set, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return errors.New("expected key=value, e.g. --set inputs.learning_rate=0.05")
	}
	var v yaml.Node
	if err := yaml.Unmarshal([]byte(val), &v); err != nil {
		return fmt.Errorf("the value is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	if v.Kind == yaml.DocumentNode && len(v.Content) == 1 {
		value = v.Content[0]
	}
	clearLines(value)
	cur := root
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if cur.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(parts[:i], "."))
		}
		found := -1
		for j := 0; j+1 < len(cur.Content); j += 2 {
			if cur.Content[j].Value == p {
				found = j + 1
			}
		}
		last := i == len(parts)-1
		switch {
		case found >= 0 && last:
			cur.Content[found] = value
		case found >= 0:
			if cur.Content[found].Kind != yaml.MappingNode {
				cur.Content[found] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			cur = cur.Content[found]
		case last:
			cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, value)
		default:
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, m)
			cur = m
		}
	}
	return nil
}

// clearLines marks nodes that came from --set (line 0).
func clearLines(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearLines(c)
	}
}

// node returns the value node at a dotted path, or nil.
func (f *JobFile) node(path ...string) *yaml.Node {
	cur := f.root
	for _, p := range path {
		if cur == nil || cur.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for j := 0; j+1 < len(cur.Content); j += 2 {
			if cur.Content[j].Value == p {
				next = cur.Content[j+1]
			}
		}
		cur = next
	}
	return cur
}

// Errorf returns an error naming the file, the line of field (a dotted
// path into the document; the nearest existing parent's line when the
// field is absent) and the field.
func (f *JobFile) Errorf(field string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	where := ""
	if field != "" {
		parts := strings.Split(field, ".")
		for i := len(parts); i >= 1; i-- {
			if n := f.node(parts[:i]...); n != nil {
				if n.Line > 0 {
					where = fmt.Sprintf(" line %d:", n.Line)
				} else {
					where = " (from --set)"
				}
				break
			}
		}
		return fmt.Errorf("%s:%s %s: %s", f.Path, where, field, msg)
	}
	return fmt.Errorf("%s: %s", f.Path, msg)
}

func scalarString(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// stringMap turns a mapping of scalars (tags, environment variables) into
// strings, as the SDK does for numbers and booleans.
func (f *JobFile) stringMap(field string, m map[string]yaml.Node) (map[string]string, error) {
	out := map[string]string{}
	for k, n := range m {
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
			out[k] = ""
		case n.Kind == yaml.ScalarNode:
			out[k] = n.Value
		default:
			return nil, f.Errorf(field+"."+k, "expected a single value, not a %s", kindName(&n))
		}
	}
	return out, nil
}

var (
	ioRefRE       = regexp.MustCompile(`\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}`)
	optionalRE    = regexp.MustCompile(`\$\[\[.*?\]\]`)
	ioNameRE      = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	jobNameRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$`)
	inputModes    = map[string]string{"ro_mount": "ReadOnlyMount", "download": "Download", "direct": "Direct", "eval_mount": "EvalMount", "eval_download": "EvalDownload"}
	outputModes   = map[string]string{"rw_mount": "ReadWriteMount", "mount": "ReadWriteMount", "upload": "Upload", "direct": "Direct"}
	dataTypes     = map[string]bool{"uri_file": true, "uri_folder": true, "mltable": true, "custom_model": true, "mlflow_model": true, "triton_model": true}
	literalTypes  = map[string]bool{"string": true, "integer": true, "number": true, "boolean": true}
	distributions = map[string]string{"mpi": "Mpi", "pytorch": "PyTorch", "tensorflow": "TensorFlow"}
)

func (f *JobFile) fill(y *jobYAML, opts JobFileOptions) error {
	if t := strings.ToLower(y.Type); t != "" && t != "command" {
		return f.Errorf("type", "%q is not a job type mlw runs: mlw runs command jobs (type: command)", y.Type)
	}
	if err := f.fillName(y, opts); err != nil {
		return err
	}
	if err := f.fillDescription(y, opts); err != nil {
		return err
	}
	if err := f.fillCompute(y); err != nil {
		return err
	}
	if err := f.fillCode(y); err != nil {
		return err
	}
	if err := f.fillEnvironment(y); err != nil {
		return err
	}
	if err := f.fillInputs(y); err != nil {
		return err
	}
	if err := f.fillOutputs(y); err != nil {
		return err
	}
	if err := f.checkCommandRefs(); err != nil {
		return err
	}
	if err := f.fillResources(y); err != nil {
		return err
	}
	if err := f.fillDistribution(y); err != nil {
		return err
	}
	if err := f.fillLimits(y); err != nil {
		return err
	}
	if err := f.fillIdentity(y); err != nil {
		return err
	}
	if err := f.fillServices(y); err != nil {
		return err
	}
	f.fillQueueSettings(y)
	return nil
}

// fillName sets the job's name: --name, the file's, or a generated one.
func (f *JobFile) fillName(y *jobYAML, opts JobFileOptions) error {
	f.Name = y.Name
	if opts.Name != "" {
		f.Name = opts.Name
	}
	if f.Name == "" {
		f.Name = GenerateJobName()
	} else if !jobNameRE.MatchString(f.Name) {
		field := "name"
		if opts.Name != "" {
			return fmt.Errorf("--name %q: job names are 1 to 255 letters, digits, hyphens and underscores, starting with a letter or digit", f.Name)
		}
		return f.Errorf(field, "%q is not a valid job name: use 1 to 255 letters, digits, hyphens and underscores, starting with a letter or digit", f.Name)
	}
	return nil
}

// fillDescription sets the command and what describes the job: display
// and experiment names, description, tags, properties and environment
// variables.
func (f *JobFile) fillDescription(y *jobYAML, opts JobFileOptions) error {
	p := &f.Job.Properties
	p.JobType = "Command"
	p.Command = strings.TrimSpace(y.Command)
	if p.Command == "" {
		return f.Errorf("command", "a command job needs a command, e.g. command: python train.py")
	}
	p.DisplayName = y.DisplayName
	if p.DisplayName == "" {
		p.DisplayName = f.Name
	}
	p.ExperimentName = y.ExperimentName
	if p.ExperimentName == "" {
		wd := opts.WorkDir
		if wd == "" {
			wd, _ = os.Getwd()
		}
		p.ExperimentName = filepath.Base(wd)
	}
	p.Description = y.Description
	var err error
	if p.Tags, err = f.stringMap("tags", y.Tags); err != nil {
		return err
	}
	if p.Properties, err = f.stringMap("properties", y.Properties); err != nil {
		return err
	}
	if p.EnvironmentVariables, err = f.stringMap("environment_variables", y.EnvironmentVariables); err != nil {
		return err
	}
	return nil
}

// fillCompute reads the compute: an ARM id, or azureml:<name>.
func (f *JobFile) fillCompute(y *jobYAML) error {
	compute := strings.TrimSpace(y.Compute)
	switch {
	case compute == "":
		return f.Errorf("compute", "a command job needs a compute target, e.g. compute: azureml:aml-cluster (see `mlw compute list`)")
	case strings.HasPrefix(compute, "/"):
		f.ComputeID = compute
		f.Compute = compute[strings.LastIndex(compute, "/")+1:]
	default:
		f.Compute = stripAzureML(compute)
		if strings.ContainsAny(f.Compute, "/:@") || f.Compute == "" {
			return f.Errorf("compute", "%q is not a compute name: write compute: azureml:<name>", compute)
		}
	}
	return nil
}

// fillCode reads the code: a code asset, or a local folder (relative to
// the job file's).
func (f *JobFile) fillCode(y *jobYAML) error {
	code := strings.TrimSpace(y.Code)
	switch {
	case code == "":
	case strings.HasPrefix(strings.ToLower(code), "azureml:"), strings.HasPrefix(code, "/subscriptions/"):
		f.CodeRef = code
	case strings.Contains(code, "://"):
		return f.Errorf("code", "%q: code must be a local folder or an azureml: code asset", code)
	default:
		local := code
		if !filepath.IsAbs(local) {
			local = filepath.Join(f.Dir, local)
		}
		if _, err := os.Stat(local); err != nil {
			return f.Errorf("code", "the code folder %s does not exist (paths are relative to the job file's folder, %s)", code, f.Dir)
		}
		f.Code = local
	}
	return nil
}

// checkCommandRefs checks that the command names only inputs and outputs
// that exist; inside an optional $[[ … ]] block, an input may be left out.
func (f *JobFile) checkCommandRefs() error {
	p := &f.Job.Properties
	for _, m := range ioRefRE.FindAllStringSubmatch(optionalRE.ReplaceAllString(p.Command, ""), -1) {
		kind, n := m[1], m[2]
		if kind == "inputs" {
			if _, ok := p.Inputs[n]; !ok {
				return f.Errorf("command", "%s refers to an input that is not defined under inputs", m[0])
			}
		} else if _, ok := p.Outputs[n]; !ok {
			return f.Errorf("command", "%s refers to an output that is not defined under outputs", m[0])
		}
	}
	return nil
}

// fillResources reads resources: instance count and type, shared memory
// and docker arguments.
func (f *JobFile) fillResources(y *jobYAML) error {
	p := &f.Job.Properties
	if r := y.Resources; r != nil {
		props, err := f.jsonMap("resources.properties", r.Properties)
		if err != nil {
			return err
		}
		res := &JobResources{InstanceType: r.InstanceType, Properties: props, ShmSize: r.ShmSize}
		if r.InstanceCount != nil {
			if *r.InstanceCount < 1 {
				return f.Errorf("resources.instance_count", "must be at least 1, not %d", *r.InstanceCount)
			}
			res.InstanceCount = *r.InstanceCount
		}
		if r.ShmSize != "" && !regexp.MustCompile(`^\d+[bkmgBKMG]?$`).MatchString(r.ShmSize) {
			return f.Errorf("resources.shm_size", "%q is not a size like 2g or 512m", r.ShmSize)
		}
		switch r.DockerArgs.Kind {
		case 0:
		case yaml.ScalarNode:
			res.DockerArgs = r.DockerArgs.Value
		case yaml.SequenceNode:
			var args []string
			if err := r.DockerArgs.Decode(&args); err != nil {
				return f.Errorf("resources.docker_args", "expected a string or a list of strings")
			}
			res.DockerArgs = strings.Join(args, " ")
		default:
			return f.Errorf("resources.docker_args", "expected a string or a list of strings")
		}
		if res.Properties == nil {
			res.Properties = map[string]any{}
		}
		p.Resources = res
	}
	return nil
}

// fillDistribution reads the distribution (mpi, pytorch or tensorflow).
func (f *JobFile) fillDistribution(y *jobYAML) error {
	p := &f.Job.Properties
	if d := y.Distribution; d != nil {
		t, ok := distributions[strings.ToLower(d.Type)]
		if !ok {
			return f.Errorf("distribution.type", "%q is not a distribution type: use mpi, pytorch or tensorflow", d.Type)
		}
		dist := map[string]any{"distributionType": t}
		if d.ProcessCountPerInstance != nil {
			if *d.ProcessCountPerInstance < 1 {
				return f.Errorf("distribution.process_count_per_instance", "must be at least 1")
			}
			dist["processCountPerInstance"] = *d.ProcessCountPerInstance
		}
		if d.WorkerCount != nil {
			dist["workerCount"] = *d.WorkerCount
		}
		if d.ParameterServerCount != nil {
			dist["parameterServerCount"] = *d.ParameterServerCount
		}
		p.Distribution = dist
	}
	return nil
}

// fillLimits reads limits.timeout: seconds, or an ISO 8601 duration.
func (f *JobFile) fillLimits(y *jobYAML) error {
	p := &f.Job.Properties
	if l := y.Limits; l != nil && l.Timeout.Kind != 0 {
		t, ok := scalarString(&l.Timeout)
		if !ok {
			return f.Errorf("limits.timeout", "expected a number of seconds, e.g. timeout: 3600")
		}
		if n, err := strconv.ParseFloat(t, 64); err == nil {
			if n <= 0 {
				return f.Errorf("limits.timeout", "must be a positive number of seconds, not %s", t)
			}
			t = "PT" + strconv.FormatFloat(n, 'f', -1, 64) + "S"
		} else if !regexp.MustCompile(`^P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$`).MatchString(t) || t == "P" || t == "PT" {
			return f.Errorf("limits.timeout", "%q is not a number of seconds (or an ISO 8601 duration like PT1H)", t)
		}
		p.Limits = &JobLimits{JobLimitsType: "Command", Timeout: t}
	}
	return nil
}

// fillIdentity reads the identity the job runs as.
func (f *JobFile) fillIdentity(y *jobYAML) error {
	p := &f.Job.Properties
	if id := y.Identity; id != nil {
		switch strings.ToLower(id.Type) {
		case "managed", "managed_identity":
			m := map[string]any{"identityType": "Managed"}
			if id.ClientID != "" {
				m["clientId"] = id.ClientID
			}
			if id.ObjectID != "" {
				m["objectId"] = id.ObjectID
			}
			if id.MSIResourceID != "" {
				m["resourceId"] = id.MSIResourceID
			}
			p.Identity = m
		case "aml_token":
			p.Identity = map[string]any{"identityType": "AMLToken"}
		case "user_identity":
			p.Identity = map[string]any{"identityType": "UserIdentity"}
		default:
			return f.Errorf("identity.type", "%q is not an identity type: use managed, aml_token or user_identity", id.Type)
		}
	}
	return nil
}

// fillServices reads the services the job asks for (the server adds its
// own).
func (f *JobFile) fillServices(y *jobYAML) error {
	p := &f.Job.Properties
	if len(y.Services) > 0 {
		p.Services = map[string]JobService{}
		for n, s := range y.Services {
			t := s.Type
			if t == "" {
				t = s.JobServiceType
			}
			if serverServices[strings.ToLower(t)] {
				continue // the server's own (job show prints them); every job gets its own
			}
			props, err := f.jsonMap("services."+n+".properties", s.Properties)
			if err != nil {
				return err
			}
			svc := JobService{JobServiceType: serviceType(t), Port: s.Port, Properties: props}
			if strings.EqualFold(s.Nodes, "all") {
				svc.Nodes = map[string]any{"nodesValueType": "All"}
			}
			p.Services[n] = svc
		}
	}
	return nil
}

// fillQueueSettings reads queue_settings.
func (f *JobFile) fillQueueSettings(y *jobYAML) {
	p := &f.Job.Properties
	if q := y.QueueSettings; q != nil {
		p.QueueSettings = map[string]any{}
		if q.JobTier != "" {
			p.QueueSettings["jobTier"] = q.JobTier
		}
		if q.Priority != "" {
			p.QueueSettings["priority"] = q.Priority
		}
	}
}

// serverServices are the services the server adds to every job.
var serverServices = map[string]bool{"studio": true, "tracking": true}

func serviceType(t string) string {
	switch strings.ToLower(strings.ReplaceAll(t, "_", "")) {
	case "jupyterlab":
		return "JupyterLab"
	case "ssh":
		return "SSH"
	case "tensorboard":
		return "TensorBoard"
	case "vscode":
		return "VSCode"
	}
	return t
}

// stripAzureML removes the "azureml:" prefix of a workspace asset.
func stripAzureML(s string) string {
	if len(s) >= 8 && strings.EqualFold(s[:8], "azureml:") && !strings.HasPrefix(s[8:], "//") {
		return s[8:]
	}
	return s
}

// ParseEnvironmentRef reads a job's environment string: a curated name
// (sent as is: the server resolves it), a registry or ARM id (as is),
// name:version or name@latest of a workspace environment.
func ParseEnvironmentRef(s string) (EnvironmentRef, error) {
	ref := EnvironmentRef{Raw: s}
	s = strings.TrimSpace(s)
	lower := strings.ToLower(s)
	if s == "" {
		return ref, errors.New("the environment is empty")
	}
	if strings.HasPrefix(lower, "azureml://") {
		ref.ID = s
		return ref, nil
	}
	rest := stripAzureML(s)
	if strings.HasPrefix(rest, "/subscriptions/") {
		ref.ID = rest
		return ref, nil
	}
	name, label, hasLabel := strings.Cut(rest, "@")
	version := ""
	if !hasLabel {
		name, version, _ = strings.Cut(rest, ":")
	}
	if name == "" {
		return ref, fmt.Errorf("%q names no environment", s)
	}
	if strings.HasPrefix(strings.ToLower(name), "azureml-") {
		// Curated: azure-ai-ml sends "azureml:<name>@latest" (or :<n>)
		// verbatim and the service resolves it.
		ref.ID = "azureml:" + rest
		return ref, nil
	}
	switch {
	case hasLabel:
		if label != "latest" {
			return ref, fmt.Errorf("%q: the only environment label is latest (write %s@latest)", s, name)
		}
		ref.Name, ref.Latest = name, true
	case version != "":
		if strings.Contains(version, ":") {
			return ref, fmt.Errorf("%q is not name:version", s)
		}
		ref.Name, ref.Version = name, version
	default:
		return ref, fmt.Errorf("%q needs a version or a label: write azureml:%s:<version> or azureml:%s@latest", s, name, name)
	}
	return ref, nil
}

func (f *JobFile) fillEnvironment(y *jobYAML) error {
	n := f.subNode(y.Environment, "environment")
	switch n.Kind {
	case 0:
		return f.Errorf("environment", "a command job needs an environment, e.g. environment: azureml:AzureML-sklearn-1.5@latest")
	case yaml.ScalarNode:
		ref, err := ParseEnvironmentRef(n.Value)
		if err != nil {
			return f.Errorf("environment", "%v", err)
		}
		f.Environment = ref
		return nil
	case yaml.MappingNode:
	default:
		return f.Errorf("environment", "expected an environment name (azureml:name:version) or a mapping with image and conda_file")
	}
	var e envYAMLInline
	if err := f.decodeSub("environment", n, &e); err != nil {
		return err
	}
	if len(e.Build) > 0 {
		return f.Errorf("environment.build", "building a Docker context is not supported by mlw's local backend; give an image and a conda_file instead")
	}
	inl := &InlineEnvironment{Image: e.Image, Description: e.Description, OSType: e.OSType, Tags: map[string]string{}}
	for k, v := range e.Tags {
		inl.Tags[k] = fmt.Sprint(v)
	}
	switch e.CondaFile.Kind {
	case 0:
	case yaml.ScalarNode:
		p := e.CondaFile.Value
		if !filepath.IsAbs(p) {
			p = filepath.Join(f.Dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return f.Errorf("environment.conda_file", "cannot read the conda file %s (paths are relative to the job file's folder): %v", e.CondaFile.Value, errors.Unwrap(err))
		}
		inl.CondaFile = string(b)
	case yaml.MappingNode:
		b, err := yaml.Marshal(&e.CondaFile)
		if err != nil {
			return f.Errorf("environment.conda_file", "%v", err)
		}
		inl.CondaFile = string(b)
	default:
		return f.Errorf("environment.conda_file", "expected a path to a conda file or an inline conda specification")
	}
	if inl.Image == "" && inl.CondaFile == "" {
		return f.Errorf("environment", "an inline environment needs an image, a conda_file or both")
	}
	f.Environment = EnvironmentRef{Raw: "(inline)", Inline: inl}
	return nil
}

// subNode returns the node at path in the file's own document, whose line
// numbers are the file's even after --set (decoded is the same node from
// the possibly re-encoded document).
func (f *JobFile) subNode(decoded yaml.Node, path ...string) *yaml.Node {
	if n := f.node(path...); n != nil {
		return n
	}
	return &decoded
}

// decodeSub decodes a sub-mapping of the document (an input, an output,
// an inline environment) into v, a pointer to a struct with yaml tags.
// Unknown keys are errors, and errors keep the file's line numbers.
func (f *JobFile) decodeSub(field string, n *yaml.Node, v any) error {
	known := map[string]bool{}
	var names []string
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			known[tag] = true
			if !strings.HasPrefix(tag, "$") {
				names = append(names, tag)
			}
		}
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k := n.Content[j]
		if !known[k.Value] {
			where := " (from --set)"
			if k.Line > 0 {
				where = fmt.Sprintf(" line %d:", k.Line)
			}
			return fmt.Errorf("%s:%s %s.%s: not a known field (check its spelling and indentation); the fields here are %s",
				f.Path, where, field, k.Value, strings.Join(names, ", "))
		}
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: %s", f.Path, explainYAMLErrors(n, field, te.Errors))
		}
		return f.Errorf(field, "%v", err)
	}
	return nil
}

func (f *JobFile) fillInputs(y *jobYAML) error {
	p := &f.Job.Properties
	p.Inputs = map[string]JobInput{}
	names := sortedKeys(y.Inputs)
	for _, k := range names {
		n := f.subNode(y.Inputs[k], "inputs", k)
		field := "inputs." + k
		if !ioNameRE.MatchString(k) {
			return f.Errorf(field, "input names are letters, digits and underscores, starting with a letter or underscore")
		}
		if n.Kind == yaml.ScalarNode {
			if n.Tag == "!!null" {
				return f.Errorf(field, "the input has no value")
			}
			p.Inputs[k] = JobInput{JobInputType: "literal", Value: n.Value}
			continue
		}
		if n.Kind != yaml.MappingNode {
			return f.Errorf(field, "expected a value or a mapping with type and path")
		}
		var in inputYAML
		if err := f.decodeSub(field, n, &in); err != nil {
			return err
		}
		t := strings.ToLower(in.Type)
		if t == "" {
			t = "uri_folder"
		}
		if literalTypes[t] {
			v := &in.Value
			if v.Kind == 0 {
				v = &in.Default
			}
			s, ok := scalarString(v)
			if !ok {
				return f.Errorf(field, "a %s input needs a value", t)
			}
			p.Inputs[k] = JobInput{JobInputType: "literal", Value: s, Description: in.Description}
			continue
		}
		if !dataTypes[t] {
			return f.Errorf(field+".type", "%q is not an input type: use uri_file, uri_folder, mltable, custom_model, mlflow_model or triton_model (or give a plain value)", in.Type)
		}
		ji := JobInput{JobInputType: t, Description: in.Description}
		if in.Mode != "" {
			m, ok := inputModes[strings.ToLower(in.Mode)]
			if !ok {
				for _, v := range inputModes {
					if strings.EqualFold(v, in.Mode) {
						m, ok = v, true
					}
				}
			}
			if !ok {
				return f.Errorf(field+".mode", "%q is not an input mode: use ro_mount, download or direct", in.Mode)
			}
			ji.Mode = m
		}
		path := strings.TrimSpace(in.Path)
		if path == "" {
			return f.Errorf(field, "a %s input needs a path", t)
		}
		lower := strings.ToLower(path)
		switch {
		case strings.HasPrefix(lower, "azureml://datastores/"):
			ds, _, _ := ParseDatastoreURI(path)
			f.Datastores[ds] = field + ".path"
			ji.URI = path
		case strings.HasPrefix(lower, "azureml:"), strings.HasPrefix(lower, "/subscriptions/"),
			strings.Contains(lower, "://"):
			ji.URI = path
		default:
			local := strings.TrimPrefix(path, "file:")
			if !filepath.IsAbs(local) {
				local = filepath.Join(f.Dir, local)
			}
			fi, err := os.Stat(local)
			if err != nil {
				return f.Errorf(field+".path", "the local path %s does not exist (paths are relative to the job file's folder, %s)", path, f.Dir)
			}
			if t == "uri_file" && fi.IsDir() {
				return f.Errorf(field+".path", "%s is a folder; use type: uri_folder, or name a file", path)
			}
			if t == "uri_folder" && !fi.IsDir() {
				return f.Errorf(field+".path", "%s is a file; use type: uri_file, or name a folder", path)
			}
			f.LocalInputs[k] = local
			ds := in.Datastore
			if ds == "" {
				ds = WorkspaceBlobStore
			}
			f.InputDatastores[k] = stripAzureML(ds)
		}
		p.Inputs[k] = ji
	}
	return nil
}

func (f *JobFile) fillOutputs(y *jobYAML) error {
	p := &f.Job.Properties
	p.Outputs = map[string]JobOutput{}
	for _, k := range sortedKeys(y.Outputs) {
		n := f.subNode(y.Outputs[k], "outputs", k)
		field := "outputs." + k
		if !ioNameRE.MatchString(k) {
			return f.Errorf(field, "output names are letters, digits and underscores, starting with a letter or underscore")
		}
		var out outputYAML
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		case n.Kind == yaml.MappingNode:
			if err := f.decodeSub(field, n, &out); err != nil {
				return err
			}
		default:
			return f.Errorf(field, "expected a mapping with type (and optionally path and mode), or nothing")
		}
		if k == "default" {
			if strings.HasPrefix(out.Path, artifactsOutputPrefix) {
				continue // a job's artifacts, as job show prints them: every job has its own
			}
			return f.Errorf(field, "the output name default is reserved for the job's artifacts")
		}
		if m := defaultOutputPathRE.FindStringSubmatch(out.Path); m != nil && m[1] == k {
			// The location the server gave this output of another job (job
			// show prints it): this job gets its own.
			out.Path = ""
		}
		t := strings.ToLower(out.Type)
		if t == "" {
			t = "uri_folder"
		}
		if !dataTypes[t] {
			return f.Errorf(field+".type", "%q is not an output type: use uri_file, uri_folder, mltable, custom_model, mlflow_model or triton_model", out.Type)
		}
		jo := JobOutput{JobOutputType: t, AssetName: out.Name, AssetVersion: out.Version, Description: out.Description}
		if out.Mode != "" {
			m, ok := outputModes[strings.ToLower(out.Mode)]
			if !ok {
				for _, v := range outputModes {
					if strings.EqualFold(v, out.Mode) {
						m, ok = v, true
					}
				}
			}
			if !ok {
				return f.Errorf(field+".mode", "%q is not an output mode: use rw_mount, upload or direct", out.Mode)
			}
			jo.Mode = m
		}
		if out.Path != "" {
			lower := strings.ToLower(out.Path)
			if !strings.HasPrefix(lower, "azureml://") {
				return f.Errorf(field+".path", "an output path must be a datastore location, azureml://datastores/<datastore>/paths/<path>; local outputs are not uploaded (write to ./outputs instead, and download with `mlw job download`)")
			}
			if strings.HasPrefix(lower, "azureml://datastores/") {
				ds, _, _ := ParseDatastoreURI(out.Path)
				f.Datastores[ds] = field + ".path"
			}
			jo.URI = out.Path
		}
		p.Outputs[k] = jo
	}
	return nil
}

// artifactsOutputPrefix starts the path of a job's "default" output (its
// artifacts), as job show prints it.
const artifactsOutputPrefix = "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid."

// defaultOutputPathRE matches the location the server gives a named
// output when the job file gives none: …/paths/azureml/<job>/<output>/.
var defaultOutputPathRE = regexp.MustCompile(`^azureml://datastores/` + WorkspaceBlobStore + `/paths/azureml/[^/]+/([^/]+)/$`)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonMap makes a free-form mapping of the YAML file sendable as JSON.
// YAML keys may be numbers or booleans, and yaml.v3 decodes a nested
// mapping with such keys as map[any]any, which encoding/json refuses; they
// become strings as Python's json.dumps writes them (1 → "1", true →
// "true"), as azure-ai-ml sends them. A key that is a list or a mapping
// cannot be a JSON key: an error that names the field.
func (f *JobFile) jsonMap(field string, m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	v, err := JSONValue(m)
	if err != nil {
		return nil, f.Errorf(field, "%v", err)
	}
	return v.(map[string]any), nil
}

// JSONValue returns a value decoded from YAML (yaml.v3 into any) in a
// form encoding/json accepts: mappings with number, boolean or null keys
// (map[any]any) get text keys, as Python's json.dumps writes them (1 →
// "1", true → "true"); keys that are lists or mappings, NaN and infinities
// are errors.
func JSONValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := JSONValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			var key string
			switch kk := k.(type) {
			case nil:
				key = "null"
			case string:
				key = kk
			case bool, int, int64, uint64, float64:
				key = fmt.Sprint(kk)
			default:
				return nil, fmt.Errorf("the key %v is a %s; keys of a mapping sent as JSON must be text, numbers or true/false", k, kindOf(k))
			}
			c, err := JSONValue(e)
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v is not a number JSON can carry", x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := JSONValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return v, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case map[string]any, map[any]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

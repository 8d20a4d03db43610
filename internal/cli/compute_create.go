package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/api"
)

func computeCreateCmd(app *App) *cobra.Command {
	var s scope
	var f computeFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a compute instance or cluster",
		Long: `Create a compute instance (a personal dev machine) or an AmlCompute cluster
(an autoscaling pool of nodes), from flags or from an Azure ML YAML file
(computeInstance.schema.json / amlCompute.schema.json). Without --no-wait the
command returns when the compute is ready.`,
		Example: `  mlw compute create --name ci-1 --type ComputeInstance --size STANDARD_DS11_V2
  mlw compute create --name aml-cluster --type AmlCompute --size STANDARD_DS11_V2 --min-instances 0 --max-instances 2
  mlw compute create --file instance.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, name, err := computeBody(cmd, &f)
			if err != nil {
				return err
			}
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			out, err := app.putCompute(cmd, p, body, "Creating compute "+name, f.noWait)
			if err != nil {
				return computeFieldError(cmd, &f, err)
			}
			return app.printView(out, computeView)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "Azure ML YAML file describing the compute")
	fl.StringVarP(&f.name, "name", "n", "", "compute name (overrides the file's)")
	fl.StringVarP(&f.typ, "type", "t", "", "ComputeInstance or AmlCompute")
	fl.StringVar(&f.size, "size", "", "VM size, e.g. STANDARD_DS11_V2 (see: mlw compute list-sizes)")
	fl.StringVar(&f.description, "description", "", "description")
	fl.StringVarP(&f.location, "location", "l", "", "location (default: the workspace's)")
	fl.StringSliceVar(&f.tags, "tags", nil, "tags as key=value (repeatable)")
	fl.BoolVar(&f.noWait, "no-wait", false, "return once creation has started")
	addInstanceCreateFlags(cmd, &f.instance)
	addClusterCreateFlags(cmd, &f.cluster)
	addWorkspaceFlags(cmd, &s)
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"ComputeInstance", "AmlCompute"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// putCompute PUTs a compute and, unless noWait, waits for its operation
// (saying what on stderr) and reads it again.
func (a *App) putCompute(cmd *cobra.Command, p string, body Doc, what string, noWait bool) (Doc, error) {
	c, _ := a.Client()
	var out Doc
	resp, err := c.Do(cmd.Context(), "PUT", p, body, &out)
	if err != nil || noWait {
		return out, err
	}
	if err := a.wait(cmd.Context(), c, resp, what); err != nil {
		return nil, err
	}
	return a.getDoc(cmd.Context(), p)
}

// computeBody builds the PUT body of `compute create` from --file or flags.
func computeBody(cmd *cobra.Command, f *computeFlags) (Doc, string, error) {
	var body Doc
	name, typ := f.name, f.typ
	if f.file != "" {
		var head struct {
			Name string `yaml:"name"`
			Type string `yaml:"type"`
		}
		raw, err := os.ReadFile(f.file)
		if err != nil {
			return nil, "", err
		}
		if err := yamlHead(f.file, raw, &head); err != nil {
			return nil, "", err
		}
		if typ == "" {
			typ = head.Type
		}
		if name == "" {
			name = head.Name
		}
		switch strings.ToLower(typ) {
		case "computeinstance":
			body, err = instanceFromYAML(f.file, raw)
		case "amlcompute":
			body, err = clusterFromYAML(f.file, raw)
		default:
			return nil, "", fmt.Errorf("%s: type must be computeinstance or amlcompute, not %q", f.file, head.Type)
		}
		if err != nil {
			return nil, "", err
		}
	} else {
		switch strings.ToLower(typ) {
		case "computeinstance", "ci":
			body = Doc{"properties": Doc{"computeType": "ComputeInstance", "properties": Doc{}}}
		case "amlcompute", "cluster":
			body = Doc{"properties": Doc{"computeType": "AmlCompute", "properties": Doc{}}}
		case "":
			return nil, "", errors.New("pass --type ComputeInstance or --type AmlCompute, or --file with a YAML file")
		default:
			return nil, "", fmt.Errorf("--type must be ComputeInstance or AmlCompute, not %q", typ)
		}
	}
	outer := body["properties"].(Doc)
	props, _ := outer["properties"].(Doc)
	if props == nil {
		props = Doc{}
		outer["properties"] = props
	}
	if f.size != "" {
		props["vmSize"] = f.size
	}
	if f.description != "" {
		outer["description"] = f.description
	}
	if f.location != "" {
		body["location"] = f.location
	}
	if len(f.tags) > 0 {
		t, err := parseTags(f.tags)
		if err != nil {
			return nil, "", err
		}
		body["tags"] = t
	}
	var err error
	if outer["computeType"] == "ComputeInstance" {
		err = applyInstanceFlags(cmd, &f.instance, body)
	} else {
		err = applyClusterFlags(cmd, &f.cluster, body)
	}
	return body, name, err
}

// computeFields name the REST fields of a compute as its YAML file and
// compute create's flags do, for the server's errors (whose target is a
// REST path like properties.properties.vmSize).
var computeFields = []struct{ rest, yaml, flag string }{
	{"properties.properties.vmSize", "size", "size"},
	{"properties.properties.backend", "backend", ""},
	{"properties.properties.vmPriority", "tier", "tier"},
	{"properties.properties.scaleSettings.minNodeCount", "min_instances", "min-instances"},
	{"properties.properties.scaleSettings.maxNodeCount", "max_instances", "max-instances"},
	{"properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown", "idle_time_before_scale_down", "idle-time-before-scale-down"},
	{"properties.properties.idleTimeBeforeShutdown", "idle_time_before_shutdown_minutes", "idle-time-before-shutdown-minutes"},
	{"properties.properties.setupScripts.scripts.creationScript", "setup_scripts", "setup-script"},
	{"properties.properties.setupScripts.scripts.startupScript", "setup_scripts", "startup-script"},
	{"properties.properties.setupScripts", "setup_scripts", ""},
	{"properties.properties.sshSettings", "ssh_settings", "ssh-key-value"},
	{"properties.properties.remoteLoginPortPublicAccess", "ssh_public_access_enabled", ""},
	{"properties.properties.userAccountCredentials", "ssh_settings", ""},
	{"properties.properties.schedules", "schedules", ""},
	{"properties.properties.subnet", "network_settings", ""},
	{"properties.properties.personalComputeInstanceSettings", "create_on_behalf_of", "user-object-id"},
	{"properties.properties.customServices", "custom_applications", ""},
	{"properties.description", "description", "description"},
	{"properties.computeType", "type", "type"},
	{"location", "location", "location"},
	{"tags", "tags", "tags"},
	{"identity", "identity", ""},
}

// computeFieldError names the field of an API error as the user wrote it:
// the flag, or the YAML field and its line, instead of the REST path.
func computeFieldError(cmd *cobra.Command, f *computeFlags, err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Target == "" {
		return err
	}
	for _, fld := range computeFields {
		if ae.Target != fld.rest && !strings.HasPrefix(ae.Target, fld.rest+".") {
			continue
		}
		msg := fmt.Sprintf("(%s) %s", ae.Code, ae.Message)
		if fl := cmd.Flags().Lookup(fld.flag); fl != nil && fl.Changed {
			return fmt.Errorf("--%s %s: %s", fld.flag, fl.Value, msg)
		}
		if f.file != "" {
			if line := yamlKeyLine(f.file, fld.yaml); line > 0 {
				return fmt.Errorf("%s: line %d: %s: %s", f.file, line, fld.yaml, msg)
			}
		}
		if fl := cmd.Flags().Lookup(fld.flag); fl != nil {
			return fmt.Errorf("--%s (default %s): %s", fld.flag, fl.DefValue, msg)
		}
		return fmt.Errorf("%s: %s", fld.yaml, msg)
	}
	return err
}

// yamlKeyLine is the line of a top-level key of a YAML file (0: absent).
func yamlKeyLine(file, key string) int {
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 0
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return 0
}

// yamlHead reads the top-level name and type of a YAML file, ignoring the
// rest (the type decides which schema the whole file is checked against).
func yamlHead(name string, raw []byte, v any) error {
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

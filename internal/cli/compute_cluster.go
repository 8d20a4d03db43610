package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

// clusterFlags are the AmlCompute flags of `compute create` and `update`.
type clusterFlags struct {
	min, max, idleSeconds int
	tier                  string
}

func addClusterCreateFlags(cmd *cobra.Command, f *clusterFlags) {
	fl := cmd.Flags()
	fl.IntVar(&f.min, "min-instances", 0, "AmlCompute: fewest nodes kept")
	fl.IntVar(&f.max, "max-instances", 4, "AmlCompute: most nodes")
	fl.IntVarP(&f.idleSeconds, "idle-time-before-scale-down", "d", 120, "AmlCompute: seconds a node may idle before it is removed")
	fl.StringVar(&f.tier, "tier", "", "AmlCompute: dedicated or low_priority (low-priority nodes can be preempted)")
}

// applyClusterFlags copies flags the user set into a cluster body (flags
// override the YAML file).
func applyClusterFlags(cmd *cobra.Command, f *clusterFlags, body Doc) error {
	props := body["properties"].(Doc)["properties"].(Doc)
	scale, _ := props["scaleSettings"].(Doc)
	if scale == nil {
		scale = Doc{}
		props["scaleSettings"] = scale
	}
	fl := cmd.Flags()
	set := func(name string) bool { return fl.Lookup(name) != nil && fl.Changed(name) }
	if set("min-instances") || scale["minNodeCount"] == nil {
		scale["minNodeCount"] = f.min
	}
	if set("max-instances") || scale["maxNodeCount"] == nil {
		scale["maxNodeCount"] = f.max
	}
	if set("idle-time-before-scale-down") || scale["nodeIdleTimeBeforeScaleDown"] == nil {
		scale["nodeIdleTimeBeforeScaleDown"] = fmt.Sprintf("PT%dS", f.idleSeconds)
	}
	if set("tier") {
		t, err := tierToPriority(f.tier)
		if err != nil {
			return err
		}
		props["vmPriority"] = t
	}
	return nil
}

func tierToPriority(t string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(t, "-", "_")) {
	case "dedicated":
		return "Dedicated", nil
	case "low_priority", "lowpriority":
		return "LowPriority", nil
	}
	return "", fmt.Errorf("tier must be dedicated or low_priority, not %q", t)
}

// clusterYAML is amlCompute.schema.json.
type clusterYAML struct {
	computeYAML             `yaml:",inline"`
	Size                    string `yaml:"size"`
	Tier                    string `yaml:"tier"`
	MinInstances            *int   `yaml:"min_instances"`
	MaxInstances            *int   `yaml:"max_instances"`
	IdleTimeBeforeScaleDown *int   `yaml:"idle_time_before_scale_down"`
	SSHPublicAccessEnabled  *bool  `yaml:"ssh_public_access_enabled"`
	SSHSettings             *struct {
		AdminUsername string `yaml:"admin_username"`
		AdminPassword string `yaml:"admin_password"`
		SSHKeyValue   string `yaml:"ssh_key_value"`
	} `yaml:"ssh_settings"`
	EnableNodePublicIP *bool `yaml:"enable_node_public_ip"`
	// Backend is mlw's own field: backend: {type: slurm, partition: gpu}
	// runs the cluster's jobs on a Slurm partition (docs/slurm.md).
	Backend map[string]any `yaml:"backend"`
}

// clusterFromYAML maps an amlCompute YAML file to the REST body.
func clusterFromYAML(path string, raw []byte) (Doc, error) {
	var y clusterYAML
	if err := api.DecodeYAML(path, raw, &y); err != nil {
		return nil, err
	}
	props := Doc{"osType": "Linux"}
	if y.Size != "" {
		props["vmSize"] = y.Size
	}
	if y.Tier != "" {
		t, err := tierToPriority(y.Tier)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		props["vmPriority"] = t
	}
	scale := Doc{}
	if y.MinInstances != nil {
		scale["minNodeCount"] = *y.MinInstances
	}
	if y.MaxInstances != nil {
		scale["maxNodeCount"] = *y.MaxInstances
	}
	if y.IdleTimeBeforeScaleDown != nil {
		scale["nodeIdleTimeBeforeScaleDown"] = fmt.Sprintf("PT%dS", *y.IdleTimeBeforeScaleDown)
	}
	props["scaleSettings"] = scale
	switch {
	case y.SSHPublicAccessEnabled == nil:
		props["remoteLoginPortPublicAccess"] = "NotSpecified"
	case *y.SSHPublicAccessEnabled:
		props["remoteLoginPortPublicAccess"] = "Enabled"
	default:
		props["remoteLoginPortPublicAccess"] = "Disabled"
	}
	if y.SSHSettings != nil {
		props["userAccountCredentials"] = Doc{"adminUserName": y.SSHSettings.AdminUsername,
			"adminUserSshPublicKey": y.SSHSettings.SSHKeyValue, "adminUserPassword": y.SSHSettings.AdminPassword}
	}
	if y.EnableNodePublicIP != nil {
		props["enableNodePublicIp"] = *y.EnableNodePublicIP
	}
	if y.Backend != nil {
		props["backend"] = y.Backend
	}
	return y.body(path, "AmlCompute", props)
}

// computeYAML holds the fields every compute YAML schema has.
type computeYAML struct {
	Schema          string            `yaml:"$schema"`
	Name            string            `yaml:"name"`
	Type            string            `yaml:"type"`
	Description     string            `yaml:"description"`
	Location        string            `yaml:"location"`
	Tags            map[string]string `yaml:"tags"`
	ResourceID      string            `yaml:"resource_id"`
	Identity        map[string]any    `yaml:"identity"`
	NetworkSettings *struct {
		VnetName string `yaml:"vnet_name"`
		Subnet   string `yaml:"subnet"`
		// Dump-only (compute show).
		PrivateIPAddress any `yaml:"private_ip_address"`
		PublicIPAddress  any `yaml:"public_ip_address"`
	} `yaml:"network_settings"`

	// Dump-only fields, which `compute show -o yaml` prints: accepted and
	// ignored, so that what show prints can be created again.
	ID                 any `yaml:"id"`
	ProvisioningState  any `yaml:"provisioning_state"`
	ProvisioningErrors any `yaml:"provisioning_errors"`
	CreatedOn          any `yaml:"created_on"`
}

// body is the REST body of a compute of computeType with props as its
// properties.properties (the subnet added); path names the file in errors.
func (y *computeYAML) body(path, computeType string, props Doc) (Doc, error) {
	if y.NetworkSettings != nil && y.NetworkSettings.Subnet != "" {
		props["subnet"] = Doc{"id": y.NetworkSettings.Subnet}
	}
	body := Doc{"properties": Doc{"computeType": computeType, "description": y.Description, "properties": props}}
	if y.Location != "" {
		body["location"] = y.Location
	}
	if len(y.Tags) > 0 {
		body["tags"] = y.Tags
	}
	if y.Identity != nil {
		// A free-form mapping: what YAML allows as keys, JSON may not.
		id, err := api.JSONValue(y.Identity)
		if err != nil {
			return nil, fmt.Errorf("%s: identity: %w", path, err)
		}
		body["identity"] = id
	}
	return body, nil
}

// nodeColumns are the table columns of list-nodes.
var nodeColumns = []column{{Header: "Node", Path: "nodeId"}, {Header: "State", Path: "nodeState"},
	{Header: "Address", Path: "privateIpAddress"}, {Header: "Port", Path: "port"}, {Header: "Job", Path: "runId"}}

func computeListNodesCmd(app *App) *cobra.Command {
	var s scope
	var name string
	cmd := &cobra.Command{
		Use:     "list-nodes",
		Short:   "List the nodes of a cluster and the job each runs",
		Example: "  mlw compute list-nodes --name aml-cluster",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			c, _ := app.Client()
			var out struct {
				Nodes []Doc `json:"nodes"`
			}
			if _, err := c.Do(cmd.Context(), "POST", p+"/listNodes", Doc{}, &out); err != nil {
				return err
			}
			if out.Nodes == nil {
				out.Nodes = []Doc{}
			}
			return app.printView(out.Nodes, view{shape: nodeShape, cols: nodeColumns})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "cluster name")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func computeUpdateCmd(app *App) *cobra.Command {
	var s scope
	var name string
	var f clusterFlags
	var noWait bool
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Change a cluster's scale settings",
		Example: `  mlw compute update --name aml-cluster --max-instances 2
  mlw compute update --name aml-cluster --min-instances 1 --idle-time-before-scale-down 300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			scale, err := clusterScale(cmd, app, &f, p)
			if err != nil {
				return err
			}
			c, _ := app.Client()
			body := Doc{"properties": Doc{"properties": Doc{"scaleSettings": scale}}}
			resp, err := c.Do(cmd.Context(), "PATCH", p, body, nil)
			if err != nil {
				return err
			}
			if !noWait {
				if err := app.wait(cmd.Context(), c, resp, "Updating compute "+name); err != nil {
					return err
				}
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			return app.printView(d, computeView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "cluster name")
	cmd.Flags().IntVar(&f.min, "min-instances", 0, "fewest nodes kept")
	cmd.Flags().IntVar(&f.max, "max-instances", 0, "most nodes")
	cmd.Flags().IntVarP(&f.idleSeconds, "idle-time-before-scale-down", "d", 0, "seconds a node may idle before it is removed")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the update has started")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// clusterScale is the scaleSettings `compute update` sends: the flags
// given, over the cluster's current settings (read from path).
func clusterScale(cmd *cobra.Command, app *App, f *clusterFlags, path string) (Doc, error) {
	scale := Doc{}
	fl := cmd.Flags()
	if fl.Changed("min-instances") {
		scale["minNodeCount"] = f.min
	}
	if fl.Changed("max-instances") {
		scale["maxNodeCount"] = f.max
	}
	if fl.Changed("idle-time-before-scale-down") {
		scale["nodeIdleTimeBeforeScaleDown"] = fmt.Sprintf("PT%dS", f.idleSeconds)
	}
	if len(scale) == 0 {
		return nil, fmt.Errorf("nothing to change: pass --min-instances, --max-instances or --idle-time-before-scale-down")
	}
	cur, err := app.getDoc(cmd.Context(), path)
	if err != nil {
		return nil, err
	}
	old, _ := lookup(cur, "properties.properties.scaleSettings").(map[string]any)
	for k, v := range old {
		if _, ok := scale[k]; !ok {
			scale[k] = v
		}
	}
	return scale, nil
}

func computePreemptNodeCmd(app *App) *cobra.Command {
	var s scope
	var name, nodeID string
	cmd := &cobra.Command{
		Use:   "preempt-node",
		Short: "Preempt a node of a low-priority cluster (as Azure reclaims a VM), for tests and chaos drills",
		Long: `Preempt a node of a cluster with vmPriority LowPriority, as Azure reclaims a
low-priority VM: its job stops and is queued again (attempts and ./checkpoints
are kept), and the node is removed. Without --node-id the first node running a
job is preempted.`,
		Example: "  mlw compute preempt-node --name low-cluster\n  mlw compute preempt-node --name low-cluster --node-id tvm-0722166983_1-20260304t050607z",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			c, _ := app.Client()
			body := Doc{}
			if nodeID != "" {
				body["nodeId"] = nodeID
			}
			var out Doc
			if _, err := c.Do(cmd.Context(), "POST", p+"/preemptNode", body, &out); err != nil {
				return err
			}
			return app.print(out, []column{{Header: "Node", Path: "nodeId"}, {Header: "Status", Path: "status"}, {Header: "Job", Path: "runId"}})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "cluster name")
	cmd.Flags().StringVar(&nodeID, "node-id", "", "the node to preempt (see mlw compute list-nodes)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// printClusterDetails shows one compute cluster for people: its size and
// tier, its nodes, why it scaled, and how its jobs are isolated.
func printClusterDetails(app *App, d Doc) error {
	p := "properties.properties."
	rows := [][2]string{
		{"Name", str(d, "name")},
		{"Provisioning", str(d, "properties.provisioningState")},
		{"Size", str(d, p+"vmSize") + " (" + str(d, p+"vmPriority") + ")"},
		{"Nodes", computeState(d)},
		{"Last scaling", str(d, p+"scaleReason")},
		{"Queue", str(d, p+"queueReason")},
		{"Isolation", str(d, p+"mlw.isolation")},
	}
	for _, r := range rows {
		if strings.TrimSpace(strings.Trim(r[1], " ()")) != "" {
			fmt.Fprintf(app.Out, "%-15s %s\n", r[0]+":", r[1])
		}
	}
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

var computeColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Type", Path: "properties.computeType"},
	{Header: "Size", Func: func(d Doc) string {
		if s := str(d, "properties.properties.vmSize"); s != "" {
			return s
		}
		return str(d, "properties.properties.defaultInstanceType") // a Kubernetes compute's pods
	}},
	{Header: "State", Func: computeState},
	{Header: "Provisioning", Path: "properties.provisioningState"},
}

// computeView prints computes: the SDK's shape, the columns above.
var computeView = view{shape: computeShape, cols: computeColumns}

// computeState is an instance's state, or a cluster's nodes.
func computeState(d Doc) string {
	if s := str(d, "properties.properties.state"); s != "" {
		return s
	}
	if str(d, "properties.computeType") == "AmlCompute" {
		return fmt.Sprintf("%s, %s/%s nodes (min %s)", str(d, "properties.properties.allocationState"),
			str(d, "properties.properties.currentNodeCount"), str(d, "properties.properties.scaleSettings.maxNodeCount"),
			str(d, "properties.properties.scaleSettings.minNodeCount"))
	}
	return ""
}

// computeFlags are the flags of `compute create` common to both types.
type computeFlags struct {
	file, name, typ, size, description, location string
	tags                                         []string
	noWait                                       bool
	instance                                     instanceFlags
	cluster                                      clusterFlags
}

func computeCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "compute", Short: "Manage compute instances and clusters", Aliases: []string{"computes"}}
	cmd.AddCommand(computeCreateCmd(app), computeAttachCmd(app), computeShowCmd(app), computeListCmd(app), computeDeleteCmd(app),
		computeListSizesCmd(app), computeListUsageCmd(app))
	// The verbs of compute instances, then those of clusters.
	cmd.AddCommand(computeInstanceOpCmd(app, "start", "Start a stopped compute instance", "Starting"),
		computeInstanceOpCmd(app, "stop", "Stop a compute instance (it keeps its files and its quota)", "Stopping"),
		computeInstanceOpCmd(app, "restart", "Restart a compute instance", "Restarting"),
		computeConnectSSHCmd(app), computeTerminalCmd(app), computeOpenJupyterCmd(app))
	cmd.AddCommand(computeListNodesCmd(app), computeUpdateCmd(app), computePreemptNodeCmd(app))
	return cmd
}

// computePath resolves the workspace of s (flags, then defaults) and
// returns the ARM path of its compute name.
func (a *App) computePath(ctx context.Context, s *scope, name string) (string, error) {
	if err := a.resolveWorkspace(s); err != nil {
		return "", err
	}
	if name == "" {
		return "", errors.New("pass the compute's name with --name/-n")
	}
	p, err := a.computesPath(ctx, s)
	return p + "/" + name, err
}

// computesPath resolves the workspace of s and returns the ARM path of its
// computes.
func (a *App) computesPath(ctx context.Context, s *scope) (string, error) {
	if err := a.resolveWorkspace(s); err != nil {
		return "", err
	}
	_, p, err := a.workspacePath(ctx, s)
	return p + "/computes", err
}

func computeShowCmd(app *App) *cobra.Command {
	var s scope
	var name string
	var showLogs bool
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show a compute",
		Example: "  mlw compute show --name aml-cluster",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			if showLogs {
				return printInstanceLogs(cmd.Context(), app, p)
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			if app.peopleTable() && str(d, "properties.computeType") == "ComputeInstance" {
				return printInstanceDetails(app, d)
			}
			if app.peopleTable() && str(d, "properties.computeType") == "AmlCompute" {
				return printClusterDetails(app, d)
			}
			return app.printView(d, computeView)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().BoolVar(&showLogs, "logs", false, "compute instances: print the setup script logs instead")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func computeListCmd(app *App) *cobra.Command {
	var s scope
	var typeFilter string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List computes",
		Example: "  mlw compute list\n  mlw compute list --type AmlCompute -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computesPath(cmd.Context(), &s)
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), p)
			if err != nil {
				return err
			}
			if typeFilter != "" {
				kept := []Doc{}
				for _, d := range docs {
					if strings.EqualFold(str(d, "properties.computeType"), typeFilter) {
						kept = append(kept, d)
					}
				}
				docs = kept
			}
			return app.printView(docs, computeView)
		},
	}
	cmd.Flags().StringVarP(&typeFilter, "type", "t", "", "only this type (ComputeInstance or AmlCompute)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func computeDeleteCmd(app *App) *cobra.Command {
	var s scope
	var name string
	var yes, noWait bool
	cmd := &cobra.Command{
		Use:     "delete",
		Short:   "Delete a compute (stops its processes, cancels its jobs)",
		Example: "  mlw compute delete --name ci-1 --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := app.computePath(cmd.Context(), &s, name)
			if err != nil {
				return err
			}
			if err := app.confirm("Delete compute '"+name+"'?", yes); err != nil {
				return err
			}
			c, _ := app.Client()
			resp, err := c.Do(cmd.Context(), "DELETE", p+"?underlyingResourceAction=Delete", nil, nil)
			if err != nil {
				return err
			}
			if noWait {
				app.errf("Deletion of compute '%s' started.\n", name)
				return nil
			}
			return app.wait(cmd.Context(), c, resp, "Deleting compute "+name)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the deletion has started")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// computeLocation is the subscription and the location whose VM sizes and
// quotas to list: --location, the default location, or the workspace's.
func (a *App) computeLocation(ctx context.Context, s *scope, location string) (string, string, error) {
	c, sub, err := a.clientSub(ctx)
	if err != nil {
		return "", "", err
	}
	if location == "" {
		location = a.Profile().Defaults["location"]
	}
	if location == "" {
		if err := a.resolveWorkspace(s); err != nil {
			return "", "", fmt.Errorf("pass --location, or a workspace whose location to use: %w", err)
		}
		ws, err := c.GetWorkspace(ctx, s.group, s.workspace)
		if err != nil {
			return "", "", err
		}
		location = ws.Location
	}
	return sub, location, nil
}

// vmSizeColumns are the table columns of list-sizes.
var vmSizeColumns = []column{{Header: "Name", Path: "name"}, {Header: "Family", Path: "family"},
	{Header: "vCPUs", Path: "vCPUs"}, {Header: "Memory GB", Path: "memoryGB"}, {Header: "GPUs", Path: "gpus"},
	{Header: "$/hour", Func: func(d Doc) string {
		if v, ok := lookup(d, "estimatedVMPrices.values").([]any); ok && len(v) > 0 {
			if m, ok := v[0].(map[string]any); ok {
				return fmt.Sprint(m["retailPrice"])
			}
		}
		return ""
	}}}

func computeListSizesCmd(app *App) *cobra.Command {
	var s scope
	var location string
	cmd := &cobra.Command{
		Use:     "list-sizes",
		Short:   "List the VM sizes computes may use",
		Example: "  mlw compute list-sizes --location eastus",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sub, loc, err := app.computeLocation(cmd.Context(), &s, location)
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), "/subscriptions/"+sub+"/providers/"+api.Provider+"/locations/"+loc+"/vmSizes")
			if err != nil {
				return err
			}
			return app.print(docs, vmSizeColumns)
		},
	}
	cmd.Flags().StringVarP(&location, "location", "l", "", "location (default: the workspace's)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func computeListUsageCmd(app *App) *cobra.Command {
	var s scope
	var location string
	cmd := &cobra.Command{
		Use:     "list-usage",
		Short:   "List vCPU quota usage per VM family",
		Example: "  mlw compute list-usage --location eastus",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sub, loc, err := app.computeLocation(cmd.Context(), &s, location)
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), "/subscriptions/"+sub+"/providers/"+api.Provider+"/locations/"+loc+"/usages")
			if err != nil {
				return err
			}
			return app.print(docs, []column{{Header: "Name", Path: "name.localizedValue"}, {Header: "Used", Path: "currentValue"},
				{Header: "Limit", Path: "limit"}})
		},
	}
	cmd.Flags().StringVarP(&location, "location", "l", "", "location (default: the workspace's)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

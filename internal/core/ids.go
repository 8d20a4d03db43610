package core

import (
	"strings"
)

// Provider is the Azure resource provider namespace mlw implements.
const Provider = "Microsoft.MachineLearningServices"

// Resource kinds. A kind names a table of desired state; ARM types are
// derived from it. Child kinds live under a workspace.
const (
	KindSubscription  = "subscription"
	KindResourceGroup = "resourcegroup"
	KindWorkspace     = "workspace"
	KindDatastore     = "datastore"
	KindCompute       = "compute"
	KindJob           = "job"
	KindCodeContainer = "code"
	KindCodeVersion   = "codeversion"
	KindEnvContainer  = "environment"
	KindEnvVersion    = "environmentversion"
)

// SubscriptionPath returns the canonical ARM id of a subscription.
func SubscriptionPath(sub string) string { return "/subscriptions/" + sub }

// GroupPath returns the canonical ARM id of a resource group.
func GroupPath(sub, rg string) string { return SubscriptionPath(sub) + "/resourceGroups/" + rg }

// WorkspacePath returns the canonical ARM id of a workspace.
func WorkspacePath(sub, rg, ws string) string {
	return GroupPath(sub, rg) + "/providers/" + Provider + "/workspaces/" + ws
}

// Key folds an ARM id (or a name) to the form used for lookups: ARM ids and
// names are case-insensitive but case-preserving.
func Key(s string) string { return strings.ToLower(s) }

// WorkspaceRef names a workspace by its path segments.
type WorkspaceRef struct {
	Subscription  string
	ResourceGroup string
	Workspace     string
}

// ID is the canonical ARM id of the workspace.
func (w WorkspaceRef) ID() string { return WorkspacePath(w.Subscription, w.ResourceGroup, w.Workspace) }

// Key is the lookup key of the workspace (its lowercase ARM id).
func (w WorkspaceRef) Key() string { return Key(w.ID()) }

// GroupKey is the lookup key of the workspace's resource group.
func (w WorkspaceRef) GroupKey() string { return Key(GroupPath(w.Subscription, w.ResourceGroup)) }

// ParseWorkspaceID splits an ARM id that starts with a workspace id into the
// workspace and the rest of the path (which may be empty). ok is false when id
// does not name a workspace.
func ParseWorkspaceID(id string) (ref WorkspaceRef, rest string, ok bool) {
	seg := strings.Split(strings.Trim(id, "/"), "/")
	if len(seg) < 8 || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "resourceGroups") ||
		!strings.EqualFold(seg[4], "providers") || !strings.EqualFold(seg[5], Provider) || !strings.EqualFold(seg[6], "workspaces") {
		return WorkspaceRef{}, "", false
	}
	ref = WorkspaceRef{Subscription: seg[1], ResourceGroup: seg[3], Workspace: seg[7]}
	return ref, strings.Join(seg[8:], "/"), true
}

// StripAzureMLPrefix removes the "azureml:" prefix that the Azure ML CLI and
// SDK put in front of workspace asset references.
func StripAzureMLPrefix(s string) string {
	if len(s) >= 8 && strings.EqualFold(s[:8], "azureml:") && !strings.HasPrefix(s[8:], "//") {
		return s[8:]
	}
	return s
}

// NormalizeLocation folds an Azure region name: "East US" and "eastus" are
// the same region.
func NormalizeLocation(loc string) string {
	return strings.ToLower(strings.ReplaceAll(loc, " ", ""))
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

var assignmentColumns = []column{
	{Header: "Principal", Path: "properties.mlw.principalName"},
	{Header: "Role", Path: "properties.mlw.roleName"},
	{Header: "Scope", Path: "properties.scope"},
	{Header: "Name", Path: "name"},
}

// roleScope is the scope flags of `mlw role assignment`: an ARM id, or the
// friendly -g / -w.
type roleScope struct {
	id string
	scope
}

func addRoleScopeFlags(cmd *cobra.Command, s *roleScope, what string) {
	cmd.Flags().StringVar(&s.id, "scope", "", what+": an ARM id (/subscriptions/<id>[/resourceGroups/<group>[/providers/Microsoft.MachineLearningServices/workspaces/<name>]])")
	cmd.Flags().StringVarP(&s.group, "resource-group", "g", "", "resource group scope (instead of --scope)")
	cmd.Flags().StringVarP(&s.workspace, "workspace-name", "w", "", "workspace scope, with -g (instead of --scope)")
}

// resolve returns the scope's ARM id; required says whether one must be
// given (else the subscription).
func (s *roleScope) resolve(ctx context.Context, app *App, required bool) (*api.Client, string, error) {
	c, sub, err := app.clientSub(ctx)
	if err != nil {
		return nil, "", err
	}
	switch {
	case s.id != "" && (s.group != "" || s.workspace != ""):
		return nil, "", errors.New("give either --scope or -g/--resource-group (with -w/--workspace-name), not both")
	case s.id != "":
		id := "/" + strings.Trim(strings.TrimSpace(s.id), "/")
		if !strings.HasPrefix(strings.ToLower(id), "/subscriptions/") {
			return nil, "", fmt.Errorf("--scope %q is not an ARM id: it starts with /subscriptions/<id> (this server's is %s)", s.id, sub)
		}
		return c, id, nil
	case s.workspace != "" && s.group == "":
		return nil, "", errors.New("-w/--workspace-name needs -g/--resource-group too")
	case s.workspace != "":
		return c, api.WorkspacePath(sub, s.group, s.workspace), nil
	case s.group != "":
		return c, api.GroupPath(sub, s.group), nil
	case required:
		return nil, "", errors.New("a scope is required: pass --scope <ARM id>, or -g/--resource-group <group> (and -w/--workspace-name <workspace>), or --scope /subscriptions/" + sub + " for the whole subscription")
	}
	return c, "/subscriptions/" + url.PathEscape(sub), nil
}

// assigneeID resolves --assignee (a user name or object id) to an object id.
func assigneeID(ctx context.Context, app *App, assignee string) (string, error) {
	assignee = strings.TrimSpace(assignee)
	if assignee == "" {
		return "", errors.New("--assignee is required: a user name or object id (`mlw user list`)")
	}
	if _, err := uuid.Parse(assignee); err == nil {
		return assignee, nil
	}
	d, err := app.getDoc(ctx, "/mlw/v1/users/"+url.PathEscape(assignee))
	if err != nil {
		return "", fmt.Errorf("--assignee %q: %v", assignee, err)
	}
	return str(d, "objectId"), nil
}

// roleDefinitionID finds a role by name (any case) in the scope's
// subscription.
func roleDefinitionID(ctx context.Context, app *App, scopeID, role string) (string, string, error) {
	if strings.TrimSpace(role) == "" {
		return "", "", errors.New("--role is required: Owner, Contributor, \"AzureML Data Scientist\" or Reader")
	}
	sub := scopeID
	if parts := strings.Split(strings.Trim(scopeID, "/"), "/"); len(parts) >= 2 {
		sub = "/" + parts[0] + "/" + parts[1]
	}
	defs, err := app.listDocs(ctx, sub+"/providers/Microsoft.Authorization/roleDefinitions")
	if err != nil {
		return "", "", err
	}
	var names []string
	for _, d := range defs {
		n := str(d, "properties.roleName")
		if strings.EqualFold(n, role) || strings.EqualFold(str(d, "name"), role) {
			return str(d, "id"), n, nil
		}
		names = append(names, n)
	}
	return "", "", fmt.Errorf("--role %q is not a role of this server: use one of %s", role, strings.Join(names, ", "))
}

func roleCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "Manage who may do what, where (Azure RBAC role assignments)"}
	assignment := &cobra.Command{Use: "assignment", Short: "Grant, list and remove roles at a subscription, resource group or workspace", Aliases: []string{"assignments"}}
	assignment.AddCommand(roleAssignmentCreateCmd(app), roleAssignmentListCmd(app), roleAssignmentDeleteCmd(app))
	definition := &cobra.Command{Use: "definition", Short: "Show the roles there are"}
	definition.AddCommand(roleDefinitionListCmd(app))
	cmd.AddCommand(assignment, definition)
	return cmd
}

// roleAssignmentsPath is the path of the role assignments at scopeID.
func roleAssignmentsPath(scopeID string) string {
	return scopeID + "/providers/Microsoft.Authorization/roleAssignments"
}

func roleAssignmentCreateCmd(app *App) *cobra.Command {
	var s roleScope
	var assignee, role string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Give a user a role at a scope (Owners of the scope only)",
		Long: `Give a user a role at a scope, as az role assignment create does. The role
holds at the scope and everything below it:

  Owner                   everything, including granting roles
  Contributor             everything but granting roles
  AzureML Data Scientist  jobs, code, environments, data and files of a
                          workspace, start/stop/restart of computes; not
                          creating or deleting computes or the workspace
  Reader                  read only`,
		Example: `  mlw role assignment create --assignee bob --role Contributor -g rg-labs -w ws-labs
  mlw role assignment create --assignee bob --role "AzureML Data Scientist" --scope /subscriptions/<id>/resourceGroups/rg-labs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, scopeID, err := s.resolve(ctx, app, true)
			if err != nil {
				return err
			}
			oid, err := assigneeID(ctx, app, assignee)
			if err != nil {
				return err
			}
			defID, _, err := roleDefinitionID(ctx, app, scopeID, role)
			if err != nil {
				return err
			}
			var out Doc
			body := Doc{"properties": Doc{"roleDefinitionId": defID, "principalId": oid}}
			if _, err := c.Do(ctx, "PUT", roleAssignmentsPath(scopeID)+"/"+uuid.NewString(), body, &out); err != nil {
				return err
			}
			return app.print(out, assignmentColumns)
		},
	}
	addRoleScopeFlags(cmd, &s, "where the role holds")
	cmd.Flags().StringVar(&assignee, "assignee", "", "the user: a name or object id")
	cmd.Flags().StringVar(&role, "role", "", `Owner, Contributor, "AzureML Data Scientist" or Reader`)
	return cmd
}

func roleAssignmentListCmd(app *App) *cobra.Command {
	var s roleScope
	var assignee string
	var atScope bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the role assignments that hold at a scope, and those below it",
		Example: `  mlw role assignment list
  mlw role assignment list -g rg-labs -w ws-labs --assignee bob`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, scopeID, err := s.resolve(ctx, app, false)
			if err != nil {
				return err
			}
			var filters []string
			if atScope {
				filters = append(filters, "atScope()")
			}
			if assignee != "" {
				oid, err := assigneeID(ctx, app, assignee)
				if err != nil {
					return err
				}
				filters = append(filters, "principalId eq '"+oid+"'")
			}
			path := roleAssignmentsPath(scopeID)
			if len(filters) > 0 {
				path += "?$filter=" + url.QueryEscape(strings.Join(filters, " and "))
			}
			docs, err := app.listDocs(ctx, path)
			if err != nil {
				return err
			}
			return app.print(docs, assignmentColumns)
		},
	}
	addRoleScopeFlags(cmd, &s, "where to look (default: the subscription)")
	cmd.Flags().StringVar(&assignee, "assignee", "", "only this user's (a name or object id)")
	cmd.Flags().BoolVar(&atScope, "at-scope", false, "only those at the scope and above it, not below")
	return cmd
}

func roleAssignmentDeleteCmd(app *App) *cobra.Command {
	var s roleScope
	var assignee, role, name string
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Remove role assignments: by name, or a user's role at a scope (Owners of the scope only)",
		Example: `  mlw role assignment delete --assignee bob --role Contributor -g rg-labs -w ws-labs
  mlw role assignment delete --name 3f2c…-… --scope /subscriptions/<id>/resourceGroups/rg-labs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, scopeID, err := s.resolve(ctx, app, true)
			if err != nil {
				return err
			}
			names, err := assignmentNames(ctx, app, scopeID, name, assignee, role)
			if err != nil {
				return err
			}
			var out []Doc
			for _, n := range names {
				var d Doc
				if _, err := c.Do(ctx, "DELETE", roleAssignmentsPath(scopeID)+"/"+url.PathEscape(n), nil, &d); err != nil {
					return err
				}
				out = append(out, d)
			}
			return app.print(out, assignmentColumns)
		},
	}
	addRoleScopeFlags(cmd, &s, "where the assignment is")
	cmd.Flags().StringVar(&assignee, "assignee", "", "the user: a name or object id")
	cmd.Flags().StringVar(&role, "role", "", "the role to remove (default: every role of --assignee at the scope)")
	cmd.Flags().StringVarP(&name, "name", "n", "", "the assignment's name (a GUID, as list shows it)")
	return cmd
}

// assignmentNames are the role assignments `role assignment delete`
// removes: the one named, or those of assignee (of role, when given) made
// at scopeID itself.
func assignmentNames(ctx context.Context, app *App, scopeID, name, assignee, role string) ([]string, error) {
	switch {
	case name != "" && (assignee != "" || role != ""):
		return nil, errors.New("give either --name or --assignee with --role, not both")
	case name != "":
		return []string{name}, nil
	case assignee == "":
		return nil, errors.New("say which assignment: --name <assignment name>, or --assignee <user> with --role <role>")
	}
	oid, err := assigneeID(ctx, app, assignee)
	if err != nil {
		return nil, err
	}
	docs, err := app.listDocs(ctx, roleAssignmentsPath(scopeID)+"?$filter="+
		url.QueryEscape("atScope() and principalId eq '"+oid+"'"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range docs {
		if !strings.EqualFold(strings.TrimSuffix(str(d, "properties.scope"), "/"), strings.TrimSuffix(scopeID, "/")) {
			continue
		}
		if role == "" || strings.EqualFold(str(d, "properties.mlw.roleName"), role) {
			names = append(names, str(d, "name"))
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no role assignment%s at %s (`mlw role assignment list --scope %s --assignee %s`)",
			assignee, map[bool]string{true: "", false: " " + role}[role == ""], scopeID, scopeID, assignee)
	}
	return names, nil
}

func roleDefinitionListCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the roles and what they allow",
		Example: "  mlw role definition list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, sub, err := app.clientSub(cmd.Context())
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), "/subscriptions/"+url.PathEscape(sub)+"/providers/Microsoft.Authorization/roleDefinitions")
			if err != nil {
				return err
			}
			return app.print(docs, []column{
				{Header: "Role", Path: "properties.roleName"},
				{Header: "ID", Path: "name"},
				{Header: "Description", Path: "properties.description"},
			})
		},
	}
}

package cli

import (
	"errors"
	"net/url"

	"github.com/spf13/cobra"
)

var userColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Role", Path: "role"},
	{Header: "Object ID", Path: "objectId"},
	{Header: "Disabled", Path: "disabled"},
}

func userCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the users who may call this server", Aliases: []string{"users"}}
	cmd.AddCommand(userCreateCmd(app), userShowCmd(app), userListCmd(app), userSetPasswordCmd(app), userUpdateCmd(app),
		userEnableCmd(app, true), userEnableCmd(app, false), userDeleteCmd(app))
	return cmd
}

func userCreateCmd(app *App) *cobra.Command {
	var name, role string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a user and print their first API token (Owners only)",
		Long: `Create a user with a server-wide role — Owner (everything, including users
and quotas), Contributor (create and manage resources), "AzureML Data
Scientist" (work in workspaces, not create computes or workspaces), Reader
(read only), or None (no access until given role assignments with ` + "`mlw role assignment create`" + `) — and print their first API token. The token is shown
once; the server keeps only its hash.`,
		Example: "  mlw user create --name bob --role Contributor\n  mlw user create --name dana --role None\n  printf '%s\\n' \"$PW\" | mlw user create --name bob --password-stdin",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			body := Doc{"role": role}
			if pwStdin {
				pw, err := readPassword(app.In)
				if err != nil {
					return err
				}
				body["password"] = pw
			}
			var out Doc
			if _, err := c.Do(cmd.Context(), "PUT", "/mlw/v1/users/"+url.PathEscape(name), body, &out); err != nil {
				return err
			}
			return app.print(out, append(userColumns, column{Header: "Token", Path: "token"}))
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "user name (lowercase)")
	cmd.Flags().StringVar(&role, "role", "Contributor", `server-wide role: Owner, Contributor, "AzureML Data Scientist", Reader or None`)
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read a password for the studio's sign-in from standard input")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func userSetPasswordCmd(app *App) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "set-password",
		Short: "Set a password for the studio's sign-in (yourself, or anyone as an Owner)",
		Long: `Set the password a user signs in to the studio with (user name and password
at /studio). The password is read from standard input; the server keeps only a
bcrypt hash. API clients keep using tokens.`,
		Example: "  printf '%s\\n' \"$PW\" | mlw user set-password --name bob",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			pw, err := readPassword(app.In)
			if err != nil {
				return err
			}
			user, err := userOrSelf(cmd, app, name)
			if err != nil {
				return err
			}
			if _, err := c.Do(cmd.Context(), "PUT", "/mlw/v1/users/"+url.PathEscape(user)+"/password", Doc{"password": pw}, nil); err != nil {
				return err
			}
			app.errf("The password of user %s is set; sign in at %s/studio.\n", user, c.BaseURL)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "user name (default: yourself)")
	return cmd
}

func userShowCmd(app *App) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show a user (yourself without --name)",
		Example: "  mlw user show\n  mlw user show --name bob",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := "/mlw/v1/me"
			if name != "" {
				p = "/mlw/v1/users/" + url.PathEscape(name)
			}
			d, err := app.getDoc(cmd.Context(), p)
			if err != nil {
				return err
			}
			return app.print(d, append(userColumns, column{Header: "Tenant ID", Path: "tenantId"}))
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "user name")
	return cmd
}

func userListCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List users",
		Example: "  mlw user list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docs, err := app.listDocs(cmd.Context(), "/mlw/v1/users")
			if err != nil {
				return err
			}
			return app.print(docs, userColumns)
		},
	}
}

// userOrSelf is the user name given (--name, --user), or the caller's.
func userOrSelf(cmd *cobra.Command, app *App, user string) (string, error) {
	if user != "" {
		return user, nil
	}
	me, err := app.getDoc(cmd.Context(), "/mlw/v1/me")
	if err != nil {
		return "", err
	}
	return str(me, "name"), nil
}

func userUpdateCmd(app *App) *cobra.Command {
	var name, role string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Change a user's server-wide role (server Owners only)",
		Long: `Change the role a user holds across the whole server (Owner, Contributor,
"AzureML Data Scientist", Reader, or None). It holds at once, on every replica.
Roles at one subscription, group or workspace are role assignments: see
` + "`mlw role assignment`" + `.`,
		Example: "  mlw user update --name bob --role Reader\n  mlw user update --name bob --role None",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role == "" {
				return errors.New("--role is required: Owner, Contributor, \"AzureML Data Scientist\", Reader or None")
			}
			return patchUser(cmd, app, name, Doc{"role": role})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "user name")
	cmd.Flags().StringVar(&role, "role", "", `Owner, Contributor, "AzureML Data Scientist", Reader or None`)
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func patchUser(cmd *cobra.Command, app *App, name string, body Doc) error {
	c, err := app.Client()
	if err != nil {
		return err
	}
	var out Doc
	if _, err := c.Do(cmd.Context(), "PATCH", "/mlw/v1/users/"+url.PathEscape(name), body, &out); err != nil {
		return err
	}
	return app.print(out, userColumns)
}

// userEnableCmd is `mlw user enable` (enable) or `mlw user disable`.
func userEnableCmd(app *App, enable bool) *cobra.Command {
	var name string
	use, short := "disable", "Disable a user: their tokens and sessions stop working at once, everything else stays (server Owners only)"
	if enable {
		use, short = "enable", "Enable a disabled user again (server Owners only)"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  mlw user " + use + " --name bob",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return patchUser(cmd, app, name, Doc{"disabled": !enable})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "user name")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func userDeleteCmd(app *App) *cobra.Command {
	var name string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a user with their tokens, sessions and role assignments (server Owners only)",
		Long: `Delete a user. Their API tokens, the access tokens and browser sessions made
from them, their password and their role assignments go at once, on every
replica. What they made stays: groups, workspaces, jobs and files keep their
createdBy; compute instances assigned to them stay (without the user's token)
until someone deletes them. The last enabled Owner cannot be deleted.`,
		Example: "  mlw user delete --name bob --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.confirm("Delete user "+name+"?", yes); err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			if _, err := c.Do(cmd.Context(), "DELETE", "/mlw/v1/users/"+url.PathEscape(name), nil, nil); err != nil {
				return err
			}
			app.errf("User %s is deleted.\n", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "user name")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

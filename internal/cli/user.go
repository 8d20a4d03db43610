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
	var name, role string
	var pwStdin bool
	create := &cobra.Command{
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
	create.Flags().StringVarP(&name, "name", "n", "", "user name (lowercase)")
	create.Flags().StringVar(&role, "role", "Contributor", `server-wide role: Owner, Contributor, "AzureML Data Scientist", Reader or None`)
	create.Flags().BoolVar(&pwStdin, "password-stdin", false, "read a password for the studio's sign-in from standard input")
	_ = create.MarkFlagRequired("name")

	setPassword := &cobra.Command{
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
			user := name
			if user == "" {
				d, err := app.getDoc(cmd.Context(), "/mlw/v1/me")
				if err != nil {
					return err
				}
				user = str(d, "name")
			}
			if _, err := c.Do(cmd.Context(), "PUT", "/mlw/v1/users/"+url.PathEscape(user)+"/password", Doc{"password": pw}, nil); err != nil {
				return err
			}
			app.errf("The password of user %s is set; sign in at %s/studio.\n", user, c.BaseURL)
			return nil
		},
	}
	setPassword.Flags().StringVarP(&name, "name", "n", "", "user name (default: yourself)")

	show := &cobra.Command{
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
	show.Flags().StringVarP(&name, "name", "n", "", "user name")

	list := &cobra.Command{
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
	cmd.AddCommand(create, show, list, setPassword, userUpdateCmd(app), userEnableCmd(app, true), userEnableCmd(app, false), userDeleteCmd(app))
	return cmd
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

func tokenCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens"}
	var user, label, expires string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API token for yourself (or, as an Owner, for another user)",
		Example: `  mlw token create --label laptop --expires-in P30D
  mlw token create --user bob`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			if user == "" {
				me, err := app.getDoc(cmd.Context(), "/mlw/v1/me")
				if err != nil {
					return err
				}
				user = str(me, "name")
			}
			var out Doc
			body := Doc{"label": label, "expiresIn": expires}
			if _, err := c.Do(cmd.Context(), "POST", "/mlw/v1/users/"+url.PathEscape(user)+"/tokens", body, &out); err != nil {
				return err
			}
			if app.peopleTable() {
				_, err := app.Out.Write([]byte(str(out, "token") + "\n"))
				return err
			}
			return app.print(out, nil)
		},
	}
	create.Flags().StringVar(&user, "user", "", "user name (default: yourself)")
	create.Flags().StringVar(&label, "label", "", "a note on what the token is for")
	create.Flags().StringVar(&expires, "expires-in", "", "ISO 8601 lifetime such as P30D (default: no expiry)")
	cmd.AddCommand(create, tokenListCmd(app), tokenRevokeCmd(app))
	return cmd
}

var tokenColumns = []column{
	{Header: "ID", Path: "id"},
	{Header: "Label", Path: "label"},
	{Header: "Created", Path: "createdAt"},
	{Header: "Expires", Path: "expiresOn"},
	{Header: "Current", Func: func(d Doc) string {
		if v, _ := d["current"].(bool); v {
			return "*"
		}
		return ""
	}},
}

// tokenUser is --user, or the caller.
func tokenUser(cmd *cobra.Command, app *App, user string) (string, error) {
	if user != "" {
		return user, nil
	}
	me, err := app.getDoc(cmd.Context(), "/mlw/v1/me")
	if err != nil {
		return "", err
	}
	return str(me, "name"), nil
}

func tokenListCmd(app *App) *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List your API tokens (or, as a server Owner, another user's); secrets are never shown",
		Example: "  mlw token list\n  mlw token list --user bob",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := tokenUser(cmd, app, user)
			if err != nil {
				return err
			}
			docs, err := app.listDocs(cmd.Context(), "/mlw/v1/users/"+url.PathEscape(u)+"/tokens")
			if err != nil {
				return err
			}
			return app.print(docs, tokenColumns)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user name (default: yourself)")
	return cmd
}

func tokenRevokeCmd(app *App) *cobra.Command {
	var user, id string
	cmd := &cobra.Command{
		Use:   "revoke [ID]",
		Short: "Revoke an API token at once, with the access tokens and browser sessions made from it",
		Long: `Revoke an API token by the id ` + "`mlw token list`" + ` shows. It stops working on the
next request, on every replica; so do the access tokens the identity endpoint
issued for it and the browser sessions opened with it.`,
		Example: "  mlw token revoke 3f9a0c12d4e5b6a7\n  mlw token revoke --user bob --id 3f9a0c12d4e5b6a7",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if id != "" && id != args[0] {
					return errors.New("give the token id once: as the argument or with --id")
				}
				id = args[0]
			}
			if id == "" {
				return errors.New("say which token: mlw token revoke <id> (`mlw token list` shows the ids)")
			}
			u, err := tokenUser(cmd, app, user)
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			var out Doc
			if _, err := c.Do(cmd.Context(), "DELETE", "/mlw/v1/users/"+url.PathEscape(u)+"/tokens/"+url.PathEscape(id), nil, &out); err != nil {
				return err
			}
			app.errf("Token %s of %s is revoked.\n", id, u)
			return app.print(out, tokenColumns)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user name (default: yourself)")
	cmd.Flags().StringVar(&id, "id", "", "the token's id (as mlw token list shows it)")
	return cmd
}

package cli

import (
	"net/url"

	"github.com/spf13/cobra"
)

var userColumns = []column{
	{Header: "Name", Path: "name"},
	{Header: "Role", Path: "role"},
	{Header: "Object ID", Path: "objectId"},
}

func userCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the users who may call this server", Aliases: []string{"users"}}
	var name, role string
	var pwStdin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user and print their first API token (Owners only)",
		Long: `Create a user with a role — Owner (everything, including users and quotas),
Contributor (create and manage resources) or Reader (read only) — and print
their first API token. The token is shown once; the server keeps only its hash.`,
		Example: "  mlw user create --name bob --role Contributor\n  printf '%s\\n' \"$PW\" | mlw user create --name bob --password-stdin",
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
	create.Flags().StringVar(&role, "role", "Contributor", "Owner, Contributor or Reader")
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
	cmd.AddCommand(create, show, list, setPassword)
	return cmd
}

func tokenCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create API tokens"}
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
			if app.format() == "table" {
				_, err := app.Out.Write([]byte(str(out, "token") + "\n"))
				return err
			}
			return app.print(out, nil)
		},
	}
	create.Flags().StringVar(&user, "user", "", "user name (default: yourself)")
	create.Flags().StringVar(&label, "label", "", "a note on what the token is for")
	create.Flags().StringVar(&expires, "expires-in", "", "ISO 8601 lifetime such as P30D (default: no expiry)")
	cmd.AddCommand(create)
	return cmd
}

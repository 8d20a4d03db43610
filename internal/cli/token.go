package cli

import (
	"errors"
	"net/url"

	"github.com/spf13/cobra"
)

func tokenCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens"}
	cmd.AddCommand(tokenCreateCmd(app), tokenListCmd(app), tokenRevokeCmd(app))
	return cmd
}

func tokenCreateCmd(app *App) *cobra.Command {
	var user, label, expires string
	cmd := &cobra.Command{
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
			u, err := userOrSelf(cmd, app, user)
			if err != nil {
				return err
			}
			var out Doc
			body := Doc{"label": label, "expiresIn": expires}
			if _, err := c.Do(cmd.Context(), "POST", "/mlw/v1/users/"+url.PathEscape(u)+"/tokens", body, &out); err != nil {
				return err
			}
			if app.peopleTable() {
				_, err := app.Out.Write([]byte(str(out, "token") + "\n"))
				return err
			}
			return app.print(out, nil)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user name (default: yourself)")
	cmd.Flags().StringVar(&label, "label", "", "a note on what the token is for")
	cmd.Flags().StringVar(&expires, "expires-in", "", "ISO 8601 lifetime such as P30D (default: no expiry)")
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

func tokenListCmd(app *App) *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List your API tokens (or, as a server Owner, another user's); secrets are never shown",
		Example: "  mlw token list\n  mlw token list --user bob",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := userOrSelf(cmd, app, user)
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
			u, err := userOrSelf(cmd, app, user)
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

package httpapi

import (
	"errors"
	"net/http"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
)

// blobPrefix is where the Blob API of each storage account is served,
// path-style: /blob/{account}/{container}/{blob...}.
const blobPrefix = "/blob/"

// blobAccountName is the datastore accountName that points
// azure-storage-blob at this server (azureml-protocol §5.3).
func blobAccountName(r *Request, account string) string {
	return r.Host + blobPrefix + account + "/?x="
}

// blobRoutes serves the Azure Blob REST subset. The routes are public: the
// handler checks each request itself, accepting a SAS signed by this server
// for the container (from a datastore's listSecrets), or an mlw bearer
// token (the mlw CLI and tools).
func (a *API) blobRoutes() {
	h := &blob.Handler{Store: a.svc.Blobs, Authorize: a.authorizeBlob, Log: a.log}
	serve := func(r *Request) (any, error) {
		account := r.Param("account")
		h.Serve(r.W, r.Request, blob.Target{
			Endpoint: r.BaseURL() + blobPrefix + account + "/", Account: account,
			Container: r.Param("container"), Blob: r.Param("blob"),
		})
		return handled, nil
	}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		a.HandlePublic(m, blobPrefix+"{account}/{container}", serve)
		a.HandlePublic(m, blobPrefix+"{account}/{container}/{blob...}", serve)
	}
}

const authFailed = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."

// authorizeBlob checks a Blob API request: a SAS or a bearer token, and in
// either case the role of its user at the account's workspace (read and
// list need Reader, writes AzureML Data Scientist), so that a SAS ends with
// its user's access.
func (a *API) authorizeBlob(r *http.Request, account, container string, perm rune) error {
	action := identity.ActWrite
	if perm == blob.NeedRead || perm == blob.NeedList {
		action = identity.ActRead
	}
	scope, err := a.workspaceOfAccount(r.Context(), account)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if identity.HasSAS(q) {
		g, err := a.svc.SAS.Verify(q, account, container, perm)
		if err != nil {
			var se *identity.SASError
			if errors.As(err, &se) {
				msg := authFailed
				if se.Code != "AuthenticationFailed" {
					msg = "This request is not authorized to perform this operation using this permission."
				}
				return &blob.Error{Status: http.StatusForbidden, Code: se.Code, Message: msg, Detail: se.Detail}
			}
			return err
		}
		if g.UserID != "" {
			p, err := a.auth.UserPrincipal(r.Context(), g.UserID)
			if err != nil {
				return &blob.Error{Status: http.StatusForbidden, Code: "AuthenticationFailed", Message: authFailed,
					Detail: "The SAS was issued to a user who has since been deleted or disabled."}
			}
			if !p.Can(action, scope) {
				return &blob.Error{Status: http.StatusForbidden, Code: "AuthorizationPermissionMismatch",
					Message: "This request is not authorized to perform this operation using this permission.",
					Detail:  "The SAS was issued to user '" + p.Name + "', who no longer has a role at " + scope + " that allows it."}
			}
		}
		// Signing a SAS that may write made its container
		// (Service.ContainerSAS); one removed since stays removed.
		if perm == blob.NeedWrite {
			c, err := a.svc.Blobs.Container(account, container)
			if err != nil {
				return err
			}
			if !c.Exists {
				return &blob.Error{Status: http.StatusNotFound, Code: "ContainerNotFound",
					Message: "The specified container does not exist. A SAS does not create its container; if it was removed after this SAS was issued, ask for a new SAS (a datastore's listSecrets) to write there again."}
			}
		}
		return nil
	}
	tok := bearer(r)
	if tok == "" {
		return &blob.Error{Status: http.StatusUnauthorized, Code: "NoAuthenticationInformation",
			Message: "This request carries no credentials: append the SAS from the datastore's listSecrets to the URL, or send Authorization: Bearer <mlw token>."}
	}
	p, err := a.auth.Authenticate(r.Context(), tok)
	if err != nil {
		msg := "The bearer token was not accepted."
		if e, ok := core.AsError(err); ok {
			msg = e.Message
		}
		return &blob.Error{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationInfo", Message: msg}
	}
	if err := p.Check(action, scope); err != nil {
		msg := err.Error()
		if e, ok := core.AsError(err); ok {
			msg = e.Message
		}
		return &blob.Error{Status: http.StatusForbidden, Code: "AuthorizationPermissionMismatch", Message: msg}
	}
	return nil
}

package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/protocol"
)

// AccessTokenTTL is how long a token from the token endpoint is valid.
const AccessTokenTTL = time.Hour

// tokenRoutes serves the managed-identity token endpoint in the App Service
// protocol (azureml-protocol §12), so that DefaultAzureCredential gets an
// mlw token from IDENTITY_ENDPOINT and IDENTITY_HEADER alone:
//
//	GET /identity/token?api-version=2019-08-01&resource=https://management.azure.com
//	X-IDENTITY-HEADER: mlw_…   (an mlw API token of the user)
//
// It answers a signed JWT for that user, valid for an hour, which every
// mlw API accepts. Only opaque API tokens are exchanged: a signed token
// cannot renew itself.
//
// The older App Service form (api-version=2017-09-01, MSI_ENDPOINT and
// MSI_SECRET), which azure-cli's `az login --identity` speaks through
// msrestazure when APPSETTING_WEBSITE_SITE_NAME is set, sends the same
// secret in the header `secret` and reads the same body.
func (a *API) tokenRoutes() {
	a.HandlePublic("GET", protocol.IdentityTokenPath, a.issueToken)
	a.HandlePublic("POST", protocol.IdentityTokenPath, a.issueToken)
}

func (a *API) issueToken(r *Request) (any, error) {
	secret := strings.TrimSpace(r.Header.Get("X-IDENTITY-HEADER"))
	if secret == "" {
		secret = strings.TrimSpace(r.Header.Get("secret"))
	}
	if secret == "" {
		return nil, core.Invalid("X-IDENTITY-HEADER", "The token endpoint needs the header X-IDENTITY-HEADER (or, for azure-cli, secret): <mlw API token>. Set IDENTITY_HEADER as `mlw env` prints it (MSI_SECRET as `mlw env --az` prints it).")
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		resource = strings.TrimSuffix(q.Get("scope"), "/.default")
	}
	if resource == "" {
		return nil, core.Invalid("resource", "The token endpoint needs ?resource=<audience>, for example resource=https://management.azure.com.")
	}
	if strings.Count(secret, ".") == 2 {
		return nil, core.Unauthorized("X-IDENTITY-HEADER must be an mlw API token (mlw_…), not an access token. Set IDENTITY_HEADER as `mlw env` prints it.")
	}
	p, err := a.auth.Authenticate(r.Ctx(), secret)
	if err != nil {
		return nil, core.Unauthorized("The X-IDENTITY-HEADER value is not an API token this server knows (or it expired). Run `mlw env` again and export what it prints.")
	}
	u, err := a.svc.UserByID(r.Ctx(), p.UserID)
	if err != nil {
		return nil, core.Unauthorized("The token's user no longer exists.")
	}
	// The signed token is valid only while the API token is: revoking
	// that one (or the user) ends both at once.
	tok, exp, err := a.auth.Issue(u, AccessTokenTTL, p.Scope, p.TokenID)
	if err != nil {
		return nil, core.Internal(err)
	}
	h := http.Header{}
	h.Set("Cache-Control", "no-store")
	return &Response{Status: http.StatusOK, Header: h, Body: map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"expires_in":   int(AccessTokenTTL / time.Second),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    u.ID,
	}}, nil
}

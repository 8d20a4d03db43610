package resource

import (
	"encoding/json"
	"time"
)

// Object is one stored resource: a document of desired state (Spec) and
// observed state (Status) with its metadata, as the store keeps it (the
// store's interface takes and returns Objects, as River's driver takes
// rivertype's rows). The key is (Kind, Parent, lower(Name)); Ref names it.
type Object struct {
	Kind string
	// Parent is the lowercase ARM id of the parent ("" for subscriptions).
	Parent string
	// Name is the name as the client spelled it; lookups ignore case.
	Name string
	// UID is a server-generated GUID, stable for the life of the resource.
	UID string
	// Spec is what the client asked for (JSON). Unknown fields are kept.
	Spec json.RawMessage
	// Status is what the server observed (JSON), owned by reconcilers.
	Status json.RawMessage
	// State is a short, indexed, kind-specific state ("Running", "Queued").
	State string
	// Owner is an indexed, kind-specific reference (a job's compute key).
	Owner string
	// Deleting is set when deletion was requested; reconcilers finish it.
	Deleting bool
	// Generation counts spec changes; Version counts every write.
	Generation int64
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	CreatedBy  string
	ModifiedBy string
}

// OperationStatus values follow Azure's asynchronous operation protocol.
const (
	OpInProgress = "InProgress"
	OpSucceeded  = "Succeeded"
	OpFailed     = "Failed"
	OpCanceled   = "Canceled"
)

// Operation records a long-running operation a client may poll.
type Operation struct {
	ID string
	// ResourceID is the ARM id of the resource the operation acts on.
	ResourceID string
	// Name is what the operation does ("Delete", "Create", "Start", ...).
	Name      string
	Status    string
	ErrorCode string
	ErrorMsg  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Terminal reports whether the operation has finished.
func (o *Operation) Terminal() bool { return o.Status != OpInProgress }

// User is an identity that may call the API.
type User struct {
	ID   string // object id (GUID)
	Name string // login name, unique
	// Role is the user's server-wide role (Owner, Contributor, AzureML
	// Data Scientist, Reader), or "" for none: it holds at every scope, as
	// a role assignment at "/" would (docs/security.md).
	Role string
	// Disabled users cannot authenticate; their tokens, sessions and
	// resources are kept.
	Disabled  bool
	CreatedAt time.Time
}

// Token is a stored API credential; only its SHA-256 hash is kept.
type Token struct {
	Hash      string
	UserID    string
	Label     string
	ExpiresAt time.Time // zero: never
	CreatedAt time.Time
}

// TokenIDLength is how many hex digits of a token's hash make its id.
const TokenIDLength = 16

// TokenID is the public id of a token: the start of its hash, which names
// it in `mlw token list` and in what derives from it (signed tokens,
// browser sessions) without being a credential itself.
func TokenID(hash string) string {
	if len(hash) > TokenIDLength {
		return hash[:TokenIDLength]
	}
	return hash
}

// ID is the token's public id (TokenID of its hash).
func (t *Token) ID() string { return TokenID(t.Hash) }

// RoleAssignment grants a user a role at a scope, as Azure RBAC's
// Microsoft.Authorization/roleAssignments do.
type RoleAssignment struct {
	// Name is the assignment's GUID, unique in the server.
	Name string
	// Scope is the ARM id of the scope as given (canonical spelling);
	// lookups use its lowercase form.
	Scope string
	// Role is the role's name (identity.RoleDefinitions).
	Role string
	// PrincipalID is the object id of the user.
	PrincipalID string
	CreatedAt   time.Time
	CreatedBy   string
}

// Session kinds.
const (
	// SessionLink is a one-time sign-in link, exchanged for a cookie.
	SessionLink = "link"
	// SessionCookie is a browser session, carried by a cookie.
	SessionCookie = "cookie"
)

// Session is a browser sign-in (internal/identity): a one-time link or the
// session cookie it is exchanged for. Only the SHA-256 hash of its secret
// is stored.
type Session struct {
	Hash   string
	Kind   string // SessionLink or SessionCookie
	UserID string
	// Scope is the URL path the session opens (the cookie's Path), e.g. an
	// instance's ".../computes/ci-1/jupyter/".
	Scope string
	// Resource is the UID of the resource the session is bound to ("" for
	// none), so that a re-created resource of the same name refuses it.
	Resource string
	// Target is where a link leads once exchanged.
	Target string
	// Source is the id (TokenID) of the API token the session was opened
	// with, "" for a password sign-in: revoking the token ends it.
	Source    string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Package store defines how mlw keeps its state. Every resource (resource
// groups, workspaces, computes, jobs, assets, ...) is a document of desired
// state (Spec) and observed state (Status), keyed by kind, parent and name.
// Implementations live in sqlite/ and postgres/ (both built on sqlstore/) and
// must pass the storetest conformance suite.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them; callers test with errors.Is.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("not found")
	// ErrExists: Create found a row with the same key.
	ErrExists = errors.New("already exists")
	// ErrConflict: a guarded write lost a race (the version moved on).
	ErrConflict = errors.New("version conflict")
)

// Resource is one document. The key is (Kind, Parent, lower(Name)).
type Resource struct {
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

// ListOptions selects resources. Kind is required; the rest filter.
type ListOptions struct {
	Kind string
	// Parent selects direct children of one parent.
	Parent string
	// ParentPrefix selects every descendant of an ARM id (lowercase, no
	// trailing slash): rows whose Parent equals it or starts with it + "/".
	ParentPrefix string
	State        string
	Owner        string
	// After continues a listing after this lowercase name (paging); with
	// AfterParent, after the row (After, AfterParent) in (name, parent) order.
	After       string
	AfterParent string
	// Limit caps the number of rows; 0 means no limit.
	Limit int
}

// Resources is the document API, available directly and inside transactions.
type Resources interface {
	// Create inserts r, setting Version to 1 and the timestamps when zero.
	// ErrExists if the key is taken.
	Create(ctx context.Context, r *Resource) error
	// Get returns one resource or ErrNotFound.
	Get(ctx context.Context, kind, parent, name string) (*Resource, error)
	// List returns matching resources ordered by lowercase name (then parent).
	List(ctx context.Context, opts ListOptions) ([]*Resource, error)
	// Update writes r if its stored Version still equals r.Version, then
	// increments r.Version and sets UpdatedAt. ErrConflict if the version
	// moved, ErrNotFound if the row is gone.
	Update(ctx context.Context, r *Resource) error
	// Delete removes one resource. ErrNotFound if absent.
	Delete(ctx context.Context, kind, parent, name string) error
	// DeleteTree removes every resource whose parent is id or below id.
	DeleteTree(ctx context.Context, id string) (int, error)
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

// Operations stores long-running operation records.
type Operations interface {
	CreateOperation(ctx context.Context, op *Operation) error
	GetOperation(ctx context.Context, id string) (*Operation, error)
	// FinishOperation moves an in-progress operation to a terminal status;
	// it is a no-op (nil error) when the operation is already terminal.
	FinishOperation(ctx context.Context, id, status, code, msg string) error
	// ListOperations returns the in-progress operations on one resource.
	ListOperations(ctx context.Context, resourceID string) ([]*Operation, error)
}

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

// Identities stores users, hashed tokens and browser sessions.
type Identities interface {
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByName(ctx context.Context, name string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	CreateToken(ctx context.Context, t *Token) error
	// LookupToken returns the token with this hash, or ErrNotFound.
	LookupToken(ctx context.Context, hash string) (*Token, error)
	// DeleteToken removes a token and the browser sessions opened with it
	// (Session.Source). ErrNotFound if absent.
	DeleteToken(ctx context.Context, hash string) error
	// UpdateUser writes a user's Role and Disabled. ErrNotFound if absent.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes a user with their tokens, sessions, password and
	// role assignments (one transaction). Resources they created stay.
	// ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string) error
	// ListTokens returns a user's tokens, oldest first.
	ListTokens(ctx context.Context, userID string) ([]*Token, error)
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session with this hash, or ErrNotFound.
	GetSession(ctx context.Context, hash string) (*Session, error)
	// TakeSession deletes the session with this hash and returns it, or
	// ErrNotFound: of concurrent calls (on any replica) exactly one gets it,
	// which makes sign-in links single-use.
	TakeSession(ctx context.Context, hash string) (*Session, error)
	// DeleteSession removes a session; a missing one is not an error.
	DeleteSession(ctx context.Context, hash string) error
	// DeleteExpiredSessions removes sessions that expired before now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	// HostUID returns the host uid that the processes of a user (by object
	// id) run as, allocating the next one from base on first use. A uid is
	// never given to two users, nor reused (docs/security.md).
	HostUID(ctx context.Context, userID string, base int) (int, error)
	// SetPassword stores (or replaces) the password hash of a user (a
	// bcrypt or argon2id string; never the password).
	SetPassword(ctx context.Context, userID, hash string) error
	// GetPassword returns a user's password hash, or ErrNotFound when the
	// user has none.
	GetPassword(ctx context.Context, userID string) (string, error)
}

// Access stores role assignments and the revocation epoch.
//
// Every change that takes access away or changes what a credential may do
// (DeleteToken, UpdateUser, DeleteUser, role assignments created or
// deleted) increments the epoch in the same transaction. Authenticators
// read the epoch on every request (one primary-key read) and drop what
// they cached when it moved, so a revocation holds at once on every
// replica that shares the database.
type Access interface {
	// CreateRoleAssignment stores an assignment. ErrExists when the name is
	// taken or the principal already holds the role at the scope.
	CreateRoleAssignment(ctx context.Context, ra *RoleAssignment) error
	// GetRoleAssignment returns one assignment by name, or ErrNotFound.
	GetRoleAssignment(ctx context.Context, name string) (*RoleAssignment, error)
	// ListRoleAssignments returns the assignments of one principal, or of
	// everyone when principalID is "", ordered by scope and name.
	ListRoleAssignments(ctx context.Context, principalID string) ([]*RoleAssignment, error)
	// DeleteRoleAssignment removes an assignment; ErrNotFound if absent.
	DeleteRoleAssignment(ctx context.Context, name string) error
	// DeleteRoleAssignmentsWithin removes every assignment at or below a
	// scope (its lowercase ARM id): a group or workspace created again
	// under an old name starts without the old one's assignments.
	DeleteRoleAssignmentsWithin(ctx context.Context, scopeKey string) (int, error)
	// AuthEpoch returns the revocation epoch.
	AuthEpoch(ctx context.Context) (int64, error)
}

// Settings is a small key/value table for server-wide facts (the default
// subscription, the schema version, ...).
type Settings interface {
	GetSetting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
}

// Store is everything mlw persists.
type Store interface {
	Resources
	Operations
	Identities
	Access
	Settings
	// InTx runs fn in one transaction: all of its writes land or none do.
	InTx(ctx context.Context, fn func(tx Resources) error) error
	// TryLease takes or renews the named lease for holder until now+ttl and
	// reports whether holder has it (leader election for replicas).
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	Close() error
}

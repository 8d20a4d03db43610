// Package store defines how mlw keeps its state: the interfaces over the
// documents of internal/resource (every resource — groups, workspaces,
// computes, jobs, assets — is a resource.Object keyed by kind, parent and
// name; operations, users, tokens, sessions and role assignments beside
// them), the sentinel errors, and the one read–modify–write of a document
// (Update, CreateOrUpdate, RetryTx). Implementations live in sqlite/ and
// postgres/ (both built on sqlstore/) and must pass the storetest
// conformance suite.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
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
	// NewestFirst orders by creation time, newest first, then by
	// lowercase name and parent, instead of by name and parent. After and
	// AfterParent then continue after the row created at AfterCreated
	// with that name and parent (AfterCreated set means After is too).
	NewestFirst  bool
	AfterCreated time.Time
	// Contains keeps rows whose lowercase name or spec contains this
	// lowercase text, ignoring the case of ASCII letters (or more: a
	// prefilter in the database for a search its caller then checks).
	Contains string
	// Limit caps the number of rows; 0 means no limit.
	Limit int
}

// Resources is the document API, available directly and inside transactions.
type Resources interface {
	// Create inserts r, setting Version to 1 and the timestamps when zero.
	// ErrExists if the key is taken.
	Create(ctx context.Context, r *resource.Object) error
	// Get returns one resource or ErrNotFound.
	Get(ctx context.Context, kind, parent, name string) (*resource.Object, error)
	// List returns matching resources ordered by lowercase name (then
	// parent), or newest first (ListOptions.NewestFirst).
	List(ctx context.Context, opts ListOptions) ([]*resource.Object, error)
	// Update writes r if its stored Version still equals r.Version, then
	// increments r.Version and sets UpdatedAt. ErrConflict if the version
	// moved, ErrNotFound if the row is gone.
	Update(ctx context.Context, r *resource.Object) error
	// Delete removes one resource. ErrNotFound if absent.
	Delete(ctx context.Context, kind, parent, name string) error
	// DeleteTree removes every resource whose parent is id or below id.
	DeleteTree(ctx context.Context, id string) (int, error)
}

// Operations stores long-running operation records.
type Operations interface {
	CreateOperation(ctx context.Context, op *resource.Operation) error
	GetOperation(ctx context.Context, id string) (*resource.Operation, error)
	// FinishOperation moves an in-progress operation to a terminal status;
	// it is a no-op (nil error) when the operation is already terminal.
	FinishOperation(ctx context.Context, id, status, code, msg string) error
	// ListOperations returns the in-progress operations on one resource.
	ListOperations(ctx context.Context, resourceID string) ([]*resource.Operation, error)
}

// Identities stores users, hashed tokens and browser sessions.
type Identities interface {
	CreateUser(ctx context.Context, u *resource.User) error
	GetUser(ctx context.Context, id string) (*resource.User, error)
	GetUserByName(ctx context.Context, name string) (*resource.User, error)
	ListUsers(ctx context.Context) ([]*resource.User, error)
	CreateToken(ctx context.Context, t *resource.Token) error
	// LookupToken returns the token with this hash, or ErrNotFound.
	LookupToken(ctx context.Context, hash string) (*resource.Token, error)
	// DeleteToken removes a token and the browser sessions opened with it
	// (Session.Source). ErrNotFound if absent.
	DeleteToken(ctx context.Context, hash string) error
	// UpdateUser writes a user's Role and Disabled. ErrNotFound if absent.
	UpdateUser(ctx context.Context, u *resource.User) error
	// DeleteUser removes a user with their tokens, sessions, password and
	// role assignments (one transaction). Resources they created stay.
	// ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string) error
	// ListTokens returns a user's tokens, oldest first.
	ListTokens(ctx context.Context, userID string) ([]*resource.Token, error)
	CreateSession(ctx context.Context, s *resource.Session) error
	// GetSession returns the session with this hash, or ErrNotFound.
	GetSession(ctx context.Context, hash string) (*resource.Session, error)
	// TakeSession deletes the session with this hash and returns it, or
	// ErrNotFound: of concurrent calls (on any replica) exactly one gets it,
	// which makes sign-in links single-use.
	TakeSession(ctx context.Context, hash string) (*resource.Session, error)
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
	CreateRoleAssignment(ctx context.Context, ra *resource.RoleAssignment) error
	// GetRoleAssignment returns one assignment by name, or ErrNotFound.
	GetRoleAssignment(ctx context.Context, name string) (*resource.RoleAssignment, error)
	// ListRoleAssignments returns the assignments of one principal, or of
	// everyone when principalID is "", ordered by scope and name.
	ListRoleAssignments(ctx context.Context, principalID string) ([]*resource.RoleAssignment, error)
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

// JobGroup is one experiment's jobs in one state: what the experiments
// list shows, counted by the database instead of read job by job.
type JobGroup struct {
	// Experiment is the jobs' properties.experimentName as spelled ("" for
	// none); State their state.
	Experiment, State string
	Jobs              int
	// First is when the group's first job was created; Latest is its
	// newest job (by creation time, then lowercase name), created at
	// LatestAt.
	First    time.Time
	Latest   string
	LatestAt time.Time
}

// JobStats counts jobs.
type JobStats interface {
	// JobGroups groups the jobs of a workspace (parent: its key) by
	// experiment name and state, leaving out jobs being deleted and
	// archived ones, in no order.
	JobGroups(ctx context.Context, parent string) ([]JobGroup, error)
}

// Store is everything mlw persists.
type Store interface {
	Resources
	JobStats
	Operations
	Identities
	Access
	Settings
	Tracking
	Registry
	// InTx runs fn in one transaction: all of its writes land or none do.
	InTx(ctx context.Context, fn func(tx Resources) error) error
	// TryLease takes or renews the named lease for holder until now+ttl and
	// reports whether holder has it (leader election for replicas).
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	Close() error
}

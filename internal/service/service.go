// Package service is admission: the one place where a request from any
// client (CLI, studio, SDK) is defaulted, validated and written as desired
// state. It never calls a backend; it enqueues keys for the reconcilers.
package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Service holds what admission needs. Fields are set once by the server.
type Service struct {
	Store    store.Store
	Queue    resource.Enqueuer
	Log      *slog.Logger
	Now      func() time.Time
	DataDir  string
	TenantID string
	// DefaultSubscription is created on first start.
	DefaultSubscription string
	// Blobs is the object store of workspace storage accounts; SAS signs
	// the tokens that datastore listSecrets hands out for it.
	Blobs *blob.Store
	SAS   *identity.SASSigner
	// EnvBuildFunc tells what is known of a custom environment's build on
	// this machine (set by the server from the jobs' environment builder;
	// nil where no jobs run).
	EnvBuildFunc func(env *resource.ResolvedEnvironment) resource.EnvBuild
	// ServerURLFunc returns the server's URL (once it listens), for the
	// MLflow tracking URI jobs get; CAPEM is the CA bundle that signs the
	// server's certificate (MLFLOW_TRACKING_SERVER_CERT_PATH).
	ServerURLFunc func() string
	CAPEM         []byte
	// IssueTokenFunc signs a token for a user (identity.Authenticator's
	// Issue): jobs' MLflow tracking tokens. Nil: jobs get none.
	IssueTokenFunc func(u *resource.User, ttl time.Duration, scope, source string) (string, time.Time, error)

	computeTypes map[string]ComputeType
	// computeMu serialises compute admission so that two creates cannot
	// both pass the same quota check (within one replica).
	computeMu sync.Mutex
	// trackedWorkspaces holds the workspaces MLflow requests used lately,
	// by lowercase ARM id; their Default experiment exists (mlflow.go).
	trackedWorkspaces sync.Map
	// trackingSources caches, by user id, the hash of the API token the
	// user's job tracking tokens derive from (mlflow_jobs.go).
	trackingSources sync.Map
}

// New returns a Service with defaults for the optional fields.
func New(st store.Store, q resource.Enqueuer, log *slog.Logger) *Service {
	if q == nil {
		q = resource.EnqueueFunc(func(string, string) {})
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{Store: st, Queue: q, Log: log, Now: time.Now}
	s.RegisterComputeType(resource.ComputeInstance, instanceType{})
	s.RegisterComputeType(resource.AmlCompute, clusterType{})
	s.RegisterComputeType(resource.Kubernetes, kubernetesType{})
	return s
}

// Body is a decoded JSON request body: the raw document (kept and echoed,
// unknown fields included) and its bytes.
type Body struct {
	Doc map[string]any
	Raw []byte
}

// ReadBody decodes a JSON object. An empty body gives an empty document.
func ReadBody(r io.Reader, limit int64) (*Body, error) {
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, core.Invalid("body", "The request body could not be read: %v", err)
	}
	if int64(len(raw)) > limit {
		return nil, core.Invalid("body", "The request body is larger than %d bytes.", limit)
	}
	b := &Body{Doc: map[string]any{}, Raw: raw}
	if len(bytes.TrimSpace(raw)) == 0 {
		b.Raw = []byte("{}")
		return b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&b.Doc); err != nil {
		return nil, jsonError(raw, err)
	}
	if b.Doc == nil {
		// JSON null decodes into a nil map, which no handler expects.
		return nil, core.Invalid("body", "The request body must be a JSON object, not null.")
	}
	// One document only: anything after it is as malformed as a syntax
	// error, and would otherwise be ignored without a word.
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		for end < int64(len(raw)) && strings.ContainsRune(" \t\r\n", rune(raw[end])) {
			end++
		}
		line, col := position(raw, end+1)
		return nil, core.Invalid("body", "The request body is not valid JSON: something follows the JSON object (line %d, column %d).", line, col)
	}
	return b, nil
}

// Into decodes the body into a typed view of its known fields. A field of
// the wrong type gives a 400 that names the field.
func (b *Body) Into(v any) error {
	if err := json.Unmarshal(b.Raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" && te.Type.Kind() != reflect.Map && isMapField(reflect.TypeOf(v), te.Field) {
			// encoding/json names the map, not the entry, for a bad value.
			return core.Invalid(te.Field, "Every value of %q must be %s; one is a JSON %s.", te.Field, typeName(te.Type.String()), te.Value)
		}
		return jsonError(b.Raw, err)
	}
	return nil
}

// isMapField reports whether the dotted JSON path names a map field of t.
func isMapField(t reflect.Type, path string) bool {
	for _, name := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return false
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Map
}

func jsonError(raw []byte, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return core.Invalid(field, "Field %q must be %s, not a JSON %s.", field, typeName(te.Type.String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(raw, se.Offset)
		return core.Invalid("body", "The request body is not valid JSON: %v (line %d, column %d).", se, line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return core.Invalid("body", "The request body is not valid JSON: it ends too early.")
	}
	return core.Invalid("body", "The request body is not a valid JSON object: %v.", err)
}

func typeName(t string) string {
	switch {
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "map["):
		return "an object"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "*"):
		return typeName(t[1:])
	default:
		return "an object"
	}
}

// position returns the line and column of the byte that a decoder
// offset refers to: the offset counts the bytes read up to and including
// the offending one.
func position(raw []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off-1 && i < int64(len(raw)); i++ {
		if raw[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// principalName is who is recorded in systemData.
func principalName(p *identity.Principal) string {
	if p == nil {
		return "mlw"
	}
	return p.Name
}

// requireWrite refuses callers whose role in effect (Principal.At) may
// only read: work inside a workspace needs AzureML Data Scientist or a
// stronger role.
func requireWrite(p *identity.Principal) error {
	if p != nil && !p.CanWrite() {
		return core.Forbidden("User %q has %s here, which may only read: this needs the AzureML Data Scientist role or a stronger one. Ask an Owner for a role assignment.", p.Name, roleHeld(p))
	}
	return nil
}

// requireManage refuses callers who may not create, change or delete
// computes, workspaces and groups (Contributor and Owner may).
func requireManage(p *identity.Principal) error {
	if p != nil && !p.CanManage() {
		return core.Forbidden("User %q has %s here: creating, changing or deleting computes, workspaces and groups needs the Contributor role or a stronger one. Ask an Owner for a role assignment.", p.Name, roleHeld(p))
	}
	return nil
}

func roleHeld(p *identity.Principal) string {
	if p.Role == "" {
		return "no role"
	}
	return "the " + p.Role + " role"
}

// update is store.Update with the store's errors as API errors;
// change's own errors are returned as they are.
func (s *Service) update(ctx context.Context, r *resource.Object, change func(*resource.Object) error) (*resource.Object, error) {
	out, err := store.Update(ctx, s.Store, r, change)
	var apiErr *core.Error
	if err != nil && !errors.As(err, &apiErr) {
		return nil, storeErr(err, r.Kind, r.Name)
	}
	return out, err
}

// Retry-After of the 409s whose cause passes by itself, so that the same
// request succeeds later. Other 409s (a name taken, an immutable field)
// carry none: repeating them cannot succeed.
const (
	// retryRace: another request changed the resource meanwhile.
	retryRace = time.Second
	// retryDeletion: a resource of that name is being deleted; once it
	// is gone, the name is free again.
	retryDeletion = 3 * time.Second
	// retryTransition: a compute instance is between two states.
	retryTransition = 3 * time.Second
)

// storeErr maps store sentinels to API errors for one resource.
func storeErr(err error, what, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return core.NotFound("ResourceNotFound", "The %s '%s' was not found.", what, name)
	case errors.Is(err, store.ErrExists):
		return core.Conflict("Conflict", "A %s named '%s' already exists.", what, name)
	case errors.Is(err, store.ErrConflict):
		return core.ConflictRetry("Conflict", retryRace, "The %s '%s' was changed by another request at the same time; retry.", what, name)
	default:
		return core.Internal(err)
	}
}

// ctxKey avoids collisions for values the service puts in a context.
type ctxKey struct{}

// WithPrincipal returns a context that carries the caller.
func WithPrincipal(ctx context.Context, p *identity.Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// PrincipalFrom returns the caller carried by ctx, or nil.
func PrincipalFrom(ctx context.Context) *identity.Principal {
	p, _ := ctx.Value(ctxKey{}).(*identity.Principal)
	return p
}

// GetOperation returns one long-running operation, or a 404 naming it.
func (s *Service) GetOperation(ctx context.Context, id string) (*resource.Operation, error) {
	op, err := s.Store.GetOperation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("OperationNotFound", "The operation '%s' was not found.", id)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return op, nil
}

// Reread returns the stored row of r as it is now: a caller that follows a
// resource (a log stream) sees its state change. ErrNotFound when it is
// gone.
func (s *Service) Reread(ctx context.Context, r *resource.Object) (*resource.Object, error) {
	return s.Store.Get(ctx, r.Kind, r.Parent, r.Name)
}

// ComputeByOpKey returns the compute whose operation key
// (resource.ResourceOpKey) is key — a job's Owner — or nil.
func (s *Service) ComputeByOpKey(ctx context.Context, key string) *resource.Object {
	ref, ok := resource.ParseOpKey(core.KindCompute, key)
	if !ok {
		return nil
	}
	c, err := s.Store.Get(ctx, ref.Kind, ref.Parent, ref.Name)
	if err != nil {
		return nil
	}
	return c
}

// AllWorkspaces lists every workspace of the server (not filtered by the
// caller's access: for the server's own lookups, such as which workspace
// a storage account belongs to).
func (s *Service) AllWorkspaces(ctx context.Context) ([]*resource.Object, error) {
	wss, err := s.Store.List(ctx, store.ListOptions{Kind: core.KindWorkspace})
	if err != nil {
		return nil, core.Internal(err)
	}
	return wss, nil
}

// UserByID returns the user with object id id.
func (s *Service) UserByID(ctx context.Context, id string) (*resource.User, error) {
	u, err := s.Store.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("UserNotFound", "No user has the id '%s'.", id)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return u, nil
}

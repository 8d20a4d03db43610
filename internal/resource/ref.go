package resource

import (
	"strings"

	"github.com/google/uuid"
	"github.com/mlw-project/mlw/internal/core"
)

// Ref names a stored resource: its kind, its parent's key (the parent's
// lowercase ARM id) and its name. Its two string forms are the queue key
// (Key: "<parent>|<name>", which the reconcile queues carry) and the
// operation key (OpKey: "<parent>/<kind>s/<name>", under which operations
// are recorded, a job's compute is named in its Owner and a cluster's
// nodes have their parent).
type Ref struct {
	Kind   string
	Parent string
	Name   string
}

// RefOf returns the reference of a stored resource.
func RefOf(r *Object) Ref { return Ref{Kind: r.Kind, Parent: r.Parent, Name: r.Name} }

// Key is the queue key.
func (r Ref) Key() string { return ResourceKey(r.Parent, r.Name) }

// OpKey is the operation key.
func (r Ref) OpKey() string { return r.Parent + "/" + r.Kind + "s/" + strings.ToLower(r.Name) }

// ParseOpKey reads an operation key of a resource of kind back; ok is
// false when key is not one.
func ParseOpKey(kind, key string) (ref Ref, ok bool) {
	sep := "/" + kind + "s/"
	i := strings.LastIndex(key, sep)
	if i < 0 {
		return Ref{Kind: kind}, false
	}
	return Ref{Kind: kind, Parent: key[:i], Name: key[i+len(sep):]}, true
}

// ParentRef returns the reference of the resource whose key is parent
// (a lowercase ARM id ending ".../<kind>s/<name>"), given its kind: the
// workspace of a compute, the container of an asset version.
func ParentRef(kind, parent string) (Ref, bool) {
	if kind == core.KindWorkspace {
		// A workspace's own parent is its group's key, and its ARM id
		// segment is "providers/<provider>/workspaces/<name>".
		i := strings.LastIndex(parent, "/providers/")
		if i < 0 {
			return Ref{Kind: kind}, false
		}
		return Ref{Kind: kind, Parent: parent[:i], Name: parent[strings.LastIndex(parent, "/")+1:]}, true
	}
	return ParseOpKey(kind, parent)
}

// ResourceOpKey is the operation key of a stored resource (RefOf(r).OpKey()).
func ResourceOpKey(r *Object) string { return RefOf(r).OpKey() }

// Enqueuer hands a resource key to the reconciler of its kind.
type Enqueuer interface {
	Enqueue(kind, key string)
}

// EnqueueFunc adapts a function to Enqueuer.
type EnqueueFunc func(kind, key string)

// Enqueue calls f.
func (f EnqueueFunc) Enqueue(kind, key string) { f(kind, key) }

// Key of a resource for the reconcile queues: "<parent>/<kind>/<name>" in
// lower case, which ParseKey reverses.
func Key(r *Object) string { return ResourceKey(r.Parent, r.Name) }

// ResourceKey builds a queue key from a parent and a name.
func ResourceKey(parent, name string) string { return parent + "|" + strings.ToLower(name) }

// ParseKey splits a queue key into parent and name.
func ParseKey(key string) (parent, name string) {
	i := strings.LastIndex(key, "|")
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// NewUID returns a new resource GUID.
func NewUID() string { return uuid.NewString() }

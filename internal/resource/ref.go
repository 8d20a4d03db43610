package resource

import (
	"strings"

	"github.com/google/uuid"
	"github.com/mlw-project/mlw/internal/store"
)

// ResourceOpKey is the key under which operations on a child resource of a
// workspace are recorded: its parent key plus kind and name.
func ResourceOpKey(r *store.Resource) string {
	return r.Parent + "/" + r.Kind + "s/" + strings.ToLower(r.Name)
}

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
func Key(r *store.Resource) string { return ResourceKey(r.Parent, r.Name) }

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

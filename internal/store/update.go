package store

import (
	"bytes"
	"context"
	"errors"
	"github.com/mlw-project/mlw/internal/resource"
)

// MaxConflictRetries bounds how often Update reads a row again after
// losing a race; job rows are the busiest (the reconciler, the scheduler
// and admission all write them).
const MaxConflictRetries = 20

// Update is the one read–modify–write of a stored resource. It applies
// change to r and writes it, guarded by r's version; when another writer
// moved the row meanwhile it reads the row again and applies change again
// (up to MaxConflictRetries times). Generation counts spec changes: it is
// bumped when change altered the Spec and never otherwise. A change that
// alters nothing is not written. change returns an error to give up (it
// is returned as is); the errors of the store (ErrNotFound,
// ErrConflict after the last retry) are returned wrapped.
//
// It returns the row as stored (r itself when nothing was written).
func Update(ctx context.Context, st Resources, r *resource.Object, change func(*resource.Object) error) (*resource.Object, error) {
	for attempt := 0; ; attempt++ {
		before := snapshotOf(r)
		if err := change(r); err != nil {
			return nil, err
		}
		if before.same(r) {
			return r, nil
		}
		if !bytes.Equal(before.spec, r.Spec) && r.Generation == before.generation {
			r.Generation++
		}
		err := st.Update(ctx, r)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= MaxConflictRetries {
			return nil, err
		}
		fresh, err := st.Get(ctx, r.Kind, r.Parent, r.Name)
		if err != nil {
			return nil, err
		}
		r = fresh
	}
}

// snapshot is what a change may alter of a row.
type snapshot struct {
	spec, status             []byte
	state, owner, modifiedBy string
	deleting                 bool
	generation               int64
}

func snapshotOf(r *resource.Object) snapshot {
	return snapshot{spec: bytes.Clone(r.Spec), status: bytes.Clone(r.Status), state: r.State, owner: r.Owner,
		modifiedBy: r.ModifiedBy, deleting: r.Deleting, generation: r.Generation}
}

func (s snapshot) same(r *resource.Object) bool {
	return bytes.Equal(s.spec, r.Spec) && bytes.Equal(s.status, r.Status) && s.state == r.State && s.owner == r.Owner &&
		s.modifiedBy == r.ModifiedBy && s.deleting == r.Deleting && s.generation == r.Generation
}

// CreateOrUpdate writes the resource of one key: it creates fresh() when
// no row has the key, and otherwise applies change to the row as Update
// does. A create that loses the race to another one updates the winner;
// a row deleted between the read and the write is created. created says
// which happened.
func CreateOrUpdate(ctx context.Context, st Resources, kind, parent, name string, fresh func() (*resource.Object, error), change func(*resource.Object) error) (r *resource.Object, created bool, err error) {
	for attempt := 0; ; attempt++ {
		r, err = st.Get(ctx, kind, parent, name)
		if errors.Is(err, ErrNotFound) {
			if r, err = fresh(); err != nil {
				return nil, false, err
			}
			err = st.Create(ctx, r)
			if errors.Is(err, ErrExists) && attempt < MaxConflictRetries {
				continue
			}
			if err != nil {
				return nil, false, err
			}
			return r, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		r, err = Update(ctx, st, r, change)
		if errors.Is(err, ErrNotFound) && attempt < MaxConflictRetries {
			continue
		}
		return r, false, err
	}
}

// RetryTx runs fn in one transaction of st, again (in a new one) while it
// fails because another writer won a race: a guarded update lost
// (ErrConflict) or a create found the key taken (ErrExists).
func RetryTx(ctx context.Context, st Store, fn func(tx Resources) error) error {
	for attempt := 0; ; attempt++ {
		err := st.InTx(ctx, fn)
		if (errors.Is(err, ErrConflict) || errors.Is(err, ErrExists)) && attempt < MaxConflictRetries {
			continue
		}
		return err
	}
}

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func seed(t *testing.T, st store.Store) *resource.Object {
	t.Helper()
	r := &resource.Object{Kind: "widget", Parent: "p", Name: "w1", UID: resource.NewUID(),
		Spec: json.RawMessage(`{"size":1}`), Status: json.RawMessage(`{}`), State: "Idle"}
	require.NoError(t, st.Create(context.Background(), r))
	return r
}

func TestUpdateCountsSpecChangesOnly(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := seed(t, st)
	gen, ver := r.Generation, r.Version

	r, err := store.Update(ctx, st, r, func(r *resource.Object) error {
		r.Status, r.State = json.RawMessage(`{"seen":true}`), "Busy"
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, gen, r.Generation, "a status change is not a new generation")
	require.Equal(t, ver+1, r.Version)

	r, err = store.Update(ctx, st, r, func(r *resource.Object) error {
		r.Spec = json.RawMessage(`{"size":2}`)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, gen+1, r.Generation, "a spec change is")

	stored, err := st.Get(ctx, "widget", "p", "w1")
	require.NoError(t, err)
	require.Equal(t, r.Generation, stored.Generation)
	require.Equal(t, r.Version, stored.Version)
	require.JSONEq(t, `{"size":2}`, string(stored.Spec))
}

func TestUpdateSkipsUnchangedWrites(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := seed(t, st)
	ver := r.Version
	out, err := store.Update(ctx, st, r, func(r *resource.Object) error {
		r.Spec = json.RawMessage(`{"size":1}`) // the same bytes
		return nil
	})
	require.NoError(t, err)
	stored, err := st.Get(ctx, "widget", "p", "w1")
	require.NoError(t, err)
	require.Equal(t, ver, stored.Version, "nothing changed: nothing written")
	require.Equal(t, ver, out.Version)
}

func TestUpdateRetriesOnAFreshRow(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	stale := seed(t, st)
	other, err := st.Get(ctx, "widget", "p", "w1")
	require.NoError(t, err)
	other.State = "Moved"
	require.NoError(t, st.Update(ctx, other)) // another writer wins the race

	calls := 0
	out, err := store.Update(ctx, st, stale, func(r *resource.Object) error {
		calls++
		r.Status = json.RawMessage(`{"n":1}`)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, calls, "applied once on the stale row, once on the fresh one")
	require.Equal(t, "Moved", out.State, "the other writer's change is kept")
	require.JSONEq(t, `{"n":1}`, string(out.Status))
}

func TestUpdateGivesUpOnChangeErrorsAndMissingRows(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := seed(t, st)
	ver := r.Version
	boom := errors.New("refused")
	_, err := store.Update(ctx, st, r, func(r *resource.Object) error {
		r.State = "Half"
		return boom
	})
	require.ErrorIs(t, err, boom)
	stored, err := st.Get(ctx, "widget", "p", "w1")
	require.NoError(t, err)
	require.Equal(t, ver, stored.Version)
	require.Equal(t, "Idle", stored.State)

	require.NoError(t, st.Delete(ctx, "widget", "p", "w1"))
	_, err = store.Update(ctx, st, stored, func(r *resource.Object) error { r.State = "X"; return nil })
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestCreateOrUpdate(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	fresh := func() (*resource.Object, error) {
		return &resource.Object{Kind: "widget", Parent: "p", Name: "W2", UID: resource.NewUID(), Spec: json.RawMessage(`{"v":1}`)}, nil
	}
	change := func(r *resource.Object) error { r.Spec = json.RawMessage(`{"v":2}`); return nil }
	r, created, err := store.CreateOrUpdate(ctx, st, "widget", "p", "w2", fresh, change)
	require.NoError(t, err)
	require.True(t, created)
	require.JSONEq(t, `{"v":1}`, string(r.Spec))
	r, created, err = store.CreateOrUpdate(ctx, st, "widget", "p", "w2", fresh, change)
	require.NoError(t, err)
	require.False(t, created)
	require.JSONEq(t, `{"v":2}`, string(r.Spec))
	require.Equal(t, int64(2), r.Version)
}

func TestRetryTxRunsAgainAfterALostRace(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	calls := 0
	err := store.RetryTx(ctx, st, func(tx store.Resources) error {
		calls++
		if calls == 1 {
			return store.ErrConflict
		}
		return tx.Create(ctx, &resource.Object{Kind: "widget", Parent: "p", Name: "w3", UID: resource.NewUID()})
	})
	require.NoError(t, err)
	require.Equal(t, 2, calls)
	_, err = st.Get(ctx, "widget", "p", "w3")
	require.NoError(t, err)

	err = store.RetryTx(ctx, st, func(tx store.Resources) error { calls++; return store.ErrNotFound })
	require.ErrorIs(t, err, store.ErrNotFound, "other errors end it at once")
	require.Equal(t, 3, calls)
}

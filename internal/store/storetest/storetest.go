// Package storetest is the conformance suite every store.Store must pass.
// Drivers call Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Opener returns a new, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// testBundle is what each test gets: a fresh store and a context.
type testBundle struct {
	ctx context.Context
	s   store.Store
}

// setupFunc opens a fresh store for one test, marks the test parallel, and
// closes the store when the test ends.
type setupFunc func(t *testing.T) *testBundle

// Run runs the whole suite. Each topic is a function of its own; the
// subtests keep their names directly under t.
func Run(t *testing.T, open Opener) {
	setup := func(t *testing.T) *testBundle {
		t.Parallel()
		s := open(t)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return &testBundle{ctx: context.Background(), s: s}
	}
	runCreateGet(t, setup)
	runUpdate(t, setup)
	runList(t, setup)
	runJobLists(t, setup)
	runContains(t, setup)
	runDeleteAndTx(t, setup)
	runOperations(t, setup)
	runUsers(t, setup)
	runRoleAssignments(t, setup)
	runSessions(t, setup)
	runHostUIDs(t, setup)
	runPasswordsAndSettings(t, setup)
	runLease(t, setup)
	runTracking(t, setup)
	runRegistry(t, setup)
}

// mk returns a resource of the given kind and name under parent, with a
// small spec, an empty status and a creator.
func mk(kind, parent, name string) *resource.Object {
	return &resource.Object{Kind: kind, Parent: parent, Name: name, UID: "uid-" + name,
		Spec: json.RawMessage(`{"location":"eastus"}`), Status: json.RawMessage(`{}`), State: "Succeeded", CreatedBy: "alice"}
}

// runCreateGet tests Create and Get: names ignore case, duplicates are
// refused, and a missing resource is ErrNotFound.
func runCreateGet(t *testing.T, setup setupFunc) {
	t.Run("CreateGetCaseInsensitive", func(t *testing.T) {
		b := setup(t)
		r := mk("workspace", "/subscriptions/s/resourcegroups/rg", "My-WS")
		require.NoError(t, b.s.Create(b.ctx, r))
		require.Equal(t, int64(1), r.Version)
		got, err := b.s.Get(b.ctx, "workspace", "/subscriptions/s/resourcegroups/rg", "my-ws")
		require.NoError(t, err)
		require.Equal(t, "My-WS", got.Name)
		require.Equal(t, "uid-My-WS", got.UID)
		require.JSONEq(t, `{"location":"eastus"}`, string(got.Spec))
		require.Equal(t, "alice", got.CreatedBy)
		require.False(t, got.CreatedAt.IsZero())
		require.WithinDuration(t, time.Now(), got.CreatedAt, time.Minute)
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		b := setup(t)
		require.NoError(t, b.s.Create(b.ctx, mk("workspace", "p", "ws1")))
		err := b.s.Create(b.ctx, mk("workspace", "p", "WS1"))
		require.ErrorIs(t, err, store.ErrExists)
		// Same name under another parent or kind is a different resource.
		require.NoError(t, b.s.Create(b.ctx, mk("workspace", "q", "ws1")))
		require.NoError(t, b.s.Create(b.ctx, mk("compute", "p", "ws1")))
	})

	t.Run("GetMissing", func(t *testing.T) {
		b := setup(t)
		_, err := b.s.Get(b.ctx, "workspace", "p", "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// runUpdate tests that Update is guarded by the version, also under
// concurrent writers.
func runUpdate(t *testing.T, setup setupFunc) {
	t.Run("UpdateGuardedByVersion", func(t *testing.T) {
		b := setup(t)
		r := mk("compute", "p", "c1")
		require.NoError(t, b.s.Create(b.ctx, r))
		a, err := b.s.Get(b.ctx, "compute", "p", "c1")
		require.NoError(t, err)
		c, err := b.s.Get(b.ctx, "compute", "p", "c1")
		require.NoError(t, err)

		a.State = "Running"
		a.Status = json.RawMessage(`{"nodes":1}`)
		a.Generation = 2
		require.NoError(t, b.s.Update(b.ctx, a))
		require.Equal(t, int64(2), a.Version)

		c.State = "Stopped"
		require.ErrorIs(t, b.s.Update(b.ctx, c), store.ErrConflict)

		got, err := b.s.Get(b.ctx, "compute", "p", "c1")
		require.NoError(t, err)
		require.Equal(t, "Running", got.State)
		require.Equal(t, int64(2), got.Generation)
		require.JSONEq(t, `{"nodes":1}`, string(got.Status))

		missing := mk("compute", "p", "zz")
		missing.Version = 1
		require.ErrorIs(t, b.s.Update(b.ctx, missing), store.ErrNotFound)
	})

	t.Run("ConcurrentUpdatesOneWinsPerVersion", func(t *testing.T) {
		b := setup(t)
		require.NoError(t, b.s.Create(b.ctx, mk("job", "p", "j")))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := b.s.Get(b.ctx, "job", "p", "j")
				if err != nil {
					return
				}
				if r.Version != 1 {
					return
				}
				r.State = fmt.Sprint("s", i)
				if err := b.s.Update(b.ctx, r); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, store.ErrConflict) {
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load())
	})
}

// runList tests List: its filters, paging and parent prefixes.
func runList(t *testing.T, setup setupFunc) {
	t.Run("ListFiltersAndPaging", func(t *testing.T) {
		b := setup(t)
		for _, n := range []string{"c", "A", "b", "d", "e"} {
			r := mk("job", "/w1", n)
			if n == "b" || n == "d" {
				r.State, r.Owner = "Queued", "/w1/computes/x"
			}
			require.NoError(t, b.s.Create(b.ctx, r))
		}
		require.NoError(t, b.s.Create(b.ctx, mk("job", "/w1/sub", "f")))
		require.NoError(t, b.s.Create(b.ctx, mk("job", "/w10", "g")))
		require.NoError(t, b.s.Create(b.ctx, mk("compute", "/w1", "h")))

		names := func(rs []*resource.Object) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.Name)
			}
			return out
		}
		all, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", Parent: "/w1"})
		require.NoError(t, err)
		require.Equal(t, []string{"A", "b", "c", "d", "e"}, names(all))

		page1, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", Parent: "/w1", Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"A", "b"}, names(page1))
		page2, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", Parent: "/w1", Limit: 2, After: "b"})
		require.NoError(t, err)
		require.Equal(t, []string{"c", "d"}, names(page2))

		q, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", State: "Queued"})
		require.NoError(t, err)
		require.Equal(t, []string{"b", "d"}, names(q))
		o, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", Owner: "/w1/computes/x", State: "Queued"})
		require.NoError(t, err)
		require.Equal(t, []string{"b", "d"}, names(o))

		tree, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", ParentPrefix: "/w1"})
		require.NoError(t, err)
		require.Equal(t, []string{"A", "b", "c", "d", "e", "f"}, names(tree), "/w10 is not below /w1")

		// The same name under two parents pages by (name, parent).
		require.NoError(t, b.s.Create(b.ctx, mk("job", "/w1/sub", "c")))
		p1, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", ParentPrefix: "/w1", After: "c", AfterParent: "/w1", Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"c", "d"}, names(p1))
		require.Equal(t, "/w1/sub", p1[0].Parent)
	})

	t.Run("ParentPrefixEscapesWildcards", func(t *testing.T) {
		b := setup(t)
		require.NoError(t, b.s.Create(b.ctx, mk("job", "/w_1/x", "a")))
		require.NoError(t, b.s.Create(b.ctx, mk("job", "/wx1/x", "b")))
		rs, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", ParentPrefix: "/w_1"})
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.Equal(t, "a", rs[0].Name)
	})
}

// runJobLists tests what the job lists need: newest-first pages and the
// experiments' counts.
func runJobLists(t *testing.T, setup setupFunc) {
	t.Run("NewestFirstPages", func(t *testing.T) {
		b := setup(t)
		t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
		// B and c, d and e share a creation time: the name breaks the tie.
		for _, c := range []struct {
			name string
			us   int
		}{{"a", 0}, {"c", 1}, {"B", 1}, {"e", 3}, {"d", 3}} {
			r := mk("job", "/w1", c.name)
			r.CreatedAt = t0.Add(time.Duration(c.us) * time.Microsecond)
			require.NoError(t, b.s.Create(b.ctx, r))
		}
		other := mk("job", "/w2", "z")
		other.CreatedAt = t0.Add(time.Hour)
		require.NoError(t, b.s.Create(b.ctx, other))
		list := func(o store.ListOptions) []string {
			o.Kind, o.Parent, o.NewestFirst = "job", "/w1", true
			rs, err := b.s.List(b.ctx, o)
			require.NoError(t, err)
			var out []string
			for _, r := range rs {
				out = append(out, fmt.Sprintf("%s@%d", r.Name, r.CreatedAt.Sub(t0).Microseconds()))
			}
			return out
		}
		require.Equal(t, []string{"d@3", "e@3", "B@1", "c@1", "a@0"}, list(store.ListOptions{}))
		require.Equal(t, []string{"d@3", "e@3"}, list(store.ListOptions{Limit: 2}))
		require.Equal(t, []string{"B@1", "c@1"}, list(store.ListOptions{Limit: 2,
			After: "e", AfterParent: "/w1", AfterCreated: t0.Add(3 * time.Microsecond)}))
		require.Equal(t, []string{"c@1", "a@0"}, list(store.ListOptions{
			After: "b", AfterParent: "/w1", AfterCreated: t0.Add(time.Microsecond)}), "after B, in the same microsecond")
	})

	t.Run("JobGroups", func(t *testing.T) {
		b := setup(t)
		t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
		for i, c := range []struct{ name, props, state string }{
			{"a1", `"experimentName":"lab"`, "Completed"},
			{"a2", `"experimentName":"lab","isArchived":false`, "Completed"},
			{"a3", `"experimentName":"lab"`, "Failed"},
			{"a4", `"experimentName":"LAB"`, "Completed"},
			{"b1", `"displayName":"no experiment"`, "Running"},
			{"x1", `"experimentName":"lab","isArchived":true`, "Completed"},
			{"x2", `"experimentName":"lab"`, "Completed"}, // being deleted
		} {
			r := mk("job", "/w1", c.name)
			r.Spec = json.RawMessage(`{"properties":{` + c.props + `}}`)
			r.State, r.Deleting = c.state, c.name == "x2"
			r.CreatedAt = t0.Add(time.Duration(i) * time.Second)
			require.NoError(t, b.s.Create(b.ctx, r))
		}
		// Same creation time as a2: the name breaks the tie.
		tie := mk("job", "/w1", "a0")
		tie.Spec, tie.State, tie.CreatedAt = json.RawMessage(`{"properties":{"experimentName":"lab"}}`), "Completed", t0.Add(time.Second)
		require.NoError(t, b.s.Create(b.ctx, tie))
		other := mk("job", "/w2", "o1")
		other.Spec = json.RawMessage(`{"properties":{"experimentName":"lab"}}`)
		require.NoError(t, b.s.Create(b.ctx, other))
		notJob := mk("compute", "/w1", "c1")
		notJob.Spec = json.RawMessage(`{"properties":{"experimentName":"lab"}}`)
		require.NoError(t, b.s.Create(b.ctx, notJob))

		gs, err := b.s.JobGroups(b.ctx, "/w1")
		require.NoError(t, err)
		var got []string
		for _, g := range gs {
			got = append(got, fmt.Sprintf("%s/%s: %d, first %s, latest %s at %s", g.Experiment, g.State, g.Jobs,
				g.First.Sub(t0), g.Latest, g.LatestAt.Sub(t0)))
		}
		require.ElementsMatch(t, []string{
			"lab/Completed: 3, first 0s, latest a2 at 1s",
			"lab/Failed: 1, first 2s, latest a3 at 2s",
			"LAB/Completed: 1, first 3s, latest a4 at 3s",
			"/Running: 1, first 4s, latest b1 at 4s",
		}, got)
	})
}

// runContains tests ListOptions.Contains, the prefilter of a search.
func runContains(t *testing.T, setup setupFunc) {
	t.Run("Contains", func(t *testing.T) {
		b := setup(t)
		for _, c := range []struct{ name, spec string }{
			{"Train_A1", `{}`},
			{"x1", `{"properties":{"displayName":"Train Diabetes"}}`},
			{"x2", `{"properties":{"displayName":"trainXa1"}}`},
			{"x3", `{"properties":{"displayName":"50% off"}}`},
			{"x4", `{"properties":{"displayName":"500 off"}}`},
		} {
			r := mk("job", "/w1", c.name)
			r.Spec = json.RawMessage(c.spec)
			require.NoError(t, b.s.Create(b.ctx, r))
		}
		contains := func(text string) []string {
			rs, err := b.s.List(b.ctx, store.ListOptions{Kind: "job", Parent: "/w1", Contains: text})
			require.NoError(t, err)
			var out []string
			for _, r := range rs {
				out = append(out, r.Name)
			}
			return out
		}
		require.Equal(t, []string{"Train_A1", "x1", "x2"}, contains("train"), "names and specs, in any ASCII case")
		require.Equal(t, []string{"Train_A1"}, contains("n_a"), "_ is no wildcard")
		require.Equal(t, []string{"x3"}, contains("0% o"), "nor %")
		require.Equal(t, []string{"x1"}, contains("diabetes"))
		require.Empty(t, contains("nothing like it"))
	})
}

// runDeleteAndTx tests Delete, DeleteTree and that a transaction is all or
// nothing.
func runDeleteAndTx(t *testing.T, setup setupFunc) {
	t.Run("DeleteAndDeleteTree", func(t *testing.T) {
		b := setup(t)
		require.NoError(t, b.s.Create(b.ctx, mk("workspace", "/rg", "w")))
		require.NoError(t, b.s.Create(b.ctx, mk("compute", "/rg/w", "c1")))
		require.NoError(t, b.s.Create(b.ctx, mk("job", "/rg/w", "j1")))
		require.NoError(t, b.s.Create(b.ctx, mk("codeversion", "/rg/w/codes/x", "1")))
		require.NoError(t, b.s.Create(b.ctx, mk("compute", "/rg/w2", "c2")))
		n, err := b.s.DeleteTree(b.ctx, "/rg/w")
		require.NoError(t, err)
		require.Equal(t, 3, n)
		_, err = b.s.Get(b.ctx, "compute", "/rg/w2", "c2")
		require.NoError(t, err)
		require.NoError(t, b.s.Delete(b.ctx, "workspace", "/rg", "W"))
		require.ErrorIs(t, b.s.Delete(b.ctx, "workspace", "/rg", "w"), store.ErrNotFound)
	})

	t.Run("TransactionAllOrNothing", func(t *testing.T) {
		b := setup(t)
		boom := errors.New("boom")
		err := b.s.InTx(b.ctx, func(tx store.Resources) error {
			require.NoError(t, tx.Create(b.ctx, mk("workspace", "/rg", "w")))
			require.NoError(t, tx.Create(b.ctx, mk("datastore", "/rg/w", "d")))
			got, err := tx.Get(b.ctx, "datastore", "/rg/w", "d")
			require.NoError(t, err)
			require.Equal(t, "d", got.Name)
			return boom
		})
		require.ErrorIs(t, err, boom)
		_, err = b.s.Get(b.ctx, "workspace", "/rg", "w")
		require.ErrorIs(t, err, store.ErrNotFound)

		require.NoError(t, b.s.InTx(b.ctx, func(tx store.Resources) error {
			if err := tx.Create(b.ctx, mk("workspace", "/rg", "w")); err != nil {
				return err
			}
			return tx.Create(b.ctx, mk("datastore", "/rg/w", "d"))
		}))
		_, err = b.s.Get(b.ctx, "datastore", "/rg/w", "d")
		require.NoError(t, err)
	})
}

// runOperations tests long-running operation records.
func runOperations(t *testing.T, setup setupFunc) {
	t.Run("Operations", func(t *testing.T) {
		b := setup(t)
		op := &resource.Operation{ID: "op1", ResourceID: "/rg/w", Name: "Delete"}
		require.NoError(t, b.s.CreateOperation(b.ctx, op))
		require.ErrorIs(t, b.s.CreateOperation(b.ctx, &resource.Operation{ID: "op1"}), store.ErrExists)
		got, err := b.s.GetOperation(b.ctx, "op1")
		require.NoError(t, err)
		require.Equal(t, resource.OpInProgress, got.Status)
		require.False(t, got.Terminal())
		open, err := b.s.ListOperations(b.ctx, "/rg/w")
		require.NoError(t, err)
		require.Len(t, open, 1)

		require.NoError(t, b.s.FinishOperation(b.ctx, "op1", resource.OpFailed, "QuotaExceeded", "too big"))
		// A late second finish does not overwrite the first outcome.
		require.NoError(t, b.s.FinishOperation(b.ctx, "op1", resource.OpSucceeded, "", ""))
		got, err = b.s.GetOperation(b.ctx, "op1")
		require.NoError(t, err)
		require.Equal(t, resource.OpFailed, got.Status)
		require.Equal(t, "QuotaExceeded", got.ErrorCode)
		require.Equal(t, "too big", got.ErrorMsg)
		open, err = b.s.ListOperations(b.ctx, "/rg/w")
		require.NoError(t, err)
		require.Empty(t, open)
		_, err = b.s.GetOperation(b.ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, b.s.FinishOperation(b.ctx, "nope", resource.OpSucceeded, "", ""), store.ErrNotFound)
	})
}

// runUsers tests users and tokens, and a user's lifecycle: update, token
// deletion and user deletion with what goes with it.
func runUsers(t *testing.T, setup setupFunc) {
	t.Run("UsersAndTokens", func(t *testing.T) {
		b := setup(t)
		require.NoError(t, b.s.CreateUser(b.ctx, &resource.User{ID: "u1", Name: "admin", Role: "Owner"}))
		require.ErrorIs(t, b.s.CreateUser(b.ctx, &resource.User{ID: "u2", Name: "admin", Role: "Reader"}), store.ErrExists)
		require.NoError(t, b.s.CreateUser(b.ctx, &resource.User{ID: "u3", Name: "bob", Role: "Contributor"}))
		u, err := b.s.GetUserByName(b.ctx, "bob")
		require.NoError(t, err)
		require.Equal(t, "u3", u.ID)
		u, err = b.s.GetUser(b.ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, "Owner", u.Role)
		users, err := b.s.ListUsers(b.ctx)
		require.NoError(t, err)
		require.Len(t, users, 2)
		_, err = b.s.GetUser(b.ctx, "zz")
		require.ErrorIs(t, err, store.ErrNotFound)

		exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		require.NoError(t, b.s.CreateToken(b.ctx, &resource.Token{Hash: "h1", UserID: "u1", Label: "cli", ExpiresAt: exp}))
		tok, err := b.s.LookupToken(b.ctx, "h1")
		require.NoError(t, err)
		require.Equal(t, "u1", tok.UserID)
		require.True(t, exp.Equal(tok.ExpiresAt))
		require.NoError(t, b.s.DeleteToken(b.ctx, "h1"))
		_, err = b.s.LookupToken(b.ctx, "h1")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("UserLifecycle", func(t *testing.T) {
		b := setup(t)
		createUserWithTokens(t, b)
		e1 := updateUserMovesEpoch(t, b)
		deleteTokenEndsSessions(t, b, e1)
		deleteUserCascades(t, b)
	})
}

// epoch returns the store's auth epoch.
func (b *testBundle) epoch(t *testing.T) int64 {
	e, err := b.s.AuthEpoch(b.ctx)
	require.NoError(t, err)
	return e
}

// createUserWithTokens makes user u1 with two tokens, and one token for u2,
// and checks that u1's tokens list as two, by ID.
func createUserWithTokens(t *testing.T, b *testBundle) {
	require.NoError(t, b.s.CreateUser(b.ctx, &resource.User{ID: "u1", Name: "bob", Role: ""}))
	require.NoError(t, b.s.CreateToken(b.ctx, &resource.Token{Hash: "aaaaaaaaaaaaaaaa-t1", UserID: "u1", Label: "one"}))
	require.NoError(t, b.s.CreateToken(b.ctx, &resource.Token{Hash: "bbbbbbbbbbbbbbbb-t2", UserID: "u1", Label: "two"}))
	require.NoError(t, b.s.CreateToken(b.ctx, &resource.Token{Hash: "cccccccccccccccc-t3", UserID: "u2", Label: "other"}))
	toks, err := b.s.ListTokens(b.ctx, "u1")
	require.NoError(t, err)
	require.Len(t, toks, 2)
	require.Equal(t, "aaaaaaaaaaaaaaaa", toks[0].ID())
}

// updateUserMovesEpoch checks that updating a user moves the auth epoch, and
// returns the epoch after the update.
func updateUserMovesEpoch(t *testing.T, b *testBundle) int64 {
	e0 := b.epoch(t)
	u, err := b.s.GetUser(b.ctx, "u1")
	require.NoError(t, err)
	require.False(t, u.Disabled)
	u.Disabled, u.Role = true, "Reader"
	require.NoError(t, b.s.UpdateUser(b.ctx, u))
	u, err = b.s.GetUserByName(b.ctx, "bob")
	require.NoError(t, err)
	require.True(t, u.Disabled)
	require.Equal(t, "Reader", u.Role)
	e1 := b.epoch(t)
	require.Greater(t, e1, e0)
	require.ErrorIs(t, b.s.UpdateUser(b.ctx, &resource.User{ID: "nobody"}), store.ErrNotFound)
	return e1
}

// deleteTokenEndsSessions checks that deleting a token ends the sessions
// opened with it, not others, and moves the epoch past e1.
func deleteTokenEndsSessions(t *testing.T, b *testBundle, e1 int64) {
	exp := time.Now().Add(time.Hour)
	require.NoError(t, b.s.CreateSession(b.ctx, &resource.Session{Hash: "s1", Kind: resource.SessionCookie, UserID: "u1", Scope: "/", Source: "aaaaaaaaaaaaaaaa", ExpiresAt: exp}))
	require.NoError(t, b.s.CreateSession(b.ctx, &resource.Session{Hash: "s2", Kind: resource.SessionCookie, UserID: "u1", Scope: "/", ExpiresAt: exp}))
	got, err := b.s.GetSession(b.ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, "aaaaaaaaaaaaaaaa", got.Source)
	require.NoError(t, b.s.DeleteToken(b.ctx, "aaaaaaaaaaaaaaaa-t1"))
	require.ErrorIs(t, b.s.DeleteToken(b.ctx, "aaaaaaaaaaaaaaaa-t1"), store.ErrNotFound)
	require.Greater(t, b.epoch(t), e1)
	_, err = b.s.GetSession(b.ctx, "s1")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.s.GetSession(b.ctx, "s2")
	require.NoError(t, err)
}

// deleteUserCascades checks that deleting a user takes their tokens,
// sessions, password and role assignments; other users keep theirs.
func deleteUserCascades(t *testing.T, b *testBundle) {
	require.NoError(t, b.s.SetPassword(b.ctx, "u1", "$2a$10$x"))
	require.NoError(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "a1", Scope: "/subscriptions/s", Role: "Reader", PrincipalID: "u1"}))
	require.NoError(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "a2", Scope: "/subscriptions/s", Role: "Reader", PrincipalID: "u2"}))
	require.NoError(t, b.s.DeleteUser(b.ctx, "u1"))
	require.ErrorIs(t, b.s.DeleteUser(b.ctx, "u1"), store.ErrNotFound)
	_, err := b.s.GetUser(b.ctx, "u1")
	require.ErrorIs(t, err, store.ErrNotFound)
	toks, err := b.s.ListTokens(b.ctx, "u1")
	require.NoError(t, err)
	require.Empty(t, toks)
	_, err = b.s.GetSession(b.ctx, "s2")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.s.GetPassword(b.ctx, "u1")
	require.ErrorIs(t, err, store.ErrNotFound)
	ras, err := b.s.ListRoleAssignments(b.ctx, "")
	require.NoError(t, err)
	require.Len(t, ras, 1)
	require.Equal(t, "u2", ras[0].PrincipalID)
	_, err = b.s.LookupToken(b.ctx, "cccccccccccccccc-t3")
	require.NoError(t, err)
}

// runRoleAssignments tests role assignments: names and scopes ignore case,
// duplicates are refused, deletion within a scope, and the auth epoch.
func runRoleAssignments(t *testing.T, setup setupFunc) {
	t.Run("RoleAssignments", func(t *testing.T) {
		b := setup(t)
		const ws = "/subscriptions/S/resourceGroups/RG_1/providers/Microsoft.MachineLearningServices/workspaces/WS"
		e0, err := b.s.AuthEpoch(b.ctx)
		require.NoError(t, err)
		ra := &resource.RoleAssignment{Name: "0F000000-0000-0000-0000-000000000001", Scope: ws, Role: "Reader", PrincipalID: "u1", CreatedBy: "admin"}
		require.NoError(t, b.s.CreateRoleAssignment(b.ctx, ra))
		e1, err := b.s.AuthEpoch(b.ctx)
		require.NoError(t, err)
		require.Greater(t, e1, e0, "a new grant is seen at once too")

		got, err := b.s.GetRoleAssignment(b.ctx, "0f000000-0000-0000-0000-000000000001")
		require.NoError(t, err, "names ignore case")
		require.Equal(t, ws, got.Scope, "the scope keeps its spelling")
		require.Equal(t, "Reader", got.Role)
		require.Equal(t, "admin", got.CreatedBy)
		require.False(t, got.CreatedAt.IsZero())

		// The same name, or the same role for the same user at the same
		// scope (in any case), is taken.
		require.ErrorIs(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: ra.Name, Scope: "/subscriptions/s", Role: "Owner", PrincipalID: "u9"}), store.ErrExists)
		require.ErrorIs(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "n2", Scope: strings.ToLower(ws), Role: "Reader", PrincipalID: "u1"}), store.ErrExists)
		require.NoError(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "n3", Scope: ws, Role: "Contributor", PrincipalID: "u1"}))
		require.NoError(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "n4", Scope: "/subscriptions/s/resourceGroups/rg_1", Role: "Owner", PrincipalID: "u2"}))
		require.NoError(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "n5", Scope: "/subscriptions/s/resourceGroups/rgx1", Role: "Owner", PrincipalID: "u2"}))
		require.NoError(t, b.s.CreateRoleAssignment(b.ctx, &resource.RoleAssignment{Name: "n6", Scope: "/subscriptions/s/resourceGroups/rg_10", Role: "Owner", PrincipalID: "u2"}))

		mine, err := b.s.ListRoleAssignments(b.ctx, "u1")
		require.NoError(t, err)
		require.Len(t, mine, 2)
		all, err := b.s.ListRoleAssignments(b.ctx, "")
		require.NoError(t, err)
		require.Len(t, all, 5)

		// Deleting a resource group's assignments takes those at and below
		// it only: not rgx1 ('_' is no wildcard) nor rg_10.
		n, err := b.s.DeleteRoleAssignmentsWithin(b.ctx, "/subscriptions/s/resourcegroups/rg_1")
		require.NoError(t, err)
		require.Equal(t, 3, n)
		all, err = b.s.ListRoleAssignments(b.ctx, "")
		require.NoError(t, err)
		require.Len(t, all, 2)
		for _, ra := range all {
			require.Contains(t, []string{"n5", "n6"}, ra.Name)
		}

		e2, err := b.s.AuthEpoch(b.ctx)
		require.NoError(t, err)
		require.NoError(t, b.s.DeleteRoleAssignment(b.ctx, "n5"))
		require.ErrorIs(t, b.s.DeleteRoleAssignment(b.ctx, "n5"), store.ErrNotFound)
		_, err = b.s.GetRoleAssignment(b.ctx, "n5")
		require.ErrorIs(t, err, store.ErrNotFound)
		e3, err := b.s.AuthEpoch(b.ctx)
		require.NoError(t, err)
		require.Greater(t, e3, e2)
	})
}

// runSessions tests sessions: a link is taken once, and expired sessions
// are swept.
func runSessions(t *testing.T, setup setupFunc) {
	t.Run("Sessions", func(t *testing.T) {
		b := setup(t)
		exp := time.Now().Add(time.Minute).Truncate(time.Microsecond)
		link := &resource.Session{Hash: "l1", Kind: resource.SessionLink, UserID: "u1", Scope: "/a/jupyter/", Resource: "uid-1", Target: "/a/jupyter/tree", ExpiresAt: exp}
		require.NoError(t, b.s.CreateSession(b.ctx, link))
		require.ErrorIs(t, b.s.CreateSession(b.ctx, link), store.ErrExists)
		got, err := b.s.GetSession(b.ctx, "l1")
		require.NoError(t, err)
		require.Equal(t, "/a/jupyter/tree", got.Target)
		require.True(t, exp.Equal(got.ExpiresAt))

		// A link is taken exactly once, even by concurrent takers.
		var wg sync.WaitGroup
		var mu sync.Mutex
		taken := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				se, err := b.s.TakeSession(b.ctx, "l1")
				if err == nil {
					mu.Lock()
					taken++
					mu.Unlock()
					require.Equal(t, "uid-1", se.Resource)
					require.Equal(t, resource.SessionLink, se.Kind)
				} else {
					require.ErrorIs(t, err, store.ErrNotFound)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 1, taken)
		_, err = b.s.GetSession(b.ctx, "l1")
		require.ErrorIs(t, err, store.ErrNotFound)

		old := &resource.Session{Hash: "c1", Kind: resource.SessionCookie, UserID: "u1", Scope: "/", ExpiresAt: time.Now().Add(-time.Second)}
		live := &resource.Session{Hash: "c2", Kind: resource.SessionCookie, UserID: "u1", Scope: "/", ExpiresAt: time.Now().Add(time.Hour)}
		require.NoError(t, b.s.CreateSession(b.ctx, old))
		require.NoError(t, b.s.CreateSession(b.ctx, live))
		n, err := b.s.DeleteExpiredSessions(b.ctx, time.Now())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = b.s.GetSession(b.ctx, "c2")
		require.NoError(t, err)
		require.NoError(t, b.s.DeleteSession(b.ctx, "c2"))
		require.NoError(t, b.s.DeleteSession(b.ctx, "c2"))
		_, err = b.s.GetSession(b.ctx, "c2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// runHostUIDs tests that host uids are stable per user and unique under
// concurrent first use.
func runHostUIDs(t *testing.T, setup setupFunc) {
	t.Run("HostUIDs", func(t *testing.T) {
		b := setup(t)
		const base = 2_000_000_000
		a1, err := b.s.HostUID(b.ctx, "alice", base)
		require.NoError(t, err)
		require.Equal(t, base, a1)
		a2, err := b.s.HostUID(b.ctx, "alice", base)
		require.NoError(t, err)
		require.Equal(t, a1, a2, "stable")
		// Concurrent first uses each get a uid of their own.
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int]string{a1: "alice"}
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				who := fmt.Sprintf("user-%d", i)
				uid, err := b.s.HostUID(b.ctx, who, base)
				require.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				require.NotContains(t, seen, uid, "uid %d given to %s and %s", uid, seen[uid], who)
				seen[uid] = who
			}()
		}
		wg.Wait()
		require.Len(t, seen, 9)
	})
}

// runPasswordsAndSettings tests the two upserted key-value tables:
// passwords and settings.
func runPasswordsAndSettings(t *testing.T, setup setupFunc) {
	t.Run("Passwords", func(t *testing.T) {
		b := setup(t)
		_, err := b.s.GetPassword(b.ctx, "u1")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, b.s.SetPassword(b.ctx, "u1", "$2a$10$first"))
		require.NoError(t, b.s.SetPassword(b.ctx, "u1", "$2a$10$second"))
		h, err := b.s.GetPassword(b.ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, "$2a$10$second", h)
	})

	t.Run("Settings", func(t *testing.T) {
		b := setup(t)
		_, err := b.s.GetSetting(b.ctx, "k")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, b.s.PutSetting(b.ctx, "k", "v1"))
		require.NoError(t, b.s.PutSetting(b.ctx, "k", "v2"))
		v, err := b.s.GetSetting(b.ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "v2", v)
	})
}

// runLease tests leases: held, renewed by the holder, and taken once
// expired.
func runLease(t *testing.T, setup setupFunc) {
	t.Run("Lease", func(t *testing.T) {
		b := setup(t)
		ok, err := b.s.TryLease(b.ctx, "leader", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = b.s.TryLease(b.ctx, "leader", "b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "b must not steal a live lease")
		ok, err = b.s.TryLease(b.ctx, "leader", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "a renews its own lease")
		ok, err = b.s.TryLease(b.ctx, "other", "b", -time.Second)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = b.s.TryLease(b.ctx, "other", "c", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "c takes an expired lease")
	})
}

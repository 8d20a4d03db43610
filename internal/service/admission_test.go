package service_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

type testBundle struct {
	svc *service.Service
	st  store.Store
	ctx context.Context // carries an Owner
	sub string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := service.New(st, nil, nil)
	svc.DataDir = t.TempDir()
	svc.DefaultSubscription = "sub-1"
	require.NoError(t, svc.EnsureSubscription(context.Background(), "sub-1", "test"))
	ctx := service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u1", Name: "alice", Role: identity.RoleOwner})
	return &testBundle{svc: svc, st: st, ctx: ctx, sub: "sub-1"}
}

func body(t *testing.T, s string) *service.Body {
	t.Helper()
	b, err := service.ReadBody(strings.NewReader(s), 1<<20)
	require.NoError(t, err)
	return b
}

func TestReaderMayNotWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reader := service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u2", Name: "bob", Role: identity.RoleReader})
	_, _, err := b.svc.PutGroup(reader, b.sub, "rg1", body(t, `{"location": "eastus"}`))
	e, ok := core.AsError(err)
	require.True(t, ok)
	require.Equal(t, http.StatusForbidden, e.Status)
	require.Contains(t, e.Message, "Contributor", "say which role would do")

	_, _, err = b.svc.PutGroup(b.ctx, b.sub, "rg1", body(t, `{"location": "eastus"}`))
	require.NoError(t, err)
	_, err = b.svc.GetGroup(reader, b.sub, "rg1")
	require.NoError(t, err, "a Reader may read")
	_, err = b.svc.DeleteGroup(reader, b.sub, "rg1")
	require.Error(t, err)
}

// workspaceRef creates the group rg1 and returns the ref of its workspace ws1.
func (b *testBundle) workspaceRef(t *testing.T) core.WorkspaceRef {
	t.Helper()
	_, _, err := b.svc.PutGroup(b.ctx, b.sub, "rg1", body(t, `{"location": "eastus"}`))
	require.NoError(t, err)
	return core.WorkspaceRef{Subscription: b.sub, ResourceGroup: "rg1", Workspace: "ws1"}
}

func TestPutWorkspaceIsAllOrNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ref := b.workspaceRef(t)

	// A datastore row already in the way makes the transaction fail after
	// the workspace row was written; neither may remain.
	wsKey := ref.GroupKey() + "/providers/" + core.Key(core.Provider) + "/workspaces/ws1"
	require.NoError(t, b.st.Create(b.ctx, &resource.Object{Kind: core.KindDatastore, Parent: wsKey, Name: resource.DatastoreFiles, UID: "x", Spec: []byte("{}")}))
	_, _, err := b.svc.PutWorkspace(b.ctx, ref, body(t, `{}`))
	require.Error(t, err)
	_, err = b.svc.GetWorkspace(b.ctx, ref)
	require.Error(t, err)
	dss, err := b.st.List(b.ctx, store.ListOptions{Kind: core.KindDatastore, Parent: wsKey})
	require.NoError(t, err)
	require.Len(t, dss, 1, "only the row that was there before")

	require.NoError(t, b.st.Delete(b.ctx, core.KindDatastore, wsKey, resource.DatastoreFiles))
	ws, created, err := b.svc.PutWorkspace(b.ctx, ref, body(t, `{"tags": {"a": "b"}}`))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, wsKey, resource.WorkspaceKey(ws))
	dss, err = b.st.List(b.ctx, store.ListOptions{Kind: core.KindDatastore, Parent: wsKey})
	require.NoError(t, err)
	require.Len(t, dss, 4)
}

func TestWorkspaceKind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ref := b.workspaceRef(t)
	// azure-ai-ml 1.28 sends kind "default" in its deployment parameters.
	ws, _, err := b.svc.PutWorkspace(b.ctx, ref, body(t, `{"kind": "default"}`))
	require.NoError(t, err)
	require.Equal(t, service.WorkspaceKindDefault, resource.Decode(ws.Spec)["kind"])
	for _, kind := range []string{"Hub", "project", "FeatureStore"} {
		ref.Workspace = "ws-" + strings.ToLower(kind)
		_, _, err := b.svc.PutWorkspace(b.ctx, ref, body(t, `{"kind": "`+kind+`"}`))
		e, ok := core.AsError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, "kind", e.Target)
		require.Contains(t, e.Message, "not supported")
	}
}

func TestListGroupsPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := map[string]bool{}
	for i := range 23 {
		name := fmt.Sprintf("rg-%02d", i)
		if i%2 == 0 {
			name = strings.ToUpper(name)
		}
		_, _, err := b.svc.PutGroup(b.ctx, b.sub, name, body(t, `{"location": "eastus"}`))
		require.NoError(t, err)
		want[name] = true
	}
	got := map[string]bool{}
	pages := 0
	for page := (service.Page{Top: 5}); ; {
		pages++
		gs, next, err := b.svc.ListGroups(b.ctx, b.sub, page)
		require.NoError(t, err)
		for _, g := range gs {
			require.False(t, got[g.Name], "%s twice", g.Name)
			got[g.Name] = true
		}
		if next == "" {
			break
		}
		page.Skip = next
	}
	require.Equal(t, want, got)
	require.Equal(t, 5, pages, "pages of 5, 5, 5, 5 and 3")

	_, _, err := b.svc.ListGroups(b.ctx, b.sub, service.Page{Skip: "%%%"})
	e, ok := core.AsError(err)
	require.True(t, ok)
	require.Equal(t, "$skipToken", e.Target)
}

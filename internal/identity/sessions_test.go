package identity

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/store"
)

func requireStatus(t *testing.T, err error, status int, inMessage string) {
	t.Helper()
	require.Error(t, err)
	e, ok := core.AsError(err)
	require.True(t, ok, "want a *core.Error, got %T", err)
	require.Equal(t, status, e.Status, e.Message)
	require.Contains(t, e.Message, inMessage)
}

const scope = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ci-1/jupyter/"

func TestSignInLinkIsSingleUse(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	alice := &Principal{UserID: b.alice.ID, Name: "alice", Role: RoleContributor}
	link, exp, err := b.auth.NewSignInLink(b.ctx, alice, SignIn{Scope: scope, Resource: "uid-1", Target: scope + "tree"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, "mlwl_"))
	require.WithinDuration(t, time.Now().Add(SignInLinkTTL), exp, time.Minute)
	_, err = b.st.GetSession(b.ctx, link)
	require.ErrorIs(t, err, store.ErrNotFound, "only the hash is stored")

	sess, s, err := b.auth.RedeemSignInLink(b.ctx, link)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sess, "mlws_"))
	require.Equal(t, scope+"tree", s.Target)
	require.Equal(t, "uid-1", s.Resource)

	_, _, err = b.auth.RedeemSignInLink(b.ctx, link)
	requireStatus(t, err, http.StatusUnauthorized, "already used or has expired")
	_, _, err = b.auth.RedeemSignInLink(b.ctx, sess)
	requireStatus(t, err, http.StatusUnauthorized, "already used") // a session secret is not a link

	p, got, err := b.auth.AuthenticateSession(b.ctx, sess, scope+"api/kernels")
	require.NoError(t, err)
	require.Equal(t, b.alice.ID, p.UserID)
	require.Equal(t, "uid-1", got.Resource)
	// ARM paths are case-insensitive.
	_, _, err = b.auth.AuthenticateSession(b.ctx, sess, strings.ToLower(scope)+"tree")
	require.NoError(t, err)
	_, _, err = b.auth.AuthenticateSession(b.ctx, sess, strings.TrimSuffix(scope, "/"))
	require.NoError(t, err)

	// Another instance's path, or the API, is out of scope.
	_, _, err = b.auth.AuthenticateSession(b.ctx, sess, strings.Replace(scope, "ci-1", "ci-2", 1)+"tree")
	requireStatus(t, err, http.StatusForbidden, "not for")
	_, _, err = b.auth.AuthenticateSession(b.ctx, sess, strings.Replace(scope, "/jupyter/", "/terminal", 1))
	requireStatus(t, err, http.StatusForbidden, "not for")
	// A link is not a session.
	link2, _, err := b.auth.NewSignInLink(b.ctx, alice, SignIn{Scope: scope, Target: scope})
	require.NoError(t, err)
	_, _, err = b.auth.AuthenticateSession(b.ctx, link2, scope)
	requireStatus(t, err, http.StatusUnauthorized, "not valid")

	require.NoError(t, b.auth.EndSession(b.ctx, sess))
	_, _, err = b.auth.AuthenticateSession(b.ctx, sess, scope)
	requireStatus(t, err, http.StatusUnauthorized, "ended")

	_, _, err = b.auth.NewSignInLink(b.ctx, nil, SignIn{Scope: scope})
	requireStatus(t, err, http.StatusUnauthorized, "Sign in")
}

// TestSignInExpiry runs on synctest's fake clock.
func TestSignInExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setupAuth(t)
		b.auth.now = time.Now
		alice := &Principal{UserID: b.alice.ID}
		link, _, err := b.auth.NewSignInLink(b.ctx, alice, SignIn{Scope: scope, Target: scope})
		require.NoError(t, err)
		time.Sleep(SignInLinkTTL + time.Second)
		_, _, err = b.auth.RedeemSignInLink(b.ctx, link)
		requireStatus(t, err, http.StatusUnauthorized, "expired")

		link, _, err = b.auth.NewSignInLink(b.ctx, alice, SignIn{Scope: scope, Target: scope})
		require.NoError(t, err)
		sess, _, err := b.auth.RedeemSignInLink(b.ctx, link)
		require.NoError(t, err)
		time.Sleep(SessionTTL - time.Minute)
		_, _, err = b.auth.AuthenticateSession(b.ctx, sess, scope)
		require.NoError(t, err)
		time.Sleep(2 * time.Minute)
		_, _, err = b.auth.AuthenticateSession(b.ctx, sess, scope)
		requireStatus(t, err, http.StatusUnauthorized, "ended")
	})
}

func TestSessionOfADeletedUser(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ghost := &Principal{UserID: "nobody"}
	link, _, err := b.auth.NewSignInLink(b.ctx, ghost, SignIn{Scope: scope})
	require.NoError(t, err)
	_, _, err = b.auth.RedeemSignInLink(b.ctx, link)
	requireStatus(t, err, http.StatusUnauthorized, "no longer exists")
}

func TestInScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, scope string
		want        bool
	}{
		{"/a/b/", "/a/b/", true},
		{"/a/b", "/a/b/", true},
		{"/A/B/c", "/a/b/", true},
		{"/a/bc", "/a/b/", false},
		{"/a/", "/a/b/", false},
		{"/a/b/", "", false},
	} {
		require.Equal(t, tc.want, InScope(tc.path, tc.scope), "%s in %s", tc.path, tc.scope)
	}
}

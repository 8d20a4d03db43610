package identity

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPasswordSignIn(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	requireStatus(t, b.auth.SetPassword(b.ctx, b.alice.ID, "short"), http.StatusBadRequest, "at least 8")
	requireStatus(t, b.auth.SetPassword(b.ctx, b.alice.ID, strings.Repeat("x", 73)), http.StatusBadRequest, "at most 72")
	_, _, err := b.auth.SignInWithPassword(b.ctx, "alice", "correct horse")
	requireStatus(t, err, http.StatusUnauthorized, "mlw studio") // no password yet

	require.NoError(t, b.auth.SetPassword(b.ctx, b.alice.ID, "correct horse"))
	h, err := b.st.GetPassword(b.ctx, b.alice.ID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$2a$"), "a bcrypt hash, never the password: %s", h)
	require.NotContains(t, h, "correct horse")

	for _, bad := range [][2]string{{"alice", "wrong horse"}, {"nobody", "correct horse"}, {"alice", ""}} {
		_, _, err := b.auth.SignInWithPassword(b.ctx, bad[0], bad[1])
		requireStatus(t, err, http.StatusUnauthorized, "user name or password is wrong")
	}
	sess, s, err := b.auth.SignInWithPassword(b.ctx, "alice", "correct horse")
	require.NoError(t, err)
	require.Equal(t, StudioScope, s.Scope)
	require.Empty(t, s.Resource)
	p, _, err := b.auth.AuthenticateSession(b.ctx, sess, "/subscriptions/x/resourceGroups")
	require.NoError(t, err, "a studio session opens the whole API")
	require.Equal(t, "alice", p.Name)

	// The CSRF token is per session and not the secret itself.
	tok := CSRFToken(sess)
	require.NotEqual(t, sess, tok)
	require.Equal(t, tok, CSRFToken(sess))
	sess2, _, err := b.auth.SignInWithPassword(b.ctx, "alice", "correct horse")
	require.NoError(t, err)
	require.NotEqual(t, tok, CSRFToken(sess2))
}

package identity

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSAS(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := NewSASSigner([]byte("0123456789abcdef0123456789abcdef"))
	s.SetClock(func() time.Time { return now })
	tok := s.Sign(SASGrant{Account: "acct1", Container: "data", Permissions: "lwr", Start: now.Add(-time.Minute), Expiry: now.Add(time.Hour), UserID: "u1"})
	require.False(t, strings.HasPrefix(tok, "?"))
	q, err := url.ParseQuery(tok)
	require.NoError(t, err)
	require.Equal(t, "rwl", q.Get("sp"), "permissions are put in Azure's order")
	for _, k := range []string{"sv", "sr", "sp", "st", "se", "spr", "skoid", "sig"} {
		require.NotEmpty(t, q.Get(k), k)
	}

	mod := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = append([]string(nil), vv...)
		}
		c.Set(k, v)
		return c
	}
	tests := []struct {
		name      string
		q         url.Values
		container string
		perm      rune
		at        time.Time
		code      string
	}{
		{name: "valid read", q: q, container: "data", perm: PermRead, at: now},
		{name: "container case-insensitive", q: q, container: "DATA", perm: PermList, at: now},
		{name: "other container", q: q, container: "azureml", perm: PermRead, at: now, code: "AuthenticationFailed"},
		{name: "permission not granted", q: q, container: "data", perm: PermDelete, at: now, code: "AuthorizationPermissionMismatch"},
		{name: "widened permissions", q: mod("sp", "racwdl"), container: "data", perm: PermDelete, at: now, code: "AuthenticationFailed"},
		{name: "extended expiry", q: mod("se", "2030-01-01T00:00:00Z"), container: "data", perm: PermRead, at: now, code: "AuthenticationFailed"},
		{name: "other user", q: mod("skoid", "u2"), container: "data", perm: PermRead, at: now, code: "AuthenticationFailed"},
		{name: "forged signature", q: mod("sig", "AAAA"), container: "data", perm: PermRead, at: now, code: "AuthenticationFailed"},
		{name: "expired", q: q, container: "data", perm: PermRead, at: now.Add(time.Hour), code: "AuthenticationFailed"},
		{name: "not yet valid", q: q, container: "data", perm: PermRead, at: now.Add(-time.Hour), code: "AuthenticationFailed"},
		{name: "no signature", q: mod("sig", ""), container: "data", perm: PermRead, at: now, code: "AuthenticationFailed"},
		{name: "not a container SAS", q: mod("sr", "b"), container: "data", perm: PermRead, at: now, code: "AuthenticationFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewSASSigner([]byte("0123456789abcdef0123456789abcdef"))
			v.SetClock(func() time.Time { return tc.at })
			g, err := v.Verify(tc.q, "acct1", tc.container, tc.perm)
			if tc.code == "" {
				require.NoError(t, err)
				require.Equal(t, "u1", g.UserID)
				return
			}
			var se *SASError
			require.True(t, errors.As(err, &se), "err = %v", err)
			require.Equal(t, tc.code, se.Code)
			require.NotEmpty(t, se.Detail)
		})
	}

	// Another server's key signs tokens that this one refuses.
	other := NewSASSigner([]byte("another-secret-another-secret-xx"))
	_, err = other.Verify(q, "acct1", "data", PermRead)
	require.Error(t, err)
}

func TestSASKeyPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := LoadOrCreateSASSigner(dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, sasKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := LoadOrCreateSASSigner(dir)
	require.NoError(t, err)
	exp := time.Now().Add(time.Hour)
	q, _ := url.ParseQuery(a.Sign(SASGrant{Account: "acct1", Container: "c01", Permissions: "r", Expiry: exp}))
	_, err = b.Verify(q, "acct1", "c01", PermRead)
	require.NoError(t, err, "a restarted server accepts the SAS it issued before")
}

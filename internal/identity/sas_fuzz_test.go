package identity

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzSASVerify: no query string, however made, passes Verify unless this
// server signed it for that container; every refusal is a *SASError with
// Azure's codes.
func FuzzSASVerify(f *testing.F) {
	s := NewSASSigner([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	good := s.Sign(SASGrant{Account: "acct1", Container: "azureml", Permissions: "rl", Expiry: now.Add(time.Hour), UserID: "u1"})
	for _, q := range []string{good, "", "sig=x", "sv=2021-12-02&sr=c&se=2026-03-04T06:00:00Z&sig=AAAA", good + "&sp=racwdl",
		strings.Replace(good, "sp=rl", "sp=rwl", 1), strings.Replace(good, "skoid=u1", "skoid=u2", 1), "sig=%zz&sr=c", "sr=c&sr=b&" + good,
		good + "&se=2099-01-01T00:00:00Z", "sv=1&sr=c&se=x&sig=" + url.QueryEscape(strings.Repeat("A", 44))} {
		f.Add(q, "azureml", "r")
	}
	f.Fuzz(func(t *testing.T, query, container, perm string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p := 'r'
		if perm != "" {
			p = []rune(perm)[0]
		}
		g, err := s.Verify(q, "acct1", container, p)
		if err != nil {
			var se *SASError
			if !errors.As(err, &se) || (se.Code != "AuthenticationFailed" && se.Code != "AuthorizationPermissionMismatch") || se.Detail == "" {
				t.Fatalf("Verify(%q): not a SASError with Azure's codes: %#v", query, err)
			}
			return
		}
		// Accepted: it must be exactly what the server signs for this
		// container, with the permission asked for.
		want := s.Sign(SASGrant{Account: "acct1", Container: container, Permissions: q.Get("sp"), Start: g.Start, Expiry: g.Expiry, UserID: q.Get("skoid")})
		wq, _ := url.ParseQuery(want)
		if wq.Get("sig") != q.Get("sig") || !strings.ContainsRune(g.Permissions, p) || !now.Before(g.Expiry) {
			t.Fatalf("Verify accepted %q for container %q (grant %+v), which this server did not sign", query, container, g)
		}
	})
}

// FuzzSASRoundTrip: a token the server signs verifies for its container
// and grants what was asked; on another container, or with any one
// query value changed, it is refused.
func FuzzSASRoundTrip(f *testing.F) {
	f.Add("azureml", "rl", "00000000-0000-4000-8000-000000000001", int64(3600), int64(0), "blob2", 0)
	f.Add("code-x", "racwdl", "", int64(12*3600), int64(-60), "code-y", 3)
	f.Add("azureml", "lr", "a&b=c\nd", int64(1), int64(600), "Azureml", 5)
	f.Fuzz(func(t *testing.T, container, perms, user string, ttl, startOffset int64, other string, tamper int) {
		s := NewSASSigner([]byte("0123456789abcdef0123456789abcdef"))
		now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		if ttl <= 0 || ttl > 1<<32 || startOffset > 0 || startOffset < -1<<32 || canonicalPerms(perms) == "" {
			return
		}
		g := SASGrant{Account: "acct1", Container: container, Permissions: perms, Expiry: now.Add(time.Duration(ttl) * time.Second), UserID: user}
		if startOffset != 0 {
			g.Start = now.Add(time.Duration(startOffset) * time.Second)
		}
		tok := s.Sign(g)
		q, err := url.ParseQuery(tok)
		if err != nil {
			t.Fatalf("Sign(%+v) = %q, not a query string: %v", g, tok, err)
		}
		perm := rune(canonicalPerms(perms)[0])
		got, err := s.Verify(q, "acct1", container, perm)
		if err != nil {
			t.Fatalf("Verify(Sign(%+v)): %v", g, err)
		}
		if got.UserID != user || got.Permissions != canonicalPerms(perms) || !got.Expiry.Equal(g.Expiry.Truncate(time.Second)) {
			t.Fatalf("Verify(Sign(%+v)) = %+v", g, got)
		}
		if !strings.EqualFold(other, container) {
			if _, err := s.Verify(q, "acct1", other, perm); err == nil {
				t.Fatalf("a token for container %q verified for %q", container, other)
			}
		}
		keys := []string{"sv", "sr", "sp", "st", "se", "spr", "skoid", "sig"}
		k := keys[(tamper%len(keys)+len(keys))%len(keys)]
		if _, ok := q[k]; !ok {
			return
		}
		changed := url.Values{}
		for key, v := range q {
			changed[key] = append([]string(nil), v...)
		}
		changed.Set(k, q.Get(k)+"x")
		if _, err := s.Verify(changed, "acct1", container, perm); err == nil {
			t.Fatalf("a token with %s changed to %q verified", k, changed.Get(k))
		}
	})
}

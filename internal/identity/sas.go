package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SAS tokens are how blob clients (azure-storage-blob inside azure-ai-ml,
// job processes, log readers) reach mlw's Blob API. They have the shape of
// an Azure *service SAS* for one container (sr=c), so that the Azure SDKs
// accept them as they are (azure-storage-blob refuses a SAS string holding
// any query key it does not know):
//
//	sv=2021-12-02&sr=c&sp=racwdl&st=…&se=…&spr=https,http&skoid=<user>&sig=<HMAC>
//
// As in Azure, the container is not a query parameter: it is part of the
// signed string (the canonicalized resource "/blob/{account}/{container}"),
// taken from the request path when the token is checked. A token signed for
// one container therefore fails on any other. The signature is
// HMAC-SHA256 under a 32-byte secret kept in the data directory (sas.key,
// mode 0600), created on first start; deleting that file revokes every SAS.

// SASVersion is the storage service version mlw's tokens claim.
const SASVersion = "2021-12-02"

const sasKeyFile = "sas.key"

// SAS permissions, in Azure's canonical order.
const (
	PermRead   = 'r'
	PermAdd    = 'a'
	PermCreate = 'c'
	PermWrite  = 'w'
	PermDelete = 'd'
	PermList   = 'l'
)

// PermsAll is every permission mlw's Blob API checks.
const PermsAll = "racwdl"

// SASGrant is what a token allows.
type SASGrant struct {
	Account   string
	Container string
	// Permissions is a subset of "racwdl", in any order.
	Permissions string
	Start       time.Time
	Expiry      time.Time
	// UserID is the object id of the user the token was issued to (skoid);
	// it is signed, so it cannot be changed, and is logged on each use.
	UserID string
}

// SASSigner signs and verifies SAS tokens with the server's secret.
type SASSigner struct {
	key []byte
	now func() time.Time
}

// LoadOrCreateSASSigner reads the SAS secret from dir, creating it on first use.
func LoadOrCreateSASSigner(dir string) (*SASSigner, error) {
	path := filepath.Join(dir, sasKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		enc := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
		// O_EXCL: two servers starting on one data directory agree on one key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateSASSigner(dir)
		}
		if err != nil {
			return nil, fmt.Errorf("write SAS key: %w", err)
		}
		if _, err := f.Write(enc); err != nil {
			f.Close()
			return nil, fmt.Errorf("write SAS key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write SAS key: %w", err)
		}
		return NewSASSigner(key), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read SAS key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("SAS key %s is damaged: delete it to create a new one (this revokes every SAS token)", path)
	}
	return NewSASSigner(key), nil
}

// NewSASSigner returns a signer with the given secret (tests).
func NewSASSigner(key []byte) *SASSigner {
	return &SASSigner{key: append([]byte(nil), key...), now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *SASSigner) SetClock(now func() time.Time) { s.now = now }

const sasTime = "2006-01-02T15:04:05Z"

// canonicalPerms orders permissions as Azure does and drops unknown ones.
func canonicalPerms(p string) string {
	var b strings.Builder
	for _, c := range PermsAll {
		if strings.ContainsRune(p, c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (s *SASSigner) sign(perms, start, expiry, account, container, proto, version, oid string) string {
	msg := strings.Join([]string{perms, start, expiry, "/blob/" + strings.ToLower(account) + "/" + strings.ToLower(container), oid, proto, version, "c"}, "\n")
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns a SAS token (no leading '?') for g.
func (s *SASSigner) Sign(g SASGrant) string {
	perms := canonicalPerms(g.Permissions)
	start, expiry := "", g.Expiry.UTC().Format(sasTime)
	if !g.Start.IsZero() {
		start = g.Start.UTC().Format(sasTime)
	}
	const proto = "https,http"
	q := []string{"sv=" + SASVersion, "sr=c", "sp=" + perms}
	if start != "" {
		q = append(q, "st="+url.QueryEscape(start))
	}
	q = append(q, "se="+url.QueryEscape(expiry), "spr="+url.QueryEscape(proto))
	if g.UserID != "" {
		q = append(q, "skoid="+url.QueryEscape(g.UserID))
	}
	sig := s.sign(perms, start, expiry, g.Account, g.Container, proto, SASVersion, g.UserID)
	q = append(q, "sig="+url.QueryEscape(sig))
	return strings.Join(q, "&")
}

// SASError says why a token was refused. Status is 403 as in Azure;
// Code is AuthenticationFailed (forged, tampered, expired, not yet valid)
// or AuthorizationPermissionMismatch (valid, but lacks the permission).
type SASError struct {
	Code   string
	Detail string
}

func (e *SASError) Error() string { return e.Code + ": " + e.Detail }

// HasSAS reports whether a query carries a SAS signature.
func HasSAS(q url.Values) bool { return q.Get("sig") != "" }

// Verify checks the SAS in query q for a request on account/container that
// needs permission perm. It returns the grant, or a *SASError.
func (s *SASSigner) Verify(q url.Values, account, container string, perm rune) (*SASGrant, error) {
	sig := q.Get("sig")
	if sig == "" {
		return nil, &SASError{Code: "AuthenticationFailed", Detail: "The request carries no SAS signature (sig)."}
	}
	if q.Get("sr") != "c" || q.Get("sv") == "" || q.Get("se") == "" {
		return nil, &SASError{Code: "AuthenticationFailed", Detail: "The SAS is incomplete: it needs sv, sr=c, sp, se and sig. Get a new one from the datastore's listSecrets."}
	}
	perms, start, expiry, proto, oid := q.Get("sp"), q.Get("st"), q.Get("se"), q.Get("spr"), q.Get("skoid")
	want := s.sign(perms, start, expiry, account, container, proto, q.Get("sv"), oid)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return nil, &SASError{Code: "AuthenticationFailed", Detail: "Signature did not match: the SAS was not issued by this server for container '" + container + "', or it was altered."}
	}
	now := s.now()
	exp, err := time.Parse(sasTime, expiry)
	if err != nil {
		return nil, &SASError{Code: "AuthenticationFailed", Detail: "The SAS expiry (se) is not a valid time."}
	}
	if !now.Before(exp) {
		return nil, &SASError{Code: "AuthenticationFailed", Detail: "Signed expiry time [" + expiry + "] has passed: the SAS expired. Get a new one from the datastore's listSecrets."}
	}
	g := &SASGrant{Account: account, Container: container, Permissions: perms, Expiry: exp, UserID: oid}
	if start != "" {
		st, err := time.Parse(sasTime, start)
		if err != nil {
			return nil, &SASError{Code: "AuthenticationFailed", Detail: "The SAS start (st) is not a valid time."}
		}
		// Azure allows for clock skew between client and server.
		if now.Add(5 * time.Minute).Before(st) {
			return nil, &SASError{Code: "AuthenticationFailed", Detail: "Signed start time [" + start + "] is in the future: the SAS is not valid yet."}
		}
		g.Start = st
	}
	if !strings.ContainsRune(perms, perm) {
		return nil, &SASError{Code: "AuthorizationPermissionMismatch", Detail: "This request is not authorized to perform this operation using this permission: the SAS allows '" + perms + "', the request needs '" + string(perm) + "'."}
	}
	return g, nil
}

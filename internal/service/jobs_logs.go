package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// A job's logs live with its artifacts in the workspace's artifact store
// (container "azureml", ExperimentRun/dcid.<job>/): the job's processes
// write them there directly, so they are complete and readable while the
// job runs, after it ends and after a server restart.
//
// Run history hands out log URLs the Azure ML SDK fetches without
// credentials (jobs.stream). They are mlw URLs, /runlogs/<token>, where the
// token names one file of one job and an expiry, signed with HMAC-SHA256
// under a key kept in the store's settings (so that every replica accepts
// it): unguessable, scoped to one file, expiring.

// LogURLTTL is how long a signed log URL is valid.
const LogURLTTL = time.Hour

const logKeySetting = "runhistory_log_url_key"

// logKeys caches each service's signing key.
var logKeys sync.Map // *Service → []byte

func (s *Service) logKey(ctx context.Context) ([]byte, error) {
	if k, ok := logKeys.Load(s); ok {
		return k.([]byte), nil
	}
	v, err := s.Store.GetSetting(ctx, logKeySetting)
	if errors.Is(err, store.ErrNotFound) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if err := s.Store.PutSetting(ctx, logKeySetting, hex.EncodeToString(b)); err != nil {
			return nil, err
		}
		// Another replica may have won the race: read what is stored.
		if v, err = s.Store.GetSetting(ctx, logKeySetting); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 16 {
		return nil, errors.New("the stored log URL key is corrupt")
	}
	logKeys.Store(s, key)
	return key, nil
}

// LogToken is what a signed log URL grants: one file of one job's
// artifacts, until Expiry.
type LogToken struct {
	Account string `json:"a"`
	Job     string `json:"j"`
	Path    string `json:"p"`
	Expiry  int64  `json:"e"`
	// User is the object id of the user the URL was made for: the URL
	// works only while that user may read the workspace.
	User string `json:"u,omitempty"`
}

// SignLogToken returns the token of a log URL for one of a job's files.
func (s *Service) SignLogToken(ctx context.Context, ws, job *resource.Object, path string) (string, error) {
	key, err := s.logKey(ctx)
	if err != nil {
		return "", err
	}
	t := LogToken{Account: resource.WorkspaceStatusOf(ws).StorageAccount, Job: job.Name, Path: path, Expiry: s.Now().Add(LogURLTTL).Unix()}
	if p := PrincipalFrom(ctx); p != nil {
		t.User = p.UserID
	}
	b, _ := json.Marshal(t)
	payload := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// ErrBadLogToken: a log URL that this server did not sign, or that expired.
var ErrBadLogToken = errors.New("invalid or expired log URL")

// VerifyLogToken checks a log URL's token.
func (s *Service) VerifyLogToken(ctx context.Context, token string) (*LogToken, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrBadLogToken
	}
	key, err := s.logKey(ctx)
	if err != nil {
		return nil, err
	}
	want := hmac.New(sha256.New, key)
	want.Write([]byte(payload))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return nil, ErrBadLogToken
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, ErrBadLogToken
	}
	var t LogToken
	if json.Unmarshal(b, &t) != nil || s.Now().Unix() >= t.Expiry {
		return nil, ErrBadLogToken
	}
	return &t, nil
}

// JobFile is one file of a job's artifacts.
type JobFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// logDirs are the artifact folders that hold logs.
var logDirs = []string{"user_logs/", "system_logs/", "azureml-logs/", "logs/"}

// JobLogFiles lists a job's log files (names relative to its artifacts),
// user logs first.
func (s *Service) JobLogFiles(ws, job *resource.Object) ([]JobFile, error) {
	if s.Blobs == nil {
		return nil, nil
	}
	prefix := resource.JobArtifactPrefix(job.Name)
	res, err := s.Blobs.List(resource.WorkspaceStatusOf(ws).StorageAccount, resource.ArtifactContainer, blob.ListOptions{Prefix: prefix})
	if err != nil {
		return nil, core.Internal(err)
	}
	var out []JobFile
	for _, dir := range logDirs {
		for _, b := range res.Blobs {
			name := strings.TrimPrefix(b.Name, prefix)
			if strings.HasPrefix(name, dir) {
				out = append(out, JobFile{Name: name, Size: b.Size})
			}
		}
	}
	return out, nil
}

// OpenJobFile opens one file of a job's artifacts (a log).
func (s *Service) OpenJobFile(account, job, path string) (*blob.Object, error) {
	if s.Blobs == nil {
		return nil, core.NotFound("NotFound", "No such log.")
	}
	clean := strings.TrimPrefix(path, "/")
	if clean == "" || strings.Contains("/"+clean+"/", "/../") {
		return nil, core.Invalid("path", "Invalid log path %q.", path)
	}
	o, err := s.Blobs.Open(account, resource.ArtifactContainer, resource.JobArtifactPrefix(job)+clean)
	if err != nil {
		if blob.IsNotFound(err) {
			return nil, core.NotFound("NotFound", "The job %s has no log %q (yet).", job, clean)
		}
		return nil, core.Internal(err)
	}
	return o, nil
}

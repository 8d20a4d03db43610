package service

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/tracking"
)

// MLflow's artifact proxy (mlflow-artifacts): paths are blob names in the
// workspace's artifact store (container azureml), where a run's artifacts
// lie under ExperimentRun/dcid.<run id>/ beside a job's outputs and logs.
// The blob store resolves every name inside the account with os.Root and
// refuses "." and ".." segments, so no path leads out of it.

// ArtifactFile is one entry of an artifact listing.
type ArtifactFile struct {
	Path  string
	IsDir bool
	Size  int64
}

// artifactPath validates a path of the proxy API.
func artifactPath(p string, allowEmpty bool) (string, error) {
	clean := strings.Trim(p, "/")
	if clean == "" && allowEmpty {
		return "", nil
	}
	if err := blob.ValidatePath(clean); err != nil {
		msg := err.Error()
		if e, ok := blob.AsError(err); ok {
			msg = e.Message
		}
		return "", tracking.Invalid("path", "Invalid artifact path %q: %s", p, msg)
	}
	return clean, nil
}

func (s *Service) artifactAccount(ctx context.Context, ref core.WorkspaceRef, write bool) (string, error) {
	var ws *resource.Object
	var err error
	if write {
		ws, err = s.trackingWrite(ctx, ref)
	} else {
		ws, err = s.trackingWorkspace(ctx, ref)
	}
	if err != nil {
		return "", err
	}
	if s.Blobs == nil {
		return "", core.Internal(errNoBlobs)
	}
	return resource.WorkspaceStatusOf(ws).StorageAccount, nil
}

var errNoBlobs = errors.New("this server has no artifact store")

// blobErr maps a blob store error to MLflow's.
func blobErr(err error, p string) error {
	if e, ok := blob.AsError(err); ok {
		switch {
		case e.Status == http.StatusNotFound:
			return tracking.NotFound("No artifact at %q.", p)
		case e.Status == http.StatusConflict:
			return tracking.Invalid("path", "The artifact path %q clashes with a file or directory of the same name.", p)
		case e.Status < 500:
			return tracking.Invalid("path", "Invalid artifact path %q: %s", p, e.Message)
		}
	}
	return core.Internal(err)
}

// PutArtifact stores an uploaded artifact.
func (s *Service) PutArtifact(ctx context.Context, ref core.WorkspaceRef, p string, body io.Reader) error {
	acct, err := s.artifactAccount(ctx, ref, true)
	if err != nil {
		return err
	}
	name, err := artifactPath(p, false)
	if err != nil {
		return err
	}
	if _, _, err := s.Blobs.Put(acct, resource.ArtifactContainer, name, body, blob.PutOptions{}); err != nil {
		return blobErr(err, p)
	}
	return nil
}

// OpenArtifact opens an artifact for download.
func (s *Service) OpenArtifact(ctx context.Context, ref core.WorkspaceRef, p string) (*blob.Object, error) {
	acct, err := s.artifactAccount(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	name, err := artifactPath(p, false)
	if err != nil {
		return nil, err
	}
	o, err := s.Blobs.Open(acct, resource.ArtifactContainer, name)
	if err != nil {
		return nil, blobErr(err, p)
	}
	return o, nil
}

// DeleteArtifact removes an artifact (a file, or everything under a
// directory).
func (s *Service) DeleteArtifact(ctx context.Context, ref core.WorkspaceRef, p string) error {
	acct, err := s.artifactAccount(ctx, ref, true)
	if err != nil {
		return err
	}
	name, err := artifactPath(p, false)
	if err != nil {
		return err
	}
	files, err := s.listAll(acct, name+"/")
	if err != nil {
		return blobErr(err, p)
	}
	names := append(files, name)
	for _, n := range names {
		if err := s.Blobs.Delete(acct, resource.ArtifactContainer, n, blob.Conditions{}); err != nil && !blob.IsNotFound(err) {
			return blobErr(err, p)
		}
	}
	return nil
}

func (s *Service) listAll(acct, prefix string) ([]string, error) {
	var out []string
	marker := ""
	for {
		res, err := s.Blobs.List(acct, resource.ArtifactContainer, blob.ListOptions{Prefix: prefix, Marker: marker})
		if err != nil {
			return nil, err
		}
		for _, b := range res.Blobs {
			out = append(out, b.Name)
		}
		if res.NextMarker == "" {
			return out, nil
		}
		marker = res.NextMarker
	}
}

// ListArtifacts lists the files and directories directly under a path;
// their paths are relative to it, as MLflow's proxy answers.
func (s *Service) ListArtifacts(ctx context.Context, ref core.WorkspaceRef, p string) ([]ArtifactFile, error) {
	acct, err := s.artifactAccount(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	name, err := artifactPath(p, true)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if name != "" {
		prefix = name + "/"
	}
	out := []ArtifactFile{}
	marker := ""
	for {
		res, err := s.Blobs.List(acct, resource.ArtifactContainer, blob.ListOptions{Prefix: prefix, Delimiter: "/", Marker: marker})
		if err != nil {
			if blob.IsNotFound(err) {
				return out, nil
			}
			return nil, blobErr(err, p)
		}
		for _, d := range res.Prefixes {
			out = append(out, ArtifactFile{Path: path.Base(strings.TrimSuffix(d, "/")), IsDir: true})
		}
		for _, b := range res.Blobs {
			out = append(out, ArtifactFile{Path: path.Base(b.Name), Size: b.Size})
		}
		if res.NextMarker == "" {
			return out, nil
		}
		marker = res.NextMarker
	}
}

// RunArtifactPath is the proxy path of a run's artifact root (for the
// tracking API's artifacts/list), or "" when the run keeps its artifacts
// elsewhere.
func RunArtifactPath(r *tracking.Run) string {
	const scheme = "mlflow-artifacts:"
	if !strings.HasPrefix(r.Info.ArtifactURI, scheme) {
		return ""
	}
	return strings.TrimLeft(strings.TrimPrefix(r.Info.ArtifactURI, scheme), "/")
}

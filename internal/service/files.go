package service

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// The workspace file share ("Notebooks" in the studio; the
// workspaceworkingdirectory datastore) is a directory of the workspace's
// storage account, storage/<account>/code-<workspace guid>/. The API serves
// it under {workspace}/files, and compute instances bind the same
// directory at ~/cloudfiles/code, so both see the same files.

// FileShareDir returns the on-disk directory of a workspace's file share,
// creating it, for compute instances to bind at ~/cloudfiles/code.
func (s *Service) FileShareDir(ctx context.Context, ref core.WorkspaceRef) (string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return "", err
	}
	dir := resource.WorkspaceShareDir(s.DataDir, ws)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", core.Internal(err)
	}
	return dir, nil
}

// cleanSharePath normalises a share path: no leading or trailing slash.
func cleanSharePath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if err := blob.ValidatePath(p); err != nil {
		e, _ := blob.AsError(err)
		return "", core.Invalid("path", "Invalid path %q: %s", p, strings.Replace(e.Message, "blob name", "path", 1))
	}
	return p, nil
}

// fileErr maps a file share error to an API error.
func fileErr(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := blob.AsError(err); ok {
		switch e.Status {
		case http.StatusNotFound:
			return core.NotFound("ResourceNotFound", "%s", e.Message)
		case http.StatusConflict:
			return core.Conflict(e.Code, "%s", e.Message)
		default:
			return &core.Error{Status: e.Status, Code: e.Code, Message: e.Message, Target: "path"}
		}
	}
	if blob.IsBodyError(err) {
		return core.Invalid("body", "The upload was interrupted: %v", err)
	}
	return core.Internal(err)
}

func (s *Service) share(ctx context.Context, ref core.WorkspaceRef, write bool) (account, share string, err error) {
	if write {
		if err := requireWrite(PrincipalFrom(ctx)); err != nil {
			return "", "", err
		}
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return "", "", err
	}
	if write && ws.Deleting {
		return "", "", core.Conflict("WorkspaceBeingDeleted", "The workspace '%s' is being deleted.", ws.Name)
	}
	return resource.WorkspaceStatusOf(ws).StorageAccount, resource.WorkspaceShareName(ws), nil
}

// ListFiles lists a directory of the file share ("" is the root), or
// describes a file.
func (s *Service) ListFiles(ctx context.Context, ref core.WorkspaceRef, p string, recursive bool) ([]blob.FileInfo, error) {
	p, err := cleanSharePath(p)
	if err != nil {
		return nil, err
	}
	account, share, err := s.share(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	fs, err := s.Blobs.ShareList(account, share, p, recursive)
	return fs, fileErr(err)
}

// OpenFile opens a file of the share for reading; close it.
func (s *Service) OpenFile(ctx context.Context, ref core.WorkspaceRef, p string) (*os.File, *blob.FileInfo, error) {
	p, err := cleanSharePath(p)
	if err != nil {
		return nil, nil, err
	}
	if p == "" {
		return nil, nil, core.Invalid("path", "Name a file to download; list the share's root with GET …/files.")
	}
	account, share, err := s.share(ctx, ref, false)
	if err != nil {
		return nil, nil, err
	}
	f, fi, err := s.Blobs.ShareOpen(account, share, p)
	return f, fi, fileErr(err)
}

// WriteFile stores a file in the share from r (streamed, atomic). created
// reports a new file.
func (s *Service) WriteFile(ctx context.Context, ref core.WorkspaceRef, p string, r io.Reader, overwrite bool) (*blob.FileInfo, bool, error) {
	p, err := cleanSharePath(p)
	if err != nil {
		return nil, false, err
	}
	if p == "" {
		return nil, false, core.Invalid("path", "Name the file to write, for example Users/<you>/compute-setup.sh.")
	}
	account, share, err := s.share(ctx, ref, true)
	if err != nil {
		return nil, false, err
	}
	fi, created, err := s.Blobs.ShareWrite(account, share, p, r, overwrite)
	return fi, created, fileErr(err)
}

// MakeDir creates a directory (with its parents) in the share.
func (s *Service) MakeDir(ctx context.Context, ref core.WorkspaceRef, p string) (*blob.FileInfo, error) {
	p, err := cleanSharePath(p)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, core.Invalid("path", "Name the directory to create.")
	}
	account, share, err := s.share(ctx, ref, true)
	if err != nil {
		return nil, err
	}
	fi, err := s.Blobs.ShareMkdir(account, share, p)
	return fi, fileErr(err)
}

// DeleteFile deletes a file or a directory (recursive for a non-empty one).
func (s *Service) DeleteFile(ctx context.Context, ref core.WorkspaceRef, p string, recursive bool) error {
	p, err := cleanSharePath(p)
	if err != nil {
		return err
	}
	if p == "" {
		return core.Invalid("path", "Name what to delete; the share's root cannot be deleted.")
	}
	account, share, err := s.share(ctx, ref, true)
	if err != nil {
		return err
	}
	return fileErr(s.Blobs.ShareDelete(account, share, p, recursive))
}

package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// File shares (Azure Files: a workspace's "Notebooks" share) are
// directories beside the blob containers: storage/<account>/<share>/. Unlike
// blobs they have real directories and no sidecars; compute instances bind
// the same directory into their home, so a file written by either side is
// the same file. Writes are atomic (temporary file, then rename).

// FileInfo describes one file or directory of a share.
type FileInfo struct {
	Path     string    `json:"path"`
	IsDir    bool      `json:"isDirectory"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"lastModified"`
}

// ShareDir is the directory of a file share on disk.
func ShareDir(dataDir, account, share string) string { return ContainerDir(dataDir, account, share) }

func errFileNotFound(p string) *Error {
	return newError(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The path '%s' does not exist in the file share.", p))
}

// errShareLinkOutside answers a share path that is or runs through a
// symbolic link leading outside the storage account (made from an
// instance's terminal): never followed.
func errShareLinkOutside(p string) *Error {
	return newError(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf(
		"'%s' is, or lies under, a symbolic link that leads outside the workspace's storage; mlw does not follow such links. Replace the link with the file or directory it points to.", p))
}

func shareName(share, p string) string {
	if p == "" {
		return share
	}
	return share + "/" + p
}

func checkShare(account, share, p string, allowRoot bool) error {
	if err := checkNames(account, share, ""); err != nil {
		return err
	}
	if p == "" && allowRoot {
		return nil
	}
	return ValidatePath(p)
}

func infoOf(p string, fi fs.FileInfo) FileInfo {
	f := FileInfo{Path: p, IsDir: fi.IsDir(), Modified: fi.ModTime().UTC()}
	if !f.IsDir {
		f.Size = fi.Size()
	}
	return f
}

// ShareStat describes one path of a share.
func (s *Store) ShareStat(account, share, p string) (*FileInfo, error) {
	if err := checkShare(account, share, p, true); err != nil {
		return nil, err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fi, err := root.Stat(shareName(share, p))
	if isNotExist(err) {
		if p == "" {
			return &FileInfo{IsDir: true}, nil // an empty share
		}
		return nil, errFileNotFound(p)
	}
	if err != nil {
		if throughLink(root, shareName(share, p)) {
			return nil, errShareLinkOutside(p)
		}
		return nil, err
	}
	f := infoOf(p, fi)
	return &f, nil
}

// ShareList lists a directory of a share (p == "" is the root), or
// describes p when it is a file. recursive lists the whole tree below.
func (s *Store) ShareList(account, share, p string, recursive bool) ([]FileInfo, error) {
	st, err := s.ShareStat(account, share, p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir {
		return []FileInfo{*st}, nil
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	base := shareName(share, p)
	if _, err := root.Stat(base); isNotExist(err) {
		return []FileInfo{}, nil
	}
	out := []FileInfo{}
	err = fs.WalkDir(root.FS(), base, func(fp string, d fs.DirEntry, err error) error {
		if err != nil || fp == base {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // links may point anywhere: not served
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		out = append(out, infoOf(strings.TrimPrefix(fp, share+"/"), fi))
		if d.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// ShareOpen opens a file of a share for reading.
func (s *Store) ShareOpen(account, share, p string) (*os.File, *FileInfo, error) {
	if err := checkShare(account, share, p, false); err != nil {
		return nil, nil, err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	f, err := root.Open(shareName(share, p))
	if isNotExist(err) {
		return nil, nil, errFileNotFound(p)
	}
	if err != nil {
		if throughLink(root, shareName(share, p)) {
			return nil, nil, errShareLinkOutside(p)
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, nil, newError(http.StatusBadRequest, "PathIsDirectory", fmt.Sprintf("'%s' is a directory; list it instead of downloading it.", p))
	}
	info := infoOf(p, fi)
	return f, &info, nil
}

// ShareWrite writes a file of a share from r, creating its directories.
// created reports a new file. With overwrite false an existing file is a
// 409.
func (s *Store) ShareWrite(account, share, p string, r io.Reader, overwrite bool) (*FileInfo, bool, error) {
	if err := checkShare(account, share, p, false); err != nil {
		return nil, false, err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, false, err
	}
	defer root.Close()
	dst := shareName(share, p)
	fi, err := root.Stat(dst)
	exists := err == nil
	if exists && fi.IsDir() {
		return nil, false, newError(http.StatusConflict, "PathIsDirectory", fmt.Sprintf("'%s' is a directory; a file cannot replace it.", p))
	}
	if exists && !overwrite {
		return nil, false, newError(http.StatusConflict, "PathAlreadyExists", fmt.Sprintf("'%s' already exists; allow overwriting to replace it.", p))
	}
	tmp, _, _, err := spool(root, r)
	if err != nil {
		return nil, false, err
	}
	defer root.Remove(tmp)
	if err := root.MkdirAll(path.Dir(dst), 0o755); err != nil {
		if throughLink(root, path.Dir(dst)) {
			return nil, false, errShareLinkOutside(p)
		}
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return nil, false, newError(http.StatusConflict, "PathConflict", fmt.Sprintf("A parent of '%s' is a file, not a directory.", p))
		}
		return nil, false, err
	}
	if err := root.Rename(tmp, dst); err != nil {
		return nil, false, fmt.Errorf("store file: %w", err)
	}
	shareMode(root, dst)
	// Blob API metadata of a share file is stale now.
	_ = root.Remove(metaPath(share, p))
	fi, err = root.Stat(dst)
	if err != nil {
		return nil, false, err
	}
	info := infoOf(p, fi)
	return &info, !exists, nil
}

// ShareMkdir creates a directory (and its parents) in a share.
func (s *Store) ShareMkdir(account, share, p string) (*FileInfo, error) {
	if err := checkShare(account, share, p, false); err != nil {
		return nil, err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := root.MkdirAll(shareName(share, p), 0o755); err != nil {
		return nil, newError(http.StatusConflict, "PathConflict", fmt.Sprintf("'%s' or one of its parents is a file.", p))
	}
	shareMode(root, shareName(share, p)+"/.")
	fi, err := root.Stat(shareName(share, p))
	if err != nil {
		return nil, err
	}
	info := infoOf(p, fi)
	return &info, nil
}

// ShareDelete deletes a file, or a directory (which must be empty unless
// recursive).
func (s *Store) ShareDelete(account, share, p string, recursive bool) error {
	if err := checkShare(account, share, p, false); err != nil {
		return err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return err
	}
	defer root.Close()
	name := shareName(share, p)
	fi, err := root.Lstat(name)
	if isNotExist(err) {
		return errFileNotFound(p)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() && recursive {
		if err := root.RemoveAll(name); err != nil {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	} else if err := root.Remove(name); err != nil {
		if fi.IsDir() {
			return newError(http.StatusConflict, "DirectoryNotEmpty", fmt.Sprintf("The directory '%s' is not empty; delete it recursively.", p))
		}
		return fmt.Errorf("delete %s: %w", p, err)
	}
	_ = root.RemoveAll(metaPath(share, p))
	return nil
}

package reconciler

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/rooted"
)

// writeCodeArchive writes a code snapshot as a tar archive at dst (for a
// pod's init container), reading it through its storage account's root:
// files, folders and links inside the snapshot. It returns the number of
// files.
func writeCodeArchive(code *storageData, dst string) (int, error) {
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	files := 0
	fsys := code.root.FS()
	err = fs.WalkDir(fsys, code.rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(p, code.rel), "/")
		if name == "" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = code.root.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return nil // a socket or device: not part of a snapshot
		}
		hdr.Name = name
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		files++
		src, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return files, os.Rename(tmp, dst)
}

// saveKubeOutputs copies what an attempt's pods uploaded to its blob
// container's outputs/ into the job's artifacts, through the storage
// account's root (nothing a pod wrote may lead the copy elsewhere).
func (r *Jobs) saveKubeOutputs(j *jobCtx, container string) error {
	acct, err := r.openData(&resource.DataLocation{Account: resource.WorkspaceStatusOf(j.ws).StorageAccount, Container: container})
	if err != nil {
		return err
	}
	defer acct.root.Close()
	arts, err := filepath.Rel(acct.dir, r.artifactDir(j))
	if err != nil || !filepath.IsLocal(arts) {
		return fmt.Errorf("%s is not in the storage account", r.artifactDir(j))
	}
	skipped, err := rooted.Copy(acct.root, path.Join(container, "outputs"), acct.root, path.Join(filepath.ToSlash(arts), "outputs"))
	r.logSkipped(j, "./outputs", skipped)
	return err
}

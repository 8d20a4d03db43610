package reconciler

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/rooted"
)

// writeArchive writes data of a storage account — a code snapshot's
// folder, an input's file or folder — as a tar archive at dst (for a pod's
// init container), reading it through the account's root: files, folders
// and links inside it. The archive's names start with prefix ("" for the
// folder's contents themselves). It returns the number of files.
func writeArchive(code *storageData, dst, prefix string) (int, error) {
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
		name := path.Join(prefix, strings.TrimPrefix(strings.TrimPrefix(p, code.rel), "/"))
		if name == "" || name == "." {
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

// kubeArchiveInput archives an input of the workspace's storage into the
// attempt's container (dir) as inputs/<name>.tar, and returns the path
// its pods see it at: <ContainerInputs>/<name>/<its base name>.
func (r *Jobs) kubeArchiveInput(j *jobCtx, name string, in resource.JobInput, loc *resource.DataLocation, dir string) (string, error) {
	d, err := r.openData(loc)
	if rooted.IsOutside(err) {
		return "", linkOutside("InputNotFound", "Input "+name, in.URI, err)
	} else if err != nil {
		return "", err
	}
	defer d.root.Close()
	fi, err := d.root.Stat(d.rel)
	if rooted.IsOutside(err) {
		return "", linkOutside("InputNotFound", "Input "+name, in.URI, err)
	} else if err != nil {
		return "", prepFail("InputNotFound", "Input %s: %s does not exist in the workspace's storage (container %s, path %s).", name, in.URI, loc.Container, loc.Path)
	}
	if strings.EqualFold(in.JobInputType, "uri_folder") && !fi.IsDir() {
		return "", prepFail("InputNotFound", "Input %s is a uri_folder, but %s is a file; use jobInputType uri_file.", name, in.URI)
	}
	if err := os.MkdirAll(filepath.Join(dir, "inputs"), 0o700); err != nil {
		return "", err
	}
	base := path.Base(d.rel)
	n, err := writeArchive(d, filepath.Join(dir, "inputs", name+".tar"), base)
	if err != nil {
		return "", fmt.Errorf("archive input %s: %w", name, err)
	}
	r.logf(j, "Input %s archived for the pods (%d files).", name, n)
	return path.Join(backend.ContainerInputs, name, base), nil
}

// saveKubeNamedOutputs copies what an attempt's pods uploaded of each
// named output (the container's named/<name>/) to the output's place in
// its datastore, through both accounts' roots.
func (r *Jobs) saveKubeNamedOutputs(ctx context.Context, j *jobCtx, container string) error {
	acct, err := r.openData(&resource.DataLocation{Account: resource.WorkspaceStatusOf(j.ws).StorageAccount, Container: container})
	if err != nil {
		return err
	}
	defer acct.root.Close()
	for _, name := range slices.Sorted(maps.Keys(j.spec.Outputs)) {
		src := path.Join(container, "named", name)
		if _, err := acct.root.Stat(src); err != nil {
			continue // nothing uploaded
		}
		out, err := r.resolveOutput(ctx, j, name, j.spec.Outputs[name])
		if err != nil {
			return err
		}
		if out.file {
			src = path.Join(src, path.Base(out.data.rel))
		}
		skipped, err := rooted.Copy(acct.root, src, out.data.root, out.data.rel)
		out.data.root.Close()
		r.logSkipped(j, "Output "+name, skipped)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("save output %s: %w", name, err)
		}
	}
	return nil
}

// Package rooted resolves paths and copies file trees inside os.Root
// directories, so that neither a name nor a symbolic link can lead outside
// them.
//
// The server runs as root and copies users' files: code snapshots and
// inputs from a workspace's storage into a job's working directory, a
// job's outputs into its artifacts. Users can plant symbolic links in
// those trees (from a compute instance in the file share, from a job in
// its outputs), and a copy that followed one as root would read the
// server's secrets or write over system files. Every file operation here
// goes through an os.Root, which refuses to leave its directory whatever
// the links say, so a race between a check and a use cannot escape either.
package rooted

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ErrOutside reports a name, or a symbolic link along it, that leads
// outside its root. Absolute links always do: they name the host's file
// system, not the root's.
var ErrOutside = errors.New("the path leads outside its directory")

// errRootEscape is os.Root's own (unexported) error for a path that
// leaves the root; a lexical "..", which fails before any system call,
// yields it.
var errRootEscape = func() error {
	r, err := os.OpenRoot("/")
	if err != nil {
		return ErrOutside
	}
	defer r.Close()
	_, err = r.Lstat("..")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return ErrOutside
}()

// IsOutside reports whether err says that a path leads outside its root:
// ErrOutside from this package, or os.Root's refusal.
func IsOutside(err error) bool {
	return err != nil && (errors.Is(err, ErrOutside) || errors.Is(err, errRootEscape))
}

// maxLinks bounds the symbolic links followed while resolving one name
// (Linux's own limit is 40).
const maxLinks = 40

// Resolve returns the path of name inside root with every symbolic link
// along it resolved: a clean, slash-separated path relative to root ("."
// for root itself) in which no component is a link. Components that do
// not exist are kept as they are (nothing can be a link there yet). A name
// that leaves root, lexically or through a link, fails with ErrOutside; a
// chain of more than 40 links fails too.
func Resolve(root *os.Root, name string) (string, error) {
	name = filepath.ToSlash(name)
	if path.IsAbs(name) {
		return "", fmt.Errorf("%s: %w", name, ErrOutside)
	}
	todo := splitPath(name)
	var done []string
	links, missing := 0, false
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", fmt.Errorf("%s: %w", name, ErrOutside)
			}
			done = done[:len(done)-1]
			continue
		}
		cur := path.Join(append(done, c)...)
		if missing {
			done = append(done, c)
			continue
		}
		fi, err := root.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
			done = append(done, c)
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		target, err := root.Readlink(cur)
		if err != nil {
			return "", err
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) {
			return "", fmt.Errorf("%s: the symbolic link %s points at %s: %w", name, cur, target, ErrOutside)
		}
		// The target is relative to the link's directory, which is done.
		todo = append(splitPath(target), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// Copy copies src, a file or a directory tree of from, to dst of to, and
// returns the paths (relative to src) of the symbolic links it left out.
//
// src is resolved first (Resolve): a src that leads outside from fails
// with ErrOutside. Directories and regular files are copied with their
// permission bits (directories at least 0700 for the copier, files at
// least 0600); a file already at the destination is replaced, never
// written through. A symbolic link in the tree is copied as a link when
// it is relative and, resolved in from, stays inside src's tree, so the
// copy's links lead where the original's did; any other link is left out
// and reported. Sockets, devices and pipes are skipped.
func Copy(from *os.Root, src string, to *os.Root, dst string) (skipped []string, err error) {
	real, err := Resolve(from, src)
	if err != nil {
		return nil, err
	}
	dst = filepath.ToSlash(path.Clean(filepath.ToSlash(dst)))
	fi, err := from.Stat(real)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, nil
		}
		return nil, copyFile(from, real, to, dst, fi.Mode().Perm())
	}
	if dst != "." {
		if err := to.MkdirAll(dst, fi.Mode().Perm()|0o700); err != nil {
			return nil, err
		}
	}
	err = copyDir(from, real, to, dst, copyTree{src: real, dst: dst}, &skipped)
	return skipped, err
}

// copyTree names the copied tree in both roots: src in from, dst in to.
type copyTree struct{ src, dst string }

// copyDir copies the entries of the directory dir of from into dst of to
// (made already), recursively. It reads directories through os.Root, not
// io/fs, whose paths must be UTF-8: on Linux a name is any bytes.
func copyDir(from *os.Root, dir string, to *os.Root, dst string, t copyTree, skipped *[]string) error {
	f, err := from.Open(dir)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, d := range ents {
		p := path.Join(dir, d.Name())
		target := path.Join(dst, d.Name())
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := to.MkdirAll(target, info.Mode().Perm()|0o700); err != nil {
				return err
			}
			if err := copyDir(from, p, to, target, t, skipped); err != nil {
				return err
			}
		case d.Type()&fs.ModeSymlink != 0:
			link, ok, err := copiedLink(from, t, p, target)
			if err != nil {
				return err
			}
			if !ok {
				rel := p
				if t.src != "." {
					rel = strings.TrimPrefix(p, t.src+"/")
				}
				*skipped = append(*skipped, rel)
				continue
			}
			if err := to.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := to.Symlink(link, target); err != nil {
				return err
			}
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := copyFile(from, p, to, target, info.Mode().Perm()); err != nil {
				return err
			}
		}
		// Sockets, devices, pipes: skipped.
	}
	return nil
}

// copiedLink reads the link p of from and reports whether it stays in the
// tree (resolved in from, relative, not through links that leave it). If
// it does, it returns the link to make at target in the copy: one to the
// same place in the copied tree, relative to target. (The source's own
// text may climb out of the tree and back in by its name, "../code/x",
// which the copy, named otherwise, would not be.)
func copiedLink(from *os.Root, t copyTree, p, target string) (string, bool, error) {
	link, err := from.Readlink(p)
	if err != nil {
		return "", false, err
	}
	if filepath.IsAbs(link) {
		return "", false, nil
	}
	// Not path.Join: cleaning "self/.." away lexically is wrong when self
	// is a link.
	got, err := Resolve(from, path.Dir(p)+"/"+filepath.ToSlash(link))
	if IsOutside(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var inTree string
	switch {
	case t.src == ".":
		inTree = got
	case got == t.src:
		inTree = "."
	case strings.HasPrefix(got, t.src+"/"):
		inTree = strings.TrimPrefix(got, t.src+"/")
	default:
		return "", false, nil
	}
	rel, err := filepath.Rel(path.Dir(target), path.Join(t.dst, inTree))
	if err != nil {
		return "", false, err
	}
	return filepath.ToSlash(rel), true, nil
}

// copyFile copies the regular file src of from to dst of to. The source
// must be the regular file that src named when it was looked at: a link or
// a pipe put in its place meanwhile is not read (os.Root follows links
// that stay inside it, and opening a pipe would block). The destination
// is removed first and created anew (O_EXCL), so a link planted there is
// replaced, never written through.
func copyFile(from *os.Root, src string, to *os.Root, dst string, perm fs.FileMode) error {
	before, err := from.Lstat(src)
	if err != nil {
		return err
	}
	if !before.Mode().IsRegular() {
		return nil
	}
	in, err := from.OpenFile(src, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if !os.SameFile(before, fi) {
		return nil
	}
	if d := path.Dir(dst); d != "." {
		if err := to.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := to.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out, err := to.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

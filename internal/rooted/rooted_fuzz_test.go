package rooted

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// build makes a tree in root from spec, one entry a line: "f name
// content", "d name" or "l name target"; $OUT in a target is the absolute
// path of a directory outside the root. Entries the root refuses (names
// that leave it) are skipped: the builder cannot escape either.
func build(root *os.Root, spec, out string) {
	for _, line := range strings.Split(spec, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		name, arg, _ := strings.Cut(rest, " ")
		if name == "" {
			continue
		}
		switch kind {
		case "f":
			_ = root.MkdirAll(path.Dir(name), 0o755)
			_ = root.WriteFile(name, []byte(arg), 0o644)
		case "d":
			_ = root.MkdirAll(name, 0o755)
		case "l":
			_ = root.MkdirAll(path.Dir(name), 0o755)
			_ = root.Symlink(strings.ReplaceAll(arg, "$OUT", out), name)
		}
	}
}

const fuzzSecret = "s3cret-outside"

// FuzzCopy: whatever tree a user uploads or plants (names with "..",
// absolute links, links out of the tree or the root, loops, links to the
// tree itself), Copy never reads or writes outside its two roots; what it
// copies reads back as in the source, every regular file of the source
// tree is copied, and every link in the copy stays inside the copy.
func FuzzCopy(f *testing.F) {
	for _, spec := range []string{
		"f code/train.py print(1)\nl code/main.py train.py\nd code/empty",
		"l code $OUT", "l code/evil $OUT\nf code/a x", "l code/up ..\nl code/upup ../..\nf code/a x",
		"l code/loop loop\nl code/a b\nl code/b a", "l code/self .\nl code/x self/self/..",
		"d code/sub\nl code/sub/back ../a\nf code/a x\nl code/sub/out ../../other\nf other y",
		"f ../escape x\nl ../l $OUT\nf code/ok y", "l code/abs /etc/passwd\nl code/dev /dev/zero",
		"l code/d $OUT/token\nl code/e ../code/d", "f code/a/b/c/d/e deep\nl code/z a/b/../b/c",
	} {
		f.Add(spec, "code")
	}
	f.Add("f a x\nl b a\nl c $OUT", ".")
	f.Add("l code $OUT", "code/token")
	f.Fuzz(func(t *testing.T, spec, srcName string) {
		base := t.TempDir()
		out := filepath.Join(base, "outside")
		srcDir, dstDir := filepath.Join(base, "src"), filepath.Join(base, "dst")
		for _, d := range []string{out, srcDir, dstDir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(out, "token"), []byte(fuzzSecret), 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := os.OpenRoot(srcDir)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.OpenRoot(dstDir)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		build(src, spec, out)

		_, err = Copy(src, srcName, dst, "out")

		// Outside untouched.
		ents, _ := os.ReadDir(out)
		if len(ents) != 1 {
			t.Fatalf("the directory outside the roots changed: %v", ents)
		}
		// Everything in the copy: no secret, links inside the copy, files
		// as in the source.
		real, rerr := Resolve(src, srcName)
		_ = filepath.WalkDir(dstDir, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil {
				t.Fatalf("walk the copy: %v", werr)
			}
			rel, _ := filepath.Rel(dstDir, p)
			rel = filepath.ToSlash(rel)
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				got, err := Resolve(dst, rel)
				if IsOutside(err) || err == nil && got != "out" && !strings.HasPrefix(got, "out/") {
					target, _ := os.Readlink(p)
					t.Fatalf("the copy's link %s (→ %s) leads out of the copy: %q %v", rel, target, got, err)
				}
			case d.Type().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(fuzzSecret)) {
					t.Fatalf("the copy's %s holds the secret from outside the source root", rel)
				}
				if rerr != nil {
					t.Fatalf("%s was copied though the source %q does not resolve: %v", rel, srcName, rerr)
				}
				from := real
				if r := strings.TrimPrefix(rel, "out"); r != "" {
					from = path.Join(real, strings.TrimPrefix(r, "/"))
				}
				want, err := src.ReadFile(from)
				if err != nil || !bytes.Equal(want, b) {
					t.Fatalf("the copy's %s is %q, the source's %s is %q (%v)", rel, b, from, want, err)
				}
			}
			return nil
		})
		if err != nil || rerr != nil {
			return
		}
		// Complete: every regular file of the source tree is in the copy.
		fi, serr := src.Lstat(real)
		if serr != nil || !fi.IsDir() {
			return
		}
		_ = fs.WalkDir(src.FS(), real, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			rel := p
			if real != "." {
				rel = strings.TrimPrefix(p, real+"/")
			}
			if _, err := dst.Lstat(path.Join("out", rel)); err != nil {
				t.Fatalf("the source's %s was not copied: %v", p, err)
			}
			return nil
		})
	})
}

// FuzzResolve: a name resolves to a clean local path free of links that
// names the same file as the name does through os.Root, or is refused.
func FuzzResolve(f *testing.F) {
	for _, tc := range [][2]string{{"l a b\nd b", "a"}, {"l a ..", "a/x"}, {"l a $OUT", "a"}, {"l a b\nl b a", "a"}, {"d x/y\nl x/y/z ../..", "x/y/z/x"},
		{"f a x", "a/b"}, {"l a a/b", "a"}, {"", "../x"}, {"", "x/../../y"}, {"l s .", "s/s/s/s"}} {
		f.Add(tc[0], tc[1])
	}
	f.Fuzz(func(t *testing.T, spec, name string) {
		base := t.TempDir()
		out := filepath.Join(base, "outside")
		dir := filepath.Join(base, "root")
		_ = os.Mkdir(out, 0o755)
		_ = os.Mkdir(dir, 0o755)
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		build(root, spec, out)
		got, err := Resolve(root, name)
		if err != nil {
			return
		}
		if got != "." && (!filepath.IsLocal(got) || path.Clean(got) != got) {
			t.Fatalf("Resolve(%q) = %q, not a clean local path", name, got)
		}
		parts := strings.Split(got, "/")
		for i := range parts {
			fi, err := root.Lstat(path.Join(parts[:i+1]...))
			if err != nil {
				break // missing from here on
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				t.Fatalf("Resolve(%q) = %q, which goes through the link %s", name, got, path.Join(parts[:i+1]...))
			}
		}
		a, errA := root.Stat(name)
		b, errB := root.Stat(got)
		if errA == nil && (errB != nil || !os.SameFile(a, b)) {
			t.Fatalf("Resolve(%q) = %q, another file (%v)", name, got, errB)
		}
	})
}

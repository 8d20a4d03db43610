package api

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// buildTree makes a code folder in root from spec, one entry a line:
// "f name content", "d name", "l name target" ($OUT in a target is a
// directory outside the folder; other absolute targets are not made, so
// the fuzzer never walks the host) or "n dir count" (count files in dir,
// for huge counts). Names that leave the folder are refused by os.Root.
func buildTree(root *os.Root, spec, out string) {
	for _, line := range strings.Split(spec, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		name, arg, _ := strings.Cut(rest, " ")
		if name == "" {
			continue
		}
		_ = root.MkdirAll(path.Dir(name), 0o755)
		switch kind {
		case "f":
			_ = root.WriteFile(name, []byte(arg), 0o644)
		case "d":
			_ = root.MkdirAll(name, 0o755)
		case "l":
			target := strings.ReplaceAll(arg, "$OUT", out)
			if !filepath.IsAbs(target) || strings.HasPrefix(target, out) {
				_ = root.Symlink(target, name)
			}
		case "n":
			n, _ := strconv.Atoi(arg)
			_ = root.MkdirAll(name, 0o755)
			for i := range min(n, 2000) {
				_ = root.WriteFile(fmt.Sprintf("%s/f%d", name, i), nil, 0o644)
			}
		}
	}
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FuzzNewSnapshot: a code folder with any names, links (out of it, to
// itself, in loops), ignore files and file counts either gives a snapshot
// within its limits — files once each, under local slash paths, the same
// hashes when read again — or a clear error; a folder far over the file
// limit is refused without being read to its end.
func FuzzNewSnapshot(f *testing.F) {
	for _, spec := range []string{
		"f train.py print(1)\nf data/x.csv a,b\nf .amlignore *.tmp\nf junk.tmp x",
		"l loop .\nf a x", "l a b\nl b a\nf c x", "l out $OUT\nf a x", "l out $OUT/token", "l up ..\nf a x",
		"n many 250\nf a x", "n a 30\nn b 30\nn c 30\nn d 30", "f .gitignore logs/\nf logs/x y\nf y z",
		"f .amlignore *\nf a x", "d empty", "f Upper x\nf upper y", "l dangling nothere\nf a x",
		"f a\\b x", "f ..x x\nf x.. y", "l self/x ../self\nd self",
	} {
		f.Add(spec, uint8(5))
	}
	f.Fuzz(func(t *testing.T, spec string, maxFiles uint8) {
		base := t.TempDir()
		out, dir := filepath.Join(base, "outside"), filepath.Join(base, "src")
		for _, d := range []string{out, dir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(out, "token"), []byte("outside"), 0o644); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		buildTree(root, spec, out)
		root.Close()
		limits := SnapshotLimits{MaxFiles: int(maxFiles%20) + 1, MaxBytes: 1 << 20}

		s, err := NewSnapshot(dir, limits)
		var tl *SnapshotTooLargeError
		switch {
		case errors.As(err, &tl):
			if tl.Files <= limits.MaxFiles && tl.Size <= limits.MaxBytes {
				t.Fatalf("refused as too large with %d files, %d bytes: %v", tl.Files, tl.Size, err)
			}
			if tl.Files > 100*limits.MaxFiles+1 {
				t.Fatalf("walked %d files, past 100 times the limit of %d", tl.Files, limits.MaxFiles)
			}
			return
		case err != nil:
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if len(s.Files) == 0 || len(s.Files) > limits.MaxFiles || s.Size > limits.MaxBytes {
			t.Fatalf("a snapshot of %d files, %d bytes, limits %+v", len(s.Files), s.Size, limits)
		}
		if !hashRE.MatchString(s.Hash) || s.ContentHash == "" {
			t.Fatalf("hashes %q %q", s.Hash, s.ContentHash)
		}
		seen := map[string]bool{}
		for i, f := range s.Files {
			if !filepath.IsLocal(f.Rel) || path.Clean(f.Rel) != f.Rel || seen[f.Rel] {
				t.Fatalf("file %q: not a clean local path once", f.Rel)
			}
			seen[f.Rel] = true
			if i > 0 && s.Files[i-1].Local > f.Local {
				t.Fatalf("files not in upload order: %s before %s", s.Files[i-1].Local, f.Local)
			}
			if fi, err := os.Stat(f.Local); err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size {
				t.Fatalf("file %s (%s): %v", f.Rel, f.Local, err)
			}
			if !strings.HasPrefix(s.BlobName(f), s.BlobFolder()+"/") {
				t.Fatalf("blob %q is not in the upload folder %q", s.BlobName(f), s.BlobFolder())
			}
		}
		again, err := NewSnapshot(dir, limits)
		if err != nil || again.Hash != s.Hash || again.ContentHash != s.ContentHash {
			t.Fatalf("a second read differs: %v", err)
		}
	})
}

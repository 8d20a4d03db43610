package api

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	ignore "github.com/sabhiram/go-gitignore"
)

// Limits of a code snapshot, Azure ML's: 300 MB and 2000 files. Larger
// folders are usually data that belongs in a job input, or build output
// that belongs in .amlignore.
const (
	MaxSnapshotBytes = 300 << 20
	MaxSnapshotFiles = 2000
)

// SnapshotLimits bound a snapshot; zero fields take the defaults above.
type SnapshotLimits struct {
	MaxBytes int64
	MaxFiles int
}

// SnapshotFile is one file of a snapshot.
type SnapshotFile struct {
	// Local is the file's absolute path (symbolic links followed).
	Local string
	// Rel is its slash-separated path inside the snapshot.
	Rel  string
	Size int64
}

// Snapshot is a local folder (or file) as azure-ai-ml uploads it: the
// files its .amlignore (or, without one, .gitignore) does not exclude,
// and the two hashes the SDK computes, so that the SDK and mlw name the
// same content the same way and share one upload.
type Snapshot struct {
	// Root is the absolute path of the folder or file.
	Root string
	// Name is its base name: the last segment of the upload path.
	Name   string
	IsFile bool
	// Files are sorted by local path: the upload order, whose first file
	// carries the upload's metadata (the "indicator file").
	Files []SnapshotFile
	// Size is the total of the files' sizes.
	Size int64
	// Hash is the SDK's 32-hex object hash (MD5 of names and contents),
	// the folder name of the upload: LocalUpload/<Hash>/<Name>.
	Hash string
	// ContentHash is the SDK's SHA-256 content hash (hash_version 202208)
	// recorded on the code version.
	ContentHash string
	// IgnoreFile is the ignore file honoured, or "".
	IgnoreFile string
}

// ContentHashVersion is the version of ContentHash's scheme.
const ContentHashVersion = "202208"

// SnapshotTooLargeError is returned when a folder is over the limits.
type SnapshotTooLargeError struct {
	Root    string
	Size    int64
	Files   int
	Limits  SnapshotLimits
	Biggest []SnapshotFile
	// Partial: the folder was not read to its end (it holds over 100
	// times the file limit), so Size and Files are lower bounds.
	Partial bool
}

func (e *SnapshotTooLargeError) Error() string {
	var b strings.Builder
	least := ""
	if e.Partial {
		least = "at least "
	}
	fmt.Fprintf(&b, "the code folder %s holds %s%s in %s%d files; a code snapshot may hold at most %s in %d files.",
		e.Root, least, FormatBytes(e.Size), least, e.Files, FormatBytes(e.Limits.MaxBytes), e.Limits.MaxFiles)
	if len(e.Biggest) > 0 {
		b.WriteString(" Biggest files:")
		for i, f := range e.Biggest {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s (%s)", f.Rel, FormatBytes(f.Size))
		}
		b.WriteString(".")
	}
	b.WriteString(" List what the job does not need in .amlignore (same syntax as .gitignore) in that folder, and pass data as a job input instead.")
	return b.String()
}

// FormatBytes formats a size for people: 1.5 MB, 300 MB, 12 KB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTPE"[exp]) + "B"
}

// NewSnapshot reads a folder (or a single file) the way azure-ai-ml does.
func NewSnapshot(path string, limits SnapshotLimits) (*Snapshot, error) {
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = MaxSnapshotBytes
	}
	if limits.MaxFiles <= 0 {
		limits.MaxFiles = MaxSnapshotFiles
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", path)
		}
		return nil, err
	}
	s := &Snapshot{Root: abs, Name: filepath.Base(abs)}
	var w *snapshotWalker
	if !fi.IsDir() {
		s.IsFile = true
		s.Files = []SnapshotFile{{Local: abs, Rel: s.Name, Size: fi.Size()}}
		s.Size = fi.Size()
		h := newObjectHash()
		if err := hashFile(h, abs); err != nil {
			return nil, err
		}
		s.Hash = hex.EncodeToString(h.Sum(nil))
	} else {
		ig, igPath, err := loadIgnore(abs)
		if err != nil {
			return nil, err
		}
		s.IgnoreFile = igPath
		w = &snapshotWalker{root: abs, ig: ig, limits: limits, seen: map[string]bool{}}
		if err := w.walk(abs, ""); errors.Is(err, errFarOver) {
			w.stopped = true
		} else if err != nil {
			return nil, err
		}
		s.Files, s.Size = w.files, w.size
		if len(s.Files) == 0 {
			return nil, fmt.Errorf("the code folder %s is empty (or every file in it is excluded by %s)", path, filepath.Base(igPath))
		}
	}
	if s.Size > limits.MaxBytes || len(s.Files) > limits.MaxFiles {
		big := append([]SnapshotFile(nil), s.Files...)
		sort.Slice(big, func(i, j int) bool {
			if big[i].Size != big[j].Size {
				return big[i].Size > big[j].Size
			}
			return big[i].Rel < big[j].Rel
		})
		if len(big) > 5 {
			big = big[:5]
		}
		return nil, &SnapshotTooLargeError{Root: path, Size: s.Size, Files: len(s.Files), Limits: limits, Biggest: big, Partial: w != nil && w.stopped}
	}
	if !s.IsFile {
		// Hash only once the limits are known to hold: a 10 GB folder is
		// refused without being read.
		h := newObjectHash()
		for _, st := range w.steps {
			h.Write([]byte(st.name))
			if st.file != "" {
				if err := hashFile(h, st.file); err != nil {
					return nil, err
				}
			}
		}
		s.Hash = hex.EncodeToString(h.Sum(nil))
	}
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Local < s.Files[j].Local })
	ch, err := contentHash(s.Files)
	if err != nil {
		return nil, err
	}
	s.ContentHash = ch
	return s, nil
}

// BlobFolder is the upload's folder in the datastore:
// LocalUpload/<hash>/<name> (for a single file, the file's blob).
func (s *Snapshot) BlobFolder() string { return "LocalUpload/" + s.Hash + "/" + s.Name }

// BlobName is the blob of one file.
func (s *Snapshot) BlobName(f SnapshotFile) string {
	if s.IsFile {
		return s.BlobFolder()
	}
	return s.BlobFolder() + "/" + f.Rel
}

// loadIgnore reads dir's .amlignore, or else its .gitignore (azure-ai-ml
// looks only in the root folder, and .amlignore wins).
func loadIgnore(dir string) (*ignore.GitIgnore, string, error) {
	for _, name := range []string{".amlignore", ".gitignore"} {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return ignore.CompileIgnoreLines(strings.Split(string(b), "\n")...), p, nil
	}
	return nil, "", nil
}

// objectHashSeed starts azure-ai-ml's object hash (get_object_hash).
const objectHashSeed = "Initialize for october 2021 AML CLI version"

func newObjectHash() hash.Hash {
	h := md5.New()
	h.Write([]byte(objectHashSeed))
	return h
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

type snapshotWalker struct {
	root   string
	ig     *ignore.GitIgnore
	limits SnapshotLimits
	files  []SnapshotFile
	size   int64
	steps  []hashStep
	seen   map[string]bool // real paths of folders being walked (symlink loops)
	// stopped: the walk ended at 100 times the file limit (errFarOver).
	stopped bool
}

// errFarOver ends a walk that is far over the file limit: a folder that
// holds (or links to) a huge tree is refused without reading all of it.
var errFarOver = errors.New("far over the snapshot's file limit")

// hashStep is one update of the object hash: an entry's name, then, for a
// file, its contents.
type hashStep struct{ name, file string }

func (w *snapshotWalker) excluded(rel string) bool { return w.ig != nil && w.ig.MatchesPath(rel) }

// walk mirrors _get_dir_hash (names and contents in case-insensitive name
// order, excluded entries skipped): it records the hash's steps and
// collects the files to upload.
func (w *snapshotWalker) walk(dir, rel string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if w.seen[real] {
		return fmt.Errorf("the code folder has a symbolic link loop at %s", dir)
	}
	w.seen[real] = true
	defer delete(w.seen, real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	sort.SliceStable(entries, func(i, j int) bool {
		return strings.ToLower(entries[i].Name()) < strings.ToLower(entries[j].Name())
	})
	for _, e := range entries {
		name := e.Name()
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		if w.excluded(childRel) {
			continue
		}
		local := filepath.Join(dir, name)
		fi, err := os.Stat(local) // follows links, as the SDK does
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // a dangling link
			}
			return err
		}
		switch {
		case fi.IsDir():
			w.steps = append(w.steps, hashStep{name: name})
			// A pattern like "logs/" excludes everything below a folder
			// but not its name: hash the name, skip the walk.
			if w.excluded(childRel + "/") {
				continue
			}
			if err := w.walk(local, childRel); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			w.steps = append(w.steps, hashStep{name: name, file: local})
			w.files = append(w.files, SnapshotFile{Local: local, Rel: childRel, Size: fi.Size()})
			w.size += fi.Size()
			if len(w.files) > 100*w.limits.MaxFiles {
				return errFarOver // the error comes next; stop walking
			}
		default:
			w.steps = append(w.steps, hashStep{name: name}) // a socket, a fifo: named, not read
		}
	}
	return nil
}

// contentHash is azure-ai-ml's get_content_hash: SHA-256 over the file
// count, then "#rel#" and the size of each file, then every file's bytes,
// files in case-insensitive order of their relative paths.
func contentHash(files []SnapshotFile) (string, error) {
	sorted := append([]SnapshotFile(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool { return strings.ToLower(sorted[i].Rel) < strings.ToLower(sorted[j].Rel) })
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(sorted))))
	for _, f := range sorted {
		h.Write([]byte("#" + f.Rel + "#"))
		h.Write([]byte(strconv.FormatInt(f.Size, 10)))
	}
	for _, f := range sorted {
		if err := hashFile(h, f.Local); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

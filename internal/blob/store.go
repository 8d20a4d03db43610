package blob

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// On-disk layout of one storage account, storage/<account>/:
//
//	<container>/<blob path>          the blob's bytes, as a plain file, so that
//	                                 jobs and compute instances use the files
//	                                 directly (a file share is a container dir)
//	.meta/<container>/<blob path>    sidecar: JSON with the ETag, Last-Modified,
//	                                 creation time, content headers, Content-MD5,
//	                                 metadata and committed block list
//	.blocks/<sha256(container/blob)>/<hex(block id)>
//	                                 staged (uncommitted) blocks of one blob
//	.tmp/                            uploads in progress; renamed into place
//
// Names starting with '.' are not valid container names, so the three
// internal directories never clash with a container. Every write goes to a
// temporary file first and is renamed into place, so a reader sees the old
// or the new blob, never a part. A sidecar records the size and mtime of the
// file it describes: a file written by something else (a job, a compute
// instance writing into the file share) has no sidecar or a stale one, and
// then gets properties derived from the file itself (an ETag from mtime and
// size, no MD5), keeping its metadata.
//
// All file access goes through os.Root on the account directory, so that a
// symbolic link in a file share (which compute instances can write) never
// reaches outside the account.
//
// Uncommitted blocks are dropped when their blob is committed, overwritten
// or deleted; blocks that are never committed stay until the workspace is
// deleted (Azure collects them after a week).

const (
	metaDir   = ".meta"
	blocksDir = ".blocks"
	tmpDir    = ".tmp"
)

// BlockBlob is the only blob type mlw stores.
const BlockBlob = "BlockBlob"

// Store keeps blobs on the filesystem under dataDir/storage.
type Store struct {
	dataDir string
	now     func() time.Time
	// locks serialise writers of one blob (striped by name); readers take
	// the read side so that they see a file and its sidecar together.
	locks [256]sync.RWMutex
	etag  atomic.Int64
}

// NewStore returns a store rooted at dataDir/storage.
func NewStore(dataDir string) *Store {
	return &Store{dataDir: dataDir, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Headers are the standard HTTP properties of a blob.
type Headers struct {
	ContentType        string `json:"contentType,omitempty"`
	ContentEncoding    string `json:"contentEncoding,omitempty"`
	ContentLanguage    string `json:"contentLanguage,omitempty"`
	ContentDisposition string `json:"contentDisposition,omitempty"`
	CacheControl       string `json:"cacheControl,omitempty"`
	// ContentMD5 is the stored MD5 of the whole blob, if known.
	ContentMD5 []byte `json:"contentMD5,omitempty"`
}

// Block is one committed block of a blob.
type Block struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// Properties describe one blob.
type Properties struct {
	Name         string
	Size         int64
	ETag         string // quoted, as in the ETag header
	LastModified time.Time
	Created      time.Time
	Metadata     map[string]string
	Headers
	Blocks []Block
}

// sidecar is the JSON kept in .meta for each blob written through the API.
type sidecar struct {
	Headers
	Metadata     map[string]string `json:"metadata,omitempty"`
	ETag         string            `json:"etag"`
	LastModified time.Time         `json:"lastModified"`
	Created      time.Time         `json:"created"`
	Blocks       []Block           `json:"blocks,omitempty"`
	// FileSize and FileMtime identify the content file the sidecar belongs to.
	FileSize  int64 `json:"fileSize"`
	FileMtime int64 `json:"fileMtime"`
}

// Conditions are the HTTP conditional headers of a request.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// check applies the conditions to the current blob (nil when absent).
// For reads a failed If-None-Match / If-Modified-Since is 304; for writes,
// If-None-Match: * on an existing blob is 409 BlobAlreadyExists and every
// other failure is 412.
func (c Conditions) check(cur *Properties, write bool) error {
	exists := cur != nil
	if c.IfMatch != "" {
		if !exists {
			if write {
				return errBlobNotFound()
			}
			return errConditionNotMet()
		}
		if c.IfMatch != "*" && !etagIn(cur.ETag, c.IfMatch) {
			return errConditionNotMet()
		}
	}
	if c.IfNoneMatch != "" && exists {
		if c.IfNoneMatch == "*" {
			if write {
				return errAlreadyExists()
			}
			return errNotModified()
		}
		if etagIn(cur.ETag, c.IfNoneMatch) {
			if write {
				return errConditionNotMet()
			}
			return errNotModified()
		}
	}
	if exists && !c.IfUnmodifiedSince.IsZero() && cur.LastModified.Truncate(time.Second).After(c.IfUnmodifiedSince) {
		return errConditionNotMet()
	}
	if exists && !c.IfModifiedSince.IsZero() && !cur.LastModified.Truncate(time.Second).After(c.IfModifiedSince) {
		if write {
			return errConditionNotMet()
		}
		return errNotModified()
	}
	return nil
}

func etagIn(etag, list string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
		if e == etag || `"`+strings.Trim(e, `"`)+`"` == etag {
			return true
		}
	}
	return false
}

// ValidAccount reports whether a storage account name is valid: 3 to 24
// lowercase letters and digits.
func ValidAccount(a string) bool {
	if len(a) < 3 || len(a) > 24 {
		return false
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ValidContainer reports whether a container (or share) name is valid: 3 to
// 63 lowercase letters, digits and single hyphens, starting and ending with a
// letter or digit.
func ValidContainer(c string) bool {
	if len(c) < 3 || len(c) > 63 || c[0] == '-' || c[len(c)-1] == '-' || strings.Contains(c, "--") {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ValidatePath checks a blob name or share path: 1 to 1024 characters,
// '/'-separated segments that are neither empty, "." nor "..", each at most
// 255 bytes (a file name on disk).
func ValidatePath(name string) error {
	if name == "" {
		return newError(400, "InvalidResourceName", "The blob name is empty.")
	}
	if len(name) > 1024 {
		return newError(400, "InvalidResourceName", "The blob name is longer than 1024 characters.")
	}
	if strings.ContainsRune(name, 0) {
		return newError(400, "InvalidResourceName", "The blob name contains a NUL character.")
	}
	// Azure's names are UTF-8, and a name that is not could be written
	// but never listed (listings are XML and io/fs paths, both UTF-8).
	if !utf8.ValidString(name) {
		return newError(400, "InvalidResourceName", fmt.Sprintf("The name %q is not valid UTF-8.", name))
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return newError(400, "InvalidResourceName", fmt.Sprintf("The name %q has an empty path segment (a leading, trailing or doubled '/'); mlw stores blobs as files and needs a name like dir/file.", name))
		case seg == "." || seg == "..":
			return newError(400, "InvalidResourceName", fmt.Sprintf("The name %q has a '.' or '..' segment, which is not allowed.", name))
		case len(seg) > 255:
			return newError(400, "InvalidResourceName", fmt.Sprintf("A segment of the name %q is longer than 255 bytes, the longest file name mlw can store.", name))
		}
	}
	return nil
}

func checkNames(account, container, name string) error {
	if !ValidAccount(account) {
		return newError(400, "InvalidResourceName", fmt.Sprintf("The account name %q is not valid: 3 to 24 lowercase letters and digits.", account))
	}
	if !ValidContainer(container) {
		return newError(400, "InvalidResourceName", fmt.Sprintf("The container name %q is not valid: 3 to 63 lowercase letters, digits and single hyphens.", container))
	}
	if name == "" {
		return nil
	}
	return ValidatePath(name)
}

// openRoot opens the account directory (creating it) as an os.Root.
func (s *Store) openRoot(account string) (*os.Root, error) {
	dir := AccountDir(s.dataDir, account)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create account directory: %w", err)
	}
	return os.OpenRoot(dir)
}

// openRootIfExists opens the account directory, or returns nil when the
// account has never been written.
func (s *Store) openRootIfExists(account string) (*os.Root, error) {
	r, err := os.OpenRoot(AccountDir(s.dataDir, account))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return r, err
}

// openBlobRoot checks a blob's names and opens its account directory;
// a blob of an account never written is BlobNotFound.
func (s *Store) openBlobRoot(account, container, name string) (*os.Root, error) {
	if err := checkNames(account, container, name); err != nil {
		return nil, err
	}
	root, err := s.openRootIfExists(account)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, errBlobNotFound()
	}
	return root, nil
}

func (s *Store) lock(container, name string) *sync.RWMutex {
	h := fnv.New32a()
	h.Write([]byte(container + "/" + name))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

// newETag returns a quoted ETag unique within this process.
func (s *Store) newETag() string {
	now := s.now().UnixNano()
	for {
		last := s.etag.Load()
		if now <= last {
			now = last + 1
		}
		if s.etag.CompareAndSwap(last, now) {
			return fmt.Sprintf(`"0x%X"`, now)
		}
	}
}

func contentPath(container, name string) string { return container + "/" + name }
func metaPath(container, name string) string    { return metaDir + "/" + container + "/" + name }
func blocksPath(container, name string) string {
	sum := sha256.Sum256([]byte(container + "/" + name))
	return blocksDir + "/" + hex.EncodeToString(sum[:16])
}

// statProps reads a blob's properties from its file and sidecar; nil when
// the blob does not exist. The caller holds the blob's lock (either side).
func (s *Store) statProps(root *os.Root, container, name string) (*Properties, error) {
	fi, err := root.Stat(contentPath(container, name))
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		if throughLink(root, contentPath(container, name)) {
			return nil, errLinkOutside(name)
		}
		return nil, fmt.Errorf("stat blob: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	return s.propsFor(root, container, name, fi), nil
}

func (s *Store) propsFor(root *os.Root, container, name string, fi fs.FileInfo) *Properties {
	p := &Properties{Name: name, Size: fi.Size()}
	var sc sidecar
	b, err := root.ReadFile(metaPath(container, name))
	ok := err == nil && json.Unmarshal(b, &sc) == nil
	if ok && sc.FileSize == fi.Size() && sc.FileMtime == fi.ModTime().UnixNano() {
		p.Headers, p.Metadata, p.ETag, p.LastModified, p.Created, p.Blocks = sc.Headers, sc.Metadata, sc.ETag, sc.LastModified, sc.Created, sc.Blocks
		return p
	}
	// Written by something other than the Blob API: derive what we can.
	mt := fi.ModTime()
	p.ETag = fmt.Sprintf(`"0x%X%X"`, mt.UnixNano(), fi.Size())
	p.LastModified, p.Created = mt, mt
	p.ContentType = "application/octet-stream"
	if ok {
		h := sc.Headers
		h.ContentMD5 = nil
		p.Headers, p.Metadata, p.Created = h, sc.Metadata, sc.Created
	}
	return p
}

// throughLink reports whether path p inside root is or runs through a
// symbolic link. os.Root follows links that stay inside it and fails on
// those that lead out (or loop); a job's outputs or an instance's share
// may hold either, so a failure on such a path is the link's, not the
// server's.
func throughLink(root *os.Root, p string) bool {
	segs := strings.Split(p, "/")
	for i := range segs {
		fi, err := root.Lstat(strings.Join(segs[:i+1], "/"))
		if err != nil {
			return false
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// writeSidecar records p for the content file described by fi.
func (s *Store) writeSidecar(root *os.Root, container, name string, p *Properties, fi fs.FileInfo) error {
	sc := sidecar{Headers: p.Headers, Metadata: p.Metadata, ETag: p.ETag, LastModified: p.LastModified, Created: p.Created,
		Blocks: p.Blocks, FileSize: fi.Size(), FileMtime: fi.ModTime().UnixNano()}
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	mp := metaPath(container, name)
	if err := clearWay(root, mp); err != nil {
		return err
	}
	tmp, err := tempName()
	if err != nil {
		return err
	}
	if err := root.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write blob properties: %w", err)
	}
	if err := root.Rename(tmp, mp); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("write blob properties: %w", err)
	}
	return nil
}

// clearWay makes room for a file at p inside the .meta tree: stale sidecars
// can sit where a directory must now be (blob "a" was replaced by "a/b"
// outside the API) or a stale directory where a file must be.
func clearWay(root *os.Root, p string) error {
	dir := path.Dir(p)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		// Walk down and remove the first file that blocks the path.
		segs := strings.Split(dir, "/")
		for i := 1; i <= len(segs); i++ {
			sub := strings.Join(segs[:i], "/")
			if fi, err := root.Lstat(sub); err == nil && !fi.IsDir() {
				_ = root.Remove(sub)
				break
			}
		}
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create metadata directory: %w", err)
		}
	}
	if fi, err := root.Lstat(p); err == nil && fi.IsDir() {
		_ = root.RemoveAll(p)
	}
	return nil
}

func tempName() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return tmpDir + "/" + hex.EncodeToString(b), nil
}

// spool copies r into a new temporary file inside root and returns its
// name, size and MD5. Nothing of r is held in memory.
func spool(root *os.Root, r io.Reader) (name string, size int64, sum []byte, err error) {
	if err := root.MkdirAll(tmpDir, 0o755); err != nil {
		return "", 0, nil, fmt.Errorf("create temporary directory: %w", err)
	}
	name, err = tempName()
	if err != nil {
		return "", 0, nil, err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, nil, fmt.Errorf("create temporary file: %w", err)
	}
	h := md5.New()
	src := &recordingReader{r: r}
	size, err = io.Copy(io.MultiWriter(f, h), src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(name)
		if src.err != nil {
			return "", 0, nil, &readError{src.err}
		}
		return "", 0, nil, fmt.Errorf("write blob data: %w", err)
	}
	return name, size, h.Sum(nil), nil
}

// recordingReader remembers a read error, to tell a client that went away
// from a full disk.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// readError marks a failure to read the request body (the client went away
// or sent less than it announced), as opposed to a disk failure.
type readError struct{ err error }

func (e *readError) Error() string { return "read request body: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// place renames a temporary file to the blob's path, creating directories.
func place(root *os.Root, tmp, dst string) error {
	if fi, err := root.Lstat(dst); err == nil && fi.IsDir() {
		return errPathConflict(dst, "a directory of other blobs already has this name")
	}
	if err := root.MkdirAll(path.Dir(dst), 0o755); err != nil {
		if throughLink(root, path.Dir(dst)) {
			_, name, _ := strings.Cut(dst, "/")
			return errLinkOutside(name)
		}
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return errPathConflict(dst, "a blob already exists where this name needs a directory")
		}
		return fmt.Errorf("create blob directory: %w", err)
	}
	if err := root.Rename(tmp, dst); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			return errPathConflict(dst, "a blob already exists where this name needs a directory")
		}
		return fmt.Errorf("store blob: %w", err)
	}
	shareMode(root, dst)
	return nil
}

// shareMode keeps a blob written into a shared directory tree (a workspace
// file share, whose directories compute instances made setgid and
// group-writable for the workspace's instance users) writable by that
// group: the file and the directories made for it. Elsewhere it changes
// nothing.
func shareMode(root *os.Root, dst string) {
	segs := strings.Split(path.Dir(dst), "/")
	// Only a shared container is setgid at its top (one Lstat for others).
	if fi, err := root.Lstat(segs[0]); err != nil || fi.Mode()&fs.ModeSetgid == 0 {
		return
	}
	parent := "."
	for i := range segs {
		dir := strings.Join(segs[:i+1], "/")
		pfi, err := root.Lstat(parent)
		if err != nil {
			return
		}
		if pfi.Mode()&fs.ModeSetgid != 0 {
			if fi, err := root.Lstat(dir); err == nil && fi.IsDir() && (fi.Mode()&fs.ModeSetgid == 0 || fi.Mode().Perm()&0o070 != 0o070) {
				_ = root.Chmod(dir, fi.Mode().Perm()|0o070|fs.ModeSetgid)
			}
		}
		parent = dir
	}
	if pfi, err := root.Lstat(parent); err == nil && pfi.Mode()&fs.ModeSetgid != 0 {
		if fi, err := root.Lstat(dst); err == nil && fi.Mode().IsRegular() {
			// Spooled elsewhere and renamed here, it kept the server's group.
			if st, ok := pfi.Sys().(*syscall.Stat_t); ok {
				_ = root.Lchown(dst, -1, int(st.Gid))
			}
			_ = root.Chmod(dst, 0o664)
		}
	}
}

// PutOptions are the inputs of Put and CommitBlockList.
type PutOptions struct {
	Conditions Conditions
	// ContentMD5, when set, must equal the MD5 of the body (Put Blob); for
	// CommitBlockList it is the x-ms-blob-content-md5 to store.
	ContentMD5 []byte
	Headers    Headers
	Metadata   map[string]string
}

// Put stores a whole blob from r (Put Blob), streaming it to disk. It
// returns the new properties and the MD5 of the bytes read.
func (s *Store) Put(account, container, name string, r io.Reader, opt PutOptions) (*Properties, []byte, error) {
	if err := checkNames(account, container, name); err != nil {
		return nil, nil, err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	// Fail fast, before reading a large body, when the write cannot succeed.
	if opt.Conditions.IfNoneMatch == "*" {
		if p, err := s.statProps(root, container, name); err != nil {
			return nil, nil, err
		} else if p != nil {
			return nil, nil, errAlreadyExists()
		}
	}
	tmp, _, sum, err := spool(root, r)
	if err != nil {
		return nil, nil, err
	}
	defer root.Remove(tmp) // no-op once renamed
	if opt.ContentMD5 != nil && !slices.Equal(opt.ContentMD5, sum) {
		return nil, nil, errMD5Mismatch(opt.ContentMD5, sum)
	}
	h := opt.Headers
	if h.ContentMD5 == nil {
		h.ContentMD5 = sum
	}
	p, err := s.commit(root, container, name, tmp, h, opt)
	return p, sum, err
}

// lockForWrite takes a blob's write lock and returns its current
// properties (nil: no blob), checked against cond; call unlock when done.
func (s *Store) lockForWrite(root *os.Root, container, name string, cond Conditions) (cur *Properties, unlock func(), err error) {
	l := s.lock(container, name)
	l.Lock()
	cur, err = s.statProps(root, container, name)
	if err == nil {
		err = cond.check(cur, true)
	}
	if err != nil {
		l.Unlock()
		return nil, nil, err
	}
	return cur, l.Unlock, nil
}

// commit moves a finished temporary file into place under the blob's lock.
func (s *Store) commit(root *os.Root, container, name, tmp string, h Headers, opt PutOptions) (*Properties, error) {
	cur, unlock, err := s.lockForWrite(root, container, name, opt.Conditions)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.commitLocked(root, container, name, tmp, cur, h, opt.Metadata, nil)
}

func (s *Store) commitLocked(root *os.Root, container, name, tmp string, cur *Properties, h Headers, md map[string]string, blocks []Block) (*Properties, error) {
	dst := contentPath(container, name)
	if err := place(root, tmp, dst); err != nil {
		return nil, err
	}
	fi, err := root.Stat(dst)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if h.ContentType == "" {
		h.ContentType = "application/octet-stream"
	}
	p := &Properties{Name: name, Size: fi.Size(), ETag: s.newETag(), LastModified: now, Created: now, Metadata: md, Headers: h, Blocks: blocks}
	if cur != nil {
		p.Created = cur.Created
	}
	if err := s.writeSidecar(root, container, name, p, fi); err != nil {
		return nil, err
	}
	_ = root.RemoveAll(blocksPath(container, name))
	return p, nil
}

// blockFile names a staged block on disk.
func blockFile(container, name, id string) string {
	return blocksPath(container, name) + "/" + hex.EncodeToString([]byte(id))
}

// StageBlock stores one uncommitted block (Put Block) and returns the MD5
// of its bytes. contentMD5, when set, must match.
func (s *Store) StageBlock(account, container, name, id string, r io.Reader, contentMD5 []byte) ([]byte, error) {
	if err := checkNames(account, container, name); err != nil {
		return nil, err
	}
	if raw, err := base64.StdEncoding.DecodeString(id); err != nil || len(raw) == 0 || len(raw) > 64 {
		return nil, newError(400, "InvalidQueryParameterValue", "The blockid must be base64 of at most 64 bytes.")
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	tmp, _, sum, err := spool(root, r)
	if err != nil {
		return nil, err
	}
	defer root.Remove(tmp)
	if contentMD5 != nil && !slices.Equal(contentMD5, sum) {
		return nil, errMD5Mismatch(contentMD5, sum)
	}
	dst := blockFile(container, name, id)
	if err := root.MkdirAll(path.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("stage block: %w", err)
	}
	if err := root.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("stage block: %w", err)
	}
	return sum, nil
}

// Block list entry kinds of Put Block List.
const (
	BlockLatest      = "Latest"
	BlockUncommitted = "Uncommitted"
	BlockCommitted   = "Committed"
)

// BlockRef is one entry of a block list.
type BlockRef struct {
	Kind string
	ID   string
}

// CommitBlockList assembles a blob from staged and committed blocks (Put
// Block List). Latest means the staged block if there is one, otherwise the
// committed one.
func (s *Store) CommitBlockList(account, container, name string, refs []BlockRef, opt PutOptions) (*Properties, error) {
	if err := checkNames(account, container, name); err != nil {
		return nil, err
	}
	root, err := s.openRoot(account)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := root.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, err
	}
	cur, unlock, err := s.lockForWrite(root, container, name, opt.Conditions)
	if err != nil {
		return nil, err
	}
	defer unlock()
	committed := map[string][2]int64{} // id -> offset, size in the current file
	if cur != nil {
		var off int64
		for _, b := range cur.Blocks {
			committed[b.ID] = [2]int64{off, b.Size}
			off += b.Size
		}
	}
	tmp, err := tempName()
	if err != nil {
		return nil, err
	}
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	defer root.Remove(tmp)
	var curFile *os.File
	if cur != nil && len(committed) > 0 {
		if curFile, err = root.Open(contentPath(container, name)); err != nil {
			out.Close()
			return nil, err
		}
		defer curFile.Close()
	}
	blocks := make([]Block, 0, len(refs))
	for _, ref := range refs {
		staged := blockFile(container, name, ref.ID)
		useStaged := false
		switch ref.Kind {
		case BlockUncommitted:
			useStaged = true
		case BlockLatest:
			_, err := root.Stat(staged)
			useStaged = err == nil
		case BlockCommitted:
		default:
			out.Close()
			return nil, newError(400, "InvalidXmlDocument", fmt.Sprintf("Unknown block list entry <%s>; use Latest, Uncommitted or Committed.", ref.Kind))
		}
		var n int64
		if useStaged {
			f, err := root.Open(staged)
			if err != nil {
				out.Close()
				return nil, errInvalidBlockList(fmt.Sprintf("block %q was not staged", ref.ID))
			}
			n, err = io.Copy(out, f)
			f.Close()
			if err != nil {
				out.Close()
				return nil, fmt.Errorf("assemble blob: %w", err)
			}
		} else {
			c, ok := committed[ref.ID]
			if !ok || curFile == nil {
				out.Close()
				return nil, errInvalidBlockList(fmt.Sprintf("block %q is neither staged nor committed", ref.ID))
			}
			if n, err = io.Copy(out, io.NewSectionReader(curFile, c[0], c[1])); err != nil {
				out.Close()
				return nil, fmt.Errorf("assemble blob: %w", err)
			}
		}
		blocks = append(blocks, Block{ID: ref.ID, Size: n})
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("assemble blob: %w", err)
	}
	h := opt.Headers
	if opt.ContentMD5 != nil {
		h.ContentMD5 = opt.ContentMD5
	}
	return s.commitLocked(root, container, name, tmp, cur, h, opt.Metadata, blocks)
}

// BlockList returns the committed blocks and the staged block ids of a blob.
func (s *Store) BlockList(account, container, name string) (committed []Block, uncommitted []Block, err error) {
	root, err := s.openBlobRoot(account, container, name)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	l := s.lock(container, name)
	l.RLock()
	defer l.RUnlock()
	p, err := s.statProps(root, container, name)
	if err != nil {
		return nil, nil, err
	}
	if p != nil {
		committed = p.Blocks
	}
	ents, _ := fs.ReadDir(root.FS(), blocksPath(container, name))
	for _, e := range ents {
		id, err := hex.DecodeString(e.Name())
		if err != nil {
			continue
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		uncommitted = append(uncommitted, Block{ID: string(id), Size: size})
	}
	if p == nil && len(uncommitted) == 0 {
		return nil, nil, errBlobNotFound()
	}
	return committed, uncommitted, nil
}

// Properties returns a blob's properties, or BlobNotFound.
func (s *Store) Properties(account, container, name string) (*Properties, error) {
	root, err := s.openBlobRoot(account, container, name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	l := s.lock(container, name)
	l.RLock()
	defer l.RUnlock()
	p, err := s.statProps(root, container, name)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errBlobNotFound()
	}
	return p, nil
}

// Object is an open blob: its properties and its bytes. Close it.
type Object struct {
	*os.File
	Props *Properties
}

// Open opens a blob for reading. The file stays readable as it was even if
// the blob is replaced meanwhile (replacement is a rename).
func (s *Store) Open(account, container, name string) (*Object, error) {
	root, err := s.openBlobRoot(account, container, name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	l := s.lock(container, name)
	l.RLock()
	defer l.RUnlock()
	f, err := root.Open(contentPath(container, name))
	if isNotExist(err) {
		return nil, errBlobNotFound()
	}
	if err != nil {
		if throughLink(root, contentPath(container, name)) {
			return nil, errLinkOutside(name)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errBlobNotFound()
	}
	return &Object{File: f, Props: s.propsFor(root, container, name, fi)}, nil
}

// SetMetadata replaces a blob's metadata (Set Blob Metadata).
func (s *Store) SetMetadata(account, container, name string, md map[string]string, cond Conditions) (*Properties, error) {
	return s.update(account, container, name, cond, func(p *Properties) { p.Metadata = md })
}

// SetHeaders replaces a blob's HTTP headers (Set Blob Properties).
func (s *Store) SetHeaders(account, container, name string, h Headers, cond Conditions) (*Properties, error) {
	return s.update(account, container, name, cond, func(p *Properties) { p.Headers = h })
}

func (s *Store) update(account, container, name string, cond Conditions, change func(*Properties)) (*Properties, error) {
	root, err := s.openBlobRoot(account, container, name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	l := s.lock(container, name)
	l.Lock()
	defer l.Unlock()
	fi, err := root.Stat(contentPath(container, name))
	if isNotExist(err) || err == nil && !fi.Mode().IsRegular() {
		return nil, errBlobNotFound()
	}
	if err != nil {
		if throughLink(root, contentPath(container, name)) {
			return nil, errLinkOutside(name)
		}
		return nil, err
	}
	p := s.propsFor(root, container, name, fi)
	if err := cond.check(p, true); err != nil {
		return nil, err
	}
	change(p)
	p.ETag = s.newETag()
	p.LastModified = s.now().UTC()
	if err := s.writeSidecar(root, container, name, p, fi); err != nil {
		return nil, err
	}
	return p, nil
}

// Delete removes a blob with its sidecar and staged blocks, then any
// directories left empty by it.
func (s *Store) Delete(account, container, name string, cond Conditions) error {
	root, err := s.openBlobRoot(account, container, name)
	if err != nil {
		return err
	}
	defer root.Close()
	l := s.lock(container, name)
	l.Lock()
	defer l.Unlock()
	p, err := s.statProps(root, container, name)
	if err != nil {
		return err
	}
	if p == nil {
		return errBlobNotFound()
	}
	if err := cond.check(p, true); err != nil {
		return err
	}
	if err := root.Remove(contentPath(container, name)); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	_ = root.Remove(metaPath(container, name))
	_ = root.RemoveAll(blocksPath(container, name))
	pruneEmpty(root, container, path.Dir(name))
	pruneEmpty(root, metaDir+"/"+container, path.Dir(name))
	return nil
}

// pruneEmpty removes empty directories from base/dir up to base.
func pruneEmpty(root *os.Root, base, dir string) {
	for dir != "." && dir != "/" && dir != "" {
		if err := root.Remove(base + "/" + dir); err != nil {
			return // not empty (or gone)
		}
		dir = path.Dir(dir)
	}
}

// ContainerInfo describes a container directory.
type ContainerInfo struct {
	Exists       bool
	LastModified time.Time
}

// Container reports whether a container has a directory yet. Containers of
// a workspace exist implicitly: writing a blob creates the directory.
func (s *Store) Container(account, container string) (ContainerInfo, error) {
	if err := checkNames(account, container, ""); err != nil {
		return ContainerInfo{}, err
	}
	fi, err := os.Stat(ContainerDir(s.dataDir, account, container))
	if errors.Is(err, fs.ErrNotExist) {
		return ContainerInfo{}, nil
	}
	if err != nil {
		return ContainerInfo{}, err
	}
	return ContainerInfo{Exists: fi.IsDir(), LastModified: fi.ModTime()}, nil
}

// CreateContainer creates a container's directory; created is false when
// it was already there.
func (s *Store) CreateContainer(account, container string) (created bool, err error) {
	if err := checkNames(account, container, ""); err != nil {
		return false, err
	}
	if err := os.MkdirAll(AccountDir(s.dataDir, account), 0o755); err != nil {
		return false, err
	}
	err = os.Mkdir(ContainerDir(s.dataDir, account, container), 0o755)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

// ListOptions select blobs of a container.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// Marker continues after this name (the NextMarker of the last page).
	Marker     string
	MaxResults int
}

// ListResult is one page of a listing, in name order. Prefixes are the
// virtual directories when a delimiter is given.
type ListResult struct {
	Blobs      []*Properties
	Prefixes   []string
	NextMarker string
}

// MaxListResults is the page size when none is asked for (Azure's).
const MaxListResults = 5000

// List lists the blobs of a container whose names start with Prefix.
func (s *Store) List(account, container string, o ListOptions) (*ListResult, error) {
	if err := checkNames(account, container, ""); err != nil {
		return nil, err
	}
	if o.MaxResults <= 0 || o.MaxResults > MaxListResults {
		o.MaxResults = MaxListResults
	}
	res := &ListResult{}
	root, err := s.openRootIfExists(account)
	if err != nil || root == nil {
		return res, err
	}
	defer root.Close()
	// Walk only the deepest directory the prefix names.
	start := container
	if i := strings.LastIndex(o.Prefix, "/"); i > 0 {
		start = container + "/" + o.Prefix[:i]
	}
	type entry struct {
		name     string
		isPrefix bool
		fi       fs.FileInfo
	}
	var entries []entry
	seenPrefix := map[string]bool{}
	fsys := root.FS()
	err = fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && isNotExist(err) {
				return fs.SkipAll
			}
			return nil // unreadable entry: skip it
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		name := strings.TrimPrefix(p, container+"/")
		if !strings.HasPrefix(name, o.Prefix) {
			return nil
		}
		if o.Delimiter != "" {
			if i := strings.Index(name[len(o.Prefix):], o.Delimiter); i >= 0 {
				pre := name[:len(o.Prefix)+i+len(o.Delimiter)]
				if !seenPrefix[pre] {
					seenPrefix[pre] = true
					entries = append(entries, entry{name: pre, isPrefix: true})
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		entries = append(entries, entry{name: name, fi: fi})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	n := 0
	for i, e := range entries {
		if o.Marker != "" && e.name <= o.Marker {
			continue
		}
		if n == o.MaxResults {
			res.NextMarker = entries[i-1].name
			break
		}
		n++
		if e.isPrefix {
			res.Prefixes = append(res.Prefixes, e.name)
			continue
		}
		l := s.lock(container, e.name)
		l.RLock()
		res.Blobs = append(res.Blobs, s.propsFor(root, container, e.name, e.fi))
		l.RUnlock()
	}
	return res, nil
}

// MD5 returns the MD5 of b (for response headers).
func MD5(b []byte) []byte {
	sum := md5.Sum(b)
	return sum[:]
}

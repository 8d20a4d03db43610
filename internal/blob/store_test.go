package blob

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	acct = "acct0001"
	cont = "data"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return NewStore(dir), dir
}

func put(t *testing.T, s *Store, name, body string) *Properties {
	t.Helper()
	p, _, err := s.Put(acct, cont, name, strings.NewReader(body), PutOptions{})
	require.NoError(t, err)
	return p
}

func read(t *testing.T, s *Store, name string) string {
	t.Helper()
	o, err := s.Open(acct, cont, name)
	require.NoError(t, err)
	defer o.Close()
	b, err := io.ReadAll(o)
	require.NoError(t, err)
	return string(b)
}

func code(t *testing.T, err error) string {
	t.Helper()
	e, ok := AsError(err)
	require.True(t, ok, "want a blob error, got %v", err)
	return e.Code
}

func TestPutAndRead(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	p, sum, err := s.Put(acct, cont, "LocalUpload/abc/src/train.py", strings.NewReader("print(1)\n"),
		PutOptions{Conditions: Conditions{IfNoneMatch: "*"}, ContentMD5: MD5([]byte("print(1)\n")), Metadata: map[string]string{"k": "v"}})
	require.NoError(t, err)
	require.Equal(t, MD5([]byte("print(1)\n")), sum)
	require.Equal(t, sum, p.ContentMD5, "Put Blob stores the MD5 it computed")
	require.EqualValues(t, 9, p.Size)
	require.True(t, strings.HasPrefix(p.ETag, `"0x`))
	require.Equal(t, "application/octet-stream", p.ContentType)

	// The bytes are a plain file where jobs and instances expect them.
	b, err := os.ReadFile(filepath.Join(ContainerDir(dir, acct, cont), "LocalUpload/abc/src/train.py"))
	require.NoError(t, err)
	require.Equal(t, "print(1)\n", string(b))
	require.Equal(t, "print(1)\n", read(t, s, "LocalUpload/abc/src/train.py"))

	got, err := s.Properties(acct, cont, "LocalUpload/abc/src/train.py")
	require.NoError(t, err)
	require.Equal(t, p.ETag, got.ETag)
	require.Equal(t, map[string]string{"k": "v"}, got.Metadata)

	// If-None-Match: * refuses an existing blob and leaves it alone.
	_, _, err = s.Put(acct, cont, "LocalUpload/abc/src/train.py", strings.NewReader("x"), PutOptions{Conditions: Conditions{IfNoneMatch: "*"}})
	require.Equal(t, "BlobAlreadyExists", code(t, err))
	require.Equal(t, "print(1)\n", read(t, s, "LocalUpload/abc/src/train.py"))

	// Overwrite without conditions: new ETag, creation time kept.
	p2 := put(t, s, "LocalUpload/abc/src/train.py", "print(2)\n")
	require.NotEqual(t, p.ETag, p2.ETag)
	require.Equal(t, p.Created, p2.Created)

	// If-Match with a stale ETag fails.
	_, _, err = s.Put(acct, cont, "LocalUpload/abc/src/train.py", strings.NewReader("x"), PutOptions{Conditions: Conditions{IfMatch: p.ETag}})
	require.Equal(t, "ConditionNotMet", code(t, err))

	_, err = s.Properties(acct, cont, "missing")
	require.True(t, IsNotFound(err))
	require.Equal(t, "BlobNotFound", code(t, err))
}

func TestMD5Mismatch(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	_, _, err := s.Put(acct, cont, "a.txt", strings.NewReader("hello"), PutOptions{ContentMD5: MD5([]byte("other"))})
	require.Equal(t, "Md5Mismatch", code(t, err))
	_, err = s.Properties(acct, cont, "a.txt")
	require.True(t, IsNotFound(err), "nothing is stored when the MD5 does not match")

	_, err = s.StageBlock(acct, cont, "b.bin", base64.StdEncoding.EncodeToString([]byte("0001")), strings.NewReader("x"), MD5([]byte("y")))
	require.Equal(t, "Md5Mismatch", code(t, err))
}

func bid(i int) string {
	return base64.StdEncoding.EncodeToString([]byte{byte('0' + i), 'b', 'l', 'k'})
}

func TestBlockList(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for i, part := range []string{"aaa", "bbb", "ccc"} {
		sum, err := s.StageBlock(acct, cont, "big.bin", bid(i), strings.NewReader(part), nil)
		require.NoError(t, err)
		require.Equal(t, MD5([]byte(part)), sum)
	}
	// Staged blocks are invisible until committed.
	_, err := s.Properties(acct, cont, "big.bin")
	require.True(t, IsNotFound(err))
	_, unc, err := s.BlockList(acct, cont, "big.bin")
	require.NoError(t, err)
	require.Len(t, unc, 3)

	blobMD5 := MD5([]byte("declared"))
	p, err := s.CommitBlockList(acct, cont, "big.bin", []BlockRef{{BlockLatest, bid(0)}, {BlockUncommitted, bid(2)}, {BlockLatest, bid(1)}},
		PutOptions{Conditions: Conditions{IfNoneMatch: "*"}, ContentMD5: blobMD5, Headers: Headers{ContentType: "text/plain"}})
	require.NoError(t, err)
	require.Equal(t, "aaacccbbb", read(t, s, "big.bin"))
	require.EqualValues(t, 9, p.Size)
	require.Equal(t, blobMD5, p.ContentMD5, "a block list stores x-ms-blob-content-md5, never a computed one")
	require.Equal(t, "text/plain", p.ContentType)
	com, unc, err := s.BlockList(acct, cont, "big.bin")
	require.NoError(t, err)
	require.Equal(t, []Block{{bid(0), 3}, {bid(2), 3}, {bid(1), 3}}, com)
	require.Empty(t, unc, "committing drops the staged blocks")

	// A new version reuses committed blocks and adds a staged one.
	_, err = s.StageBlock(acct, cont, "big.bin", bid(3), strings.NewReader("dd"), nil)
	require.NoError(t, err)
	_, err = s.CommitBlockList(acct, cont, "big.bin", []BlockRef{{BlockCommitted, bid(1)}, {BlockLatest, bid(3)}, {BlockLatest, bid(0)}}, PutOptions{})
	require.NoError(t, err)
	require.Equal(t, "bbbddaaa", read(t, s, "big.bin"))

	// Unknown blocks and If-None-Match on an existing blob are refused,
	// and the blob stays as it was.
	_, err = s.CommitBlockList(acct, cont, "big.bin", []BlockRef{{BlockLatest, bid(9)}}, PutOptions{})
	require.Equal(t, "InvalidBlockList", code(t, err))
	_, err = s.CommitBlockList(acct, cont, "big.bin", []BlockRef{{BlockCommitted, bid(1)}}, PutOptions{Conditions: Conditions{IfNoneMatch: "*"}})
	require.Equal(t, "BlobAlreadyExists", code(t, err))
	require.Equal(t, "bbbddaaa", read(t, s, "big.bin"))
}

func TestParseBlockList(t *testing.T) {
	t.Parallel()
	refs, err := ParseBlockList([]byte(`<?xml version='1.0' encoding='utf-8'?>
<BlockList><Latest>QUFB</Latest><Committed>QkJC</Committed><Uncommitted>Q0ND</Uncommitted></BlockList>`))
	require.NoError(t, err)
	require.Equal(t, []BlockRef{{BlockLatest, "QUFB"}, {BlockCommitted, "QkJC"}, {BlockUncommitted, "Q0ND"}}, refs)
	_, err = ParseBlockList([]byte(`<Blocks><Latest>x</Latest></Blocks>`))
	require.Equal(t, "InvalidXmlDocument", code(t, err))
	_, err = ParseBlockList([]byte(`<BlockList><Latest>x</Latest>`))
	require.Equal(t, "InvalidXmlDocument", code(t, err))
}

func TestMetadataAndHeaders(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	p := put(t, s, "x/y.txt", "data")
	p2, err := s.SetMetadata(acct, cont, "x/y.txt", map[string]string{"upload_status": "completed", "name": "n1"}, Conditions{})
	require.NoError(t, err)
	require.NotEqual(t, p.ETag, p2.ETag)
	p3, err := s.SetMetadata(acct, cont, "x/y.txt", map[string]string{"version": "1"}, Conditions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"version": "1"}, p3.Metadata, "metadata is replaced, not merged")
	require.Equal(t, MD5([]byte("data")), p3.ContentMD5)
	_, err = s.SetMetadata(acct, cont, "nope", nil, Conditions{})
	require.True(t, IsNotFound(err))

	p4, err := s.SetHeaders(acct, cont, "x/y.txt", Headers{ContentType: "text/csv"}, Conditions{})
	require.NoError(t, err)
	require.Equal(t, "text/csv", p4.ContentType)
	require.Equal(t, map[string]string{"version": "1"}, p4.Metadata)
}

func TestListing(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, n := range []string{"a/b", "a-c", "a/d/e", "b", "ExperimentRun/dcid.job1/out.txt", "ExperimentRun/dcid.job10/x"} {
		put(t, s, n, n)
	}
	names := func(r *ListResult) []string {
		var out []string
		for _, b := range r.Blobs {
			out = append(out, b.Name)
		}
		return out
	}
	r, err := s.List(acct, cont, ListOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"ExperimentRun/dcid.job1/out.txt", "ExperimentRun/dcid.job10/x", "a-c", "a/b", "a/d/e", "b"}, names(r), "sorted by name as Azure does")

	r, err = s.List(acct, cont, ListOptions{Prefix: "ExperimentRun/dcid.job1/"})
	require.NoError(t, err)
	require.Equal(t, []string{"ExperimentRun/dcid.job1/out.txt"}, names(r))
	r, err = s.List(acct, cont, ListOptions{Prefix: "ExperimentRun/dcid.job1"})
	require.NoError(t, err)
	require.Len(t, r.Blobs, 2, "a prefix may end inside a name")

	r, err = s.List(acct, cont, ListOptions{Delimiter: "/"})
	require.NoError(t, err)
	require.Equal(t, []string{"a-c", "b"}, names(r))
	require.Equal(t, []string{"ExperimentRun/", "a/"}, r.Prefixes)

	// Paging with markers visits everything once.
	var all []string
	marker := ""
	for {
		r, err := s.List(acct, cont, ListOptions{MaxResults: 4, Marker: marker})
		require.NoError(t, err)
		all = append(all, names(r)...)
		if r.NextMarker == "" {
			break
		}
		marker = r.NextMarker
	}
	require.Len(t, all, 6)

	r, err = s.List(acct, "empty", ListOptions{Prefix: "nothing/here"})
	require.NoError(t, err)
	require.Empty(t, r.Blobs)
	r, err = s.List("noacct", cont, ListOptions{})
	require.NoError(t, err)
	require.Empty(t, r.Blobs)
}

func TestNamesAndConflicts(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, bad := range []string{"../escape", "a/../../b", "a//b", "/abs", "a/", ".", "a/./b", strings.Repeat("x", 256), "\xac/0"} {
		_, _, err := s.Put(acct, cont, bad, strings.NewReader("x"), PutOptions{})
		require.Equal(t, "InvalidResourceName", code(t, err), bad)
	}
	_, _, err := s.Put("UPPER", cont, "a", strings.NewReader("x"), PutOptions{})
	require.Equal(t, "InvalidResourceName", code(t, err))
	_, _, err = s.Put(acct, ".meta", "a", strings.NewReader("x"), PutOptions{})
	require.Equal(t, "InvalidResourceName", code(t, err), "internal directories are not containers")

	put(t, s, "a", "file")
	_, _, err = s.Put(acct, cont, "a/b", strings.NewReader("x"), PutOptions{})
	require.Equal(t, "PathConflict", code(t, err))
	put(t, s, "d/e", "file")
	_, _, err = s.Put(acct, cont, "d", strings.NewReader("x"), PutOptions{})
	require.Equal(t, "PathConflict", code(t, err))

	// Delete removes the blob and the directories it leaves empty.
	require.NoError(t, s.Delete(acct, cont, "d/e", Conditions{}))
	put(t, s, "d", "now a file")
	require.True(t, IsNotFound(s.Delete(acct, cont, "d/e", Conditions{})))
}

func TestFilesWrittenOutsideTheAPI(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	cdir := ContainerDir(dir, acct, cont)
	require.NoError(t, os.MkdirAll(filepath.Join(cdir, "outputs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cdir, "outputs/model.pkl"), []byte("pickled"), 0o644))
	p, err := s.Properties(acct, cont, "outputs/model.pkl")
	require.NoError(t, err)
	require.EqualValues(t, 7, p.Size)
	require.Nil(t, p.ContentMD5)
	require.NotEmpty(t, p.ETag)

	// A blob rewritten outside the API keeps its metadata but loses its MD5.
	put(t, s, "log.txt", "one")
	_, err = s.SetMetadata(acct, cont, "log.txt", map[string]string{"k": "v"}, Conditions{})
	require.NoError(t, err)
	before, err := s.Properties(acct, cont, "log.txt")
	require.NoError(t, err)
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.WriteFile(filepath.Join(cdir, "log.txt"), []byte("one two"), 0o644))
	require.NoError(t, os.Chtimes(filepath.Join(cdir, "log.txt"), later, later))
	after, err := s.Properties(acct, cont, "log.txt")
	require.NoError(t, err)
	require.EqualValues(t, 7, after.Size)
	require.Nil(t, after.ContentMD5)
	require.NotEqual(t, before.ETag, after.ETag)
	require.Equal(t, map[string]string{"k": "v"}, after.Metadata)

	// A symbolic link out of the account (a file share is writable from
	// compute instances) is never followed.
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret"), 0o600))
	require.NoError(t, os.Symlink(secret, filepath.Join(cdir, "link")))
	_, err = s.Open(acct, cont, "link")
	require.Error(t, err)
	r, err := s.List(acct, cont, ListOptions{})
	require.NoError(t, err)
	for _, b := range r.Blobs {
		require.NotEqual(t, "link", b.Name)
	}
}

func TestLargeStreamingPut(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	const size = 9 << 20
	src := io.LimitReader(&pattern{}, size)
	p, sum, err := s.Put(acct, cont, "big/file.bin", src, PutOptions{})
	require.NoError(t, err)
	require.EqualValues(t, size, p.Size)
	h := md5.New()
	_, _ = io.Copy(h, io.LimitReader(&pattern{}, size))
	require.Equal(t, h.Sum(nil), sum)
	o, err := s.Open(acct, cont, "big/file.bin")
	require.NoError(t, err)
	defer o.Close()
	buf := make([]byte, 10)
	_, err = o.ReadAt(buf, 5<<20)
	require.NoError(t, err)
	want := make([]byte, 10)
	_, _ = (&pattern{n: 5 << 20}).Read(want)
	require.True(t, bytes.Equal(want, buf))
}

// pattern is an endless, deterministic byte stream.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.n*7 + p.n>>8)
		p.n++
	}
	return len(b), nil
}

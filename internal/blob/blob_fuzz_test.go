package blob

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plantedStore is a store whose share "code-x" holds what a user can
// plant from a compute instance: "evil", a link to a directory outside
// storage holding a secret, and "in", a link to a sibling folder.
func plantedStore(t *testing.T) (s *Store, dataDir, outside string) {
	t.Helper()
	base := t.TempDir()
	dataDir, outside = filepath.Join(base, "data"), filepath.Join(base, "outside")
	share := ContainerDir(dataDir, acct, "code-x")
	for _, d := range []string{outside, filepath.Join(share, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "token"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"evil": outside, "in": "sub"} {
		if err := os.Symlink(target, filepath.Join(share, link)); err != nil {
			t.Fatal(err)
		}
	}
	return NewStore(dataDir), dataDir, outside
}

// checkOutside fails when the directory outside storage changed.
func checkOutside(t *testing.T, outside string) {
	t.Helper()
	ents, err := os.ReadDir(outside)
	if err != nil || len(ents) != 1 || ents[0].Name() != "token" {
		t.Fatalf("the directory outside storage changed: %v %v", ents, err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "token")); string(b) != "s3cret" {
		t.Fatalf("the secret outside storage was overwritten: %q", b)
	}
}

// checkInside fails unless p's real path is inside dir.
func checkInside(t *testing.T, dir, p string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	if !strings.HasPrefix(real, realDir+string(filepath.Separator)) {
		t.Fatalf("%s is %s, outside %s", p, real, realDir)
	}
}

// typedClientError fails unless err is a *Error with a 4xx status, code and
// message: a bad name or a conflict is the client's, never a 500.
func typedClientError(t *testing.T, what string, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
		t.Fatalf("%s: %#v is not a 4xx blob error", what, err)
	}
	return e
}

// FuzzBlobPaths uploads files under names a client chooses — blob names
// through the Blob API, as code snapshots are uploaded, and file share
// paths through the files API — into a store whose share holds links out
// of storage and inside it. A name is refused with a 4xx, or stored as a
// file inside the storage account that reads back as written and is
// listed; nothing outside storage is read or written.
func FuzzBlobPaths(f *testing.F) {
	for _, names := range []string{"LocalUpload/0a1b/src/train.py\nLocalUpload/0a1b/src/data/d.csv", "../../etc/passwd", "/etc/passwd", "a/../../b",
		"a//b", "./a", "a/.", "a\x00b", "evil/token", "evil/new", "in/x", "in/../evil/token", "a\nb\na/c", "a/b\na", ".meta/data/x", ".tmp/x",
		"..\\..\\x", "%2e%2e/x", "a/" + strings.Repeat("x", 256), strings.Repeat("d/", 600) + "f", "日本/ファイル", "a b/c\td"} {
		f.Add(names, []byte("print('hello')\n"))
	}
	f.Fuzz(func(t *testing.T, names string, body []byte) {
		s, dataDir, outside := plantedStore(t)
		acctDir := AccountDir(dataDir, acct)
		for _, name := range strings.Split(names, "\n") {
			for _, container := range []string{cont, "code-x"} {
				_, _, err := s.Put(acct, container, name, bytes.NewReader(body), PutOptions{})
				if err != nil {
					typedClientError(t, "Put "+container+"/"+name, err)
					continue
				}
				checkInside(t, acctDir, filepath.Join(ContainerDir(dataDir, acct, container), filepath.FromSlash(name)))
				o, err := s.Open(acct, container, name)
				if err != nil {
					t.Fatalf("Open %s/%s after Put: %v", container, name, err)
				}
				got, err := io.ReadAll(o)
				o.Close()
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("%s/%s reads back %q (%v), not %q", container, name, got, err, body)
				}
				res, err := s.List(acct, container, ListOptions{Prefix: name})
				if err != nil {
					t.Fatalf("List %s: %v", name, err)
				}
				found := false
				for _, b := range res.Blobs {
					found = found || b.Name == name
				}
				if !found {
					t.Fatalf("%s/%s is not listed", container, name)
				}
			}
			if _, _, err := s.ShareWrite(acct, "code-x", name, bytes.NewReader(body), true); err != nil {
				typedClientError(t, "ShareWrite "+name, err)
			} else {
				checkInside(t, acctDir, filepath.Join(ContainerDir(dataDir, acct, "code-x"), filepath.FromSlash(name)))
			}
			if f, _, err := s.ShareOpen(acct, "code-x", name); err == nil {
				got, _ := io.ReadAll(f)
				f.Close()
				if bytes.Contains(got, []byte("s3cret")) {
					t.Fatalf("ShareOpen %s served the secret outside storage", name)
				}
			}
		}
		checkOutside(t, outside)
	})
}

// FuzzParseBlockList: a Put Block List body is refused with a 400, or
// gives block references whose kinds are elements of the body.
func FuzzParseBlockList(f *testing.F) {
	for _, b := range []string{`<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>AAAA</Latest><Committed>BBBB</Committed><Uncommitted>CCCC</Uncommitted></BlockList>`,
		`<BlockList/>`, `<Other/>`, `<BlockList><Latest><x/></Latest></BlockList>`, `<BlockList><Latest> AA== </Latest>`, ``, `<`, `<!DOCTYPE x [<!ENTITY a "b">]><BlockList><Latest>&a;</Latest></BlockList>`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		refs, err := ParseBlockList(body)
		if err != nil {
			typedClientError(t, "ParseBlockList", err)
			return
		}
		for _, r := range refs {
			if r.Kind == "" || !bytes.Contains(body, []byte(r.Kind)) {
				t.Fatalf("ParseBlockList(%q): a reference of kind %q", body, r.Kind)
			}
		}
	})
}

// FuzzParseRange: a Range header is refused with a 4xx, ignored (none),
// or gives a range inside the blob.
func FuzzParseRange(f *testing.F) {
	for _, v := range []string{"bytes=0-99", "bytes=10-", "bytes=-5", "bytes=5-1", "bytes=0-0", "bytes=-0", "bytes=100-", "bytes=0-1,2-3",
		"bytes=99999999999999999999-", "bytes=--1", "bytes= 1-2", "items=0-1", ""} {
		f.Add(v, int64(100))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		start, end, ok, err := parseRange(v, size)
		if err != nil {
			typedClientError(t, "parseRange "+v, err)
			return
		}
		if ok && (start < 0 || end < start || end >= size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d, outside the blob", v, size, start, end)
		}
	})
}

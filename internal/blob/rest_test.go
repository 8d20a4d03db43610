package blob

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// newRESTServer serves the Blob API at /{account}/{container}/{blob...};
// requests with ?deny=1 are refused by the authorizer.
func newRESTServer(t *testing.T) (*httptest.Server, *Store) {
	t.Helper()
	s, _ := newStore(t)
	h := &Handler{Store: s, Authorize: func(r *http.Request, account, container string, perm rune) error {
		if r.URL.Query().Get("deny") != "" {
			return &Error{Status: 403, Code: "AuthenticationFailed", Message: "no", Detail: "Signature did not match"}
		}
		return nil
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
		t := Target{Endpoint: "http://" + r.Host + "/" + parts[0] + "/", Account: parts[0], Container: parts[1]}
		if len(parts) == 3 {
			t.Blob = parts[2]
		}
		h.Serve(w, r, t)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func do(t *testing.T, method, url string, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func b64md5(s string) string { return base64.StdEncoding.EncodeToString(MD5([]byte(s))) }

func TestRESTUploadFlow(t *testing.T) {
	t.Parallel()
	srv, _ := newRESTServer(t)
	base := srv.URL + "/" + acct + "/" + cont
	file := base + "/LocalUpload/0123/src/train.py"

	// HEAD of a missing blob: 404, the code in a header, no body.
	resp, body := do(t, "HEAD", file, "", nil)
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "BlobNotFound", resp.Header.Get("x-ms-error-code"))
	require.Empty(t, body)

	// Put Blob: 201, Content-MD5 = MD5 of the body.
	hdr := map[string]string{"x-ms-blob-type": "BlockBlob", "If-None-Match": "*", "Content-MD5": b64md5("print(1)\n"), "Content-Type": "application/octet-stream"}
	resp, _ = do(t, "PUT", file, "print(1)\n", hdr)
	require.Equal(t, 201, resp.StatusCode)
	require.Equal(t, b64md5("print(1)\n"), resp.Header.Get("Content-MD5"))
	require.NotEmpty(t, resp.Header.Get("ETag"))
	require.NotEmpty(t, resp.Header.Get("Last-Modified"))

	resp, body = do(t, "PUT", file, "print(1)\n", hdr)
	require.Equal(t, 409, resp.StatusCode)
	require.Equal(t, "BlobAlreadyExists", resp.Header.Get("x-ms-error-code"))
	require.Contains(t, body, "<Code>BlobAlreadyExists</Code>")

	hdr["Content-MD5"] = b64md5("something else")
	resp, _ = do(t, "PUT", base+"/other.py", "print(1)\n", hdr)
	require.Equal(t, 400, resp.StatusCode)
	require.Equal(t, "Md5Mismatch", resp.Header.Get("x-ms-error-code"))

	resp, _ = do(t, "PUT", base+"/nomd5.txt", "", map[string]string{"x-ms-blob-type": "BlockBlob"})
	require.Equal(t, 201, resp.StatusCode, "an empty file is sent without Content-MD5")
	resp, _ = do(t, "PUT", base+"/page.bin", "x", map[string]string{"x-ms-blob-type": "PageBlob"})
	require.Equal(t, 400, resp.StatusCode)

	// Set Metadata, then HEAD shows it with lowercase names, as sent.
	resp, _ = do(t, "PUT", file+"?comp=metadata", "", map[string]string{"x-ms-meta-upload_status": "completed", "x-ms-meta-name": "abc", "x-ms-meta-version": "1"})
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = do(t, "HEAD", file, "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "completed", resp.Header.Get("x-ms-meta-upload_status"))
	require.Equal(t, "BlockBlob", resp.Header.Get("x-ms-blob-type"))
	require.Equal(t, "9", resp.Header.Get("Content-Length"))
	require.Equal(t, "sandbox; default-src 'none'", resp.Header.Get("Content-Security-Policy"), "a blob is no page of this origin")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

	// List with prefix and metadata.
	resp, body = do(t, "GET", base+"?restype=container&comp=list&prefix=LocalUpload/0123/&include=metadata", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "application/xml", resp.Header.Get("Content-Type"))
	var er struct {
		ContainerName string `xml:"ContainerName,attr"`
		Prefix        string `xml:"Prefix"`
		Blobs         []struct {
			Name       string `xml:"Name"`
			Properties struct {
				Length int64  `xml:"Content-Length"`
				Etag   string `xml:"Etag"`
				Type   string `xml:"BlobType"`
			} `xml:"Properties"`
			Metadata struct {
				Status string `xml:"upload_status"`
			} `xml:"Metadata"`
		} `xml:"Blobs>Blob"`
		NextMarker *string `xml:"NextMarker"`
	}
	require.NoError(t, xml.Unmarshal([]byte(body), &er), body)
	require.Equal(t, cont, er.ContainerName)
	require.Len(t, er.Blobs, 1)
	require.Equal(t, "LocalUpload/0123/src/train.py", er.Blobs[0].Name)
	require.EqualValues(t, 9, er.Blobs[0].Properties.Length)
	require.Equal(t, "completed", er.Blobs[0].Metadata.Status)
	require.Equal(t, "BlockBlob", er.Blobs[0].Properties.Type)
	require.NotNil(t, er.NextMarker)
	require.Empty(t, *er.NextMarker)

	resp, body = do(t, "GET", file+"?deny=1", "", nil)
	require.Equal(t, 403, resp.StatusCode)
	require.Contains(t, body, "<AuthenticationErrorDetail>Signature did not match</AuthenticationErrorDetail>")
}

// azure-storage-blob takes metadata names from the response's header names
// as they are on the wire, so they must keep the case they were sent in.
func TestRESTMetadataNameCase(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, "f.txt", "x")
	_, err := s.SetMetadata(acct, cont, "f.txt", map[string]string{"upload_status": "completed"}, Conditions{})
	require.NoError(t, err)
	h := &Handler{Store: s, Authorize: func(*http.Request, string, string, rune) error { return nil }}
	rec := httptest.NewRecorder()
	h.Serve(rec, httptest.NewRequest("HEAD", "/"+acct+"/"+cont+"/f.txt", nil), Target{Account: acct, Container: cont, Blob: "f.txt"})
	require.Equal(t, 200, rec.Code)
	require.Equal(t, []string{"completed"}, rec.Header()["x-ms-meta-upload_status"])
}

func TestRESTBlocks(t *testing.T) {
	t.Parallel()
	srv, _ := newRESTServer(t)
	blob := srv.URL + "/" + acct + "/" + cont + "/big.bin"
	ids := []string{bid(0), bid(1)}
	for i, part := range []string{"hello ", "world"} {
		resp, _ := do(t, "PUT", blob+"?comp=block&blockid="+strings.ReplaceAll(ids[i], "=", "%3D"), part, map[string]string{"Content-MD5": b64md5(part)})
		require.Equal(t, 201, resp.StatusCode)
		require.Equal(t, b64md5(part), resp.Header.Get("Content-MD5"))
	}
	xmlBody := `<?xml version='1.0' encoding='utf-8'?>` + "\n" + `<BlockList><Latest>` + ids[0] + `</Latest><Latest>` + ids[1] + `</Latest></BlockList>`
	resp, _ := do(t, "PUT", blob+"?comp=blocklist", xmlBody, map[string]string{
		"Content-MD5": b64md5(xmlBody), "If-None-Match": "*", "Content-Type": "application/xml", "x-ms-blob-content-type": "text/plain"})
	require.Equal(t, 201, resp.StatusCode)
	// The answer's Content-MD5 is that of the XML body, not of the blob.
	require.Equal(t, b64md5(xmlBody), resp.Header.Get("Content-MD5"))
	require.NotEqual(t, b64md5("hello world"), resp.Header.Get("Content-MD5"))

	resp, body := do(t, "GET", blob, "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "hello world", body)
	require.Equal(t, "text/plain", resp.Header.Get("Content-Type"))

	resp, body = do(t, "GET", blob+"?comp=blocklist&blocklisttype=all", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, "<CommittedBlocks><Block><Name>"+ids[0]+"</Name><Size>6</Size></Block>")

	resp, _ = do(t, "PUT", blob+"?comp=blocklist", xmlBody, map[string]string{"Content-MD5": b64md5("tampered")})
	require.Equal(t, 400, resp.StatusCode)
	require.Equal(t, "Md5Mismatch", resp.Header.Get("x-ms-error-code"))
	resp, _ = do(t, "PUT", blob+"?comp=blocklist", "<BlockList><Latest>"+bid(7)+"</Latest></BlockList>", nil)
	require.Equal(t, 400, resp.StatusCode)
	require.Equal(t, "InvalidBlockList", resp.Header.Get("x-ms-error-code"))
}

func TestRESTRanges(t *testing.T) {
	t.Parallel()
	srv, s := newRESTServer(t)
	base := srv.URL + "/" + acct + "/" + cont
	put(t, s, "ten.txt", "0123456789")
	put(t, s, "empty.txt", "")
	tests := []struct {
		name, file, hdr, val string
		status               int
		body, contentRange   string
	}{
		{name: "sdk first chunk", file: "ten.txt", hdr: "x-ms-range", val: "bytes=0-33554431", status: 206, body: "0123456789", contentRange: "bytes 0-9/10"},
		{name: "middle", file: "ten.txt", hdr: "x-ms-range", val: "bytes=2-4", status: 206, body: "234", contentRange: "bytes 2-4/10"},
		{name: "open end", file: "ten.txt", hdr: "Range", val: "bytes=7-", status: 206, body: "789", contentRange: "bytes 7-9/10"},
		{name: "suffix", file: "ten.txt", hdr: "Range", val: "bytes=-2", status: 206, body: "89", contentRange: "bytes 8-9/10"},
		{name: "past the end", file: "ten.txt", hdr: "x-ms-range", val: "bytes=10-20", status: 416, contentRange: "bytes */10"},
		{name: "empty blob with range", file: "empty.txt", hdr: "x-ms-range", val: "bytes=0-33554431", status: 416, contentRange: "bytes */0"},
		{name: "empty blob without range", file: "empty.txt", status: 200},
		{name: "malformed", file: "ten.txt", hdr: "x-ms-range", val: "lines=1-2", status: 400},
		{name: "whole", file: "ten.txt", status: 200, body: "0123456789"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.hdr != "" {
				h[tc.hdr] = tc.val
			}
			resp, body := do(t, "GET", base+"/"+tc.file, "", h)
			require.Equal(t, tc.status, resp.StatusCode, body)
			if tc.status < 300 {
				require.Equal(t, tc.body, body)
			}
			require.Equal(t, tc.contentRange, resp.Header.Get("Content-Range"))
			if tc.status == 416 {
				require.Equal(t, "InvalidRange", resp.Header.Get("x-ms-error-code"))
			}
		})
	}
	resp, _ := do(t, "GET", base+"/ten.txt", "", map[string]string{"x-ms-range": "bytes=1-2", "x-ms-range-get-content-md5": "true"})
	require.Equal(t, b64md5("12"), resp.Header.Get("Content-MD5"))
	require.Equal(t, b64md5("0123456789"), resp.Header.Get("x-ms-blob-content-md5"))

	p, err := s.Properties(acct, cont, "ten.txt")
	require.NoError(t, err)
	resp, _ = do(t, "GET", base+"/ten.txt", "", map[string]string{"If-None-Match": p.ETag})
	require.Equal(t, 304, resp.StatusCode)
	resp, _ = do(t, "DELETE", base+"/ten.txt", "", nil)
	require.Equal(t, 202, resp.StatusCode)
	resp, _ = do(t, "GET", base+"/ten.txt", "", nil)
	require.Equal(t, 404, resp.StatusCode)
}

// TestRESTSymlinkOutside: a job's outputs (or an instance's share) may hold
// symbolic links that lead out of the storage account; reading, writing or
// listing through them is a 404 that says why, never a 500, and never
// their target.
func TestRESTSymlinkOutside(t *testing.T) {
	t.Parallel()
	srv, s := newRESTServer(t)
	put(t, s, "outputs/a.txt", "a")
	cdir := filepath.Join(AccountDir(s.dataDir, acct), cont)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(cdir, "outputs", "file-link")))
	require.NoError(t, os.Symlink(outside, filepath.Join(cdir, "outputs", "dir-link")))
	require.NoError(t, os.Symlink("loop", filepath.Join(cdir, "outputs", "loop")))
	base := srv.URL + "/" + acct + "/" + cont + "/"
	for _, p := range []string{"outputs/file-link", "outputs/dir-link/secret", "outputs/loop"} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			r, body := do(t, m, base+p, "", nil)
			require.Equal(t, http.StatusNotFound, r.StatusCode, "%s %s: %s", m, p, body)
			require.NotContains(t, body, "s3cret")
			if m == http.MethodGet {
				require.Contains(t, body, "symbolic link that leads outside its storage account", p)
			}
		}
	}
	r, body := do(t, http.MethodPut, base+"outputs/dir-link/new", "x", map[string]string{"x-ms-blob-type": "BlockBlob"})
	require.Equal(t, http.StatusNotFound, r.StatusCode, body)
	require.Contains(t, body, "symbolic link")
	require.NoFileExists(t, filepath.Join(outside, "new"))
	r, body = do(t, http.MethodGet, srv.URL+"/"+acct+"/"+cont+"?restype=container&comp=list", "", nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Contains(t, body, "outputs/a.txt")
	require.NotContains(t, body, "link")
	r, body = do(t, http.MethodGet, base+"outputs/a.txt", "", nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, "a", body)
}

package api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BlobVersion is the x-ms-version of blob requests.
const BlobVersion = "2021-12-02"

// Put Blob carries files up to this size; larger files go in blocks
// (Put Block + Put Block List), as azure-storage-blob does. Variables so
// that tests can use small files.
var (
	blobSingleUploadMax int64 = 64 << 20
	blobBlockSize             = 4 << 20
)

// BlobContainer is one container of a blob datastore, reached with the
// SAS its datastore's listSecrets gave. Requests carry the SAS, never the
// API token.
type BlobContainer struct {
	// AccountURL is the account endpoint, e.g. https://host:port/blob/acct
	// (mlw) or https://acct.blob.core.windows.net (Azure).
	AccountURL string
	Container  string
	// SAS is the token's query string (no leading "?").
	SAS  string
	HTTP *http.Client
}

// BlobError is an error answer of the Blob service.
type BlobError struct {
	StatusCode int
	Code       string
	Message    string
	Blob       string
}

func (e *BlobError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if e.Code != "" {
		msg = "(" + e.Code + ") " + msg
	}
	return fmt.Sprintf("blob %s: %s", e.Blob, msg)
}

// IsBlobNotFound reports a 404 from the Blob service.
func IsBlobNotFound(err error) bool {
	var e *BlobError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// URL is the blob's URL with the SAS and extra query (e.g. "comp=metadata").
func (b *BlobContainer) URL(blob, query string) string {
	segs := strings.Split(blob, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := strings.TrimRight(b.AccountURL, "/") + "/" + url.PathEscape(b.Container)
	if blob != "" {
		u += "/" + strings.Join(segs, "/")
	}
	q := query
	if b.SAS != "" {
		if q != "" {
			q += "&"
		}
		q += b.SAS
	}
	if q != "" {
		u += "?" + q
	}
	return u
}

func (b *BlobContainer) do(ctx context.Context, method, blob, query string, hdr http.Header, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.URL(blob, query), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("x-ms-version", BlobVersion)
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("blob storage at %s: %w", b.AccountURL, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		be := &BlobError{StatusCode: resp.StatusCode, Code: resp.Header.Get("x-ms-error-code"), Blob: blob}
		var x struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		if xml.Unmarshal(raw, &x) == nil {
			if be.Code == "" {
				be.Code = x.Code
			}
			be.Message = strings.TrimSpace(strings.SplitN(x.Message, "\n", 2)[0])
		}
		return nil, be
	}
	return resp, nil
}

// BlobProperties are what Get Blob Properties returns that we use.
type BlobProperties struct {
	Size     int64
	Metadata map[string]string
}

// Properties returns a blob's size and metadata; a missing blob is an
// error that IsBlobNotFound recognizes.
func (b *BlobContainer) Properties(ctx context.Context, blob string) (*BlobProperties, error) {
	resp, err := b.do(ctx, http.MethodHead, blob, "", nil, nil, 0)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	p := &BlobProperties{Size: resp.ContentLength, Metadata: map[string]string{}}
	for k, v := range resp.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-meta-") && len(v) > 0 {
			p.Metadata[lk[len("x-ms-meta-"):]] = v[0]
		}
	}
	return p, nil
}

// SetMetadata replaces a blob's metadata.
func (b *BlobContainer) SetMetadata(ctx context.Context, blob string, md map[string]string) error {
	hdr := http.Header{}
	for k, v := range md {
		hdr.Set("x-ms-meta-"+k, v)
	}
	resp, err := b.do(ctx, http.MethodPut, blob, "comp=metadata", hdr, http.NoBody, 0)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// UploadFile uploads a local file to blob. With overwrite false the
// upload asks for a new blob (If-None-Match: *) and an existing one is
// left as it is: uploads are content-addressed, so it holds the same
// bytes. progress, if not nil, is called with the bytes sent.
func (b *BlobContainer) UploadFile(ctx context.Context, blob, path string, overwrite bool, progress func(n int64)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(int64) {}
	}
	hdr := http.Header{}
	hdr.Set("x-ms-blob-type", "BlockBlob")
	hdr.Set("Content-Type", "application/octet-stream")
	if !overwrite {
		hdr.Set("If-None-Match", "*")
	}
	if fi.Size() <= blobSingleUploadMax {
		data, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			sum := md5.Sum(data)
			hdr.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		}
		resp, err := b.do(ctx, http.MethodPut, blob, "", hdr, bytes.NewReader(data), int64(len(data)))
		if isBlobExists(err) {
			progress(int64(len(data)))
			return nil
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		progress(int64(len(data)))
		return nil
	}
	// Blocks: ids are base64 of a fixed-width counter, as Azure requires
	// ids of one length within a blob.
	var ids []string
	buf := make([]byte, blobBlockSize)
	for i := 0; ; i++ {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("mlw-block-%08d", i)))
			bh := http.Header{}
			sum := md5.Sum(buf[:n])
			bh.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
			resp, err := b.do(ctx, http.MethodPut, blob, "comp=block&blockid="+url.QueryEscape(id), bh, bytes.NewReader(buf[:n]), int64(n))
			if err != nil {
				return err
			}
			resp.Body.Close()
			ids = append(ids, id)
			progress(int64(n))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	var x strings.Builder
	x.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for _, id := range ids {
		x.WriteString("<Latest>" + id + "</Latest>")
	}
	x.WriteString("</BlockList>")
	body := []byte(x.String())
	sum := md5.Sum(body)
	hdr.Set("Content-Type", "application/xml")
	hdr.Set("x-ms-blob-content-type", "application/octet-stream")
	hdr.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	resp, err := b.do(ctx, http.MethodPut, blob, "comp=blocklist", hdr, bytes.NewReader(body), int64(len(body)))
	if isBlobExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func isBlobExists(err error) bool {
	var e *BlobError
	return errors.As(err, &e) && (e.StatusCode == http.StatusConflict || e.StatusCode == http.StatusPreconditionFailed)
}

// BlobItem is one entry of a listing.
type BlobItem struct {
	Name     string
	Size     int64
	Metadata map[string]string
}

// List returns the blobs whose names start with prefix, in name order.
func (b *BlobContainer) List(ctx context.Context, prefix string) ([]BlobItem, error) {
	var out []BlobItem
	marker := ""
	for {
		q := "restype=container&comp=list&include=metadata&prefix=" + url.QueryEscape(prefix)
		if marker != "" {
			q += "&marker=" + url.QueryEscape(marker)
		}
		resp, err := b.do(ctx, http.MethodGet, "", q, http.Header{"Accept": {"application/xml"}}, nil, 0)
		if err != nil {
			return nil, err
		}
		var page struct {
			Blobs struct {
				Blob []struct {
					Name       string `xml:"Name"`
					Properties struct {
						ContentLength int64 `xml:"Content-Length"`
					} `xml:"Properties"`
					Metadata struct {
						Items []struct {
							XMLName xml.Name
							Value   string `xml:",chardata"`
						} `xml:",any"`
					} `xml:"Metadata"`
				} `xml:"Blob"`
			} `xml:"Blobs"`
			NextMarker string `xml:"NextMarker"`
		}
		err = xml.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list blobs: %w", err)
		}
		for _, bl := range page.Blobs.Blob {
			it := BlobItem{Name: bl.Name, Size: bl.Properties.ContentLength, Metadata: map[string]string{}}
			for _, m := range bl.Metadata.Items {
				it.Metadata[m.XMLName.Local] = m.Value
			}
			out = append(out, it)
		}
		if page.NextMarker == "" {
			break
		}
		marker = page.NextMarker
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Download writes a blob's bytes to w and returns how many there were.
func (b *BlobContainer) Download(ctx context.Context, blob string, w io.Writer) (int64, error) {
	resp, err := b.do(ctx, http.MethodGet, blob, "", nil, nil, 0)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("blob %s: got %d of %s bytes", blob, n, strconv.FormatInt(resp.ContentLength, 10))
	}
	return n, err
}

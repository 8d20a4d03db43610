package blob

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The Azure Blob REST subset that azure-storage-blob (inside azure-ai-ml)
// and mlw's own tools use, path-style: {endpoint}/{container}/{blob}.
// Behaviour follows the Blob service at x-ms-version 2021-12-02, in
// particular the Content-MD5 rules: the Content-MD5 of a Put Blob or Put
// Block answer is the MD5 of the request body, and of a Put Block List
// answer the MD5 of the XML block list (not of the assembled blob).

// ServiceVersion is sent as x-ms-version.
const ServiceVersion = "2021-12-02"

// Permissions a request needs (SAS "sp" letters).
const (
	NeedRead   = 'r'
	NeedWrite  = 'w'
	NeedDelete = 'd'
	NeedList   = 'l'
)

// Limits of one request.
const (
	MaxPutBlob      = 5000 << 20 // Azure's limit for Put Blob and Put Block
	maxBlockListXML = 16 << 20
	maxRangeMD5     = 4 << 20
)

// Authorizer decides whether r may do perm on one container. It returns nil,
// or an *Error (403 AuthenticationFailed / AuthorizationPermissionMismatch).
type Authorizer func(r *http.Request, account, container string, perm rune) error

// Handler serves the Blob REST subset from a Store.
type Handler struct {
	Store     *Store
	Authorize Authorizer
	Log       *slog.Logger
}

// Target is what a request addresses. Endpoint is the account URL the
// client used (for ServiceEndpoint in listings).
type Target struct {
	Endpoint  string
	Account   string
	Container string
	Blob      string
}

// Serve answers one Blob REST request.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, t Target) {
	w.Header().Set("x-ms-version", ServiceVersion)
	if err := h.serve(w, r, t); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, t Target) error {
	if err := checkNames(t.Account, t.Container, ""); err != nil {
		return err
	}
	q := r.URL.Query()
	comp, restype := q.Get("comp"), q.Get("restype")
	need, err := permissionFor(r.Method, t.Blob, comp)
	if err != nil {
		return err
	}
	if err := h.Authorize(r, t.Account, t.Container, need); err != nil {
		return err
	}
	if t.Blob == "" {
		switch {
		case restype == "container" && comp == "list" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			return h.list(w, r, t)
		case restype == "container" && comp == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			return h.containerProps(w, t)
		case restype == "container" && comp == "" && r.Method == http.MethodPut:
			created, err := h.Store.CreateContainer(t.Account, t.Container)
			if err != nil {
				return err
			}
			if !created {
				return newError(http.StatusConflict, "ContainerAlreadyExists", "The specified container already exists.")
			}
			w.WriteHeader(http.StatusCreated)
			return nil
		}
		return newError(http.StatusBadRequest, "UnsupportedQueryParameter",
			fmt.Sprintf("mlw's Blob API does not support %s on a container with comp=%q restype=%q; it supports listing blobs (restype=container&comp=list).", r.Method, comp, restype))
	}
	if err := ValidatePath(t.Blob); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		switch comp {
		case "":
			return h.get(w, r, t)
		case "metadata":
			p, err := h.Store.Properties(t.Account, t.Container, t.Blob)
			if err != nil {
				return err
			}
			if err := conditions(r).check(p, false); err != nil {
				return err
			}
			setMetaHeaders(w, p.Metadata)
			w.Header().Set("ETag", p.ETag)
			w.Header().Set("Last-Modified", httpTime(p.LastModified))
			return nil
		case "blocklist":
			if r.Method == http.MethodHead {
				return nil
			}
			return h.blockList(w, r, t)
		}
	case http.MethodPut:
		switch comp {
		case "":
			return h.putBlob(w, r, t)
		case "block":
			return h.putBlock(w, r, t)
		case "blocklist":
			return h.putBlockList(w, r, t)
		case "metadata":
			p, err := h.Store.SetMetadata(t.Account, t.Container, t.Blob, metadata(r), conditions(r))
			if err != nil {
				return err
			}
			writeWritten(w, p, http.StatusOK)
			return nil
		case "properties":
			hd, err := blobHeaders(r, true)
			if err != nil {
				return err
			}
			p, err := h.Store.SetHeaders(t.Account, t.Container, t.Blob, hd, conditions(r))
			if err != nil {
				return err
			}
			writeWritten(w, p, http.StatusOK)
			return nil
		}
	case http.MethodDelete:
		if comp == "" {
			if err := h.Store.Delete(t.Account, t.Container, t.Blob, conditions(r)); err != nil {
				return err
			}
			w.Header().Set("x-ms-delete-type-permanent", "true")
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
	}
	return newError(http.StatusBadRequest, "UnsupportedQueryParameter",
		fmt.Sprintf("mlw's Blob API does not support %s on a blob with comp=%q; it supports Get/Put Blob, Put Block, Put/Get Block List, Get/Set Metadata, Set Properties and Delete.", r.Method, comp))
}

// permissionFor maps an operation to the SAS permission it needs.
func permissionFor(method, blob, comp string) (rune, error) {
	switch method {
	case http.MethodGet, http.MethodHead:
		if blob == "" && comp == "list" {
			return NeedList, nil
		}
		return NeedRead, nil
	case http.MethodPut:
		return NeedWrite, nil
	case http.MethodDelete:
		return NeedDelete, nil
	}
	return 0, newError(http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb "+method+".")
}

func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func conditions(r *http.Request) Conditions {
	c := Conditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
	if t, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil {
		c.IfModifiedSince = t
	}
	if t, err := http.ParseTime(r.Header.Get("If-Unmodified-Since")); err == nil {
		c.IfUnmodifiedSince = t
	}
	return c
}

// metadata reads x-ms-meta-* headers. Names are lowercased: Go's HTTP
// server folds header case, and the Azure ML SDK reads lowercase names
// (upload_status, name, version).
func metadata(r *http.Request) map[string]string {
	md := map[string]string{}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if name, ok := strings.CutPrefix(lk, "x-ms-meta-"); ok && name != "" && len(vs) > 0 {
			md[name] = vs[0]
		}
	}
	return md
}

func setMetaHeaders(w http.ResponseWriter, md map[string]string) {
	for k, v := range md {
		// Assigned directly so the name keeps its (lower) case on the wire:
		// azure-storage-blob takes metadata names from header names as sent.
		w.Header()["x-ms-meta-"+k] = []string{v}
	}
}

func decodeMD5(v, header string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != 16 {
		return nil, newError(http.StatusBadRequest, "InvalidMd5", "The MD5 value in the "+header+" header is not valid: it must be the base64 of 16 bytes.")
	}
	return b, nil
}

// blobHeaders reads the blob's HTTP properties: the x-ms-blob-content-*
// headers, or (for Put Blob) the standard headers of the request.
func blobHeaders(r *http.Request, propsOnly bool) (Headers, error) {
	get := func(ms, std string) string {
		if v := r.Header.Get(ms); v != "" || propsOnly {
			return v
		}
		return r.Header.Get(std)
	}
	h := Headers{
		ContentType:        get("x-ms-blob-content-type", "Content-Type"),
		ContentEncoding:    get("x-ms-blob-content-encoding", "Content-Encoding"),
		ContentLanguage:    get("x-ms-blob-content-language", "Content-Language"),
		ContentDisposition: get("x-ms-blob-content-disposition", "Content-Disposition"),
		CacheControl:       get("x-ms-blob-cache-control", "Cache-Control"),
	}
	md5, err := decodeMD5(r.Header.Get("x-ms-blob-content-md5"), "x-ms-blob-content-md5")
	h.ContentMD5 = md5
	return h, err
}

// limitBody refuses bodies larger than Azure accepts, reading lazily.
func limitBody(r *http.Request) (io.Reader, error) {
	if r.ContentLength > MaxPutBlob {
		return nil, newError(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("The request body is too large and exceeds the maximum permissible limit (%d MiB); upload it in blocks.", MaxPutBlob>>20))
	}
	return &capReader{r: r.Body, left: MaxPutBlob}, nil
}

type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, newError(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body exceeds the maximum permissible limit; upload it in blocks.")
	}
	return n, err
}

func writeWritten(w http.ResponseWriter, p *Properties, status int) {
	w.Header().Set("ETag", p.ETag)
	w.Header().Set("Last-Modified", httpTime(p.LastModified))
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(status)
}

func (h *Handler) putBlob(w http.ResponseWriter, r *http.Request, t Target) error {
	switch bt := r.Header.Get("x-ms-blob-type"); {
	case bt == "":
		return newError(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type (use BlockBlob).")
	case !strings.EqualFold(bt, BlockBlob):
		return newError(http.StatusBadRequest, "InvalidHeaderValue", "mlw stores block blobs only; x-ms-blob-type "+bt+" is not supported.")
	}
	if r.Header.Get("x-ms-copy-source") != "" {
		return newError(http.StatusBadRequest, "UnsupportedHeader", "mlw's Blob API does not copy blobs from a URL (x-ms-copy-source); download and upload the content instead.")
	}
	sent, err := decodeMD5(r.Header.Get("Content-MD5"), "Content-MD5")
	if err != nil {
		return err
	}
	hd, err := blobHeaders(r, false)
	if err != nil {
		return err
	}
	body, err := limitBody(r)
	if err != nil {
		return err
	}
	p, sum, err := h.Store.Put(t.Account, t.Container, t.Blob, body, PutOptions{Conditions: conditions(r), ContentMD5: sent, Headers: hd, Metadata: metadata(r)})
	if err != nil {
		return err
	}
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum))
	writeWritten(w, p, http.StatusCreated)
	return nil
}

func (h *Handler) putBlock(w http.ResponseWriter, r *http.Request, t Target) error {
	id := r.URL.Query().Get("blockid")
	if id == "" {
		return newError(http.StatusBadRequest, "MissingRequiredQueryParameter", "Put Block needs the blockid query parameter.")
	}
	sent, err := decodeMD5(r.Header.Get("Content-MD5"), "Content-MD5")
	if err != nil {
		return err
	}
	body, err := limitBody(r)
	if err != nil {
		return err
	}
	sum, err := h.Store.StageBlock(t.Account, t.Container, t.Blob, id, body, sent)
	if err != nil {
		return err
	}
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum))
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// ParseBlockList reads a Put Block List body: <BlockList> with Latest,
// Committed and Uncommitted entries, in order.
func ParseBlockList(body []byte) ([]BlockRef, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var refs []BlockRef
	depth := 0
	var cur *BlockRef
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, newError(http.StatusBadRequest, "InvalidXmlDocument", "The block list is not valid XML: "+err.Error())
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if el.Name.Local != "BlockList" {
					return nil, newError(http.StatusBadRequest, "InvalidXmlDocument", "The block list must be a <BlockList> element.")
				}
			case 2:
				cur = &BlockRef{Kind: el.Name.Local}
				text.Reset()
			default:
				return nil, newError(http.StatusBadRequest, "InvalidXmlDocument", "Block list entries hold only a block id.")
			}
		case xml.CharData:
			if cur != nil {
				text.Write(el)
			}
		case xml.EndElement:
			if depth == 2 && cur != nil {
				cur.ID = strings.TrimSpace(text.String())
				refs = append(refs, *cur)
				cur = nil
			}
			depth--
		}
	}
	if len(refs) > 50000 {
		return nil, errInvalidBlockList("a blob has at most 50,000 blocks")
	}
	return refs, nil
}

func (h *Handler) putBlockList(w http.ResponseWriter, r *http.Request, t Target) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBlockListXML+1))
	if err != nil {
		return &readError{err}
	}
	if len(body) > maxBlockListXML {
		return newError(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The block list is larger than 16 MiB.")
	}
	sum := MD5(body)
	sent, err := decodeMD5(r.Header.Get("Content-MD5"), "Content-MD5")
	if err != nil {
		return err
	}
	if sent != nil && !slices.Equal(sent, sum) {
		return errMD5Mismatch(sent, sum)
	}
	refs, err := ParseBlockList(body)
	if err != nil {
		return err
	}
	hd, err := blobHeaders(r, true)
	if err != nil {
		return err
	}
	p, err := h.Store.CommitBlockList(t.Account, t.Container, t.Blob, refs, PutOptions{Conditions: conditions(r), ContentMD5: hd.ContentMD5, Headers: hd, Metadata: metadata(r)})
	if err != nil {
		return err
	}
	// The MD5 of the request body, as Azure answers; the MD5 of the blob
	// here would make azure-storage-blob fail with "MD5 mismatch".
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum))
	writeWritten(w, p, http.StatusCreated)
	return nil
}

type blockXML struct {
	Name string `xml:"Name"`
	Size int64  `xml:"Size"`
}

type blockListXML struct {
	XMLName     xml.Name   `xml:"BlockList"`
	Committed   []blockXML `xml:"CommittedBlocks>Block"`
	Uncommitted []blockXML `xml:"UncommittedBlocks>Block"`
}

func (h *Handler) blockList(w http.ResponseWriter, r *http.Request, t Target) error {
	committed, uncommitted, err := h.Store.BlockList(t.Account, t.Container, t.Blob)
	if err != nil {
		return err
	}
	which := strings.ToLower(r.URL.Query().Get("blocklisttype"))
	var out blockListXML
	if which == "" || which == "committed" || which == "all" {
		for _, b := range committed {
			out.Committed = append(out.Committed, blockXML{Name: b.ID, Size: b.Size})
		}
	}
	if which == "uncommitted" || which == "all" {
		for _, b := range uncommitted {
			out.Uncommitted = append(out.Uncommitted, blockXML{Name: b.ID, Size: b.Size})
		}
	}
	return writeXML(w, http.StatusOK, out)
}

func setPropHeaders(w http.ResponseWriter, p *Properties) {
	hd := w.Header()
	hd.Set("ETag", p.ETag)
	hd.Set("Last-Modified", httpTime(p.LastModified))
	hd.Set("x-ms-creation-time", httpTime(p.Created))
	hd.Set("x-ms-blob-type", BlockBlob)
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("x-ms-lease-status", "unlocked")
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-server-encrypted", "true")
	hd.Set("x-ms-access-tier", "Hot")
	hd.Set("x-ms-access-tier-inferred", "true")
	ct := p.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hd.Set("Content-Type", ct)
	// Blobs are served from the API's (and the studio's) origin: a page
	// among a job's outputs, opened in a browser, runs in a sandbox
	// without scripts, and no type is sniffed into another.
	hd.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	for k, v := range map[string]string{"Content-Encoding": p.ContentEncoding, "Content-Language": p.ContentLanguage,
		"Content-Disposition": p.ContentDisposition, "Cache-Control": p.CacheControl} {
		if v != "" {
			hd.Set(k, v)
		}
	}
	setMetaHeaders(w, p.Metadata)
}

// parseRange reads "bytes=start-end", "bytes=start-" or "bytes=-suffix".
func parseRange(v string, size int64) (start, end int64, ok bool, err error) {
	if v == "" {
		return 0, 0, false, nil
	}
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, newError(http.StatusBadRequest, "InvalidHeaderValue", "The range "+v+" is not valid: use bytes=start-end.")
	}
	a, b, _ := strings.Cut(spec, "-")
	bad := newError(http.StatusBadRequest, "InvalidHeaderValue", "The range "+v+" is not valid: use bytes=start-end.")
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, bad
		}
		if size == 0 {
			return 0, 0, false, errInvalidRange()
		}
		return max(0, size-n), size - 1, true, nil
	}
	start, err = strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false, bad
	}
	end = size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return 0, 0, false, bad
		}
	}
	if start >= size {
		return 0, 0, false, errInvalidRange()
	}
	return start, min(end, size-1), true, nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, t Target) error {
	obj, err := h.Store.Open(t.Account, t.Container, t.Blob)
	if err != nil {
		return err
	}
	defer obj.Close()
	p := obj.Props
	if err := conditions(r).check(p, false); err != nil {
		return err
	}
	setPropHeaders(w, p)
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.FormatInt(p.Size, 10))
		if p.ContentMD5 != nil {
			w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(p.ContentMD5))
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	rng := r.Header.Get("x-ms-range")
	if rng == "" {
		rng = r.Header.Get("Range")
	}
	start, end, ranged, err := parseRange(rng, p.Size)
	if err != nil {
		if e, ok := AsError(err); ok && e.Code == "InvalidRange" {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", p.Size))
		}
		return err
	}
	if !ranged {
		w.Header().Set("Content-Length", strconv.FormatInt(p.Size, 10))
		if p.ContentMD5 != nil {
			w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(p.ContentMD5))
		}
		w.WriteHeader(http.StatusOK)
		_, err := io.Copy(w, obj)
		h.logCopy(err, t)
		return nil
	}
	n := end - start + 1
	section := io.NewSectionReader(obj, start, n)
	if p.ContentMD5 != nil {
		w.Header().Set("x-ms-blob-content-md5", base64.StdEncoding.EncodeToString(p.ContentMD5))
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, p.Size))
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if strings.EqualFold(r.Header.Get("x-ms-range-get-content-md5"), "true") {
		if n > maxRangeMD5 {
			return newError(http.StatusBadRequest, "OutOfRangeInput", "x-ms-range-get-content-md5 needs a range of at most 4 MiB.")
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(section, buf); err != nil {
			return fmt.Errorf("read blob: %w", err)
		}
		w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(MD5(buf)))
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(buf)
		return nil
	}
	w.WriteHeader(http.StatusPartialContent)
	_, err = io.Copy(w, section)
	h.logCopy(err, t)
	return nil
}

func (h *Handler) logCopy(err error, t Target) {
	if err != nil && h.Log != nil {
		h.Log.Debug("blob download interrupted", "account", t.Account, "container", t.Container, "blob", t.Blob, "err", err)
	}
}

func (h *Handler) containerProps(w http.ResponseWriter, t Target) error {
	info, err := h.Store.Container(t.Account, t.Container)
	if err != nil {
		return err
	}
	lm := info.LastModified
	if !info.Exists {
		lm = time.Unix(0, 0)
	}
	w.Header().Set("ETag", fmt.Sprintf(`"0x%X"`, lm.UnixNano()))
	w.Header().Set("Last-Modified", httpTime(lm))
	w.Header().Set("x-ms-lease-status", "unlocked")
	w.Header().Set("x-ms-lease-state", "available")
	w.Header().Set("x-ms-has-immutability-policy", "false")
	w.Header().Set("x-ms-has-legal-hold", "false")
	w.WriteHeader(http.StatusOK)
	return nil
}

type enumerationResults struct {
	XMLName         xml.Name    `xml:"EnumerationResults"`
	ServiceEndpoint string      `xml:"ServiceEndpoint,attr"`
	ContainerName   string      `xml:"ContainerName,attr"`
	Prefix          string      `xml:"Prefix"`
	Marker          string      `xml:"Marker,omitempty"`
	MaxResults      int         `xml:"MaxResults,omitempty"`
	Delimiter       string      `xml:"Delimiter,omitempty"`
	Blobs           blobsXML    `xml:"Blobs"`
	NextMarker      stringEmpty `xml:"NextMarker"`
}

// stringEmpty always renders its element, empty or not (<NextMarker />).
type stringEmpty string

type blobsXML struct {
	Blob       []blobItemXML `xml:"Blob"`
	BlobPrefix []prefixXML   `xml:"BlobPrefix"`
}

type prefixXML struct {
	Name string `xml:"Name"`
}

type blobItemXML struct {
	Name       string      `xml:"Name"`
	Properties blobPropXML `xml:"Properties"`
	Metadata   *metaXML    `xml:"Metadata,omitempty"`
}

type blobPropXML struct {
	CreationTime       string `xml:"Creation-Time"`
	LastModified       string `xml:"Last-Modified"`
	Etag               string `xml:"Etag"`
	ContentLength      int64  `xml:"Content-Length"`
	ContentType        string `xml:"Content-Type"`
	ContentEncoding    string `xml:"Content-Encoding"`
	ContentLanguage    string `xml:"Content-Language"`
	ContentMD5         string `xml:"Content-MD5"`
	ContentDisposition string `xml:"Content-Disposition"`
	CacheControl       string `xml:"Cache-Control"`
	BlobType           string `xml:"BlobType"`
	AccessTier         string `xml:"AccessTier"`
	AccessTierInferred bool   `xml:"AccessTierInferred"`
	LeaseStatus        string `xml:"LeaseStatus"`
	LeaseState         string `xml:"LeaseState"`
	ServerEncrypted    bool   `xml:"ServerEncrypted"`
}

type metaXML map[string]string

// MarshalXML writes one element per metadata entry, in name order.
func (m metaXML) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if validXMLName(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func validXMLName(s string) bool {
	for i, r := range s {
		if !(unicode.IsLetter(r) || r == '_' || i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, t Target) error {
	q := r.URL.Query()
	o := ListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), Marker: q.Get("marker")}
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return newError(http.StatusBadRequest, "OutOfRangeQueryParameterValue", "maxresults must be a positive number.")
		}
		o.MaxResults = n
	}
	withMeta := false
	for _, inc := range strings.Split(q.Get("include"), ",") {
		if strings.TrimSpace(inc) == "metadata" {
			withMeta = true
		}
	}
	res, err := h.Store.List(t.Account, t.Container, o)
	if err != nil {
		return err
	}
	out := enumerationResults{ServiceEndpoint: t.Endpoint, ContainerName: t.Container, Prefix: o.Prefix, Marker: o.Marker,
		Delimiter: o.Delimiter, NextMarker: stringEmpty(res.NextMarker)}
	if q.Get("maxresults") != "" {
		out.MaxResults = o.MaxResults
	}
	for _, p := range res.Blobs {
		item := blobItemXML{Name: p.Name, Properties: blobPropXML{
			CreationTime: httpTime(p.Created), LastModified: httpTime(p.LastModified), Etag: strings.Trim(p.ETag, `"`),
			ContentLength: p.Size, ContentType: p.ContentType, ContentEncoding: p.ContentEncoding,
			ContentLanguage: p.ContentLanguage, ContentDisposition: p.ContentDisposition, CacheControl: p.CacheControl,
			BlobType: BlockBlob, AccessTier: "Hot", AccessTierInferred: true, LeaseStatus: "unlocked", LeaseState: "available", ServerEncrypted: true,
		}}
		if p.ContentMD5 != nil {
			item.Properties.ContentMD5 = base64.StdEncoding.EncodeToString(p.ContentMD5)
		}
		if withMeta {
			m := metaXML(p.Metadata)
			if m == nil {
				m = metaXML{}
			}
			item.Metadata = &m
		}
		out.Blobs.Blob = append(out.Blobs.Blob, item)
	}
	for _, pre := range res.Prefixes {
		out.Blobs.BlobPrefix = append(out.Blobs.BlobPrefix, prefixXML{Name: pre})
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return writeXML(w, http.StatusOK, out)
}

func writeXML(w http.ResponseWriter, status int, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(b)
	return nil
}

type errorXML struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
	Detail  string   `xml:"AuthenticationErrorDetail,omitempty"`
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := AsError(err)
	if !ok {
		var re *readError
		if errors.As(err, &re) {
			e = newError(http.StatusBadRequest, "InvalidInput", "The request body could not be read completely: "+re.err.Error())
		} else {
			if h.Log != nil {
				h.Log.Error("blob request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			e = newError(http.StatusInternalServerError, "InternalError", "The server encountered an internal error; the details are in the mlw server log. Please retry the request.")
		}
	}
	w.Header().Set("x-ms-error-code", e.Code)
	if e.Status == http.StatusNotModified || r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	msg := e.Message + "\nRequestId:" + w.Header().Get("x-ms-request-id") + "\nTime:" + time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z")
	_ = writeXML(w, e.Status, errorXML{Code: e.Code, Message: msg, Detail: e.Detail})
}

package api

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fakeML is the narrowest stand-in for an mlw server that the client's
// upload and job protocol needs: workspace, computes, datastores with a
// SAS, a blob container, code and environment versions, jobs and run
// history. The real server is exercised by e2e/.
type fakeML struct {
	t   *testing.T
	srv *httptest.Server
	ws  string // the workspace's ARM path

	mu        sync.Mutex
	computes  map[string]bool
	blobs     map[string]*fakeBlob // container/blob
	blocks    map[string][]byte    // container/blob/blockid
	blobPuts  int                  // Put Blob and Put Block requests
	blobBytes int64
	assets    map[string]map[string]any // codes/… and environments/… paths → body
	jobs      map[string]*Job
	details   map[string]*RunDetails
	logs      map[string]string // name → contents, served at /logs/<name>
	requests  []string
	// follow, if set, serves mlw's log-follow endpoint
	// (…/jobs/{name}/logs and …/jobs/{name}/logs/{file}?follow=true).
	follow func(w http.ResponseWriter, file string, offset string)
}

type fakeBlob struct {
	data []byte
	meta map[string]string
}

const fakeSub = "00000000-0000-0000-0000-000000000001"

func newFakeML(t *testing.T) (*fakeML, *Client) {
	t.Helper()
	f := &fakeML{t: t, ws: WorkspacePath(fakeSub, "rg", "ws"), computes: map[string]bool{"aml-cluster": true},
		blobs: map[string]*fakeBlob{}, blocks: map[string][]byte{}, assets: map[string]map[string]any{},
		jobs: map[string]*Job{}, details: map[string]*RunDetails{}, logs: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	c, err := NewClient(f.srv.URL, "token", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Subscription = fakeSub
	return f, c
}

func (f *fakeML) armError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeML) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	f.requests = append(f.requests, r.Method+" "+p)
	if strings.HasPrefix(p, "/blob/acct/") {
		f.serveBlob(w, r, strings.TrimPrefix(p, "/blob/acct/"))
		return
	}
	if strings.HasPrefix(p, "/logs/") {
		body, ok := f.logs[strings.TrimPrefix(p, "/logs/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, body)
		return
	}
	if r.Header.Get("Authorization") != "Bearer token" && p != "/discovery" {
		f.armError(w, 401, "AuthenticationFailed", "no token")
		return
	}
	switch {
	case p == "/discovery":
		writeJSON(w, 200, map[string]string{"api": f.srv.URL})
	case p == f.ws:
		writeJSON(w, 200, map[string]any{"name": "ws", "properties": map[string]any{"discoveryUrl": f.srv.URL + "/discovery"}})
	case strings.HasPrefix(p, f.ws+"/computes/"):
		if !f.computes[strings.TrimPrefix(p, f.ws+"/computes/")] {
			f.armError(w, 404, "NotFound", "compute not found")
			return
		}
		writeJSON(w, 200, map[string]any{"properties": map[string]any{"computeType": "AmlCompute"}})
	case strings.HasPrefix(p, f.ws+"/datastores/"):
		rest := strings.TrimPrefix(p, f.ws+"/datastores/")
		name, op, _ := strings.Cut(rest, "/")
		if name != WorkspaceBlobStore && name != WorkspaceArtifactStore {
			f.armError(w, 404, "NotFound", "datastore not found")
			return
		}
		if op == "listSecrets" && r.Method == http.MethodPost {
			writeJSON(w, 200, map[string]string{"secretsType": "Sas", "sasToken": "sv=2021-12-02&sig=ok"})
			return
		}
		host := strings.TrimPrefix(f.srv.URL, "http://")
		writeJSON(w, 200, map[string]any{"name": name, "properties": map[string]any{
			"datastoreType": "AzureBlob", "accountName": host + "/blob/acct/?x=", "containerName": name + "-container", "endpoint": "core.windows.net"}})
	case strings.HasPrefix(p, f.ws+"/codes/") || strings.HasPrefix(p, f.ws+"/environments/"):
		if strings.HasSuffix(p, "/versions") && r.Method == http.MethodGet {
			var vals []any
			for k, v := range f.assets {
				if strings.HasPrefix(k, p+"/") {
					vals = append(vals, v)
				}
			}
			writeJSON(w, 200, map[string]any{"value": vals})
			return
		}
		switch r.Method {
		case http.MethodPut:
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			body["id"] = p
			body["name"] = p[strings.LastIndex(p, "/")+1:]
			f.assets[p] = body
			writeJSON(w, 201, body)
		case http.MethodGet:
			if a, ok := f.assets[p]; ok {
				writeJSON(w, 200, a)
				return
			}
			f.armError(w, 404, "NotFound", "no such asset")
		}
	case f.follow != nil && strings.HasPrefix(p, f.ws+"/jobs/") && strings.Contains(p, "/logs"):
		_, file, _ := strings.Cut(p, "/logs")
		if file == "" {
			writeJSON(w, 200, map[string]any{"value": []any{}})
			return
		}
		f.mu.Unlock() // a follow streams while other requests go on
		defer f.mu.Lock()
		f.follow(w, strings.TrimPrefix(file, "/"), r.URL.Query().Get("offset"))
	case strings.HasPrefix(p, f.ws+"/jobs/"):
		name := strings.TrimPrefix(p, f.ws+"/jobs/")
		switch r.Method {
		case http.MethodPut:
			var j Job
			_ = json.NewDecoder(r.Body).Decode(&j)
			j.ID, j.Name = p, name
			j.Properties.Status = "NotStarted"
			f.jobs[name] = &j
			writeJSON(w, 201, j)
		case http.MethodGet:
			if j, ok := f.jobs[name]; ok {
				writeJSON(w, 200, j)
				return
			}
			f.armError(w, 404, "NotFound", "no job "+name)
		}
	case strings.HasPrefix(p, "/history/v1.0"+f.ws+"/runs/"):
		name := strings.TrimSuffix(strings.TrimPrefix(p, "/history/v1.0"+f.ws+"/runs/"), "/details")
		d, ok := f.details[name]
		if !ok {
			f.armError(w, 404, "NotFound", "no run")
			return
		}
		writeJSON(w, 200, d)
		// A stream reads details, then logs: advance the scripted run.
		if next, ok := f.details[name+"#next"]; ok {
			f.details[name] = next
			delete(f.details, name+"#next")
			if j := f.jobs[name]; j != nil {
				j.Properties.Status = next.Status
			}
		}
	default:
		f.armError(w, 404, "NotFound", "fake has no "+r.Method+" "+p)
	}
}

func (f *fakeML) serveBlob(w http.ResponseWriter, r *http.Request, p string) {
	if r.URL.Query().Get("sig") != "ok" {
		w.Header().Set("x-ms-error-code", "AuthenticationFailed")
		w.WriteHeader(403)
		return
	}
	q := r.URL.Query()
	container, blob, _ := strings.Cut(p, "/")
	key := container + "/" + blob
	switch {
	case r.Method == http.MethodGet && q.Get("comp") == "list":
		prefix := q.Get("prefix")
		type blobXML struct {
			Name       string `xml:"Name"`
			Properties struct {
				ContentLength int `xml:"Content-Length"`
			} `xml:"Properties"`
		}
		var out struct {
			XMLName xml.Name  `xml:"EnumerationResults"`
			Blobs   []blobXML `xml:"Blobs>Blob"`
		}
		var names []string
		for k := range f.blobs {
			if c, b, _ := strings.Cut(k, "/"); c == container && strings.HasPrefix(b, prefix) {
				names = append(names, b)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			var b blobXML
			b.Name = n
			b.Properties.ContentLength = len(f.blobs[container+"/"+n].data)
			out.Blobs = append(out.Blobs, b)
		}
		w.Header().Set("Content-Type", "application/xml")
		_ = xml.NewEncoder(w).Encode(out)
	case r.Method == http.MethodHead || r.Method == http.MethodGet:
		b, ok := f.blobs[key]
		if !ok {
			w.Header().Set("x-ms-error-code", "BlobNotFound")
			w.WriteHeader(404)
			return
		}
		for k, v := range b.meta {
			w.Header().Set("x-ms-meta-"+k, v)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b.data)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b.data)
		}
	case r.Method == http.MethodPut && q.Get("comp") == "metadata":
		b, ok := f.blobs[key]
		if !ok {
			w.WriteHeader(404)
			return
		}
		b.meta = map[string]string{}
		for k, v := range r.Header {
			if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-meta-") {
				b.meta[lk[len("x-ms-meta-"):]] = v[0]
			}
		}
		w.WriteHeader(200)
	case r.Method == http.MethodPut && q.Get("comp") == "block":
		data, _ := io.ReadAll(r.Body)
		f.blocks[key+"/"+q.Get("blockid")] = data
		f.blobPuts++
		f.blobBytes += int64(len(data))
		w.WriteHeader(201)
	case r.Method == http.MethodPut && q.Get("comp") == "blocklist":
		body, _ := io.ReadAll(r.Body)
		var list struct {
			Latest []string `xml:"Latest"`
		}
		if err := xml.Unmarshal(body, &list); err != nil {
			w.WriteHeader(400)
			return
		}
		var data []byte
		for _, id := range list.Latest {
			data = append(data, f.blocks[key+"/"+id]...)
		}
		f.blobs[key] = &fakeBlob{data: data, meta: map[string]string{}}
		w.WriteHeader(201)
	case r.Method == http.MethodPut:
		data, _ := io.ReadAll(r.Body)
		if _, exists := f.blobs[key]; exists && r.Header.Get("If-None-Match") == "*" {
			w.Header().Set("x-ms-error-code", "BlobAlreadyExists")
			w.WriteHeader(409)
			return
		}
		if md := r.Header.Get("Content-MD5"); md != "" {
			sum := md5.Sum(data)
			if md != base64.StdEncoding.EncodeToString(sum[:]) {
				w.WriteHeader(400)
				return
			}
		}
		f.blobs[key] = &fakeBlob{data: data, meta: map[string]string{}}
		f.blobPuts++
		f.blobBytes += int64(len(data))
		w.WriteHeader(201)
	default:
		w.WriteHeader(405)
	}
}

// counts returns the blob uploads so far.
func (f *fakeML) counts() (puts int, bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blobPuts, f.blobBytes
}

func (f *fakeML) job(name string) *Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[name]
}

func (f *fakeML) setDetails(name string, d, next *RunDetails) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.details[name] = d
	if next != nil {
		f.details[name+"#next"] = next
	}
}

func (f *fakeML) putBlob(container, name, data string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[container+"/"+name] = &fakeBlob{data: []byte(data), meta: map[string]string{}}
}

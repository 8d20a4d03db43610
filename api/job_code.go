package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// API versions the Azure ML SDK uses for these resources (azureml-protocol
// §2); the server accepts any.
const (
	DatastoreAPIVersion = "2022-10-01"
	AssetAPIVersion     = "2022-05-01"
)

// Datastores every workspace has.
const (
	WorkspaceBlobStore     = "workspaceblobstore"
	WorkspaceArtifactStore = "workspaceartifactstore"
)

// WorkspaceRef names a workspace of the client's subscription.
type WorkspaceRef struct {
	Group, Name string
}

// WorkspaceID returns the workspace's ARM path.
func (c *Client) WorkspaceID(ctx context.Context, ws WorkspaceRef) (string, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return "", err
	}
	return WorkspacePath(sub, ws.Group, ws.Name), nil
}

// withVersion adds an api-version to a path.
func withVersion(path, version string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "api-version=" + version
}

// DatastoreContainer returns the blob container of a datastore, with the
// SAS from its listSecrets, as azure-ai-ml does before every upload and
// download.
func (c *Client) DatastoreContainer(ctx context.Context, ws WorkspaceRef, name string) (*BlobContainer, error) {
	wsID, err := c.WorkspaceID(ctx, ws)
	if err != nil {
		return nil, err
	}
	p := wsID + "/datastores/" + url.PathEscape(name)
	var ds Datastore
	if _, err := c.Do(ctx, http.MethodGet, withVersion(p, DatastoreAPIVersion), nil, &ds); err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("the datastore %s was not found in workspace %s: %w", name, ws.Name, err)
		}
		return nil, err
	}
	props := ds.Properties
	typ, _ := props["datastoreType"].(string)
	if typ != "" && typ != "AzureBlob" {
		return nil, fmt.Errorf("the datastore %s is of type %s; only AzureBlob datastores hold uploads", name, typ)
	}
	account, _ := props["accountName"].(string)
	container, _ := props["containerName"].(string)
	endpoint, _ := props["endpoint"].(string)
	if account == "" || container == "" {
		return nil, fmt.Errorf("the datastore %s has no accountName or containerName", name)
	}
	var secrets struct {
		SecretsType string `json:"secretsType"`
		SASToken    string `json:"sasToken"`
	}
	if _, err := c.Do(ctx, http.MethodPost, withVersion(p+"/listSecrets", DatastoreAPIVersion), nil, &secrets); err != nil {
		return nil, fmt.Errorf("get the credentials of datastore %s: %w", name, err)
	}
	if !strings.EqualFold(secrets.SecretsType, "Sas") || secrets.SASToken == "" {
		return nil, fmt.Errorf("the datastore %s gives %q credentials; mlw's client needs a SAS token", name, secrets.SecretsType)
	}
	hc := *c.HTTP
	hc.Timeout = 0 // large transfers; requests are bounded by ctx
	return &BlobContainer{
		AccountURL: c.blobAccountURL(account, endpoint),
		Container:  container,
		SAS:        strings.TrimPrefix(secrets.SASToken, "?"),
		HTTP:       &hc,
	}, nil
}

// blobAccountURL turns a datastore's accountName into the account's URL.
// mlw reports "HOST:PORT/blob/ACCOUNT/?x=" so that azure-storage-blob,
// which appends ".blob.core.windows.net", reaches mlw (azureml-protocol
// §5.3); Azure reports a plain account name.
func (c *Client) blobAccountURL(account, endpoint string) string {
	if strings.ContainsAny(account, ":/?") {
		a := account
		if i := strings.Index(a, "?"); i >= 0 {
			a = a[:i]
		}
		a = strings.TrimRight(a, "/")
		scheme := "https://"
		if u, err := url.Parse(c.BaseURL); err == nil && u.Scheme == "http" && strings.HasPrefix(a, u.Host+"/") {
			scheme = "http://" // a server run with --insecure-http
		}
		return scheme + a
	}
	if endpoint == "" {
		endpoint = "core.windows.net"
	}
	return "https://" + account + ".blob." + endpoint
}

// UploadOptions tune UploadSnapshot.
type UploadOptions struct {
	// Datastore to upload to (default workspaceblobstore).
	Datastore string
	// Name and Version go into the upload's metadata when it is new
	// (default a new UUID and "1", as azure-ai-ml does for code).
	Name, Version string
	// Progress, if set, is called with the bytes sent so far and the
	// total, from several goroutines one at a time.
	Progress func(sent, total int64)
	// Parallel uploads (default 4).
	Parallel int
}

// Upload is the outcome of UploadSnapshot.
type Upload struct {
	Snapshot  *Snapshot
	Datastore string
	Container *BlobContainer
	// Path is the folder (or file) in the container: LocalUpload/<hash>/<name>.
	Path string
	// Name and Version are the asset the upload belongs to, from its
	// metadata: unchanged content keeps the asset of its first upload.
	Name, Version string
	// Unchanged is true when the content was already there: nothing was sent.
	Unchanged     bool
	BytesUploaded int64
	FilesUploaded int
}

// URI is the upload's https URL (a code version's codeUri).
func (u *Upload) URI() string {
	return strings.TrimRight(u.Container.AccountURL, "/") + "/" + u.Container.Container + "/" + u.Path
}

// DatastoreURI is the upload as azureml://datastores/<ds>/paths/<path>,
// with a trailing "/" for a folder (as azure-ai-ml writes uri_folder
// inputs).
func (u *Upload) DatastoreURI() string {
	s := "azureml://datastores/" + u.Datastore + "/paths/" + u.Path
	if !u.Snapshot.IsFile {
		s += "/"
	}
	return s
}

// uploadConfirmed is the metadata azure-ai-ml sets on a finished upload's
// indicator file (its first file).
const uploadStatusKey, uploadStatusDone = "upload_status", "completed"

// UploadSnapshot uploads a snapshot as azure-ai-ml does (azureml-protocol
// §6): content-addressed under LocalUpload/<hash>/, skipped entirely when
// the indicator file says an earlier upload of the same content completed.
func (c *Client) UploadSnapshot(ctx context.Context, ws WorkspaceRef, snap *Snapshot, opts UploadOptions) (*Upload, error) {
	if opts.Datastore == "" {
		opts.Datastore = WorkspaceBlobStore
	}
	if opts.Name == "" {
		opts.Name = uuid.NewString()
	}
	if opts.Version == "" {
		opts.Version = "1"
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	cont, err := c.DatastoreContainer(ctx, ws, opts.Datastore)
	if err != nil {
		return nil, err
	}
	up := &Upload{Snapshot: snap, Datastore: opts.Datastore, Container: cont, Path: snap.BlobFolder(), Name: opts.Name, Version: opts.Version}
	indicator := snap.BlobName(snap.Files[0])
	overwrite := false
	props, err := cont.Properties(ctx, indicator)
	switch {
	case err == nil && props.Metadata[uploadStatusKey] == uploadStatusDone:
		up.Unchanged = true
		if n := props.Metadata["name"]; n != "" {
			up.Name = n
			up.Version = props.Metadata["version"]
		}
		return up, nil
	case err == nil:
		overwrite = true // an upload that never finished
	case !IsBlobNotFound(err):
		return nil, err
	}

	var (
		sent    atomic.Int64
		mu      sync.Mutex
		wg      sync.WaitGroup
		first   error
		work    = make(chan SnapshotFile)
		stopped = make(chan struct{})
		once    sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	report := func(n int64) {
		s := sent.Add(n)
		if opts.Progress != nil {
			mu.Lock()
			opts.Progress(s, snap.Size)
			mu.Unlock()
		}
	}
	for range opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := cont.UploadFile(ctx, snap.BlobName(f), f.Local, overwrite, report); err != nil {
					once.Do(func() {
						first = fmt.Errorf("upload %s: %w", f.Rel, err)
						close(stopped)
						cancel()
					})
				}
			}
		}()
	}
feed:
	for _, f := range snap.Files {
		select {
		case work <- f:
		case <-stopped:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := cont.SetMetadata(ctx, indicator, map[string]string{uploadStatusKey: uploadStatusDone, "name": up.Name, "version": up.Version}); err != nil {
		return nil, err
	}
	up.BytesUploaded, up.FilesUploaded = sent.Load(), len(snap.Files)
	return up, nil
}

// CodeUpload is a code folder uploaded and registered as a code version.
type CodeUpload struct {
	*Upload
	// ID is the code version's ARM id: the job's codeId.
	ID string
}

// CreateCodeVersion registers an upload as an anonymous code version
// (PUT {WS}/codes/{name}/versions/{version}); repeating it is harmless.
func (c *Client) CreateCodeVersion(ctx context.Context, ws WorkspaceRef, up *Upload) (*CodeUpload, error) {
	wsID, err := c.WorkspaceID(ctx, ws)
	if err != nil {
		return nil, err
	}
	p := wsID + "/codes/" + url.PathEscape(up.Name) + "/versions/" + url.PathEscape(up.Version)
	body := map[string]any{"properties": map[string]any{
		"properties":  map[string]string{"hash_sha256": up.Snapshot.ContentHash, "hash_version": ContentHashVersion},
		"isAnonymous": true, "isArchived": false, "codeUri": up.URI(),
	}}
	var out struct {
		ID string `json:"id"`
	}
	if _, err := c.Do(ctx, http.MethodPut, withVersion(p, AssetAPIVersion), body, &out); err != nil {
		return nil, fmt.Errorf("register the code snapshot: %w", err)
	}
	if out.ID == "" {
		out.ID = p
	}
	return &CodeUpload{Upload: up, ID: out.ID}, nil
}

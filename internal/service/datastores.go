package service

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Datastores point at containers (or file shares) of the workspace's
// storage account, which mlw serves itself (internal/blob). Every
// datastore's credentials are SAS: listSecrets signs a token scoped to the
// datastore's container, so that azure-storage-blob uploads and downloads
// through mlw's Blob API (azureml-protocol §5.3). A user datastore may name
// any container; its data lives in the workspace's account like the
// default ones, and deleting the datastore keeps the data, as in Azure.

// SASTTL is how long a SAS from listSecrets is valid.
const SASTTL = 12 * time.Hour

var datastoreNameRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,255}$`)

// IsDefaultDatastore reports whether name is one of the four datastores
// every workspace gets.
func IsDefaultDatastore(name string) bool {
	switch strings.ToLower(name) {
	case resource.DatastoreBlob, resource.DatastoreArtifacts, resource.DatastoreWorkingDirectory, resource.DatastoreFiles:
		return true
	}
	return false
}

// GetDatastore returns one datastore of a workspace.
func (s *Service) GetDatastore(ctx context.Context, ref core.WorkspaceRef, name string) (*resource.Object, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.datastoreOf(ctx, ws, name)
}

func (s *Service) datastoreOf(ctx context.Context, ws *resource.Object, name string) (*resource.Object, error) {
	r, err := s.Store.Get(ctx, core.KindDatastore, resource.WorkspaceKey(ws), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("UserError", "The datastore '%s' could not be found in workspace '%s'. List datastores with `mlw datastore list` or GET …/workspaces/%s/datastores.", name, ws.Name, ws.Name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return r, nil
}

// DatastoreFilter narrows a datastore list.
type DatastoreFilter struct {
	// OnlyDefault keeps the workspace's default datastore (isDefault=true).
	OnlyDefault bool
}

// ListDatastores lists the datastores of a workspace, a page at a time; the
// filter applies before paging, so a page is full unless it is the last.
func (s *Service) ListDatastores(ctx context.Context, ref core.WorkspaceRef, f DatastoreFilter, page Page) ([]*resource.Object, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	o := store.ListOptions{Kind: core.KindDatastore, Parent: resource.WorkspaceKey(ws)}
	if !f.OnlyDefault {
		return s.listPage(ctx, o, page)
	}
	return s.listFiltered(ctx, o, page, func(r *resource.Object) bool {
		return resource.DatastoreSpecOf(r).Properties.IsDefault
	})
}

// props returns the "properties" object of a document (nil when absent).
func props(doc map[string]any) map[string]any {
	p, _ := doc["properties"].(map[string]any)
	return p
}

// PutDatastore creates or updates a user datastore of type AzureBlob,
// backed by a container in the workspace's storage account. created
// reports a new datastore.
func (s *Service) PutDatastore(ctx context.Context, ref core.WorkspaceRef, name string, body *Body) (*resource.Object, bool, error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, false, err
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	if ws.Deleting {
		return nil, false, core.Conflict("WorkspaceBeingDeleted", "The workspace '%s' is being deleted.", ws.Name)
	}
	if !datastoreNameRE.MatchString(name) {
		return nil, false, core.Invalid("name", "Invalid datastore name %q. Datastore names are 1 to 255 letters, digits and underscores.", name)
	}
	var spec resource.DatastoreSpec
	if err := body.Into(&spec); err != nil {
		return nil, false, err
	}
	doc := body.Doc
	pr, err := cleanDatastoreDoc(doc)
	if err != nil {
		return nil, false, err
	}
	key := resource.WorkspaceKey(ws)
	existing, err := s.Store.Get(ctx, core.KindDatastore, key, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, core.Internal(err)
	}
	if IsDefaultDatastore(name) {
		if existing == nil {
			return nil, false, core.Invalid("name", "The name '%s' is reserved for a default datastore of the workspace.", name)
		}
		existing, err := s.updateDefaultDatastore(ctx, existing, pr, p)
		return existing, false, err
	}
	if err := admitBlobDatastore(name, &spec, pr); err != nil {
		return nil, false, err
	}
	if existing != nil {
		existing, err := s.mergeDatastore(ctx, existing, doc, p)
		return existing, false, err
	}
	r := &resource.Object{Kind: core.KindDatastore, Parent: key, Name: name, UID: resource.NewUID(), State: resource.StateSucceeded,
		Spec: resource.Encode(doc), CreatedBy: principalName(p), ModifiedBy: principalName(p)}
	if err := s.Store.Create(ctx, r); err != nil {
		return nil, false, storeErr(err, "datastore", name)
	}
	return r, true, nil
}

// cleanDatastoreDoc drops from a datastore PUT document the fields the
// server owns and any secrets, sets SAS credentials, and returns its
// properties (an error when there are none).
func cleanDatastoreDoc(doc map[string]any) (map[string]any, error) {
	for _, k := range []string{"id", "name", "type", "systemData"} {
		delete(doc, k)
	}
	pr := props(doc)
	if pr == nil {
		return nil, core.Invalid("properties", "The datastore needs properties, for example {\"properties\": {\"datastoreType\": \"AzureBlob\", \"containerName\": \"my-data\", \"credentials\": {\"credentialsType\": \"None\"}}}.")
	}
	// isDefault is owned by the server; secrets are never stored (every
	// datastore's data is reached with a SAS from listSecrets).
	delete(pr, "isDefault")
	if c, ok := pr["credentials"].(map[string]any); ok {
		delete(c, "secrets")
	}
	pr["credentials"] = map[string]any{"credentialsType": "Sas"}
	return pr, nil
}

// updateDefaultDatastore applies a PUT to a default datastore, which keeps
// its storage: only description and tags change.
func (s *Service) updateDefaultDatastore(ctx context.Context, existing *resource.Object, pr map[string]any, p *identity.Principal) (*resource.Object, error) {
	return s.update(ctx, existing, func(ds *resource.Object) error {
		old := resource.Decode(ds.Spec)
		op := props(old)
		for _, k := range []string{"description", "tags"} {
			if v, ok := pr[k]; ok {
				op[k] = v
			}
		}
		ds.Spec = resource.Encode(old)
		ds.ModifiedBy = principalName(p)
		return nil
	})
}

// admitBlobDatastore checks that a user datastore is an AzureBlob one on a
// valid container, and fills in pr the type's spelling, a container derived
// from the name when none is given, the endpoint, protocol and isDefault.
func admitBlobDatastore(name string, spec *resource.DatastoreSpec, pr map[string]any) error {
	dt := spec.Properties.DatastoreType
	if !strings.EqualFold(dt, "AzureBlob") {
		if dt == "" {
			return core.Invalid("properties.datastoreType", "The datastore needs properties.datastoreType; mlw supports \"AzureBlob\".")
		}
		return core.Invalid("properties.datastoreType", "Datastore type %q is not supported: mlw stores data itself and supports \"AzureBlob\" datastores (a container in the workspace's storage).", dt)
	}
	pr["datastoreType"] = "AzureBlob"
	container := spec.Properties.ContainerName
	if container == "" {
		container = defaultContainerFor(name)
		pr["containerName"] = container
	}
	if !blob.ValidContainer(container) {
		return core.Invalid("properties.containerName", "Invalid container name %q. Container names are 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.", container)
	}
	if _, ok := pr["endpoint"]; !ok {
		pr["endpoint"] = "core.windows.net"
	}
	if _, ok := pr["protocol"]; !ok {
		pr["protocol"] = "https"
	}
	pr["isDefault"] = false
	return nil
}

// mergeDatastore merges a PUT document into an existing user datastore; the
// tags are replaced as a whole.
func (s *Service) mergeDatastore(ctx context.Context, existing *resource.Object, doc map[string]any, p *identity.Principal) (*resource.Object, error) {
	return s.update(ctx, existing, func(ds *resource.Object) error {
		old := resource.Decode(ds.Spec)
		if op := props(old); op != nil {
			delete(op, "tags") // tags are replaced as a whole
		}
		ds.Spec = resource.Encode(resource.Merge(old, doc))
		ds.ModifiedBy = principalName(p)
		return nil
	})
}

// defaultContainerFor derives a container name from a datastore name.
func defaultContainerFor(name string) string {
	var b strings.Builder
	b.WriteString("ds-")
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	c := strings.TrimRight(b.String(), "-")
	if len(c) > 63 {
		c = strings.TrimRight(c[:63], "-")
	}
	return c
}

// DeleteDatastore removes a user datastore. Its data stays in storage.
func (s *Service) DeleteDatastore(ctx context.Context, ref core.WorkspaceRef, name string) error {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return err
	}
	ds, err := s.GetDatastore(ctx, ref, name)
	if err != nil {
		return err
	}
	if IsDefaultDatastore(ds.Name) {
		return core.Invalid("name", "The datastore '%s' is one of the workspace's default datastores (workspaceblobstore, workspaceartifactstore, workspaceworkingdirectory, workspacefilestore) and cannot be deleted.", ds.Name)
	}
	if err := s.Store.Delete(ctx, core.KindDatastore, ds.Parent, ds.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return core.Internal(err)
	}
	return nil
}

// DatastoreLocation returns the storage account and the container (or file
// share) that hold a datastore's data.
func DatastoreLocation(ws, ds *resource.Object) (account, container string) {
	return resource.WorkspaceStatusOf(ws).StorageAccount, resource.DatastoreSpecOf(ds).Container()
}

// SecretExpiry is the optional body of listSecrets (Azure's SecretExpiry).
type SecretExpiry struct {
	// ExpirableSecret asks for a secret that expires after
	// ExpireAfterHours (default 1), instead of SASTTL.
	ExpirableSecret  bool `json:"expirableSecret"`
	ExpireAfterHours *int `json:"expireAfterHours"`
}

// TTL is how long the SAS for this request is valid: ExpireAfterHours
// (at least 1, default 1) for an expirable secret, never more than SASTTL.
func (e SecretExpiry) TTL() time.Duration {
	if !e.ExpirableSecret {
		return SASTTL
	}
	h := 1
	if e.ExpireAfterHours != nil && *e.ExpireAfterHours > 1 {
		h = *e.ExpireAfterHours
	}
	return min(time.Duration(h)*time.Hour, SASTTL)
}

// DatastoreSecrets answers listSecrets: a SAS for the datastore's
// container, with read and list rights for Readers and every right for
// Contributors and Owners, valid as long as exp asks.
func (s *Service) DatastoreSecrets(ctx context.Context, ref core.WorkspaceRef, name string, exp SecretExpiry) (map[string]any, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	ds, err := s.datastoreOf(ctx, ws, name)
	if err != nil {
		return nil, err
	}
	account, container := DatastoreLocation(ws, ds)
	if container == "" {
		return nil, core.Invalid("name", "The datastore '%s' has no container or file share, so it has no secrets.", ds.Name)
	}
	perms, uid := identity.PermsAll, ""
	if p := PrincipalFrom(ctx); p != nil {
		uid = p.UserID
		if !p.CanWrite() {
			perms = "rl"
		}
	}
	return map[string]any{"secretsType": "Sas", "sasToken": s.ContainerSAS(account, container, perms, exp.TTL(), uid)}, nil
}

// ContainerSAS signs a SAS for one container of mlw's Blob API, valid for
// ttl (also for signed log and output URLs). A SAS that may write makes
// its container: writes through a SAS never do (a write after the
// container was removed, such as a cancelled pod's late upload, is
// refused with ContainerNotFound, as Azure refuses it).
func (s *Service) ContainerSAS(account, container, perms string, ttl time.Duration, userID string) string {
	if s.Blobs != nil && strings.ContainsAny(perms, "wc") {
		// A failure shows at the first write, as ContainerNotFound.
		_, _ = s.Blobs.CreateContainer(account, container)
	}
	now := s.Now()
	return s.SAS.Sign(identity.SASGrant{Account: account, Container: container, Permissions: perms,
		Start: now.Add(-5 * time.Minute), Expiry: now.Add(ttl), UserID: userID})
}

package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Versioned assets (code, environments) are a container row per name,
// parented by the workspace key, and a version row per version, parented
// by the container's key ({workspace key}/{codes|environments}/{name}).
// The container's latestVersion and nextVersion live in its status and
// are recomputed in the transaction that adds or removes a version.

// AssetKind describes one kind of versioned asset.
type AssetKind struct {
	Container string // store kind of containers
	Version   string // store kind of versions
	Segment   string // path segment: "codes", "environments"
	What      string // for messages: "code", "environment"
}

// Asset kinds.
var (
	CodeAssets = AssetKind{Container: core.KindCodeContainer, Version: core.KindCodeVersion, Segment: "codes", What: "code"}
	EnvAssets  = AssetKind{Container: core.KindEnvContainer, Version: core.KindEnvVersion, Segment: "environments", What: "environment"}
)

// AssetContainerKey is the parent key of an asset container's versions.
func AssetContainerKey(ws *resource.Object, k AssetKind, name string) string {
	return resource.WorkspaceKey(ws) + "/" + k.Segment + "/" + strings.ToLower(name)
}

// AssetContainerStatus is the server-owned part of a container.
type AssetContainerStatus struct {
	LatestVersion string `json:"latestVersion,omitempty"`
	NextVersion   string `json:"nextVersion"`
}

// AssetContainerStatusOf decodes a container's status.
func AssetContainerStatusOf(c *resource.Object) AssetContainerStatus {
	st := AssetContainerStatus{NextVersion: "1"}
	_ = json.Unmarshal(c.Status, &st)
	return st
}

// ListView is the listViewType of asset lists.
type ListView string

// List views.
const (
	ActiveOnly   ListView = "ActiveOnly"
	ArchivedOnly ListView = "ArchivedOnly"
	AllViews     ListView = "All"
)

// ParseListView reads a listViewType value (empty means ActiveOnly).
func ParseListView(v string) (ListView, error) {
	switch strings.ToLower(v) {
	case "", "activeonly":
		return ActiveOnly, nil
	case "archivedonly":
		return ArchivedOnly, nil
	case "all":
		return AllViews, nil
	}
	return "", core.Invalid("listViewType", "Unknown listViewType %q: use ActiveOnly, ArchivedOnly or All.", v)
}

// Keeps reports whether a document with this isArchived flag is in the view.
func (v ListView) Keeps(archived bool) bool {
	switch v {
	case ArchivedOnly:
		return archived
	case AllViews:
		return true
	}
	return !archived
}

// IsArchived reads properties.isArchived of a stored asset.
func IsArchived(r *resource.Object) bool {
	return props(resource.Decode(r.Spec))["isArchived"] == true
}

// VersionQuery selects versions of one asset.
type VersionQuery struct {
	View ListView
	// OrderBy is "createdtime desc" (the default), "createdtime asc",
	// "version desc" or "version asc".
	OrderBy string
	Page    Page
}

func (s *Service) assetContainer(ctx context.Context, ws *resource.Object, k AssetKind, name string) (*resource.Object, error) {
	c, err := s.Store.Get(ctx, k.Container, resource.WorkspaceKey(ws), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("UserError", "The %s '%s' was not found in workspace '%s'. List them with GET …/workspaces/%s/%s.", k.What, name, ws.Name, ws.Name, k.Segment)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return c, nil
}

// GetAssetContainer returns one asset container.
func (s *Service) GetAssetContainer(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name string) (*resource.Object, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.assetContainer(ctx, ws, k, name)
}

// ListAssetContainers lists a workspace's containers of one kind.
func (s *Service) ListAssetContainers(ctx context.Context, ref core.WorkspaceRef, k AssetKind, view ListView, page Page) ([]*resource.Object, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	return s.listFiltered(ctx, store.ListOptions{Kind: k.Container, Parent: resource.WorkspaceKey(ws)}, page,
		func(r *resource.Object) bool { return view.Keeps(IsArchived(r)) })
}

// allAssetContainers lists every container of one kind (for merged lists).
func (s *Service) allAssetContainers(ctx context.Context, ws *resource.Object, k AssetKind) ([]*resource.Object, error) {
	rs, err := s.Store.List(ctx, store.ListOptions{Kind: k.Container, Parent: resource.WorkspaceKey(ws)})
	if err != nil {
		return nil, core.Internal(err)
	}
	return rs, nil
}

// assetDoc prepares a client document for storing: server-owned fields out.
func assetDoc(body *Body, serverOwned ...string) (map[string]any, map[string]any, error) {
	doc := body.Doc
	for _, k := range []string{"id", "name", "type", "systemData"} {
		delete(doc, k)
	}
	if doc["properties"] == nil {
		doc["properties"] = map[string]any{}
	}
	pr, ok := doc["properties"].(map[string]any)
	if !ok {
		return nil, nil, core.Invalid("properties", "Field \"properties\" must be an object.")
	}
	for _, k := range append(serverOwned, "provisioningState") {
		delete(pr, k)
	}
	return doc, pr, nil
}

// PutAssetContainer creates or updates a container (description, tags,
// properties, isArchived).
func (s *Service) PutAssetContainer(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name string, body *Body) (*resource.Object, bool, error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, false, err
	}
	ws, err := s.writableWorkspace(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	if err := core.ValidateAssetName(name); err != nil {
		return nil, false, err
	}
	if k == EnvAssets {
		if err := checkReservedEnvName(name); err != nil {
			return nil, false, err
		}
	}
	doc, _, err := assetDoc(body, "latestVersion", "nextVersion")
	if err != nil {
		return nil, false, err
	}
	c, created, err := store.CreateOrUpdate(ctx, s.Store, k.Container, resource.WorkspaceKey(ws), name, func() (*resource.Object, error) {
		return &resource.Object{Kind: k.Container, Parent: resource.WorkspaceKey(ws), Name: name, UID: resource.NewUID(), State: resource.StateSucceeded,
			Spec: resource.Encode(doc), Status: resource.Encode(AssetContainerStatus{NextVersion: "1"}), CreatedBy: principalName(p), ModifiedBy: principalName(p)}, nil
	}, func(c *resource.Object) error {
		old := resource.Decode(c.Spec)
		if op := props(old); op != nil {
			delete(op, "tags")
		}
		c.Spec = resource.Encode(resource.Merge(old, doc))
		c.ModifiedBy = principalName(p)
		return nil
	})
	if err != nil {
		return nil, false, storeErr(err, k.What, name)
	}
	return c, created, nil
}

func (s *Service) writableWorkspace(ctx context.Context, ref core.WorkspaceRef) (*resource.Object, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	if ws.Deleting {
		return nil, core.Conflict("WorkspaceBeingDeleted", "The workspace '%s' is being deleted.", ws.Name)
	}
	return ws, nil
}

// DeleteAssetContainer deletes a container and all its versions.
func (s *Service) DeleteAssetContainer(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name string) error {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return err
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return err
	}
	c, err := s.assetContainer(ctx, ws, k, name)
	if err != nil {
		return err
	}
	err = s.Store.InTx(ctx, func(tx store.Resources) error {
		if _, err := tx.DeleteTree(ctx, AssetContainerKey(ws, k, c.Name)); err != nil {
			return err
		}
		return tx.Delete(ctx, k.Container, c.Parent, c.Name)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return core.Internal(err)
	}
	return nil
}

// GetAssetVersion returns one version of an asset.
func (s *Service) GetAssetVersion(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name, version string) (*resource.Object, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.assetVersion(ctx, ws, k, name, version)
}

func (s *Service) assetVersion(ctx context.Context, ws *resource.Object, k AssetKind, name, version string) (*resource.Object, error) {
	v, err := s.Store.Get(ctx, k.Version, AssetContainerKey(ws, k, name), version)
	if errors.Is(err, store.ErrNotFound) {
		if _, cerr := s.assetContainer(ctx, ws, k, name); cerr != nil {
			return nil, cerr
		}
		return nil, core.NotFound("UserError", "The %s '%s' has no version '%s' in workspace '%s'. List its versions with GET …/%s/%s/versions.", k.What, name, version, ws.Name, k.Segment, name)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	return v, nil
}

// ListAssetVersions lists the versions of one asset, ordered and paged.
// An unknown asset is a 404.
func (s *Service) ListAssetVersions(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name string, q VersionQuery) ([]*resource.Object, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.assetContainer(ctx, ws, k, name); err != nil {
		return nil, "", err
	}
	vs, err := s.Store.List(ctx, store.ListOptions{Kind: k.Version, Parent: AssetContainerKey(ws, k, name)})
	if err != nil {
		return nil, "", core.Internal(err)
	}
	vs = slices.DeleteFunc(vs, func(r *resource.Object) bool { return !q.View.Keeps(IsArchived(r)) })
	return pageVersions(vs, q)
}

// pageVersions orders version rows as q asks and returns one page.
func pageVersions(vs []*resource.Object, q VersionQuery) ([]*resource.Object, string, error) {
	if err := SortVersions(vs, q.OrderBy, func(r *resource.Object) (string, int64) { return r.Name, r.CreatedAt.UnixMicro() }); err != nil {
		return nil, "", err
	}
	return PageSlice(vs, q.Page)
}

// SortVersions orders versions by orderBy ("createdtime desc" by default).
func SortVersions[T any](vs []T, orderBy string, key func(T) (version string, created int64)) error {
	field, dir, _ := strings.Cut(strings.ToLower(strings.Join(strings.Fields(orderBy), " ")), " ")
	if field == "" {
		field, dir = "createdtime", "desc"
	}
	if dir != "" && dir != "asc" && dir != "desc" {
		return core.Invalid("$orderBy", "Unknown $orderBy %q: use \"createdtime desc\", \"createdtime asc\", \"version desc\" or \"version asc\".", orderBy)
	}
	var cmp func(a, b T) int
	switch field {
	case "createdtime", "createdat", "created":
		cmp = func(a, b T) int {
			va, ca := key(a)
			vb, cb := key(b)
			if ca != cb {
				if ca < cb {
					return -1
				}
				return 1
			}
			return compareVersions(va, vb)
		}
	case "version", "name":
		cmp = func(a, b T) int {
			va, _ := key(a)
			vb, _ := key(b)
			return compareVersions(va, vb)
		}
	default:
		return core.Invalid("$orderBy", "Unknown $orderBy %q: use \"createdtime desc\", \"createdtime asc\", \"version desc\" or \"version asc\".", orderBy)
	}
	if dir == "desc" || dir == "" && field == "createdtime" {
		slices.SortStableFunc(vs, func(a, b T) int { return -cmp(a, b) })
	} else {
		slices.SortStableFunc(vs, cmp)
	}
	return nil
}

// compareVersions orders numeric versions numerically, then others by text.
func compareVersions(a, b string) int {
	na, ea := strconv.ParseInt(a, 10, 64)
	nb, eb := strconv.ParseInt(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		return cmpInt(na, nb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PageSlice returns one page of an in-memory list; the skip token is the
// offset of the next item.
func PageSlice[T any](items []T, p Page) ([]T, string, error) {
	if p.Top <= 0 || p.Top > 1000 {
		p.Top = DefaultPageSize
	}
	off := 0
	if p.Skip != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Skip)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || cerr != nil || n < 0 || !strings.HasPrefix(string(b), "o:") {
			return nil, "", core.Invalid("$skipToken", "The paging token is not valid; use the nextLink of the previous page as it is.")
		}
		off = n
	}
	if off >= len(items) {
		return []T{}, "", nil
	}
	end := min(off+p.Top, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(end)))
	}
	return items[off:end], next, nil
}

// putAssetVersion is the shared part of a version PUT: check (which
// validates the request against the existing version, nil on create) runs
// first, then the version is created or updated and the container (created
// implicitly) recomputed, all in one transaction.
func (s *Service) putAssetVersion(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name, version string, doc map[string]any,
	check func(old map[string]any) error) (*resource.Object, bool, error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, false, err
	}
	ws, err := s.writableWorkspace(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	if err := core.ValidateAssetName(name); err != nil {
		return nil, false, err
	}
	if err := core.ValidateAssetVersion(version); err != nil {
		return nil, false, err
	}
	var out *resource.Object
	isNew := false
	who := principalName(p)
	err = store.RetryTx(ctx, s.Store, func(tx store.Resources) error {
		c, err := tx.Get(ctx, k.Container, resource.WorkspaceKey(ws), name)
		if errors.Is(err, store.ErrNotFound) {
			c = &resource.Object{Kind: k.Container, Parent: resource.WorkspaceKey(ws), Name: name, UID: resource.NewUID(), State: resource.StateSucceeded,
				Spec:      resource.Encode(map[string]any{"properties": map[string]any{"isArchived": false, "properties": map[string]any{}, "tags": map[string]any{}}}),
				Status:    resource.Encode(AssetContainerStatus{NextVersion: "1"}),
				CreatedBy: who, ModifiedBy: who}
			if err := tx.Create(ctx, c); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		ck := AssetContainerKey(ws, k, c.Name)
		v, err := tx.Get(ctx, k.Version, ck, version)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := check(nil); err != nil {
				return err
			}
			v = &resource.Object{Kind: k.Version, Parent: ck, Name: version, UID: resource.NewUID(), State: resource.StateSucceeded,
				Spec: resource.Encode(doc), CreatedBy: who, ModifiedBy: who}
			if err := tx.Create(ctx, v); err != nil {
				return err
			}
			isNew = true
		case err != nil:
			return err
		default:
			v, err = store.Update(ctx, tx, v, func(v *resource.Object) error {
				old := resource.Decode(v.Spec)
				if err := check(old); err != nil {
					return err
				}
				if op := props(old); op != nil {
					delete(op, "tags")
				}
				v.Spec = resource.Encode(resource.Merge(old, doc))
				v.ModifiedBy = who
				return nil
			})
			if err != nil {
				return err
			}
			isNew = false
		}
		out = v
		return recomputeContainer(ctx, tx, c, k, ck)
	})
	if err != nil {
		if _, ok := core.AsError(err); ok {
			return nil, false, err
		}
		return nil, false, storeErr(err, k.What+" version", name+":"+version)
	}
	return out, isNew, nil
}

// recomputeContainer sets latestVersion (the most recently created) and
// nextVersion (the highest numeric version plus one) of a container.
func recomputeContainer(ctx context.Context, tx store.Resources, c *resource.Object, k AssetKind, ck string) error {
	vs, err := tx.List(ctx, store.ListOptions{Kind: k.Version, Parent: ck})
	if err != nil {
		return err
	}
	st := AssetContainerStatus{NextVersion: "1"}
	var latest *resource.Object
	var maxN int64
	for _, v := range vs {
		if latest == nil || v.CreatedAt.After(latest.CreatedAt) || v.CreatedAt.Equal(latest.CreatedAt) && compareVersions(v.Name, latest.Name) > 0 {
			latest = v
		}
		if n, err := strconv.ParseInt(v.Name, 10, 64); err == nil && n > maxN {
			maxN = n
		}
	}
	if latest != nil {
		st.LatestVersion = latest.Name
	}
	st.NextVersion = strconv.FormatInt(maxN+1, 10)
	c.Status = resource.Encode(st)
	return tx.Update(ctx, c)
}

// DeleteAssetVersion deletes one version and recomputes its container.
func (s *Service) DeleteAssetVersion(ctx context.Context, ref core.WorkspaceRef, k AssetKind, name, version string) error {
	if err := requireWrite(PrincipalFrom(ctx)); err != nil {
		return err
	}
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return err
	}
	v, err := s.assetVersion(ctx, ws, k, name, version)
	if err != nil {
		return err
	}
	err = store.RetryTx(ctx, s.Store, func(tx store.Resources) error {
		if err := tx.Delete(ctx, k.Version, v.Parent, v.Name); err != nil {
			return err
		}
		c, err := tx.Get(ctx, k.Container, resource.WorkspaceKey(ws), name)
		if err != nil {
			return err
		}
		return recomputeContainer(ctx, tx, c, k, v.Parent)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return core.Internal(err)
	}
	return nil
}

// ContainerName returns the stored spelling of an asset container's name
// (names are case-insensitive), or name itself when there is none.
func (s *Service) ContainerName(ctx context.Context, ws *resource.Object, k AssetKind, name string) string {
	if c, err := s.Store.Get(ctx, k.Container, resource.WorkspaceKey(ws), name); err == nil {
		return c.Name
	}
	return name
}

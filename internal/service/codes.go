package service

import (
	"context"
	"slices"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Code assets (azureml-protocol §6): the SDK uploads a local directory to
// the workspace's blob store, then PUTs a code version that records its
// codeUri. The PUT is repeated on every submission of unchanged code, so it
// is idempotent; a version's codeUri never changes.

type codeVersionSpec struct {
	Properties struct {
		CodeURI *string `json:"codeUri"`
	} `json:"properties"`
}

// PutCodeVersion creates (201) or re-affirms / updates (200) one code
// version. created reports a new version.
func (s *Service) PutCodeVersion(ctx context.Context, ref core.WorkspaceRef, name, version string, body *Body) (*resource.Object, bool, error) {
	var spec codeVersionSpec
	if err := body.Into(&spec); err != nil {
		return nil, false, err
	}
	doc, pr, err := assetDoc(body)
	if err != nil {
		return nil, false, err
	}
	if spec.Properties.CodeURI == nil || strings.TrimSpace(*spec.Properties.CodeURI) == "" {
		return nil, false, core.Invalid("properties.codeUri", "A code version needs properties.codeUri: the URL of the uploaded directory, for example https://<server>/blob/<account>/<container>/LocalUpload/<hash>/src.")
	}
	for k, v := range map[string]any{"isAnonymous": false, "isArchived": false} {
		if _, ok := pr[k]; !ok {
			pr[k] = v
		}
	}
	uri := *spec.Properties.CodeURI
	return s.putAssetVersion(ctx, ref, CodeAssets, name, version, doc, func(old map[string]any) error {
		if old == nil {
			return nil
		}
		if was, _ := props(old)["codeUri"].(string); was != uri {
			return core.InvalidCode("UserError", "properties.codeUri",
				"Asset paths cannot be updated: code '%s' version '%s' already points at %s. Upload to a new version (or a new name) instead.", name, version, was)
		}
		return nil
	})
}

// CodeUploadLocation is where a pending code upload goes: a folder of the
// workspace's blob store, with a SAS that lets the caller write it.
type CodeUploadLocation struct {
	Account   string
	Container string
	Path      string
	SAS       string
}

// StartCodeUpload answers startPendingUpload (used by newer SDKs): a
// temporary blob folder for one code version, and a SAS for its container.
func (s *Service) StartCodeUpload(ctx context.Context, ref core.WorkspaceRef, name, version, uploadID string) (*CodeUploadLocation, error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, err
	}
	if err := core.ValidateAssetName(name); err != nil {
		return nil, err
	}
	if err := core.ValidateAssetVersion(version); err != nil {
		return nil, err
	}
	ws, err := s.writableWorkspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	ds, err := s.datastoreOf(ctx, ws, resource.DatastoreBlob)
	if err != nil {
		return nil, err
	}
	account, container := DatastoreLocation(ws, ds)
	if uploadID == "" {
		uploadID = resource.NewUID()
	} else if core.ValidateAssetName(uploadID) != nil {
		return nil, core.Invalid("pendingUploadId", "Invalid pendingUploadId %q: use letters, digits, hyphens, underscores and periods (or leave it out).", uploadID)
	}
	uid := ""
	if p != nil {
		uid = p.UserID
	}
	return &CodeUploadLocation{Account: account, Container: container, Path: "LocalUpload/" + uploadID,
		SAS: s.ContainerSAS(account, container, "racwl", SASTTL, uid)}, nil
}

// CodeVersion is a code version with the name of its container.
type CodeVersion struct {
	Container string
	*resource.Object
}

// FindCodeVersions lists the workspace's code versions whose content hash
// (properties.properties.hash_sha256, and hash_version when both sides
// have one) matches, in every container. azure-ai-ml 1.7 and later ask
// `GET …/codes/{new uuid4}/versions?hash=…&hashVersion=…` before an
// upload and reuse the first match, whatever its name; an empty list (not
// a 404 for the unknown name) makes them upload.
func (s *Service) FindCodeVersions(ctx context.Context, ref core.WorkspaceRef, hash, hashVersion string, q VersionQuery) ([]CodeVersion, string, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	vs, err := s.Store.List(ctx, store.ListOptions{Kind: CodeAssets.Version, ParentPrefix: resource.WorkspaceKey(ws) + "/" + CodeAssets.Segment})
	if err != nil {
		return nil, "", core.Internal(err)
	}
	vs = slices.DeleteFunc(vs, func(r *resource.Object) bool {
		if !q.View.Keeps(IsArchived(r)) {
			return true
		}
		p := props(props(resource.Decode(r.Spec)))
		h, _ := p["hash_sha256"].(string)
		hv, _ := p["hash_version"].(string)
		return !strings.EqualFold(h, hash) || hashVersion != "" && hv != "" && hv != hashVersion
	})
	page, next, err := pageVersions(vs, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]CodeVersion, 0, len(page))
	for _, v := range page {
		name := v.Parent[strings.LastIndex(v.Parent, "/")+1:]
		if c, err := s.Store.Get(ctx, CodeAssets.Container, resource.WorkspaceKey(ws), name); err == nil {
			name = c.Name
		}
		out = append(out, CodeVersion{Container: name, Object: v})
	}
	return out, next, nil
}

package resource

import "encoding/json"

// The specs of workspaces, datastores and asset versions, typed: the
// fields the server reads. The rest of each document is the client's and
// is echoed by the renderers from the stored JSON as it is.

// WorkspaceSpec is what the server reads of a workspace's spec.
type WorkspaceSpec struct {
	Location string `json:"location"`
}

// WorkspaceSpecOf decodes a stored workspace's spec.
func WorkspaceSpecOf(ws *Object) WorkspaceSpec {
	var s WorkspaceSpec
	_ = json.Unmarshal(ws.Spec, &s)
	return s
}

// DatastoreSpec is what the server reads of a datastore's spec.
type DatastoreSpec struct {
	Properties struct {
		DatastoreType string `json:"datastoreType"`
		ContainerName string `json:"containerName"`
		FileShareName string `json:"fileShareName"`
		Description   string `json:"description"`
		IsDefault     bool   `json:"isDefault"`
	} `json:"properties"`
}

// Container is the container (or file share) that holds the data.
func (s DatastoreSpec) Container() string {
	if s.Properties.ContainerName != "" {
		return s.Properties.ContainerName
	}
	return s.Properties.FileShareName
}

// DatastoreSpecOf decodes a stored datastore's spec.
func DatastoreSpecOf(ds *Object) DatastoreSpec {
	var s DatastoreSpec
	_ = json.Unmarshal(ds.Spec, &s)
	return s
}

// AssetSpec is what the server reads of an asset container's or version's
// spec (codes, environments, data, models): the fields of the kinds that
// have them.
type AssetSpec struct {
	Properties struct {
		IsArchived  bool   `json:"isArchived"`
		Description string `json:"description"`
		// Code versions.
		CodeURI    string `json:"codeUri"`
		Properties struct {
			HashSHA256  string `json:"hash_sha256"`
			HashVersion string `json:"hash_version"`
		} `json:"properties"`
		// Environment versions.
		Image     string `json:"image"`
		CondaFile string `json:"condaFile"`
	} `json:"properties"`
}

// AssetSpecOf decodes a stored asset's spec.
func AssetSpecOf(r *Object) AssetSpec {
	var s AssetSpec
	_ = json.Unmarshal(r.Spec, &s)
	return s
}

package httpapi

import "github.com/mlw-project/mlw/protocol"

// metadataRoutes serve the cloud metadata document, Azure's
// `GET https://management.azure.com/metadata/endpoints?api-version=…`,
// describing this server as an Azure cloud named protocol.CloudName. It is
// public, as Azure's is: clients read it before they have a token.
//
// Its readers:
//
//   - azure-ai-ml 1.28 (`_azure_environments.py`), with
//     ARM_CLOUD_METADATA_URL=<server>/metadata/endpoints?api-version=2019-05-01:
//     it picks the cloud whose resourceManager is part of that URL (or the
//     one AZUREML_CURRENT_CLOUD names) and reads name, portal,
//     resourceManager, authentication.loginEndpoint and suffixes.storage.
//     Every ARM call then comes here, workspaces.begin_create included,
//     with no intercepting proxy. It accepts a list or one object.
//   - azure-cli with ARM_CLOUD_METADATA_URL: a list of clouds (2.45 iterates
//     it); it reads name, authentication.audiences[0] and loginEndpoint,
//     suffixes, and the optional endpoints below.
//   - `az cloud register --endpoint-resource-manager <server>`:
//     api-version=2015-01-01, one object; it reads galleryEndpoint,
//     graphEndpoint and authentication.loginEndpoint/audiences[0].
//
// Azure answers 2015-01-01 with one object, 2019-05-01 (and 2020-06-01)
// with a list of clouds, and 2022-09-01 and later with one cloud; mlw does
// the same with one document, which carries the 2015 keys too.
func (a *API) metadataRoutes() {
	a.HandlePublic("GET", protocol.CloudMetadataPath, func(r *Request) (any, error) {
		doc := cloudMetadata(r.BaseURL())
		if v := r.APIVersion(); v == "" || v >= "2019-05-01" && v < "2022-09-01" {
			return []map[string]any{doc}, nil
		}
		return doc, nil
	})
}

// cloudMetadata describes the server at base (scheme://host[:port]) as a
// cloud. Its resource manager and login endpoint are the server itself;
// the storage suffix stays Azure's, because clients reach mlw's Blob API
// through the datastores' account names (HOST:PORT/blob/ACCOUNT/?x=), and
// host-style {account}.blob.core.windows.net URLs through the intercepting
// proxy. Endpoints mlw does not serve are left out.
func cloudMetadata(base string) map[string]any {
	rm := base + "/"
	auth := map[string]any{
		"loginEndpoint": rm,
		// azure-ai-ml asks tokens for resourceManager + "/.default";
		// az for audiences[0]. mlw's token endpoint serves any audience.
		"audiences":        []string{rm, "https://management.azure.com/"},
		"tenant":           "common",
		"identityProvider": "AAD",
	}
	return map[string]any{
		"name":            protocol.CloudName,
		"portal":          base,
		"resourceManager": rm,
		"authentication":  auth,
		"suffixes":        map[string]any{"storage": "core.windows.net"},
		// The 2015-01-01 keys (az cloud register).
		"portalEndpoint":  rm,
		"galleryEndpoint": rm,
		"graphEndpoint":   rm,
		"gallery":         rm,
		"graph":           rm,
		"graphAudience":   rm,
	}
}

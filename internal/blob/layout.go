// Package blob is mlw's object storage: a filesystem store under the data
// directory, laid out as storage/<account>/<container>/<blob path>, and the
// subset of the Azure Blob REST API that azure-ai-ml and the CLI use.
// Azure Files shares of a workspace live beside the containers, as
// storage/<account>/<share>/…, so that a file share and the compute
// instances that mount it see the same files.
package blob

import (
	"os"
	"path/filepath"
)

// AccountDir is the directory of one storage account.
func AccountDir(dataDir, account string) string {
	return filepath.Join(dataDir, "storage", account)
}

// ContainerDir is the directory of one container or file share.
func ContainerDir(dataDir, account, container string) string {
	return filepath.Join(AccountDir(dataDir, account), container)
}

// RemoveContainer removes a container's directory and the properties the
// store keeps of its blobs.
func RemoveContainer(dataDir, account, container string) error {
	if err := os.RemoveAll(filepath.Join(AccountDir(dataDir, account), metaDir, container)); err != nil {
		return err
	}
	return os.RemoveAll(ContainerDir(dataDir, account, container))
}

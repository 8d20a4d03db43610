// Package resource is the shared model of mlw's resources: the keys that
// name a stored resource and its operations (Key, ResourceOpKey), the typed
// specs and statuses every part decodes the same way (JobSpec, JobStatus,
// ClusterStatus, InstanceStatus, NodeSpec, NodeStatus, WorkspaceStatus),
// the states of each kind and who moves them, and the one
// read–modify–write of a stored resource (Update, CreateOrUpdate,
// RetryTx).
//
// Admission (internal/service), the reconcilers (internal/reconciler) and
// the HTTP handlers all speak this vocabulary; none of them owns it. The
// package depends only on the store's document type, internal/core and
// internal/blob's layout, so that a reconciler never imports admission.
package resource

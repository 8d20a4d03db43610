package resource

// JobTracking is what a job's processes need to track into their
// workspace's MLflow server (docs/mlflow.md): the MLFLOW_* variables (the
// URI, run and experiment ids, a token scoped to the workspace's MLflow
// API) and the CA that signs the server's certificate, which the job
// reconciler writes where the job can read it and names in
// MLFLOW_TRACKING_SERVER_CERT_PATH.
type JobTracking struct {
	Env   map[string]string
	CAPEM []byte
}

// Package kubernetes runs mlw's command jobs on a Kubernetes cluster
// attached as compute, through client-go; it is the only package of mlw
// that imports k8s.io.
//
// One attempt of a job is one batch/v1 Job: one pod per node
// (instance_count; an Indexed Job with a headless Service when there are
// several, so that rank 0 has a stable name, MASTER_ADDR), each running
// its node's processes with the rank variables mlw sets on its local
// backend. The code snapshot comes in through an init container that
// fetches it with a SAS URL from mlw's blob store; outputs go back to the
// store at the end the same way. The environment is a container image
// (curated environments map to configurable images). What the pods and
// the Job say is mapped to mlw's view of a job (State): a pod waiting for
// a node is pending with the scheduler's reason, an image that cannot be
// pulled is a failure that names the image, a container killed for memory
// is OutOfMemory, the Job's deadline is a timeout.
package kubernetes

package reconciler

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/backend"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Kube is what the job and compute reconcilers share to run jobs on
// attached Kubernetes computes (docs/kubernetes.md): how to connect, what
// the pods reach mlw by, and one poller per attached cluster that reads
// every attempt's state at once and enqueues the jobs whose state changed.
// Job reconcilers read the poller's last answer (State) and never list
// pods themselves.
type Kube struct {
	Connect backend.ContainerConnector
	// ServerURL is mlw's URL as pods reach it (MLW_K8S_SERVER_URL; the
	// server's own by default): code archives, outputs and the tracking
	// URI go through it.
	ServerURL func() string
	// CAPEM is the certificate of that URL, written into every pod.
	CAPEM []byte
	// SignSAS signs a SAS for one container of a storage account, valid
	// for ttl, issued to a user (who must keep a role at the workspace).
	SignSAS func(account, container, perms string, ttl time.Duration, userID string) string
	// Images maps environments to images server-wide (MLW_K8S_IMAGES);
	// a compute's own images win.
	Images map[string]string
	// Poll is the pollers' period (default 500 ms).
	Poll  time.Duration
	Queue resource.Enqueuer

	mu       sync.Mutex
	clusters map[string]*kubeCluster // by compute UID
	pollers  sync.WaitGroup
}

// kubeCluster is one attached cluster: its client, the attempts watched
// and what the poller last saw.
type kubeCluster struct {
	k       *Kube
	c       backend.Containers
	version [32]byte // of the kubeconfig and namespace it was made from
	row     int64    // the compute row's version that version was checked at

	mu      sync.Mutex
	watched map[string]*kubeWatch // by Job name
	polling bool
}

// kubeWatch is one watched attempt: its job's key, the poller's last
// answer, and the followers copying its pods' logs.
type kubeWatch struct {
	key   string
	added time.Time
	state backend.ContainerState
	seen  bool
	// following is closed to stop the followers; followers counts them.
	following chan struct{}
	followers sync.WaitGroup
}

func (k *Kube) period() time.Duration {
	if k.Poll > 0 {
		return k.Poll
	}
	return 500 * time.Millisecond
}

// cluster returns the client of a Kubernetes compute, connecting (again
// when its kubeconfig or namespace changed).
func (k *Kube) cluster(c *resource.Object, spec *resource.KubernetesSpec) (*kubeCluster, error) {
	k.mu.Lock()
	cl := k.clusters[c.UID]
	k.mu.Unlock()
	if cl != nil {
		cl.mu.Lock()
		same := cl.row == c.Version
		cl.mu.Unlock()
		if same {
			return cl, nil // the row has not changed: nor has its kubeconfig
		}
	}
	kc := resource.KubeconfigOf(c)
	if kc == nil {
		return nil, errors.New("the compute has no kubeconfig: attach it again with --kubeconfig")
	}
	v := sha256.Sum256(append(append([]byte(spec.Namespace), 0), kc...))
	if cl != nil {
		cl.mu.Lock()
		same := cl.version == v
		if same {
			cl.row = c.Version
		}
		cl.mu.Unlock()
		if same {
			return cl, nil
		}
	}
	client, err := k.Connect(kc, spec.Namespace)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.clusters == nil {
		k.clusters = map[string]*kubeCluster{}
	}
	if cl = k.clusters[c.UID]; cl != nil {
		// A new kubeconfig: the same attempts, watched through it.
		cl.mu.Lock()
		cl.c, cl.version, cl.row = client, v, c.Version
		cl.mu.Unlock()
		return cl, nil
	}
	cl = &kubeCluster{k: k, c: client, version: v, row: c.Version}
	k.clusters[c.UID] = cl
	return cl, nil
}

// client is the cluster's current client.
func (cl *kubeCluster) client() backend.Containers {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.c
}

// known returns the client of a compute connected before (nil when none):
// what a job whose compute is gone uses to clean up.
func (k *Kube) known(uid string) *kubeCluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.clusters[uid]
}

// forget drops a deleted compute's client.
func (k *Kube) forget(uid string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.clusters, uid)
}

// stopPolling forgets every attempt and waits for the pollers and log
// followers to end (a test's cleanup).
func (k *Kube) stopPolling() {
	k.mu.Lock()
	cls := make([]*kubeCluster, 0, len(k.clusters))
	for _, cl := range k.clusters {
		cls = append(cls, cl)
	}
	k.mu.Unlock()
	for _, cl := range cls {
		cl.mu.Lock()
		ws := cl.watched
		cl.watched = nil
		cl.mu.Unlock()
		for _, w := range ws {
			w.stop()
		}
	}
	k.pollers.Wait()
}

// watch starts watching an attempt for the job key (idempotent), and the
// cluster's poller if it does not run.
func (cl *kubeCluster) watch(ctx context.Context, key, name string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.watched == nil {
		cl.watched = map[string]*kubeWatch{}
	}
	if _, ok := cl.watched[name]; !ok {
		cl.watched[name] = &kubeWatch{key: key, added: time.Now()}
	}
	if !cl.polling {
		cl.polling = true
		cl.k.pollers.Add(1)
		go cl.poll(context.WithoutCancel(ctx), ctx.Done())
	}
}

// unwatch stops watching an attempt; its logs are copied to the end first
// (for at most a few seconds).
func (cl *kubeCluster) unwatch(name string) {
	cl.mu.Lock()
	w := cl.watched[name]
	delete(cl.watched, name)
	cl.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// State is the poller's last answer for an attempt (false: not seen yet).
func (cl *kubeCluster) State(name string) (backend.ContainerState, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	w := cl.watched[name]
	if w == nil || !w.seen {
		return backend.ContainerState{}, false
	}
	return w.state, true
}

// poll runs until nothing is watched or done is closed.
func (cl *kubeCluster) poll(ctx context.Context, done <-chan struct{}) {
	defer cl.k.pollers.Done()
	t := time.NewTicker(cl.k.period())
	defer t.Stop()
	for {
		select {
		case <-done:
			cl.mu.Lock()
			cl.polling = false
			cl.mu.Unlock()
			return
		case <-t.C:
		}
		cl.mu.Lock()
		if len(cl.watched) == 0 {
			cl.polling = false
			cl.mu.Unlock()
			return
		}
		cl.mu.Unlock()
		asked := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		states, err := cl.client().States(qctx)
		cancel()
		if err != nil {
			continue // the API server does not answer: the next pass asks again
		}
		cl.observe(states, asked)
	}
}

// observe records a poll's answer (asked: when the poll began) and
// enqueues the jobs whose state changed. An attempt missing from the
// answer is gone, unless it was watched after the poll began (its Job may
// have been created after the list).
func (cl *kubeCluster) observe(states map[string]backend.ContainerState, asked time.Time) {
	var changed []string
	cl.mu.Lock()
	for name, w := range cl.watched {
		st, ok := states[name]
		if !ok {
			if w.added.After(asked) {
				continue
			}
			st = backend.ContainerState{Kind: backend.ContainerGone, Ended: true, ExitCode: -1,
				Message: "The Kubernetes Job is gone (deleted outside mlw)."}
		}
		if !w.seen || w.state.Kind != st.Kind || w.state.Reason != st.Reason || w.state.Message != st.Message {
			changed = append(changed, w.key)
		}
		w.state, w.seen = st, true
	}
	cl.mu.Unlock()
	for _, k := range changed {
		cl.k.Queue.Enqueue(core.KindJob, k)
	}
}

// podLog is the artifact a node's pod log is copied to, and how long that
// file was when the attempt began (what earlier attempts wrote to it).
type podLog struct {
	path  string
	start int64
}

// followLogs starts copying each node's pod log into its artifact (dsts,
// by node) while the attempt is watched (idempotent).
func (cl *kubeCluster) followLogs(name string, dsts []podLog) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	w := cl.watched[name]
	if w == nil || w.following != nil {
		return
	}
	w.following = make(chan struct{})
	for i, dst := range dsts {
		w.followers.Add(1)
		go cl.follow(name, i, dst, w.following, &w.followers)
	}
}

// stop ends the followers after their last copy.
func (w *kubeWatch) stop() {
	if w.following == nil {
		return
	}
	close(w.following)
	w.followers.Wait()
}

// follow copies node i's log to dst, appending what dst lacks (a restart
// resumes where the copy was), reconnecting while the attempt runs; once
// stop is closed it copies what is left, for at most five seconds.
func (cl *kubeCluster) follow(name string, i int, dst podLog, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		time.AfterFunc(5*time.Second, cancel)
	}()
	for {
		stopped := false
		select {
		case <-stop:
			stopped = true
		default:
		}
		copyPodLog(ctx, cl.client(), name, i, dst, !stopped)
		if stopped || ctx.Err() != nil {
			return
		}
		select {
		case <-stop:
		case <-time.After(time.Second):
		}
	}
}

// copyPodLog appends to dst what node i's log has beyond what dst has of
// it.
func copyPodLog(ctx context.Context, c backend.Containers, name string, i int, dst podLog, follow bool) {
	rc, err := c.Logs(ctx, name, i, follow)
	if err != nil {
		return
	}
	defer rc.Close()
	var have int64
	if fi, err := os.Stat(dst.path); err == nil {
		have = max(fi.Size()-dst.start, 0)
	}
	if _, err := io.CopyN(io.Discard, rc, have); err != nil {
		return
	}
	f, err := openAppend(dst.path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, rc)
}

// kubeImage is the image of an environment on a compute: the compute's
// mapping, then the server's (by name:version, then name); else a curated
// environment runs in the image Azure ML publishes for it, any other in
// its own image (`image:` in its YAML).
func (k *Kube) kubeImage(spec *resource.KubernetesSpec, env *resource.ResolvedEnvironment) (string, error) {
	for _, m := range []map[string]string{spec.Images, k.Images} {
		for _, key := range []string{env.Name + ":" + env.Version, env.Name} {
			if img := m[key]; img != "" {
				return img, nil
			}
		}
	}
	if env.Curated {
		// Its catalogue image is the base it was built on, without its
		// packages; the published image has them.
		return CuratedImage(env.Name, env.Version), nil
	}
	if env.Image != "" {
		return env.Image, nil
	}
	return "", prepFail("EnvironmentImageMissing", "The environment %s:%s has no image, and this Kubernetes compute maps none for it: give the environment an image (`image:` in its YAML) or map it in the compute's images (docs/kubernetes.md).", env.Name, env.Version)
}

// CuratedImage is the default image of a curated environment: the one
// Azure ML publishes for it on mcr.microsoft.com.
func CuratedImage(name, version string) string {
	return fmt.Sprintf("mcr.microsoft.com/azureml/curated/%s:%s", curatedImageName(name), version)
}

// curatedImageName is a curated environment's image name: its name
// without the AzureML- prefix, in lowercase.
func curatedImageName(name string) string {
	if len(name) > 8 && strings.EqualFold(name[:8], "AzureML-") {
		name = name[8:]
	}
	return strings.ToLower(name)
}

// Package ktest starts a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok with
// fake nodes, on loopback ports of their own, from the binaries that
// scripts/k8s-testbins.sh builds. Pods are scheduled onto the fake nodes
// and kwok moves them through Running to Succeeded; no container runs.
package ktest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Versions of the binaries (scripts/k8s-testbins.sh builds these).
const (
	K8sVersion  = "v1.37.2"
	EtcdVersion = "v3.7.0"
	KwokVersion = "v0.8.0"
)

// BinDir is where the binaries are: $MLW_K8S_BINDIR, else the cache
// directory of scripts/k8s-testbins.sh.
func BinDir() string {
	if d := os.Getenv("MLW_K8S_BINDIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "mlw-test", "k8s-"+K8sVersion+"-etcd-"+EtcdVersion+"-kwok-"+KwokVersion)
}

// Cluster is a running control plane.
type Cluster struct {
	// Kubeconfig authenticates as a cluster admin (token, system:masters).
	Kubeconfig []byte
	// Dir holds the logs and data.
	Dir  string
	bin  string
	pids []*exec.Cmd
}

// Node is a fake node to create.
type Node struct {
	Name   string
	CPU    string // "4"
	Memory string // "16Gi"
	GPUs   int
}

// Start starts a control plane with the given fake nodes, or skips the
// test when the binaries are missing (fails with MLW_REQUIRE_K8S=1).
func Start(t testing.TB, nodes ...Node) *Cluster {
	t.Helper()
	bin := BinDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			msg := fmt.Sprintf("needs the Kubernetes test binaries in %s (run scripts/k8s-testbins.sh): %v", bin, err)
			if os.Getenv("MLW_REQUIRE_K8S") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	c := &Cluster{Dir: t.TempDir(), bin: bin}
	t.Cleanup(c.stop)
	if err := c.start(t, nodes); err != nil {
		t.Fatalf("ktest: %v\n%s", err, c.logs())
	}
	return c
}

func (c *Cluster) start(t testing.TB, nodes []Node) error {
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	keys := exec.Command("sh", "-c", "openssl genrsa -out sa.key 2048 && openssl rsa -in sa.key -pubout -out sa.pub")
	keys.Dir = pki
	if out, err := keys.CombinedOutput(); err != nil {
		return fmt.Errorf("service account key: %v: %s", err, out)
	}
	token := "ktest-admin-token"
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	etcdClient, etcdPeer, api := freePort(), freePort(), freePort()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	c.run("etcd", "--data-dir", filepath.Join(c.Dir, "etcd-data"), "--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer), "--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", etcdPeer), "--unsafe-no-fsync")
	if err := await(30*time.Second, func() bool { return get(etcdURL+"/health", "") == nil }); err != nil {
		return fmt.Errorf("etcd did not become healthy: %w", err)
	}
	// --endpoint-reconciler-type=none: the apiserver refuses a loopback
	// --advertise-address otherwise.
	c.run("kube-apiserver", "--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", api), "--cert-dir="+pki,
		"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"), "--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc", "--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC", "--service-cluster-ip-range=10.96.0.0/16")
	server := fmt.Sprintf("https://127.0.0.1:%d", api)
	if err := await(60*time.Second, func() bool { return get(server+"/readyz", token) == nil }); err != nil {
		return fmt.Errorf("kube-apiserver did not become ready: %w", err)
	}
	c.Kubeconfig = []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: ktest, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %s}}]
contexts: [{name: ktest, context: {cluster: ktest, user: admin}}]
current-context: ktest
`, server, token))
	kc := filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(kc, c.Kubeconfig, 0o600); err != nil {
		return err
	}
	c.run("kube-controller-manager", "--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", freePort()), "--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--root-ca-file="+filepath.Join(pki, "apiserver.crt"), "--leader-elect=false", "--controllers=*,-nodeipam",
		"--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-job-syncs=20")
	c.run("kube-scheduler", "--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", freePort()), "--leader-elect=false",
		"--kube-api-qps=200", "--kube-api-burst=400")
	c.run("kwok", "--kubeconfig="+kc, "--config="+filepath.Join(c.bin, "kwok-stages.yaml"), "--manage-all-nodes=true",
		fmt.Sprintf("--server-address=127.0.0.1:%d", freePort()))
	for _, n := range nodes {
		if err := c.Kubectl(nodeManifest(n), "apply", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// Kubectl runs kubectl against the cluster with stdin.
func (c *Cluster) Kubectl(stdin string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", filepath.Join(c.Dir, "kubeconfig")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func nodeManifest(n Node) string {
	gpus := ""
	if n.GPUs > 0 {
		gpus = fmt.Sprintf(", nvidia.com/gpu: %q", fmt.Sprint(n.GPUs))
	}
	res := fmt.Sprintf("{cpu: %q, memory: %s, pods: \"110\"%s}", n.CPU, n.Memory, gpus)
	return fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %s
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: %s}
status:
  allocatable: %s
  capacity: %s
`, n.Name, n.Name, res, res)
}

func (c *Cluster) run(name string, args ...string) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	log, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err == nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err == nil {
		c.pids = append(c.pids, cmd)
	}
}

// stop kills every process (a SIGTERM'd apiserver can take minutes) and
// waits for them, so that their ports are free again.
func (c *Cluster) stop() {
	for i := len(c.pids) - 1; i >= 0; i-- {
		_ = syscall.Kill(-c.pids[i].Process.Pid, syscall.SIGKILL)
		_, _ = c.pids[i].Process.Wait()
	}
}

func (c *Cluster) logs() string {
	var b bytes.Buffer
	for _, n := range []string{"etcd", "kube-apiserver"} {
		out, _ := os.ReadFile(filepath.Join(c.Dir, n+".log"))
		if len(out) > 2000 {
			out = out[len(out)-2000:]
		}
		fmt.Fprintf(&b, "--- %s.log (tail)\n%s\n", n, out)
	}
	return b.String()
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var insecure = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func get(url, token string) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecure.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func await(limit time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

package server

import (
	"context"
	"net"
	"path/filepath"

	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/httpapi"
	"github.com/mlw-project/mlw/internal/reconciler"
	"github.com/mlw-project/mlw/internal/resource"
)

// buildInstances wires compute instances: the local backend, the instance
// reconciler (under the compute dispatcher) and the terminal and Jupyter
// endpoints of the API.
func (s *Server) buildInstances(computes *reconciler.ComputeDispatch, procs *local.Cluster) *reconciler.Instances {
	be := &local.Instances{
		Dir:          filepath.Join(s.opts.DataDir, "instances"),
		EnvTemplates: filepath.Join(s.envDir(), "instance-templates"),
		HideDirs:     []string{s.opts.DataDir},
		Log:          s.log,
		Notify:       func(key string) { s.enqueue(core.KindCompute, key) },
		Procs:        procs,
		// Where instances cannot be sandboxed, they start only under the
		// same explicit opt-in as jobs.
		AllowUnsandboxed: s.opts.AllowUnsandboxedJobs,
		SSH:              local.SSHLimits{HandshakeTimeout: s.opts.SSHHandshakeTimeout, IdleTimeout: s.opts.SSHIdleTimeout},
	}
	rec := &reconciler.Instances{Store: s.st, Backend: be, Queue: resource.EnqueueFunc(s.enqueue), Log: s.log,
		DataDir: s.opts.DataDir, EnvDir: s.envDir(), ServerURL: func() string { return s.url }, CAPEM: s.ca.CertPEM}
	computes.Types[resource.ComputeInstance] = rec
	s.api.SetInstanceAccess(&httpapi.InstanceAccess{
		OpenShellFunc: func(ctx context.Context, ws, c *resource.Object, cols, rows int) (httpapi.TerminalSession, error) {
			return rec.Shell(ctx, ws, c, cols, rows)
		},
		DialJupyterFunc: func(ctx context.Context, ws, c *resource.Object) (net.Conn, error) {
			return rec.DialJupyter(ctx, ws, c)
		},
		JupyterBaseFunc: func(ws, c *resource.Object) string {
			return reconciler.JupyterBasePath(resource.WorkspaceRefOf(ws), c.Name)
		},
	})
	return rec
}

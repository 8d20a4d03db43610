// Command mlw is the whole of mlw: `mlw server` runs the control plane and
// every other subcommand is the CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlw-project/mlw/internal/backend/local"
	"github.com/mlw-project/mlw/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The same binary supervises the processes of instances and jobs.
	local.MaybeRunShim()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root, app := cli.NewRoot(version)
	srv := serverCmd()
	srv.AddCommand(cli.ServerCommands(app)...)
	root.AddCommand(srv, sdkCmd())
	code := cli.Execute(ctx, root, app)
	stop()
	os.Exit(code)
}

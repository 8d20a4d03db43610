package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
	"github.com/mlw-project/mlw/internal/pycompat"
)

// sdkCmd is `mlw sdk`: the Azure ML Python SDK on this machine. It lives
// here, beside `mlw server`, because it installs mlw's own Python files
// (internal/pycompat) rather than talking to a server.
func sdkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sdk",
		Short:   "Set up the Azure ML Python SDK (azure-ai-ml) on this machine",
		Example: "  mlw sdk venv",
	}
	cmd.AddCommand(sdkVenvCmd())
	return cmd
}

func sdkVenvCmd() *cobra.Command {
	var dir, python string
	cmd := &cobra.Command{
		Use:   "venv",
		Short: "Make a Python virtualenv in which Debian's azure-ai-ml imports and pip install works",
		Long: `Make (or refresh) a Python virtualenv on Debian's packages, for running
azure-ai-ml scripts and notebooks against mlw.

The virtualenv uses the system's site packages in place (Debian's python3-azure,
python3-sklearn, ... : nothing is downloaded), so it is ready in a fraction of
a second. Debian 12 packages azure-ai-ml 1.4.0 without pydash, which the SDK
imports: the virtualenv gets mlw's compatibility module for the three pydash
functions the SDK calls, used only when no real pydash is installed. pip works
inside it (Debian's PEP 668 protection applies to the system Python only), so
` + "`pip install`" + ` adds packages to the virtualenv without touching the system.`,
		Example: `  sudo apt-get install -y python3-azure python3-venv
  mlw sdk venv
  . ~/.mlw/venv/bin/activate
  eval "$(mlw env)"
  python lab.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = filepath.Join(api.Home(), "venv")
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if _, err := os.Stat(python); err != nil {
				return fmt.Errorf("--python %s: %w (install Debian's python3 and python3-venv, or name another interpreter)", python, err)
			}
			v, err := pycompat.MakeVenv(cmd.Context(), python, abs)
			if err != nil {
				return err
			}
			if f := cmd.Flag("output"); f != nil && f.Value.String() == "json" {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Println(v.Path)
			if v.AzureAIML == "" {
				fmt.Fprintf(os.Stderr, "The virtualenv is ready, but azure-ai-ml does not import in it (%s).\nInstall the SDK: sudo apt-get install python3-azure (or pip install azure-ai-ml inside the virtualenv).\n", v.ImportError)
				return nil
			}
			pd := "pydash " + v.Pydash
			if v.Pydash == "mlw-compat" {
				pd = "pydash from mlw's compatibility module"
			}
			fmt.Fprintf(os.Stderr, "Ready: Python %s with azure-ai-ml %s (%s).\nUse it with: . %s/bin/activate && eval \"$(mlw env)\"\n", v.Python, v.AzureAIML, pd, v.Path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "where to make the virtualenv (default: $MLW_HOME/venv, ~/.mlw/venv)")
	cmd.Flags().StringVar(&python, "python", "/usr/bin/python3", "the interpreter whose packages the virtualenv uses (Debian's, where python3-azure lives)")
	return cmd
}

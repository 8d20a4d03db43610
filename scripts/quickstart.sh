#!/usr/bin/env bash
# Builds mlw, starts `mlw server` in the background (if none is running) and
# runs a first example: the DP-100 lab's resource group, workspace, compute
# cluster and a scikit-learn training job whose log is streamed here.
#
# Data directory: $MLW_HOME (default ~/.mlw); server log: $MLW_HOME/server.log.
# Stop the server with: kill "$(jq -r .pid ~/.mlw/server.json)"  (or pkill -f 'mlw server')
set -euo pipefail
cd "$(dirname "$0")/.."

# The example job trains with Debian's scikit-learn and pandas.
need=()
for p in python3-sklearn python3-pandas python3-matplotlib git ca-certificates bubblewrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing Debian packages for the example: ${need[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p bin
# The studio (web UI at /studio) is built into the binary when Node.js is here.
if command -v npm >/dev/null; then
  echo "Building the studio ..." >&2
  (cd web/studio && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
else
  echo "No Node.js/npm: building mlw without the studio (install Node.js 20 to have it)." >&2
fi
echo "Building mlw ..." >&2
go build -o bin/mlw ./cmd/mlw
mlw=$PWD/bin/mlw
home=${MLW_HOME:-$HOME/.mlw}
mkdir -p "$home"

if ! "$mlw" group list >/dev/null 2>&1; then
  # As root, jobs run sandboxed, each as its user's own uid. A server of
  # your own user cannot do that: on a single-user machine, say so and let
  # jobs run as you (docs/security.md).
  flags=()
  if [ "$(id -u)" -ne 0 ]; then
    echo "Not root: jobs and instances will run as your own user (--allow-unsandboxed-jobs); run as root for a shared server." >&2
    flags+=(--allow-unsandboxed-jobs)
  fi
  echo "Starting mlw server (log: $home/server.log) ..." >&2
  nohup "$mlw" server "${flags[@]}" >>"$home/server.log" 2>&1 &
  for _ in $(seq 100); do
    "$mlw" group list >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

set -x
"$mlw" group create --name rg-dp100-labs --location eastus -o table
"$mlw" workspace create --name mlw-dp100-labs -g rg-dp100-labs -o table
"$mlw" configure --defaults group=rg-dp100-labs workspace=mlw-dp100-labs
"$mlw" compute create --file examples/diabetes-training/cluster.yml -o table
"$mlw" job create --file examples/diabetes-training/job.yml --stream
"$mlw" compute show --name aml-cluster -o table
# The studio, signed in as you: a one-time link (opened in your browser when there is one).
"$mlw" studio

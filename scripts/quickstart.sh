#!/usr/bin/env bash
# Builds mlw, starts `mlw server` in the background (if none is running) and
# runs a first example: the DP-100 lab's resource group, workspace, compute
# cluster and a scikit-learn training job whose log is streamed here.
#
# Usage: scripts/quickstart.sh [--listen HOST:PORT]
#   --listen (or $MLW_LISTEN): where the server listens, default 127.0.0.1:7443.
# Data directory: $MLW_HOME (default ~/.mlw); server log: $MLW_HOME/server.log.
# Stop the server with: bin/mlw server stop
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${MLW_LISTEN:-127.0.0.1:7443}
while [ $# -gt 0 ]; do
  case "$1" in
    --listen) [ $# -ge 2 ] || { echo "quickstart: --listen needs an address, e.g. --listen 127.0.0.1:7543" >&2; exit 2; }
              listen=$2; shift 2 ;;
    --listen=*) listen=${1#--listen=}; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument $1 (usage: scripts/quickstart.sh [--listen HOST:PORT])" >&2; exit 2 ;;
  esac
done
case "$listen" in
  *:*) ;;
  *[!0-9]*|"") echo "quickstart: --listen wants HOST:PORT or a port, not '$listen'" >&2; exit 2 ;;
  *) listen=127.0.0.1:$listen ;;
esac
port=${listen##*:}

# port_user names what listens on the TCP port (empty when nothing does).
port_user() {
  if command -v ss >/dev/null; then
    local line
    line=$(ss -Htlnp "sport = :$1" 2>/dev/null | head -n1)
    [ -n "$line" ] || return 0
    local who
    who=$(printf '%s\n' "$line" | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p')
    echo "${who:-another process}"
  elif (exec 3<>"/dev/tcp/${listen%:*}/$1") 2>/dev/null; then
    echo "another process"
  fi
}
home=${MLW_HOME:-$HOME/.mlw}

# A busy port is said now, before anything is built: unless it is this data
# directory's own server (its pid is in server.json), mlw server could not
# listen there.
if who=$(port_user "$port") && [ -n "$who" ]; then
  ours=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$home/server.json" 2>/dev/null || true)
  if [ -z "$ours" ] || ! kill -0 "$ours" 2>/dev/null || { [ "$who" != "another process" ] && [[ "$who" != *"(pid $ours)" ]]; }; then
    echo "quickstart: port $port is in use by $who; pass --listen 127.0.0.1:<free port> (or set MLW_LISTEN), or stop that process." >&2
    exit 1
  fi
fi

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
# The studio (web UI at /studio) is built into the binary when a Node.js
# that builds it (20.19+ or 22.12+; Debian 12's is 18) is here or can be
# fetched with npm (scripts/studio-node.sh says which, or why not).
if node_bin="$(./scripts/studio-node.sh)"; then
  echo "Building the studio ..." >&2
  (export PATH="$node_bin:$PATH" && cd web/studio && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
else
  echo "Building mlw without the studio (/studio then says how to build it)." >&2
fi
echo "Building mlw ..." >&2
go build -o bin/mlw ./cmd/mlw
mlw=$PWD/bin/mlw
mkdir -p "$home"

if "$mlw" server status -o none >/dev/null 2>&1; then
  echo "Using the mlw server already running from $home ($("$mlw" server status --query url -o tsv))." >&2
else
  # As root, jobs run sandboxed, each as its user's own uid. A server of
  # your own user cannot do that: on a single-user machine, say so and let
  # jobs run as you (docs/security.md).
  flags=(--listen "$listen")
  if [ "$(id -u)" -ne 0 ]; then
    echo "Not root: jobs and instances will run as your own user (--allow-unsandboxed-jobs); run as root for a shared server." >&2
    flags+=(--allow-unsandboxed-jobs)
  fi
  echo "Starting mlw server on $listen (log: $home/server.log) ..." >&2
  nohup "$mlw" server "${flags[@]}" >>"$home/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    "$mlw" server status -o none >/dev/null 2>&1 && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "quickstart: mlw server exited before it was ready; the end of $home/server.log:" >&2
      tail -n 5 "$home/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! "$mlw" server status -o none >/dev/null 2>&1; then
    echo "quickstart: mlw server (pid $pid) did not answer within 30 s; see $home/server.log" >&2
    exit 1
  fi
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

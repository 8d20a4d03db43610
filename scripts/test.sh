#!/usr/bin/env bash
# Runs mlw's whole test suite on a Debian 12 machine with Go installed.
# It installs the Debian packages the tests use (the real azure-ai-ml SDK,
# scikit-learn, Jupyter, PostgreSQL, chromium, the Azure CLI, ...) when they
# are missing (waiting for the dpkg lock when another apt holds it),
# builds the studio (web/studio, from its lockfile) and runs its unit tests,
# installs the browser tests' npm packages, fetches Debian 13's azure-ai-ml
# 1.28 into a cache (once), starts a single-node Slurm (as root), then runs
# `go test ./...`. PostgreSQL tests start
# a throwaway cluster themselves; screenshots of the browser tests are kept
# in e2e/artifacts/. Last, scripts/fuzz.sh runs each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  ca-certificates git openssh-client bubblewrap
  python3 python3-venv python3-pip python3-azure python3-sklearn python3-pandas python3-matplotlib
  jupyter-notebook python3-ipykernel
  postgresql
  chromium
  azure-cli
)
missing=()
# Node.js and npm run the browser tests (playwright-core drives chromium);
# Debian's packages only where the machine has no Node.js of its own.
command -v npm >/dev/null || packages+=(nodejs npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages the tests need: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Another apt (unattended-upgrades, a second test run) may hold the dpkg
  # lock: wait for it, up to 10 minutes, instead of failing at once.
  apt=(apt-get -o DPkg::Lock::Timeout=600)
  $sudo "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The studio: built before `go build` embeds it (internal/webui), and its
# unit tests (Vitest). Its build tools need Node.js 20.19+ or 22.12+, newer
# than Debian 12's nodejs (18): scripts/studio-node.sh finds one, or fetches
# Node.js 22 from the npm registry into the test cache (once), or fails here
# saying what to install. The browser tests run on that Node.js too.
node_bin="$(./scripts/studio-node.sh)"
export PATH="$node_bin:$PATH"
(cd web/studio && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build && npm test --silent)

# The browser tests' drivers (TypeScript, from the lockfile).
(cd e2e/browser && npm ci --no-audit --no-fund --loglevel=error)

# The SDK tests also drive the current azure-ai-ml (1.28.0) as Debian 13
# packages it: fetched once from this machine's Debian archive (suite trixie)
# into ~/.cache/mlw-test, never installed (see scripts/azure-ai-ml-trixie.sh).
./scripts/azure-ai-ml-trixie.sh >/dev/null

# The Kubernetes backend's tests run against a real kube-apiserver, etcd,
# scheduler, controller-manager and kwok, built from the Go module proxy
# once into ~/.cache/mlw-test (scripts/k8s-testbins.sh: about 6.5 minutes
# on 2 cores the first time, then nothing). MLW_K8S=0 skips them.
if [ "${MLW_K8S:-1}" != 0 ]; then
  MLW_K8S_BINDIR="$(./scripts/k8s-testbins.sh)"
  export MLW_K8S_BINDIR MLW_REQUIRE_K8S=1
fi

# A real single-node Slurm for the tests of Slurm-backed clusters
# (scripts/setup-slurm.sh installs slurm-wlm and munge when missing, writes
# the configuration, starts munged, slurmctld and slurmd; about 20 s on a
# fresh machine, idempotent). Those tests submit as another account
# (sbatch --uid), so they run, and must not skip, only as root.
if [ "$(id -u)" -eq 0 ]; then
  ./scripts/setup-slurm.sh >&2
  export MLW_REQUIRE_SLURM="${MLW_REQUIRE_SLURM:-1}"
fi

# Fail (rather than skip) the PostgreSQL conformance suite if no server can
# be started, the browser tests if chromium or Node.js is missing, and the
# azure-ai-ml 1.28 tests if the SDK cannot be had, and the Azure CLI tests
# if az is missing.
export MLW_REQUIRE_POSTGRES="${MLW_REQUIRE_POSTGRES:-1}"
export MLW_REQUIRE_AZ="${MLW_REQUIRE_AZ:-1}"
export MLW_REQUIRE_BROWSER="${MLW_REQUIRE_BROWSER:-1}"
export MLW_REQUIRE_SDK128="${MLW_REQUIRE_SDK128:-1}"
go test -count=1 -timeout 30m "$@" ./...

# Then a short run of every fuzz target (MLW_FUZZTIME each, default 4s;
# about 1.5 minutes on 2 cores; MLW_FUZZTIME=0 skips it). Their seed
# corpora already ran above, as ordinary tests.
./scripts/fuzz.sh

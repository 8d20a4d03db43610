#!/usr/bin/env bash
# Runs mlw's whole test suite on a Debian 12 machine with Go and Node.js
# installed. It installs the Debian packages the tests use (the real
# azure-ai-ml SDK, scikit-learn, Jupyter, PostgreSQL, chromium, ...) when
# they are missing, builds the studio (web/studio, from its lockfile) and
# runs its unit tests, then runs `go test ./...`. PostgreSQL tests start a
# throwaway cluster themselves; browser tests drive Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  ca-certificates git openssh-client bubblewrap
  python3 python3-venv python3-pip python3-azure python3-sklearn python3-pandas python3-matplotlib
  jupyter-notebook python3-ipykernel
  postgresql
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages the tests need: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The studio: built before `go build` embeds it (internal/webui), and its
# unit tests (Vitest).
if ! command -v npm >/dev/null; then
  echo "The studio needs Node.js 20 and npm (https://nodejs.org, or your distribution's nodejs package)." >&2
  exit 1
fi
(cd web/studio && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build && npm test --silent)

# Fail (rather than skip) the PostgreSQL conformance suite if no server can
# be started, and the browser tests if chromium or the studio is missing.
export MLW_REQUIRE_POSTGRES="${MLW_REQUIRE_POSTGRES:-1}"
export MLW_REQUIRE_BROWSER="${MLW_REQUIRE_BROWSER:-1}"
exec go test -count=1 -timeout 30m "$@" ./...

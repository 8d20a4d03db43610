#!/usr/bin/env bash
# Prints the folder of a Node.js that can build the studio (web/studio), for
# scripts/test.sh and scripts/quickstart.sh to put first on PATH:
#
#   PATH="$(scripts/studio-node.sh):$PATH"
#
# The studio's build tools (Vite 8, rolldown) need Node.js ^20.19 or >= 22.12
# (web/studio/package.json, "engines"). Debian 12's nodejs package is 18, too
# old. When the node on PATH is too old (or missing) and npm is here (Debian's
# npm comes with its nodejs), the official Node.js build is fetched from the
# npm registry, where it is published as the package node-linux-<arch>
# (Node.js itself, no install script), into a cache folder, once:
# ${MLW_TEST_CACHE:-~/.cache/mlw-test}/node-<version>. Nothing is installed
# on the system. Without npm, or when that fails, it says what to install and
# exits 1.
set -euo pipefail

# The Node.js fetched when the machine's is too old: 22 LTS.
pin="22.23.5"

# usable VERSION: whether a Node.js of that version (v1.2.3) runs Vite 8.
usable() {
  local v="${1#v}" major minor
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  case "$major$minor" in *[!0-9]*|"") return 1 ;; esac
  [ "$major" -eq 20 ] && [ "$minor" -ge 19 ] && return 0
  [ "$major" -eq 22 ] && [ "$minor" -ge 12 ] && return 0
  [ "$major" -gt 22 ]
}

have=""
if command -v node >/dev/null; then
  have="$(node --version 2>/dev/null || true)"
  if usable "$have"; then
    dirname "$(command -v node)"
    exit 0
  fi
fi

case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) arch="" ;;
esac
cache="${MLW_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlw-test}"
dest="$cache/node-$pin"
bin="$dest/node_modules/node-linux-$arch/bin"
if [ -n "$arch" ] && [ -x "$bin/node" ] && usable "$("$bin/node" --version 2>/dev/null || true)"; then
  echo "$bin"
  exit 0
fi

why="the studio (Vite 8) needs Node.js 20.19 or later (or 22.12 or later); this machine has ${have:-no Node.js}"
fail() {
  echo "studio-node: $why. $1" >&2
  echo "studio-node: install Node.js 22 (or 20.19+) and npm, make it the first node on PATH, and run this again; Debian 12's nodejs package (18) is too old." >&2
  exit 1
}
[ -n "$arch" ] || fail "There is no official Node.js build for $(uname -m) to fetch."
command -v npm >/dev/null || fail "There is no npm to fetch one with."

mkdir -p "$cache"
exec 9>"$dest.lock"
flock 9 # another run may be fetching the same thing
if ! [ -x "$bin/node" ]; then
  echo "studio-node: $why; fetching Node.js $pin (the npm package node-linux-$arch) into $dest, once" >&2
  rm -rf "$dest".tmp.*
  work="$(mktemp -d "$dest.tmp.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  if ! npm install --prefix "$work" --no-save --no-audit --no-fund --no-package-lock --loglevel=error "node-linux-$arch@$pin" >&2; then
    fail "Fetching node-linux-$arch@$pin with npm failed."
  fi
  rm -rf "$dest"
  mv "$work" "$dest"
fi
got="$("$bin/node" --version 2>/dev/null || true)"
usable "$got" || fail "The fetched $bin/node does not run here (it says '${got:-nothing}')."
echo "$bin"

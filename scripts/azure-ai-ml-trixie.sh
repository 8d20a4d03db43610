#!/usr/bin/env bash
# Fetches the current azure-ai-ml (1.28.0) as Debian 13 "trixie" packages it,
# for the e2e tests, WITHOUT changing the system: apt runs with a private
# sources list (the archive this machine's own sources name, suite trixie),
# private lists and cache; `apt-get download` fetches the .debs and
# `dpkg-deb -x` unpacks them into a cache folder. Nothing is installed.
#
#   scripts/azure-ai-ml-trixie.sh        # prints the dist-packages folder
#
# The folder goes on PYTHONPATH for Debian 12's /usr/bin/python3 (3.11): the
# packages below are pure Python (the script fails if one is not), so their
# modules import on 3.11; compiled ones (cryptography, cffi, yaml, ...) come
# from the machine's own Debian 12 packages (python3-azure pulls them in).
# Which trixie packages, and why:
#   python3-azure            azure-ai-ml 1.28.0, azure-core 1.35, azure-identity 1.23, azure-mgmt-core
#   python3-azure-storage    azure-storage-blob 12.26 (and file-share, file-datalake)
#   python3-pydash           pydash 8 (azure-ai-ml needs >=6,<9; Debian 12 has none)
#   python3-msal             msal 1.32 (azure-identity 1.23 needs >=1.30; Debian 12 has 1.21)
#   python3-typing-extensions 4.13 (azure-core 1.35 needs >=4.6; Debian 12 has 4.4)
#   python3-isodate          0.7 (what trixie's azure-storage depends on)
# azure-ai-ml 1.28 also imports the OpenTelemetry API (opentelemetry.trace),
# which no Debian release packages: the tests add a test-only stand-in
# (e2e/testdata/opentelemetry_stub); users install opentelemetry-api.
#
# The result is cached under ${MLW_TEST_CACHE:-~/.cache/mlw-test}/<key>, keyed
# by the recipe version below: later runs only print the path. Change the
# package list, bump the key.
set -euo pipefail

key="azure-ai-ml-trixie-1"
packages=(python3-azure python3-azure-storage python3-pydash python3-msal python3-typing-extensions python3-isodate)

cache="${MLW_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlw-test}"
dest="$cache/$key"
if [ -f "$dest/ok" ]; then
  echo "$dest/dist-packages"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/$key.lock"
flock 9 # another test run may be fetching the same thing
if [ -f "$dest/ok" ]; then
  echo "$dest/dist-packages"
  exit 0
fi

# The archive this machine already uses: the first deb source of its own
# release (deb822 .sources files first, then the one-line format).
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
uri="" signed=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # Print "URI<TAB>Signed-By" of the first stanza with Types deb whose
  # Suites hold the release itself (not -security or -updates).
  line="$(awk -v want="$codename" '
    function flush() {
      if (deb && uris != "" && suite) { print uris "\t" signed; found = 1; exit }
      deb = 0; uris = ""; suite = 0; signed = ""
    }
    /^[[:space:]]*$/ { flush(); next }
    /^[[:space:]]*#/ { next }
    tolower($1) == "types:"     { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
    tolower($1) == "uris:"      { uris = $2 }
    tolower($1) == "suites:"    { for (i = 2; i <= NF; i++) if ($i == want) suite = 1 }
    tolower($1) == "signed-by:" { signed = $2 }
    END { if (!found) flush() }
  ' "$f")"
  if [ -n "$line" ]; then
    uri="${line%%$'\t'*}" signed="${line#*$'\t'}"
    break
  fi
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri="$(awk -v want="$codename" '$1 == "deb" { u = ""; for (i = 2; i <= NF; i++) { if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue } if (u == "") { u = $i; continue } if ($i == want) { print u; exit } break } }' /etc/apt/sources.list)"
fi
if [ -z "$uri" ]; then
  echo "azure-ai-ml-trixie: found no Debian archive for '$codename' in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2
  exit 1
fi
signed="${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}"

rm -rf "$cache/$key".tmp.* # left by a run that was killed (we hold the lock)
work="$(mktemp -d "$cache/$key.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
echo "deb [signed-by=$signed] $uri trixie main" >"$work/sources.list"
apt=(-qq -o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- \
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Acquire::Languages=none)
# As root, apt would hand the downloads to its _apt user, who cannot write
# into this private folder (and says so); they are ours to fetch anyway.
[ "$(id -u)" -ne 0 ] || apt+=(-o APT::Sandbox::User=root)

echo "azure-ai-ml-trixie: fetching ${packages[*]} from $uri trixie into $dest (once)" >&2
apt-get "${apt[@]}" update >&2
(cd "$work/debs" && apt-get "${apt[@]}" download "${packages[@]}" >&2)
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
  dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$work/versions.txt"
done
site="$work/root/usr/lib/python3/dist-packages"
if compiled="$(find "$site" -name '*.so*' -print -quit)" && [ -n "$compiled" ]; then
  echo "azure-ai-ml-trixie: $compiled is compiled for trixie's Python; take that package from this machine's release instead" >&2
  exit 1
fi
# Debian 12's python3-azure makes /usr/lib/python3/dist-packages/azure a
# regular package (an __init__.py that extends its path), which wins over a
# namespace portion that comes first on sys.path: without a regular package
# here, `import azure.ai.ml` would still load 1.4.0. Trixie ships azure/ as a
# namespace package; this empty __init__.py keeps the whole azure tree
# trixie's, as on Debian 13.
: >"$site/azure/__init__.py"
# Byte-compile what the SDK imports for this machine's Python, as Debian's
# py3compile does at install: importing azure.ai.ml from sources alone takes
# seconds more in every test process.
python3=/usr/bin/python3
[ -x "$python3" ] || python3=python3
"$python3" -m compileall -q -j0 "$site"/azure/{__init__.py,ai/ml,core,identity,mgmt/core,storage,common} \
  "$site"/{msal,pydash,isodate,typing_extensions.py} >/dev/null

rm -rf "$dest"
mkdir -p "$dest"
mv "$site" "$dest/dist-packages"
mv "$work/versions.txt" "$dest/versions.txt"
touch "$dest/ok"
echo "$dest/dist-packages"

#!/usr/bin/env bash
# Runs each of mlw's fuzz targets for a short time (MLW_FUZZTIME, default
# 4s each; any `go test -fuzztime` value, e.g. 10m or 50000x; 0 skips). The seed
# corpora — f.Add seeds and testdata/fuzz/FuzzXxx/ in each package,
# crashers included — already run as ordinary tests in `go test ./...`;
# this looks for new failures. A failure writes the input to the package's
# testdata/fuzz/FuzzXxx/: fix the bug and commit that file with the fix.
#
#   ./scripts/fuzz.sh                          # every target, 4s each
#   MLW_FUZZTIME=10m ./scripts/fuzz.sh FuzzCopy # one target, longer
#
# Targets run one at a time with -parallel 2 (go test -fuzz takes a single
# target and a single package per run).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${MLW_FUZZTIME:-4s}"
if [ "$fuzztime" = 0 ]; then
  exit 0
fi
targets=(
  ./api:FuzzParseJobFile
  ./api:FuzzNewSnapshot
  ./internal/cli:FuzzComputeYAML
  ./internal/service:FuzzARMBodies
  ./internal/core:FuzzParseISODuration
  ./internal/core:FuzzFormatISODuration
  ./internal/schedule:FuzzParseCron
  ./internal/schedule:FuzzSchedules
  ./internal/blob:FuzzBlobPaths
  ./internal/blob:FuzzParseBlockList
  ./internal/blob:FuzzParseRange
  ./internal/identity:FuzzSASVerify
  ./internal/identity:FuzzSASRoundTrip
  ./internal/rooted:FuzzCopy
  ./internal/rooted:FuzzResolve
)

# Fail if a fuzz target exists that this list does not run.
listed=" ${targets[*]} "
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"${line#*:}")
  pkg="./$(dirname "$file")"
  if [[ "$listed" != *" $pkg:$name "* ]]; then
    echo "fuzz.sh: $pkg $name is not in the list of targets; add it" >&2
    exit 1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' api internal cmd e2e 2>/dev/null | sed -E 's/:[0-9]+:/:/')

# bare_deadline LOG: the run failed only with the coordinator's
# "context deadline exceeded" and wrote no failing input.
bare_deadline() {
  grep -q '^    context deadline exceeded$' "$1" &&
    ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$1"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t#*:}
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
    continue
  fi
  echo "fuzz: $pkg $name for $fuzztime" >&2
  for try in 1 2; do
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg" >"$log" 2>&1; then
      break
    fi
    # Go 1.26's fuzz coordinator can fail a target with a bare "context
    # deadline exceeded" when a duration -fuzztime ends while a starved
    # worker is mid-call (go.dev/issue/75804, fixed in Go 1.27). That
    # failure writes no input and is not a finding: run the target once
    # more, and if it happens again say so without failing. Anything else
    # (a written input, a panic, a t.Error) is a failure.
    if bare_deadline "$log"; then
      if [ "$try" = 1 ]; then
        echo "fuzz: $name: coordinator deadline race (go.dev/issue/75804), no input written; running it again" >&2
        continue
      fi
      echo "fuzz: $name: coordinator deadline race again, no input written; not a finding" >&2
      break
    fi
    # Progress lines only on failure: the rest of the output says why.
    grep -v '^fuzz: elapsed' "$log" >&2 || true
    failed+=("$pkg $name")
    break
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: found a failure in %s\n' "${failed[@]}" >&2
  exit 1
fi

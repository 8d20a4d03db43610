#!/usr/bin/env bash
# Builds the Kubernetes control plane the Kubernetes backend's tests run
# against, from the Go module proxy only: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl (Kubernetes v1.37.2),
# etcd (v3.7.0) and kwok (v0.8.0, fake nodes), plus kwok's stage
# definitions. They are cached under a versioned directory and built only
# when missing (about 6.5 minutes on 2 cores, 3 GB of memory at the peak;
# a warm Go cache makes it seconds). Prints the directory.
#
#   bindir=$(./scripts/k8s-testbins.sh)
#   MLW_K8S_BINDIR=/opt/k8s ./scripts/k8s-testbins.sh   # another cache
set -euo pipefail

K8S=v1.37.2 STG=v0.37.2 ETCD=v3.7.0 KWOK=v0.8.0
out="${MLW_K8S_BINDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlw-test/k8s-$K8S-etcd-$ETCD-kwok-$KWOK}"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwok-stages.yaml)
complete() {
  for b in "${bins[@]}"; do [ -s "$out/$b" ] || return 1; done
}
if complete; then
  echo "$out"
  exit 0
fi

echo "k8s-testbins: building Kubernetes $K8S, etcd $ETCD and kwok $KWOK into $out (once; about 6.5 minutes on 2 cores)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
partial="$out.partial"
rm -rf "$partial"
mkdir -p "$partial"
export GOWORK=off GOFLAGS="-buildvcs=false -mod=mod"

# The k8s.io/kubernetes module zip lacks staging/src/k8s.io/*, nested
# modules that its go.mod replaces: put each published k8s.io/<name>@$STG
# where the replace points (sample-* are not served and nothing imports
# them: an empty module stands in).
src="$work/kubernetes"
dir=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$dir" "$src"
chmod -R u+w "$src"
rm -f "$src/go.work" "$src/go.work.sum"
for m in $(sed -n 's#^\tk8s.io/\([^ ]*\) => ./staging/src/k8s.io/.*#\1#p' "$src/go.mod"); do
  dst="$src/staging/src/k8s.io/$m"
  mkdir -p "$(dirname "$dst")"
  d=$(go mod download -json "k8s.io/$m@$STG" 2>/dev/null | sed -n 's/.*"Dir": "\(.*\)".*/\1/p' || true)
  if [ -n "$d" ]; then
    cp -r "$d" "$dst"
    chmod -R u+w "$dst"
  else
    mkdir -p "$dst"
    printf 'module k8s.io/%s\n\ngo 1.26.0\n' "$m" >"$dst/go.mod"
  fi
done
# Without the version ldflags the server says v0.0.0-master and kubectl
# cannot parse it.
v="-X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
v="$v -X k8s.io/client-go/pkg/version.gitVersion=$K8S -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
(cd "$src" && go build -trimpath -ldflags="-s -w $v" -o "$partial/" ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubectl)

# etcd: its root module has replace directives (no go install), so a
# three-line main around etcdmain.
e="$work/etcd"
mkdir -p "$e"
printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$e/main.go"
printf 'module local/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD" >"$e/go.mod"
(cd "$e" && go mod tidy && go build -trimpath -ldflags="-s -w" -o "$partial/etcd" .)

GOFLAGS=-buildvcs=false GOBIN="$partial" go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
# kwok's stages (node ready and heartbeats, pods running, completing and
# deleted) ship inside its module.
kd=$(go mod download -json "sigs.k8s.io/kwok@$KWOK" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
: >"$partial/kwok-stages.yaml"
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  echo '---' >>"$partial/kwok-stages.yaml"
  cat "$kd/kustomize/stage/$f" >>"$partial/kwok-stages.yaml"
done
rm -rf "$out"
mv "$partial" "$out"
echo "$out"

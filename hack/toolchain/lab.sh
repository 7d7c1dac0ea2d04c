#!/usr/bin/env bash
# Builds the lab control plane once into the cache (see cache.sh) and prints its bin directory:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes v1.28.15, through the Go module
#   proxy: a scratch module that replaces each staging module with k8s.io/<name> v0.28.15, -tags providerless,
#   CGO_ENABLED=0) and kwok v0.7.0 (fake nodes and pods). etcd comes from Debian (etcd-server).
# Cold: ~15 min of CPU on 2 cores and ~2 GB of Go caches (deleted afterwards); warm: instant.
set -euo pipefail
TOOLCHAIN_NAME=lab
. "$(dirname "$0")/cache.sh"
K8S_VERSION=v1.28.15
KWOK_VERSION=v0.7.0
dir=$(cache_dir lab "$0" "$K8S_VERSION" "$KWOK_VERSION")
build_needs "$dir" go curl tmp-mib:3072 cache-mib:512
check() {
  local b=$1/bin
  expect_output lab "Kubernetes $K8S_VERSION" "$b/kube-apiserver" --version &&
    expect_output lab "Kubernetes $K8S_VERSION" "$b/kube-controller-manager" --version &&
    expect_output lab "Kubernetes $K8S_VERSION" "$b/kube-scheduler" --version &&
    expect_output lab "Client Version: $K8S_VERSION" "$b/kubectl" version --client &&
    expect_output lab "${KWOK_VERSION#v}" "$b/kwok" --version
}
cache_lock lab
if cache_ok "$dir" check; then echo "$dir/bin"; exit 0; fi

command -v go >/dev/null || { echo "lab: Go is needed to build the control plane (https://go.dev/dl)" >&2; exit 1; }
tmp="$dir.building.$$"
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT
mkdir -p "$tmp/bin"
# Module and build caches of their own, so a cold build never touches (or depends on) the user's, and goes away after.
export GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local

step "scratch module for k8s.io/kubernetes $K8S_VERSION"
mkdir -p "$work/src" && cd "$work/src"
staging_version="v0${K8S_VERSION#v1}"
cat > go.mod <<MOD
module roomler.local/lab

go 1.22

require k8s.io/kubernetes $K8S_VERSION
MOD
curl -fsS "${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$K8S_VERSION.mod" \
  | sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' \
  | while read -r m; do echo "replace $m => $m $staging_version" >> go.mod; done
[ "$(grep -c '^replace' go.mod)" -ge 30 ] || { echo "lab: expected the 30 staging replaces, got: $(grep -c '^replace' go.mod)" >&2; exit 1; }
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
step "resolving dependencies (downloads ~600 MB the first time)"
go mod tidy -e >/dev/null 2>&1 || true
go mod download
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=28"
for cmd in kube-apiserver kubectl kube-scheduler kube-controller-manager; do
  step "building $cmd (kube-apiserver ~7 min, controller-manager ~3 min, the others less)"
  go build -tags providerless -trimpath -ldflags "$ldflags" -o "$tmp/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
step "building kwok $KWOK_VERSION (~3 min)"
# kwok's release builds stamp its version with -X (a plain go install reports the source's default).
GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir/bin"
echo "$dir/bin"

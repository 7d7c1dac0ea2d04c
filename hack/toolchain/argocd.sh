#!/usr/bin/env bash
# Builds Argo CD once into the cache (see cache.sh) and prints its directory:
#   bin/argocd   the one binary of every Argo CD component; ARGOCD_BINARY_NAME picks which one runs
#                (argocd-repo-server, argocd-application-controller; unset: the CLI)
#   crds/        Argo's CRDs from its module (manifests/crds: Application, AppProject, ApplicationSet)
# From the Go module proxy, as the lab's control plane: a scratch module that copies the `replace` block of argo-cd's
# own go.mod (its k8s.io modules are pinned there), `go get -tool github.com/argoproj/argo-cd/v2/cmd`, `go build`.
# The version is stamped as Argo's Makefile does (common.version), so the binary reports v2.14.21.
# Cold: ~90 s of downloads and ~8 min of compilation on 2 cores, one ~225 MiB binary; warm: instant.
set -euo pipefail
TOOLCHAIN_NAME=argocd
. "$(dirname "$0")/cache.sh"
ARGOCD_VERSION=v2.14.21
ARGOCD_GO_MIN=1.24.6 # argo-cd's go.mod
dir=$(cache_dir argocd "$0" "$ARGOCD_VERSION")
build_needs "$dir" go "go-min:$ARGOCD_GO_MIN" curl tmp-mib:4096 cache-mib:512
check() {
  expect_output argocd "argocd: $ARGOCD_VERSION+" "$1/bin/argocd" version --client --short &&
    expect_output argocd 'argocd-application-controller [flags]' env ARGOCD_BINARY_NAME=argocd-application-controller "$1/bin/argocd" --help &&
    expect_output argocd 'argocd-repo-server [flags]' env ARGOCD_BINARY_NAME=argocd-repo-server "$1/bin/argocd" --help &&
    [ -f "$1/crds/application-crd.yaml" ] && [ -f "$1/crds/appproject-crd.yaml" ]
}
cache_lock argocd
if cache_ok "$dir" check; then echo "$dir"; exit 0; fi
command -v go >/dev/null || { echo "argocd: Go $ARGOCD_GO_MIN or newer is needed to build it (https://go.dev/dl)" >&2; exit 1; }

tmp="$dir.building.$$"
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT
mkdir -p "$tmp/bin" "$tmp/crds"
# Module and build caches of their own, so a cold build never touches (or depends on) the user's, and goes away after.
export GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local

step "scratch module for github.com/argoproj/argo-cd/v2 $ARGOCD_VERSION"
mkdir -p "$work/src" && cd "$work/src"
upstream=$(curl -fsS "${GOPROXY_URL:-https://proxy.golang.org}/github.com/argoproj/argo-cd/v2/@v/$ARGOCD_VERSION.mod")
{
  printf 'module roomler.local/argocd\n\ngo %s\n\n' "$ARGOCD_GO_MIN"
  # The replace block as argo-cd declares it: without it the k8s.io modules resolve to versions argo-cd never built with.
  sed -n '/^replace ($/,/^)$/p' <<<"$upstream"
} > go.mod
[ "$(grep -c '=> k8s.io/' go.mod)" -ge 20 ] || { echo "argocd: expected argo-cd's k8s.io replaces in its go.mod, got: $(grep -c '=> k8s.io/' go.mod)" >&2; exit 1; }
step "resolving dependencies (downloads ~700 MB the first time, ~90 s)"
go get -tool "github.com/argoproj/argo-cd/v2/cmd@$ARGOCD_VERSION"
module=$(go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v2)
cp "$module"/manifests/crds/application-crd.yaml "$module"/manifests/crds/appproject-crd.yaml \
  "$module"/manifests/crds/applicationset-crd.yaml "$tmp/crds/"
step "building argocd (one binary for every component; ~8 min on 2 cores)"
go build -trimpath -ldflags "-s -w -X github.com/argoproj/argo-cd/v2/common.version=${ARGOCD_VERSION#v}" \
  -o "$tmp/bin/argocd" github.com/argoproj/argo-cd/v2/cmd
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir"
echo "$dir"

#!/usr/bin/env bash
# Builds the Sealed Secrets controller once into the cache (see cache.sh) and prints its directory:
#   bin/sealed-secrets-controller   github.com/bitnami-labs/sealed-secrets cmd/controller, from the Go module proxy
#   crds/                           its SealedSecret CRD (the module's helm/sealed-secrets/crds)
# Later tags on the proxy (v0.40.0) declare the module path github.com/bitnami/sealed-secrets and cannot be built
# under this one. The version is stamped as its Makefile does (main.VERSION).
# Cold: ~2 min on 2 cores; warm: instant. Module and build caches of its own, deleted afterwards.
set -euo pipefail
TOOLCHAIN_NAME=sealed-secrets
. "$(dirname "$0")/cache.sh"
SEALED_SECRETS_VERSION=v0.27.1
dir=$(cache_dir sealed-secrets "$0" "$SEALED_SECRETS_VERSION")
build_needs "$dir" go tmp-mib:1536 cache-mib:128
check() {
  expect_output sealed-secrets "controller version: $SEALED_SECRETS_VERSION" "$1/bin/sealed-secrets-controller" --version &&
    [ -f "$1/crds/bitnami.com_sealedsecrets.yaml" ]
}
cache_lock sealed-secrets
if cache_ok "$dir" check; then echo "$dir"; exit 0; fi
command -v go >/dev/null || { echo "sealed-secrets: Go is needed to build it (https://go.dev/dl)" >&2; exit 1; }

tmp="$dir.building.$$"
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT
mkdir -p "$tmp/bin" "$tmp/crds"
export GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local

step "downloading github.com/bitnami-labs/sealed-secrets@$SEALED_SECRETS_VERSION"
module=$(go mod download -json "github.com/bitnami-labs/sealed-secrets@$SEALED_SECRETS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$module" ] || { echo "sealed-secrets: the module proxy gave no source directory for $SEALED_SECRETS_VERSION" >&2; exit 1; }
cp "$module/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml" "$tmp/crds/"
step "building cmd/controller (~2 min cold)"
cp -r "$module" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
go build -trimpath -ldflags "-s -w -X main.VERSION=$SEALED_SECRETS_VERSION" -o "$tmp/bin/sealed-secrets-controller" ./cmd/controller
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir"
echo "$dir"

#!/usr/bin/env bash
# Builds kustomize once into the cache (see cache.sh) and prints the path of the binary: the peer `npm run bench`
# measures synth against (`kustomize build` of a plain 13-object base, bench/fixtures/peer-base).
# `go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1` through the Go module proxy (v5.7.1 is the newest release
# whose go.mod accepts Go 1.22.7; later ones ask for Go 1.24 and 1.26), with module and build caches of its own that
# are deleted afterwards. Cold: ~3 min on 2 cores; warm: instant.
set -euo pipefail
TOOLCHAIN_NAME=kustomize
. "$(dirname "$0")/cache.sh"
KUSTOMIZE_VERSION=v5.7.1
dir=$(cache_dir kustomize "$0" "$KUSTOMIZE_VERSION")
build_needs "$dir" go tmp-mib:1024 cache-mib:128
check() { expect_output kustomize "$KUSTOMIZE_VERSION" "$1/bin/kustomize" version; }
cache_lock kustomize
if cache_ok "$dir" check; then echo "$dir/bin/kustomize"; exit 0; fi
command -v go >/dev/null || { echo "kustomize: Go is needed to build it (https://go.dev/dl)" >&2; exit 1; }

tmp="$dir.building.$$"
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT
mkdir -p "$tmp/bin"
export GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local
step "go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION (~3 min cold)"
GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir/bin/kustomize"
echo "$dir/bin/kustomize"

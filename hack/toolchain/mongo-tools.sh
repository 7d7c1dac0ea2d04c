#!/usr/bin/env bash
# Unpacks MongoDB Database Tools 100.18.0 (mongodump, mongorestore; static linux/amd64) once into the cache (see
# cache.sh) and prints its bin directory. No registry this project reaches serves them (the Go module proxy refuses
# github.com/mongodb/mongo-tools, Debian has no MongoDB packages, the npm/PyPI wrappers download at run time), so they
# come as a tarball from the shared tools directory beside the checkout (its README says how they were built). The
# tarball must match the checksum pinned here AND its SHA256SUMS; tests use only the cached copy.
set -euo pipefail
TOOLCHAIN_NAME=mongo-tools
. "$(dirname "$0")/cache.sh"
MONGO_TOOLS_VERSION=100.18.0
MONGO_TOOLS_SHA256=772e836289261ef6dadd5d7883435ccd4d7f482ce5b12e495282d89e15657ea3
src=${MONGO_TOOLS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/tools/mongo-tools}
tarball=mongo-tools-$MONGO_TOOLS_VERSION-linux-amd64.tar.gz
dir=$(cache_dir mongo-tools "$0" "$MONGO_TOOLS_VERSION" "$MONGO_TOOLS_SHA256")
if [ -f "$dir/.complete" ]; then echo "$dir/bin"; exit 0; fi

[ -f "$src/$tarball" ] || { echo "mongo-tools: $src/$tarball is missing (set MONGO_TOOLS_SRC to the directory holding it and SHA256SUMS)" >&2; exit 1; }
step "checking $src/$tarball"
(cd "$src" && sha256sum --quiet -c SHA256SUMS) || { echo "mongo-tools: $src/$tarball does not match its SHA256SUMS" >&2; exit 1; }
[ "$(sha256sum "$src/$tarball" | cut -d' ' -f1)" = "$MONGO_TOOLS_SHA256" ] || { echo "mongo-tools: $src/$tarball is not the pinned $MONGO_TOOLS_VERSION (sha256 $MONGO_TOOLS_SHA256)" >&2; exit 1; }
tmp="$dir.building.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
step "unpacking mongodump and mongorestore $MONGO_TOOLS_VERSION"
tar -xzf "$src/$tarball" -C "$tmp/bin" mongodump mongorestore
for t in mongodump mongorestore; do
  # Capture, then match: a reader that stops early (grep -q) would SIGPIPE the tool and fail the pipeline.
  reported=$("$tmp/bin/$t" --version 2>&1) || true
  [[ $reported == *"version: $MONGO_TOOLS_VERSION"* ]] || { echo "mongo-tools: $t does not report version $MONGO_TOOLS_VERSION" >&2; exit 1; }
done
publish "$tmp" "$dir"
step "done: $dir/bin"
echo "$dir/bin"

#!/usr/bin/env bash
# Unpacks MongoDB Database Tools 100.18.0 (mongodump, mongorestore; static linux/amd64) once into the cache (see
# cache.sh) and prints its bin directory. No registry this project reaches serves them (the Go module proxy refuses
# github.com/mongodb/mongo-tools, Debian has no MongoDB packages, the npm/PyPI wrappers download at run time), so
# they come from MONGO_TOOLS_SRC, either:
#  - a directory holding mongo-tools-100.18.0-linux-amd64.tar.gz and its SHA256SUMS (a mirror; the default is the
#    shared tools directory beside the checkout), checked against the checksum pinned here; or
#  - an http(s):// or file:// URL of an archive, with MONGO_TOOLS_SHA256 its SHA-256, for example MongoDB's official
#    release https://fastdl.mongodb.org/tools/db/mongodb-database-tools-debian12-x86_64-100.18.0.tgz (MongoDB
#    publishes the checksum beside it, as <archive>.sha256). The archive is checked before anything is unpacked.
# Either layout works: the binaries at the archive's top level (the mirror) or under <dir>/bin/ (MongoDB's own).
# Tests use only the cached copy.
set -euo pipefail
TOOLCHAIN_NAME=mongo-tools
. "$(dirname "$0")/cache.sh"
MONGO_TOOLS_VERSION=100.18.0
MIRROR_TARBALL=mongo-tools-$MONGO_TOOLS_VERSION-linux-amd64.tar.gz
MIRROR_SHA256=772e836289261ef6dadd5d7883435ccd4d7f482ce5b12e495282d89e15657ea3
src=${MONGO_TOOLS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/tools/mongo-tools}
case $src in
  http://* | https://* | file://*)
    sha256=${MONGO_TOOLS_SHA256:-}
    [[ $sha256 =~ ^[0-9a-f]{64}$ ]] || { echo "mongo-tools: MONGO_TOOLS_SRC is a URL ($src): set MONGO_TOOLS_SHA256 to the archive's SHA-256 (64 hex digits; MongoDB publishes it as <archive>.sha256)" >&2; exit 1; } ;;
  *) sha256=$MIRROR_SHA256 ;;
esac
dir=$(cache_dir mongo-tools "$0" "$MONGO_TOOLS_VERSION" "$sha256")
build_needs "$dir" mongo-tools-source cache-mib:128

check() {
  expect_output mongo-tools "version: $MONGO_TOOLS_VERSION" "$1/bin/mongodump" --version &&
    expect_output mongo-tools "version: $MONGO_TOOLS_VERSION" "$1/bin/mongorestore" --version
}
cache_lock mongo-tools
if cache_ok "$dir" check; then echo "$dir/bin"; exit 0; fi

tmp="$dir.building.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
case $src in
  http://* | https://* | file://*)
    archive="$tmp/archive.tgz"
    step "downloading $src"
    curl -fsSL --retry 2 -o "$archive" "$src" || { echo "mongo-tools: could not download $src" >&2; exit 1; }
    got=$(sha256sum "$archive")
    [ "${got%% *}" = "$sha256" ] || { echo "mongo-tools: $src has SHA-256 ${got%% *}, not the expected MONGO_TOOLS_SHA256 $sha256; nothing was cached" >&2; exit 1; } ;;
  *)
    archive=$src/$MIRROR_TARBALL
    [ -f "$archive" ] || { echo "mongo-tools: $archive is missing (set MONGO_TOOLS_SRC to the directory holding it and SHA256SUMS, or to a URL with MONGO_TOOLS_SHA256)" >&2; exit 1; }
    step "checking $archive"
    (cd "$src" && sha256sum --quiet -c SHA256SUMS) || { echo "mongo-tools: $archive does not match its SHA256SUMS" >&2; exit 1; }
    got=$(sha256sum "$archive")
    [ "${got%% *}" = "$MIRROR_SHA256" ] || { echo "mongo-tools: $archive is not the pinned $MONGO_TOOLS_VERSION (sha256 $MIRROR_SHA256)" >&2; exit 1; } ;;
esac

step "unpacking mongodump and mongorestore $MONGO_TOOLS_VERSION"
mkdir "$tmp/unpacked"
tar -xzf "$archive" -C "$tmp/unpacked" || { echo "mongo-tools: $archive is not a gzipped tar archive" >&2; exit 1; }
for t in mongodump mongorestore; do
  found=$(cd "$tmp/unpacked" && find . -maxdepth 3 -type f -name "$t" \( -path "./$t" -o -path "./*/bin/$t" -o -path "./bin/$t" \))
  [ -n "$found" ] && [ "${found//[^$'\n']/}" = '' ] || { echo "mongo-tools: $archive does not hold exactly one $t (at its top level or under <dir>/bin/)" >&2; exit 1; }
  mv "$tmp/unpacked/$found" "$tmp/bin/$t"
done
rm -rf "$tmp/unpacked" "$tmp/archive.tgz"
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir/bin"
echo "$dir/bin"

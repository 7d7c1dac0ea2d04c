#!/usr/bin/env bash
# Builds FerretDB once into the cache (see cache.sh) and prints the path of the binary: the MongoDB wire-protocol
# server the MongoDB tests run the real mongodump, mongorestore and mongosh against (SQLite backend, no PostgreSQL).
# From the Go module proxy, with two fixes (docs/mongodb.md, the test toolchain):
#  - the module zip lacks build/version/version.txt, and a binary built without it panics at start: the module is
#    copied out of the module cache and the file written;
#  - FerretDB rejects the `ns` index option that mongorestore sends with every index (real MongoDB ignores it): the
#    copy's createIndexes handler ignores it too, next to the other ignored option (`background`).
# Cold: ~3 min on 2 cores; warm: instant. Module and build caches of its own, deleted afterwards.
set -euo pipefail
TOOLCHAIN_NAME=ferretdb
. "$(dirname "$0")/cache.sh"
FERRETDB_VERSION=v1.24.2
dir=$(cache_dir ferretdb "$0" "$FERRETDB_VERSION")
build_needs "$dir" go tmp-mib:1536 cache-mib:128
check() { expect_output ferretdb "version: $FERRETDB_VERSION" "$1/bin/ferretdb" --version; }
cache_lock ferretdb
if cache_ok "$dir" check; then echo "$dir/bin/ferretdb"; exit 0; fi
command -v go >/dev/null || { echo "ferretdb: Go is needed to build it (https://go.dev/dl)" >&2; exit 1; }

tmp="$dir.building.$$"
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT
mkdir -p "$tmp/bin"
export GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local

step "downloading github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
module=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$module" ] || { echo "ferretdb: the module proxy gave no source directory for $FERRETDB_VERSION" >&2; exit 1; }
cp -r "$module" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
printf '%s\n' "$FERRETDB_VERSION" >build/version/version.txt
handler=internal/handler/msg_createindexes.go
sed -i 's/^\([[:space:]]*\)case "background":$/\1case "background", "ns":/' "$handler"
# Fail loudly when the source moved on: an unpatched server would reject every index mongorestore creates.
[ "$(grep -c 'case "background", "ns":' "$handler")" = 1 ] || { echo "ferretdb: could not patch the ns index option in $handler" >&2; exit 1; }

step "building ./cmd/ferretdb (SQLite backend only; ~3 min cold)"
go build -tags ferretdb_no_postgresql -trimpath -ldflags "-s -w" -o "$tmp/bin/ferretdb" ./cmd/ferretdb
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir/bin/ferretdb"
echo "$dir/bin/ferretdb"

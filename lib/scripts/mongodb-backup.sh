#!/usr/bin/env bash
# mongodb-backup: mongodump --archive --gzip into BACKUP_DIR without ever leaving a file that looks complete
# but is not: dump to NAME.partial, gzip -t, manifest, fsync, rename; prune only after success. A failure ends with one
# line naming the step (mongodb-steps.sh) and leaves the last good archive as it was.
# Env: BACKUP_DIR DATABASE MONGO_HOST SECRET_DIR KEEP SCRIPTS_DIR, and HOME writable (mongosh writes there; with an
# unwritable HOME it prints a warning on stdout, which the manifest step then refuses).
set -euo pipefail
umask 077
: "${BACKUP_DIR:?}" "${DATABASE:?}" "${MONGO_HOST:?}" "${SECRET_DIR:?}" "${KEEP:?}" "${SCRIPTS_DIR:?}"
JOB=mongodb-backup
work=$(mktemp -d)
. "$SCRIPTS_DIR/mongodb-steps.sh"

exec 9>"$BACKUP_DIR/.lock"
flock -n 9 || { rm -rf "$work"; fail "step=lock: another run holds $BACKUP_DIR/.lock"; }

# Leftovers of a killed run are never resumed or promoted.
find "$BACKUP_DIR" -maxdepth 1 -name '*.partial' -type f -delete

stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="$DATABASE-$stamp"
archive="$BACKUP_DIR/$base.archive.gz"
manifest="$BACKUP_DIR/$base.manifest.json"
cleanup() { rm -rf "$work" "$archive.partial" "$manifest.partial"; }
trap cleanup EXIT

# Credentials: mongosh reads the mounted files and writes mongodump's --config (never argv, never env).
DUMP_CONFIG="$work/dump.yaml" step inventory mongosh --nodb --quiet --norc --file "$SCRIPTS_DIR/mongodb-inventory.js" >"$work/inventory.json"
step dump mongodump --config="$work/dump.yaml" --db="$DATABASE" --archive="$archive.partial" --gzip
step gzip-test gzip -t "$archive.partial"

bytes=$(stat -c %s "$archive.partial")
sha=$(sha256sum "$archive.partial" | cut -d' ' -f1)
created=$(date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:9:2}:${stamp:11:2}:${stamp:13:2}" +%Y-%m-%dT%H:%M:%SZ)
MODE=write MANIFEST="$manifest.partial" INVENTORY="$work/inventory.json" DUMP_LOG="$work/dump.err" CREATED_AT="$created" BYTES="$bytes" SHA256="$sha" \
  step manifest mongosh --nodb --quiet --norc --file "$SCRIPTS_DIR/mongodb-manifest.js" >"$work/summary"
step sync sync "$archive.partial" "$manifest.partial"
mv "$archive.partial" "$archive"
mv "$manifest.partial" "$manifest"
step sync sync "$BACKUP_DIR"

# Prune by the stamp in the name, newest first; the archive just written is always the newest.
mapfile -t archives < <(find "$BACKUP_DIR" -maxdepth 1 -type f -name "$DATABASE-*.archive.gz" -printf '%f\n' | sort -r)
for old in "${archives[@]:$KEEP}"; do
  rm -f "$BACKUP_DIR/$old" "$BACKUP_DIR/${old%.archive.gz}.manifest.json"
done
echo "mongodb-backup: OK $base.archive.gz $(<"$work/summary") bytes=$bytes sha256=$sha kept=$(( ${#archives[@]} < KEEP ? ${#archives[@]} : KEEP ))"

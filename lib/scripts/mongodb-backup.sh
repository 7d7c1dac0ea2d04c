#!/usr/bin/env bash
# mongodb-backup: mongodump --archive --gzip into BACKUP_DIR without ever leaving a file that looks complete
# but is not: dump to NAME.partial, gzip -t, fsync, rename; manifest beside it; prune only after success.
# Env: BACKUP_DIR DATABASE MONGO_HOST SECRET_DIR KEEP SCRIPTS_DIR
set -euo pipefail
umask 077
: "${BACKUP_DIR:?}" "${DATABASE:?}" "${MONGO_HOST:?}" "${SECRET_DIR:?}" "${KEEP:?}" "${SCRIPTS_DIR:?}"

exec 9>"$BACKUP_DIR/.lock"
flock -n 9 || { echo "mongodb-backup: another run holds $BACKUP_DIR/.lock" >&2; exit 1; }

# Leftovers of a killed run are never resumed or promoted.
find "$BACKUP_DIR" -maxdepth 1 -name '*.partial' -type f -delete

stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="$DATABASE-$stamp"
archive="$BACKUP_DIR/$base.archive.gz"
manifest="$BACKUP_DIR/$base.manifest.json"
work=$(mktemp -d)
cleanup() { rm -rf "$work" "$archive.partial" "$manifest.partial"; }
trap cleanup EXIT

counts=$(DUMP_CONFIG="$work/dump.yaml" mongosh --nodb --quiet --norc --file "$SCRIPTS_DIR/mongodb-counts.js")
mongodump --config="$work/dump.yaml" --db="$DATABASE" --archive="$archive.partial" --gzip --quiet
gzip -t "$archive.partial"

bytes=$(stat -c %s "$archive.partial")
sha=$(sha256sum "$archive.partial" | cut -d' ' -f1)
printf '{"database":"%s","createdAt":"%s","collections":%s,"bytes":%s,"sha256":"%s"}\n' \
  "$DATABASE" "$(date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:9:2}:${stamp:11:2}:${stamp:13:2}" +%Y-%m-%dT%H:%M:%SZ)" \
  "$counts" "$bytes" "$sha" >"$manifest.partial"
sync "$archive.partial" "$manifest.partial"
mv "$archive.partial" "$archive"
mv "$manifest.partial" "$manifest"
sync "$BACKUP_DIR"

# Prune by the stamp in the name, newest first; the archive just written is always the newest.
mapfile -t archives < <(find "$BACKUP_DIR" -maxdepth 1 -type f -name "$DATABASE-*.archive.gz" -printf '%f\n' | sort -r)
for old in "${archives[@]:$KEEP}"; do
  rm -f "$BACKUP_DIR/$old" "$BACKUP_DIR/${old%.archive.gz}.manifest.json"
done
echo "mongodb-backup: OK $base.archive.gz bytes=$bytes sha256=$sha kept=$(( ${#archives[@]} < KEEP ? ${#archives[@]} : KEEP ))"

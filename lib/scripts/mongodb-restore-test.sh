#!/usr/bin/env bash
# mongodb-restore-test: the only proof that a backup restores. Restores the newest archive into a throw-away
# mongod on an emptyDir and compares per-collection counts with the manifest.
# Env: BACKUP_DIR DATABASE SCRATCH_DIR SCRIPTS_DIR
set -euo pipefail
: "${BACKUP_DIR:?}" "${DATABASE:?}" "${SCRATCH_DIR:?}" "${SCRIPTS_DIR:?}"

newest=$(find "$BACKUP_DIR" -maxdepth 1 -type f -name "$DATABASE-*.archive.gz" -printf '%f\n' | sort -r | head -n1)
[ -n "$newest" ] || { echo "mongodb-restore-test: FAIL no archive"; exit 1; }
manifest="$BACKUP_DIR/${newest%.archive.gz}.manifest.json"

mkdir -p "$SCRATCH_DIR/db"
mongod --dbpath "$SCRATCH_DIR/db" --bind_ip 127.0.0.1 --port 27099 --fork --logpath "$SCRATCH_DIR/mongod.log" >/dev/null
trap 'mongod --dbpath "$SCRATCH_DIR/db" --shutdown >/dev/null 2>&1 || true' EXIT
mongorestore --host 127.0.0.1:27099 --archive="$BACKUP_DIR/$newest" --gzip --nsInclude="$DATABASE.*" --quiet
restored=$(DATABASE="$DATABASE" mongosh --quiet --norc "mongodb://127.0.0.1:27099/$DATABASE" --eval \
  'const c={}; for (const n of db.getCollectionNames().sort()) c[n]=db.getCollection(n).countDocuments({}); print(JSON.stringify(c))')
expected=$(grep -o '"collections":{[^}]*}' "$manifest" | cut -d: -f2-)
if [ "$restored" != "$expected" ]; then
  echo "mongodb-restore-test: FAIL $newest restored $restored, manifest says $expected"
  exit 1
fi
echo "mongodb-restore-test: OK $newest restored counts $restored"

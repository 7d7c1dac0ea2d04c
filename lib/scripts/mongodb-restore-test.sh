#!/usr/bin/env bash
# mongodb-restore-test: the only proof that a backup restores. Restores the newest archive into a throw-away server
# and compares per-collection counts and index definitions with its manifest, whose counts are what mongodump wrote
# (so documents written during the dump neither fail this test nor hide missing ones). One line either way.
# Env: BACKUP_DIR DATABASE SCRATCH_DIR SCRIPTS_DIR, HOME writable; RESTORE_HOST (host:port of an already running
# throw-away server without auth) replaces the mongod this script starts on SCRATCH_DIR: tests have no mongod and
# hand it a FerretDB.
set -euo pipefail
: "${BACKUP_DIR:?}" "${DATABASE:?}" "${SCRATCH_DIR:?}" "${SCRIPTS_DIR:?}"
JOB=mongodb-restore-test
work=$(mktemp -d)
. "$SCRIPTS_DIR/mongodb-steps.sh"
trap 'rm -rf "$work"' EXIT

# Captured whole, then the first line taken: `| head -n1` under pipefail could kill sort with SIGPIPE.
archives=$(find "$BACKUP_DIR" -maxdepth 1 -type f -name "$DATABASE-*.archive.gz" -printf '%f\n' | sort -r)
newest=${archives%%$'\n'*}
[ -n "$newest" ] || fail "step=find: no $DATABASE-*.archive.gz in $BACKUP_DIR"
manifest="$BACKUP_DIR/${newest%.archive.gz}.manifest.json"
[ -f "$manifest" ] || fail "step=find: no manifest for $newest"

if [ -n "${RESTORE_HOST:-}" ]; then
  host=$RESTORE_HOST
else
  host=127.0.0.1:27099
  mkdir -p "$SCRATCH_DIR/db"
  trap 'mongod --dbpath "$SCRATCH_DIR/db" --shutdown >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  step mongod mongod --dbpath "$SCRATCH_DIR/db" --bind_ip 127.0.0.1 --port 27099 --fork --logpath "$SCRATCH_DIR/mongod.log" >/dev/null
fi
# --stopOnError: without it mongorestore skips documents it cannot insert and still exits 0. --drop: a scratch
# directory reused by a retry must not turn into duplicate keys.
step restore mongorestore --host="$host" --archive="$BACKUP_DIR/$newest" --gzip --nsInclude="$DATABASE.*" --drop --stopOnError
MONGO_HOST=$host step inventory mongosh --nodb --quiet --norc --file "$SCRIPTS_DIR/mongodb-inventory.js" >"$work/restored.json"
MODE=check MANIFEST="$manifest" ARCHIVE="$newest" INVENTORY="$work/restored.json" step compare mongosh --nodb --quiet --norc --file "$SCRIPTS_DIR/mongodb-manifest.js" >"$work/summary"
echo "$JOB: OK $newest restored $(<"$work/summary") as its manifest says"

#!/usr/bin/env bash
# mongodb-backup-verify: fails (so the Job shows Failed and alerts fire) unless the newest archive is fresh by
# its name, complete (gzip -t), large enough and matches its manifest, and enough archives exist.
# Prints one status line either way. Env: BACKUP_DIR DATABASE MAX_AGE_HOURS MIN_BYTES MIN_ARCHIVES
set -euo pipefail
: "${BACKUP_DIR:?}" "${DATABASE:?}" "${MAX_AGE_HOURS:?}" "${MIN_BYTES:?}" "${MIN_ARCHIVES:?}"

fail() { echo "mongodb-backup-verify: FAIL $*"; exit 1; }

mapfile -t archives < <(find "$BACKUP_DIR" -maxdepth 1 -type f -name "$DATABASE-*.archive.gz" -printf '%f\n' | sort -r)
[ "${#archives[@]}" -gt 0 ] || fail "missing: no $DATABASE-*.archive.gz in $BACKUP_DIR"
newest=${archives[0]}
[[ $newest =~ -([0-9]{8})T([0-9]{2})([0-9]{2})([0-9]{2})Z\.archive\.gz$ ]] || fail "unparseable name: $newest"
d=${BASH_REMATCH[1]}
taken=$(date -u -d "${d:0:4}-${d:4:2}-${d:6:2} ${BASH_REMATCH[2]}:${BASH_REMATCH[3]}:${BASH_REMATCH[4]}" +%s)
age_h=$(( ($(date -u +%s) - taken) / 3600 ))
[ "$age_h" -lt "$MAX_AGE_HOURS" ] || fail "stale: newest $newest is ${age_h}h old (limit ${MAX_AGE_HOURS}h)"
gzip -t "$BACKUP_DIR/$newest" 2>/dev/null || fail "truncated or corrupt: gzip -t fails on $newest"
bytes=$(stat -c %s "$BACKUP_DIR/$newest")
[ "$bytes" -ge "$MIN_BYTES" ] || fail "too small: $newest is $bytes bytes (floor $MIN_BYTES)"
manifest="$BACKUP_DIR/${newest%.archive.gz}.manifest.json"
[ -f "$manifest" ] || fail "no manifest for $newest"
want=$(grep -o '"sha256":"[0-9a-f]*"' "$manifest" | cut -d'"' -f4)
have=$(sha256sum "$BACKUP_DIR/$newest" | cut -d' ' -f1)
[ "$want" = "$have" ] || fail "checksum mismatch: $newest sha256 $have, manifest says ${want:-nothing}"
[ "${#archives[@]}" -ge "$MIN_ARCHIVES" ] || fail "too few archives: ${#archives[@]} (expected at least $MIN_ARCHIVES)"
echo "mongodb-backup-verify: OK newest=$newest age=${age_h}h bytes=$bytes archives=${#archives[@]}"

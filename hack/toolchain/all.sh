#!/usr/bin/env bash
# Builds (first time) or reuses (afterwards) every piece of test infrastructure the suite runs for real, each
# into the cache outside the checkout (cache.sh), after checking everything cheap first (prereqs.sh). `npm test`
# runs this first, so a fresh machine needs nothing else. Progress goes to stderr; nothing to stdout.
set -euo pipefail
cd "$(dirname "$0")"
[ -d ../../../shared ] || [ -n "${MONGO_TOOLS_SRC:-}" ] ||
  echo "toolchain: ../shared is not beside the checkout; the MongoDB tools come from MONGO_TOOLS_SRC when they are not cached yet (README: Fresh machine)" >&2
bash ./prereqs.sh
for piece in lab mongo-tools ferretdb kube-score checkov crossplane robfig-cron kustomize; do
  bash "./$piece.sh" >/dev/null
done

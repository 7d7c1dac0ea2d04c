#!/usr/bin/env bash
# Builds (first time) or reuses (afterwards) every piece of test infrastructure the suite runs for real, each
# into the cache outside the checkout (cache.sh). `npm test` runs this first, so a fresh machine needs nothing
# else but the Debian packages .ci/run installs. Progress goes to stderr; nothing to stdout.
set -euo pipefail
cd "$(dirname "$0")"
for piece in lab mongo-tools ferretdb kube-score checkov; do
  bash "./$piece.sh" >/dev/null
done

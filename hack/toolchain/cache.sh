# Sourced by the toolchain build scripts. One cache layout for every piece of test infrastructure:
#   ${ROOMLER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/roomler-k8s}/<name>-<key>/
# where <key> hashes the versions and the build script itself, so editing a script rebuilds its piece and an
# unchanged one is reused by every later run on the same machine. Nothing is ever written into the checkout.
set -euo pipefail
ROOMLER_CACHE=${ROOMLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roomler-k8s}
mkdir -p "$ROOMLER_CACHE"

# cache_dir NAME SCRIPT VERSIONS...: prints the directory for this exact build.
cache_dir() {
  local name=$1 script=$2; shift 2
  local key
  key=$( { printf '%s\n' "$@"; cat "$script" "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12)
  printf '%s/%s-%s\n' "$ROOMLER_CACHE" "$name" "$key"
}

# step MESSAGE: a progress line with the elapsed time of this build.
_started=$(date +%s)
step() { printf '[%s +%ss] %s\n' "${TOOLCHAIN_NAME:-toolchain}" "$(( $(date +%s) - _started ))" "$*" >&2; }

# publish TMPDIR FINALDIR: the build is visible only once complete (a killed build leaves no half cache).
publish() {
  local tmp=$1 final=$2
  touch "$tmp/.complete"
  rm -rf "$final"
  mv "$tmp" "$final"
}

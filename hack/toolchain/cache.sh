# Sourced by the toolchain build scripts. One cache layout for every piece of test infrastructure:
#   ${ROOMLER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/roomler-k8s}/<name>-<key>/
# where <key> hashes the versions and the piece's own build script, so editing a script rebuilds its piece and an
# unchanged one is reused by every later run on the same machine. Nothing is ever written into the checkout.
#
# A build becomes visible only when complete: it is made in a temporary directory and renamed into place with a
# manifest (.complete: the sha256 of every file). Before each use the manifest and the piece's own check (the
# version its programs report) are verified, so a damaged cache (a deleted or truncated file, a disk that filled)
# is rebuilt, never used. Programs' output is always captured first and matched afterwards: a reader that stops
# early (`grep -q`) would kill the writer with SIGPIPE, and under pipefail that fails a healthy check.
set -euo pipefail
ROOMLER_CACHE=${ROOMLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roomler-k8s}
_toolchain_arg=${1:-}
[ "$_toolchain_arg" = --needs ] || mkdir -p "$ROOMLER_CACHE"

# cache_dir NAME SCRIPT VERSIONS...: prints the directory for this exact build.
cache_dir() {
  local name=$1 script=$2; shift 2
  local key
  key=$( { printf '%s\n' "$@"; cat "$script"; } | sha256sum)
  printf '%s/%s-%s\n' "$ROOMLER_CACHE" "$name" "${key:0:12}"
}

# build_needs DIR NEED...: called with `--needs` (by prereqs.sh), a piece prints what building it needs, one per
# line (go, go-min:VERSION, curl, python-venv, mongo-tools-source, tmp-mib:N free MiB in TMPDIR, cache-mib:N in the
# cache), unless it is already built, and stops there. Otherwise nothing happens.
build_needs() {
  [ "$_toolchain_arg" = --needs ] || return 0
  [ -f "$1/.complete" ] || { shift; printf '%s\n' "$@"; }
  exit 0
}

# step MESSAGE: a progress line with the elapsed time of this build.
_started=$(date +%s)
step() { printf '[%s +%ss] %s\n' "${TOOLCHAIN_NAME:-toolchain}" "$(( $(date +%s) - _started ))" "$*" >&2; }

# cache_lock NAME: one build or check of a piece at a time on this machine (parallel test files ask at once);
# held until the script exits.
cache_lock() {
  exec 9>"$ROOMLER_CACHE/.$1.lock"
  flock 9
}

# expect_output WHAT EXPECTED COMMAND...: runs COMMAND, captures everything it prints, then requires EXPECTED in it.
expect_output() {
  local what=$1 expected=$2 out; shift 2
  out=$("$@" 2>&1) || { echo "$what: '$*' failed: ${out:0:300}" >&2; return 1; }
  [[ $out == *"$expected"* ]] || { echo "$what: '$*' does not report $expected (it said: ${out:0:300})" >&2; return 1; }
}

# manifest DIR: the sha256 of every file under DIR (paths relative to it; Python's bytecode caches excluded, as
# running a program may write them), sorted, so a damaged file is found before use.
manifest() {
  (cd "$1" && find . -type f ! -name .complete ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# publish TMPDIR FINALDIR: writes the manifest, then makes the build visible in one rename.
publish() {
  local tmp=$1 final=$2
  local sums
  sums=$(manifest "$tmp")
  printf '%s\n' "$sums" >"$tmp/.complete"
  rm -rf "$final"
  mv "$tmp" "$final"
}

# cache_ok DIR CHECK: true when DIR holds a complete build whose files match its manifest and which passes CHECK
# (a function given the directory). A damaged build is reported and removed, so the caller rebuilds it.
cache_ok() {
  local dir=$1 check=$2 why='' out files
  [ -e "$dir" ] || return 1
  if [ ! -f "$dir/.complete" ]; then
    why='no manifest (an interrupted build)'
  elif ! out=$(cd "$dir" && sha256sum --quiet --strict -c .complete 2>&1); then
    out=${out//$'\n'/; }
    why="a file differs from its manifest: ${out:0:300}"
  else
    files=$(cd "$dir" && find . -type f ! -name .complete ! -path '*/__pycache__/*' -printf .)
    if [ "${#files}" != "$(wc -l <"$dir/.complete")" ]; then
      why='files were added after the build'
    elif ! "$check" "$dir"; then
      why='its programs do not report the expected versions'
    fi
  fi
  [ -z "$why" ] && return 0
  step "the cached build in $dir is damaged ($why): rebuilding it"
  rm -rf "$dir"
  return 1
}

#!/usr/bin/env bash
# Installs Checkov once into a virtualenv in the cache (see cache.sh) and prints the path of the checkov command.
# Pinned with pip from PyPI; run it with --skip-download (no policy or version look-ups at run time).
# Cold: ~1-2 min; warm: instant.
set -euo pipefail
TOOLCHAIN_NAME=checkov
. "$(dirname "$0")/cache.sh"
CHECKOV_VERSION=3.3.30
python_version=$(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo none)
dir=$(cache_dir checkov "$0" "$CHECKOV_VERSION" "$python_version")
build_needs "$dir" python-venv tmp-mib:256 cache-mib:512
[ "$python_version" != none ] || { echo "checkov: python3 (with venv) is needed" >&2; exit 1; }
# `checkov --version` takes 2.5 s (it imports every check); the installed distribution's metadata says the same.
check() { expect_output checkov "$CHECKOV_VERSION" "$1/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))'; }
cache_lock checkov
if cache_ok "$dir" check; then echo "$dir/venv/bin/checkov"; exit 0; fi

# A venv's scripts name their interpreter by absolute path, so it cannot be built elsewhere and moved like the Go
# builds: it is built in place, and only the manifest (written last) makes it count.
rm -rf "$dir"
trap '[ -f "$dir/.complete" ] || rm -rf "$dir"' EXIT
step "python3 -m venv, pip install checkov==$CHECKOV_VERSION (~1-2 min cold)"
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "checkov==$CHECKOV_VERSION"
check "$dir"
sums=$(manifest "$dir")
printf '%s\n' "$sums" >"$dir/.complete"
step "done: $dir/venv/bin/checkov"
echo "$dir/venv/bin/checkov"

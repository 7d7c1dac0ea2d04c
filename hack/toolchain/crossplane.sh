#!/usr/bin/env bash
# Installs crossplane (nginx's own config lexer and parser rules, in Python) once into a virtualenv in the cache (see
# cache.sh) and prints the path of its Python. The nginx tokenizer's differential test runs it as an independent
# implementation. Pinned with pip from PyPI. Cold: ~10 s; warm: instant.
set -euo pipefail
TOOLCHAIN_NAME=crossplane
. "$(dirname "$0")/cache.sh"
CROSSPLANE_VERSION=0.5.8
python_version=$(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo none)
dir=$(cache_dir crossplane "$0" "$CROSSPLANE_VERSION" "$python_version")
build_needs "$dir" python-venv tmp-mib:64 cache-mib:64
[ "$python_version" != none ] || { echo "crossplane: python3 (with venv) is needed" >&2; exit 1; }
check() { expect_output crossplane "$CROSSPLANE_VERSION" "$1/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("crossplane"))'; }
cache_lock crossplane
if cache_ok "$dir" check; then echo "$dir/venv/bin/python"; exit 0; fi

# A venv's scripts name their interpreter by absolute path, so it cannot be built elsewhere and moved like the Go
# builds: it is built in place, and only the manifest (written last) makes it count.
rm -rf "$dir"
trap '[ -f "$dir/.complete" ] || rm -rf "$dir"' EXIT
step "python3 -m venv, pip install crossplane==$CROSSPLANE_VERSION (~10 s cold)"
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "crossplane==$CROSSPLANE_VERSION"
check "$dir"
sums=$(manifest "$dir")
printf '%s\n' "$sums" >"$dir/.complete"
step "done: $dir/venv/bin/python"
echo "$dir/venv/bin/python"

#!/usr/bin/env bash
# Everything the test suite needs that can be known in a second, checked before anything long starts, and listed in
# one message with the command that provides each. Run first by `npm test` (hack/toolchain/all.sh) and `.ci/run`.
#   prereqs.sh             check; exit 1 listing everything missing
#   prereqs.sh --packages  print the Debian packages of the missing host tools, one line (for .ci/run's apt-get)
# The build needs come from the pieces themselves (`<piece>.sh --needs`): nothing for a piece already in the cache.
set -euo pipefail
cd "$(dirname "$0")"
ROOMLER_CACHE=${ROOMLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roomler-k8s}

# The host programs the tests drive for real (on loopback, on ports of their own), and the Debian package of each.
tools=(
  rsync:rsync sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client flock:util-linux setpriv:util-linux
  unshare:util-linux nsenter:util-linux pkill:procps openssl:openssl gzip:gzip tar:tar sha256sum:coreutils
  setfacl:acl getfacl:acl crontab:cron turnserver:coturn turnutils_uclient:coturn dnsmasq:dnsmasq-base
  nginx:nginx-light janus:janus etcd:etcd-server git:git curl:curl python3:python3
)
GO_MIN=1.22.7      # kustomize v5.7.1 declares go 1.22.7 (the lab's scratch module: go 1.22)
NODE_MIN=20.19     # package.json engines

missing_tools=() packages=()
for entry in "${tools[@]}"; do
  t=${entry%%:*} p=${entry#*:}
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] || {
    missing_tools+=("$t")
    [[ " ${packages[*]} " == *" $p "* ]] || packages+=("$p")
  }
done
if [ "${1:-}" = --packages ]; then echo "${packages[*]}"; exit 0; fi

problems=()
[ "${#missing_tools[@]}" -eq 0 ] ||
  problems+=("host tools the tests drive: ${missing_tools[*]} -> apt-get install -y --no-install-recommends ${packages[*]}")

version_at_least() { # VERSION MIN: numeric dotted comparison
  local i a b
  IFS=. read -r -a a <<<"$1"
  IFS=. read -r -a b <<<"$2"
  for i in 0 1 2; do
    (( ${a[i]:-0} > ${b[i]:-0} )) && return 0
    (( ${a[i]:-0} < ${b[i]:-0} )) && return 1
  done
  return 0
}
node_version=$(node --version 2>/dev/null || true)
if [ -z "$node_version" ]; then
  problems+=("Node.js $NODE_MIN or newer: not found -> https://nodejs.org (or your distribution's nodejs)")
elif ! version_at_least "${node_version#v}" "$NODE_MIN"; then
  problems+=("Node.js $NODE_MIN or newer: found $node_version -> https://nodejs.org")
fi

# What the pieces not yet in the cache need to be built.
needs=()
for piece in lab mongo-tools ferretdb kube-score checkov crossplane robfig-cron kustomize; do
  if out=$(bash "./$piece.sh" --needs 2>&1); then
    [ -z "$out" ] || needs+=($out)
  else
    problems+=("$out")
  fi
done
need() { [[ " ${needs[*]} " == *" $1 "* ]]; }
max_mib() { local n=0 v; for v in "${needs[@]}"; do [[ $v == "$1":* ]] && (( ${v#*:} > n )) && n=${v#*:}; done; echo "$n"; }

if need go; then
  go_version=$(go env GOVERSION 2>/dev/null || true)
  if [ -z "$go_version" ]; then
    problems+=("Go $GO_MIN or newer, to build the lab control plane, FerretDB, kube-score, the cron parser and kustomize: not found -> https://go.dev/dl")
  elif ! version_at_least "${go_version#go}" "$GO_MIN"; then
    problems+=("Go $GO_MIN or newer, to build the lab control plane, FerretDB, kube-score, the cron parser and kustomize: found $go_version -> https://go.dev/dl")
  fi
fi
if need python-venv && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  problems+=("Python's venv module, to install Checkov and crossplane -> apt-get install -y python3-venv")
fi
if need mongo-tools-source; then
  src=${MONGO_TOOLS_SRC:-$(cd ../.. && pwd)/../shared/tools/mongo-tools}
  case $src in
    http://* | https://* | file://*) ;; # mongo-tools.sh --needs already refused a URL without MONGO_TOOLS_SHA256
    *) [ -f "$src/mongo-tools-100.18.0-linux-amd64.tar.gz" ] && [ -f "$src/SHA256SUMS" ] ||
         problems+=("the MongoDB tools 100.18.0: $src holds no mongo-tools-100.18.0-linux-amd64.tar.gz with SHA256SUMS -> set MONGO_TOOLS_SRC to such a directory, or to the URL of MongoDB's release archive with MONGO_TOOLS_SHA256 (README: Fresh machine)") ;;
  esac
fi
free_mib() { local d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pm "$d" | awk 'NR == 2 { print $4 }'; }
tmp_dir=${TMPDIR:-/tmp}
tmp_need=$(max_mib tmp-mib) cache_need=0
for v in "${needs[@]}"; do [[ $v == cache-mib:* ]] && cache_need=$(( cache_need + ${v#*:} )); done
if (( tmp_need > 0 )) && (( $(free_mib "$tmp_dir") < tmp_need )); then
  problems+=("$tmp_need MiB free in $tmp_dir for the builds' temporary files: $(free_mib "$tmp_dir") MiB free -> free space there, or point TMPDIR elsewhere")
fi
if (( cache_need > 0 )) && (( $(free_mib "$ROOMLER_CACHE") < cache_need )); then
  problems+=("$cache_need MiB free in $ROOMLER_CACHE for the builds: $(free_mib "$ROOMLER_CACHE") MiB free -> free space there, or point ROOMLER_CACHE elsewhere")
fi

[ "${#problems[@]}" -eq 0 ] && exit 0
echo "prerequisites: ${#problems[@]} missing (checked before any build; nothing was built):" >&2
for p in "${problems[@]}"; do echo "  - $p" >&2; done
exit 1

#!/usr/bin/env bash
# Builds `cron-parse` once into the cache (see cache.sh) and prints its path: a few lines of Go around
# github.com/robfig/cron/v3 (the version Kubernetes v1.28 vendors) that read one JSON string per line on stdin and
# answer one JSON line each, {"ok":true} or {"error":"..."}, as cron.ParseStandard does for a CronJob's schedule.
# The schedule validator's differential test feeds it generated schedules. From the Go module proxy, with module
# and build caches of its own that are deleted afterwards. Cold: ~20 s; warm: instant.
set -euo pipefail
TOOLCHAIN_NAME=robfig-cron
. "$(dirname "$0")/cache.sh"
CRON_VERSION=v3.0.1
dir=$(cache_dir robfig-cron "$0" "$CRON_VERSION")
build_needs "$dir" go tmp-mib:128 cache-mib:16
check() { expect_output robfig-cron "$CRON_VERSION" "$1/bin/cron-parse" --version; }
cache_lock robfig-cron
if cache_ok "$dir" check; then echo "$dir/bin/cron-parse"; exit 0; fi
command -v go >/dev/null || { echo "robfig-cron: Go is needed to build it (https://go.dev/dl)" >&2; exit 1; }

tmp="$dir.building.$$"
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT
mkdir -p "$tmp/bin" "$work/src"
export GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local
cat >"$work/src/go.mod" <<MOD
module cronparse

go 1.22

require github.com/robfig/cron/v3 $CRON_VERSION
MOD
cat >"$work/src/main.go" <<'GO'
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/robfig/cron/v3"
)

type answer struct {
	Ok    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// parse answers as ParseStandard does; a panic (a TZ= prefix with no space after it) is reported as its message, as
// the API server's panic handler would turn it into an internal error rather than a validation one.
func parse(schedule string) (a answer) {
	defer func() {
		if r := recover(); r != nil {
			a = answer{Error: fmt.Sprint(r)}
		}
	}()
	if _, err := cron.ParseStandard(schedule); err != nil {
		return answer{Error: err.Error()}
	}
	return answer{Ok: true}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println("github.com/robfig/cron/v3 v3.0.1")
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		var schedule string
		if err := json.Unmarshal(in.Bytes(), &schedule); err != nil {
			fmt.Fprintln(os.Stderr, "cron-parse: each line must be a JSON string:", err)
			os.Exit(2)
		}
		_ = enc.Encode(parse(schedule))
	}
}
GO
step "go build cron-parse with github.com/robfig/cron/v3@$CRON_VERSION (~20 s cold)"
(cd "$work/src" && go mod tidy >/dev/null 2>&1 && go build -trimpath -ldflags "-s -w" -o "$tmp/bin/cron-parse" .)
cp "$work/src/go.mod" "$work/src/go.sum" "$tmp/"
cp "$GOMODCACHE/github.com/robfig/cron/v3@$CRON_VERSION/parser.go" "$tmp/parser.go"
check "$tmp"
publish "$tmp" "$dir"
step "done: $dir/bin/cron-parse"
echo "$dir/bin/cron-parse"

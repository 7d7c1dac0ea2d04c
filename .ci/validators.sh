#!/usr/bin/env bash
# Installs pinned kubeconform and kube-linter with `go install` (issue 3 fills this in).
set -euo pipefail

#!/usr/bin/env bash
# Independent validators over dist/: their verdicts must agree with `npm run validate`.
#  - kubeconform (pinned), -strict, against schemas generated offline from the vendored 1.28 definitions.
#  - kube-linter: NOT installable here. The Go module proxy answers 403 Forbidden for every path of it
#    (golang.stackrox.io/kube-linter and github.com/stackrox/kube-linter, any version), so our policy rules,
#    which use kube-linter's check names and exemption annotations, remain the gate.
#  - kube-score v1.20.0 and Checkov 3.3.30, built once into the cache by hack/toolchain/: every finding
#    must be listed with its reason in .ci/linter-exemptions.yaml, and every listed one must still be found.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
KUBECONFORM_VERSION=v0.6.7
if [[ $(kubeconform -v 2>/dev/null || true) != *"${KUBECONFORM_VERSION#v}"* ]]; then
  GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
fi
if go install golang.stackrox.io/kube-linter/cmd/kube-linter@v0.7.2 >/dev/null 2>&1; then
  echo "validators: kube-linter became installable; wire it in (.ci/validators.sh)" >&2
fi

schemas=$(mktemp -d)
trap 'rm -rf "$schemas"' EXIT
node --require tsx/cjs hack/kubeconform-schemas.ts dist "$schemas"
kubeconform -strict -summary -schema-location "$schemas/{{.ResourceKind}}{{.KindSuffix}}.json" dist/
# Our own verdict on the same files must agree: no errors.
npm run -s validate -- dist

# kube-score (~1 min cold: go install) and Checkov (~1 min cold: pip into a venv); instant when cached.
kube_score=$(bash hack/toolchain/kube-score.sh)
checkov=$(bash hack/toolchain/checkov.sh)
node --require tsx/cjs hack/linters.ts "$kube_score" "$checkov" dist

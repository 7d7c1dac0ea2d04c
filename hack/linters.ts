// `node --require tsx/cjs hack/linters.ts KUBE_SCORE CHECKOV [DIR]` (run by .ci/validators.sh): kube-score and
// Checkov over DIR (default dist/), compared with .ci/linter-exemptions.yaml. Exit 1 on any finding the file does
// not list, and on any listed exemption that no longer matches a finding.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { compare, EXEMPTIONS_FILE, loadExemptions, runLinters } from './lib/linters/linters';

const [kubeScore, checkov, dir = 'dist'] = process.argv.slice(2);
if (!kubeScore || !checkov) {
  console.error('usage: hack/linters.ts KUBE_SCORE_BIN CHECKOV_BIN [DIR]');
  process.exit(2);
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join(dir, f));
const findings = runLinters({ 'kube-score': kubeScore, checkov }, files, dir);
const { unexempted, stale, exempted } = compare(findings, loadExemptions(EXEMPTIONS_FILE));
for (const f of unexempted) console.log(`NEW   [${f.tool} ${f.check}] ${f.object}: ${f.detail}`);
for (const s of stale) console.log(`STALE ${s}: no longer reported; remove it from .ci/linter-exemptions.yaml`);
console.log(
  `linters: kube-score and checkov over ${files.length} file(s): ${findings.length} finding(s), ${exempted.length} exempted, ${unexempted.length} new, ${stale.length} stale exemption(s)`,
);
process.exit(unexempted.length || stale.length ? 1 : 0);

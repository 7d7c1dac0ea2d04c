import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { publish } from '../lib/synth';
import { run } from './lib/process/run';

// `npm run imports`: regenerates imports/ (typed L1 classes of the Argo CD Application and the SealedSecret) with
// `cdk8s import` from the CRDs listed in cdk8s.yaml, offline. `--no-save` because the CLI would otherwise rewrite
// cdk8s.yaml through a YAML round trip that drops its comments.
export const ROOT = join(__dirname, '..');
export const IMPORTS_DIR = join(ROOT, 'imports');

/** What `cdk8s import` generates now: file name -> text. Writes nothing inside the checkout. */
export async function generateImports(): Promise<Map<string, string>> {
  const out = mkdtempSync(join(tmpdir(), 'roomler-imports-'));
  try {
    const r = await run(join(ROOT, 'node_modules', '.bin', 'cdk8s'), ['import', '--no-save', '--language', 'typescript', '--output', out], {
      cwd: ROOT,
      env: { CDK8S_CHECK_UPGRADE: 'false' },
      timeoutMs: 120_000,
    });
    if (r.exitCode !== 0) throw new Error(`cdk8s import failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
    return new Map(
      readdirSync(out)
        .sort()
        .map((f) => [f, readFileSync(join(out, f), 'utf8')]),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (require.main === module) {
  generateImports().then(
    (files) => {
      // The same atomic swap synth uses for dist/: a failed import leaves imports/ as it was.
      publish(files, IMPORTS_DIR);
      process.stdout.write(`imports: wrote ${[...files.keys()].map((f) => `imports/${f}`).join(', ')}\n`);
    },
    (e: Error) => {
      process.stderr.write(`imports: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}

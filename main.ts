import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from './lib/config';
import { publish, synthesize } from './lib/synth';
import { validateFiles, formatFindings } from './lib/validate';

/**
 * Synthesizes every chart, validates the result, and swaps it into `dist/` (or ROOMLER_OUTDIR) only when
 * everything passed. `cdk8s synth` empties its own output directory before running the app, so
 * `cdk8s.yaml` points that at `.cdk8s.out/` and this program mirrors the manifests there for the CLI.
 */
function main(): number {
  const root = __dirname;
  const outdir = resolve(root, process.env.ROOMLER_OUTDIR ?? 'dist');
  let files: Map<string, string>;
  try {
    const config = loadConfig({ cwd: root });
    files = synthesize(config);
    const findings = validateFiles(files, config);
    const errors = findings.filter((f) => f.severity === 'error');
    if (findings.length) process.stderr.write(formatFindings(findings) + '\n');
    if (errors.length) {
      process.stderr.write(`synth: ${errors.length} validation error(s); ${outdir} left unchanged\n`);
      return 1;
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`synth: ${e.message}\nsynth: ${outdir} left unchanged\n`);
      return 1;
    }
    throw e;
  }
  publish(files, outdir);
  const cliOutdir = process.env.CDK8S_OUTDIR ? resolve(root, process.env.CDK8S_OUTDIR) : undefined;
  if (cliOutdir && cliOutdir !== outdir) {
    mkdirSync(cliOutdir, { recursive: true });
    for (const [name, text] of files) writeFileSync(join(cliOutdir, name), text);
  }
  process.stdout.write(`synth: wrote ${[...files.keys()].map((f) => join('dist', f)).join(', ')}\n`);
  return 0;
}

process.exitCode = main();

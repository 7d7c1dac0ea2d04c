import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { ConfigError, loadConfig } from './config';
import { publish, render, synthesizeManifests } from './synth';
import { formatFindings, validateObjects } from './validate';

export interface RunSynthOptions {
  /** Where `roomler.yaml` and `.env` are looked up. */
  readonly projectDir: string;
  /** Directory replaced with the manifests. @default `<projectDir>/dist` (or ROOMLER_OUTDIR) */
  readonly outdir?: string;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly stdout?: { write(s: string): unknown };
  readonly stderr?: { write(s: string): unknown };
}

/**
 * Synthesizes every chart, validates the result, and swaps it into the output directory only when
 * everything passed; on any error the directory is left exactly as it was. Returns the exit code.
 */
export function runSynth(options: RunSynthOptions): number {
  const env = options.env ?? process.env;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const outdir = resolve(options.projectDir, options.outdir ?? env.ROOMLER_OUTDIR ?? 'dist');
  const rel = relative(process.cwd(), outdir);
  const shown = rel && !rel.startsWith('..') ? rel : outdir;
  let files: Map<string, string>;
  try {
    const config = loadConfig({ cwd: options.projectDir, env });
    const note = (line: string) => stderr.write(`synth: ${line}\n`);
    const manifests = synthesizeManifests(config, { sealedDir: join(options.projectDir, 'sealed'), note });
    const objects = [...manifests].flatMap(([file, ms]) => ms.map((object, index) => ({ file, index, object })));
    const { findings } = validateObjects(objects, config);
    files = render(manifests);
    if (findings.length) stderr.write(formatFindings(findings) + '\n');
    const errors = findings.filter((f) => f.severity === 'error').length;
    if (errors) {
      stderr.write(`synth: ${errors} validation error(s); ${shown} left unchanged\n`);
      return 1;
    }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    stderr.write(`synth: ${e.message}\nsynth: ${shown} left unchanged\n`);
    return 1;
  }
  publish(files, outdir);
  // `cdk8s synth` empties its own output directory before running the app (so it cannot be dist/ without
  // losing dist/ on a failed run); mirror the manifests there for the CLI's listing and `--stdout`.
  const cliOutdir = env.CDK8S_OUTDIR ? resolve(options.projectDir, env.CDK8S_OUTDIR) : undefined;
  if (cliOutdir && cliOutdir !== outdir) {
    mkdirSync(cliOutdir, { recursive: true });
    for (const [name, text] of files) writeFileSync(join(cliOutdir, name), text);
  }
  // Under the cdk8s CLI the app's stdout is captured and dropped (the CLI lists its mirror directory instead):
  // name the files really written on stderr there, so both entry points say where dist/ went.
  (cliOutdir && !options.stdout ? stderr : stdout).write(`synth: wrote ${[...files.keys()].map((f) => join(shown, f)).join(', ')}\n`);
  return 0;
}

/**
 * Synthesizes and validates the default config in memory: nothing is read but the code's own files and the schemas,
 * nothing is written. The startup snapshot runs it while it is built, so it holds what every synth builds first and
 * keeps (the schema definitions, zod's compiled parsers, yaml's tag tables); none of that depends on the config.
 */
export function warmUp(emptyDir: string): void {
  const config = loadConfig({ cwd: emptyDir, env: {} });
  const manifests = synthesizeManifests(config, { sealedDir: join(emptyDir, 'sealed') });
  validateObjects(
    [...manifests].flatMap(([file, ms]) => ms.map((object, index) => ({ file, index, object }))),
    config,
  );
  render(manifests);
}

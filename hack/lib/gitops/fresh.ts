import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { runSynth } from '../../../lib/run-synth';
import { UserError } from '../cli/errors';

// The commands that act on dist/ (deploy, deploy diff, diff --live, migrate run) act on what the current code, config
// file and .env synthesize, never on a dist/ left over from before a change: the working tree is synthesized in this
// process into a temporary directory and compared byte for byte with dist/.

export interface DistCheckOptions {
  /** Where roomler.yaml, .env, sealed/ and dist/ are (ROOMLER_PROJECT_DIR). */
  readonly projectDir: string;
  /** `--synth`: synthesize dist/ first (atomically, validated, as `bin/roomler synth`), then go on. */
  readonly synth?: boolean;
  /** @deprecated the lines are returned; this is for the callers that still pass a `log` (hack/lib/cli/legacy.ts). */
  readonly log?: (line: string) => void;
}

const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
};

const manifestFiles = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
    : [];

/**
 * Returns when `<projectDir>/dist` holds exactly the files the current code, config and .env synthesize, byte for
 * byte; otherwise throws a UserError (exit 1) of one line naming the first file that differs. With `synth`, runs synth
 * into dist/ first (a config or validation error is then the refusal, dist/ unchanged) and returns what synth said
 * (the files it wrote), line by line.
 */
export function ensureDistCurrent(o: DistCheckOptions): string[] {
  const dist = join(o.projectDir, 'dist');
  const env = { ...process.env, CDK8S_OUTDIR: undefined, ROOMLER_OUTDIR: undefined };
  let stderr = '';
  const capture = { write: (s: string) => (stderr += s) };
  if (o.synth) {
    let stdout = '';
    const out = { write: (s: string) => (stdout += s) };
    const code = runSynth({ projectDir: o.projectDir, outdir: dist, env, stdout: out, stderr: capture });
    if (code !== 0) throw new UserError(`--synth: synth failed, nothing else was done:\n${stderr.trimEnd()}`);
    const lines = stdout.trimEnd().split('\n');
    for (const line of lines) o.log?.(line);
    return lines;
  }
  const work = mkdtempSync(join(tmpdir(), 'roomler-fresh-'));
  try {
    const outdir = join(work, 'dist');
    const code = runSynth({ projectDir: o.projectDir, outdir, env, stdout: { write: () => true }, stderr: capture });
    if (code !== 0) {
      const first =
        stderr
          .trim()
          .split('\n')
          .find((l) => !/left unchanged$/.test(l)) ?? '';
      throw new UserError(
        `cannot tell whether ${shown(dist)} is current: the current code and config do not synthesize (${first.trim()}); ` +
          'fix that and run bin/roomler synth',
      );
    }
    const want = manifestFiles(outdir);
    const have = manifestFiles(dist);
    const hint = 'run bin/roomler synth (and review the change) or pass --synth';
    if (!existsSync(dist)) throw new UserError(`${shown(dist)} does not exist: ${hint}`);
    for (const f of want) {
      if (!have.includes(f)) throw new UserError(`${shown(join(dist, f))} is missing: the current code, config and .env make it; ${hint}`);
      if (!readFileSync(join(dist, f)).equals(readFileSync(join(outdir, f)))) {
        throw new UserError(`${shown(join(dist, f))} is not what the current code, config and .env synthesize: ${hint}`);
      }
    }
    const stale = have.find((x) => !want.includes(x));
    if (stale) throw new UserError(`${shown(join(dist, stale))} is not synthesized by the current code and config any more: ${hint}`);
    return [];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

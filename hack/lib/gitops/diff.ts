import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, type LoadedConfig } from '../../../lib/config';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { Kubectl } from '../cluster/kubectl';
import { resolveBase, synthesizeBase, synthesizeWorkingTree } from './base';
import { liveSides } from './live';
import { diffObjects, type ObjectChange, objectsInDir } from './object-diff';
import type { DiffSides } from './report';

// `bin/roomler diff`: what a change does to the manifests, object by object (kind/namespace/name), with the changed
// field paths and old → new values; Secret and SealedSecret values redacted. Against a git base (both sides
// synthesized into a temporary directory) or, with --live, against the cluster.

export const EXIT_CODE_OPTION = {
  type: 'boolean',
  description: 'exit 1 when there are changes, 0 when there are none, 2 when the diff cannot be made (as kubectl diff)',
  defaultText: 'off: exit 0 with or without changes',
} as const;
export const SYNTH_OPTION = {
  type: 'boolean',
  description: 'synthesize dist/ from the current code, config and .env first (as bin/roomler synth)',
} as const;
export const DIST_AS_IS_OPTION = {
  type: 'boolean',
  description: 'use dist/ as it is, even when it is not what the current code, config and .env synthesize (a hand-edited rehearsal)',
  defaultText: 'off: such a dist/ is refused, naming the file',
} as const;

/**
 * With `--exit-code`, a diff that cannot be made exits 2 (and more), never 1, which means "changes": the convention
 * of kubectl diff, so CI can tell a change from a broken check.
 */
export async function withDiffExitCodes(exitCode: boolean, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (!exitCode) throw e;
    if (e instanceof UserError) throw e.exitCode === 1 ? new UserError(e.message, 2) : e;
    if (e instanceof ConfigError) throw new UserError(e.message, 2);
    throw e;
  }
}

/** What a diff found: every changed object, and what was compared. */
export interface DiffResult {
  readonly changes: readonly ObjectChange[];
  readonly sides: DiffSides;
}

/** `fn` with a private temporary directory, removed afterwards. */
async function inWorkDir<T>(fn: (work: string) => Promise<T>): Promise<T> {
  const work = mkdtempSync(join(tmpdir(), 'roomler-diff-'));
  try {
    return await fn(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `diff --live`: dist/ (in `configDir`) against the cluster as deploy would apply it. Notes on how the sides were
 * made go to `io.err`, so a markdown report on stdout stays clean.
 */
export function diffWithCluster(cfg: LoadedConfig, o: { configDir: string; context?: string }, io: IO): Promise<DiffResult> {
  return inWorkDir(async (work) => {
    const live = await liveSides(cfg, new Kubectl(o.context ?? cfg.root.context), join(o.configDir, 'dist'), work);
    for (const n of live.notes) io.err(`diff: note: ${n}`);
    const sides = {
      before: `the cluster (context ${live.target.context}, ${live.target.server})`,
      after: 'dist/ as deploy would apply it (server-side dry run)',
    };
    return { changes: diffObjects(live.before, live.after), sides };
  });
}

/**
 * `diff`: the working tree (its code in `codeRoot`, the operator's config in `configDir`) against a git base, both
 * synthesized into a temporary directory. `base`: a branch, tag or commit; default the merge base with main.
 */
export function diffWithBase(o: { base?: string; codeRoot: string; configDir: string }, io: IO): Promise<DiffResult> {
  return inWorkDir(async (work) => {
    const base = await resolveBase(o.codeRoot, o.base);
    const after = objectsInDir(synthesizeWorkingTree(o.configDir, work));
    const synthesized = await synthesizeBase({ codeRoot: o.codeRoot, configDir: o.configDir, base, work });
    const before = objectsInDir(synthesized.outdir);
    for (const n of synthesized.notes) io.err(`diff: note: ${n}`);
    return { changes: diffObjects(before, after), sides: { before: base.label, after: 'the working tree' } };
  });
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, loadConfig } from '../../../lib/config';
import { UserError } from '../cli/errors';
import { Kubectl } from '../cluster/kubectl';
import { resolveBase, synthesizeBase, synthesizeWorkingTree } from './base';
import { liveSides } from './live';
import { diffObjects, type Obj, objectsInDir } from './object-diff';
import { type DiffSides, renderMarkdown, renderText } from './report';

// `bin/roomler diff`: what a change does to the manifests, object by object (kind/namespace/name), with the changed
// field paths and old → new values; Secret and SealedSecret values redacted. Against a git base (both sides
// synthesized into a temporary directory) or, with --live, against the cluster.

export interface DiffOptions {
  /** Git mode: the base (branch, tag, commit); undefined: the merge base of HEAD with the main branch. */
  readonly base?: string;
  readonly format: 'text' | 'markdown';
  /** Compare dist/ with the cluster instead of a git base. */
  readonly live: boolean;
  /** --live: the kubeconfig context. */
  readonly context?: string;
  /** The project: its code (a git working tree) and where the operator's config is. */
  readonly codeRoot: string;
  readonly configDir: string;
  /** The report (stdout). */
  readonly write: (s: string) => void;
  /** Notes on how the sides were made (stderr, so a markdown report stays clean). */
  readonly note: (line: string) => void;
  /** `--exit-code`: return 1 when there are changes. */
  readonly exitCode?: boolean;
}

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

/** Prints the report; 0 whether or not anything changed (a report), or with `exitCode` 1 when something did (a check). */
export async function runDiff(o: DiffOptions): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'roomler-diff-'));
  try {
    let before: Map<string, Obj>;
    let after: Map<string, Obj>;
    let sides: DiffSides;
    let notes: readonly string[];
    if (o.live) {
      const cfg = loadConfig({ cwd: o.configDir });
      const live = await liveSides(cfg, new Kubectl(o.context ?? cfg.root.context), join(o.configDir, 'dist'), work);
      ({ before, after, notes } = live);
      sides = {
        before: `the cluster (context ${live.target.context}, ${live.target.server})`,
        after: 'dist/ as deploy would apply it (server-side dry run)',
      };
    } else {
      const base = await resolveBase(o.codeRoot, o.base);
      after = objectsInDir(synthesizeWorkingTree(o.configDir, work));
      const synthesized = await synthesizeBase({ codeRoot: o.codeRoot, configDir: o.configDir, base, work });
      before = objectsInDir(synthesized.outdir);
      notes = synthesized.notes;
      sides = { before: base.label, after: 'the working tree' };
    }
    for (const n of notes) o.note(`diff: note: ${n}`);
    const changes = diffObjects(before, after);
    o.write(o.format === 'markdown' ? renderMarkdown(changes, sides) : renderText(changes, sides));
    return o.exitCode && changes.length ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../lib/config';
import { Kubectl } from '../cluster/kubectl';
import { resolveBase, synthesizeBase, synthesizeWorkingTree } from './base';
import { liveSides } from './live';
import { diffObjects, objectsInDir, type Obj } from './object-diff';
import { renderMarkdown, renderText, type DiffSides } from './report';

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
}

/** Prints the report; 0 whether or not anything changed (it is a report, not a check). */
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
      sides = { before: `the cluster (context ${live.target.context}, ${live.target.server})`, after: 'dist/ as deploy would apply it (server-side dry run)' };
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
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

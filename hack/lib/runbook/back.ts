import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { contextFor, Kubectl } from '../cluster/kubectl';
import { type BackupSet, listSets, original } from '../cutover/backups';
import { checksFor, judged } from '../cutover/checks';
import { NginxControl } from '../cutover/nginx';
import { plan as cutoverPlan } from '../cutover/plan';
import { type ResolvedRoute, resolveRoutes } from '../cutover/routes';
import { isAppRoute, maintenanceTexts } from '../cutover/switch';
import { Guard, NginxTransaction } from '../cutover/transaction';
import { type NginxTree, readTree } from '../cutover/tree';
import { migrationSides } from '../mongo/migrate';
import type { MongoSide } from '../mongo/sides';
import { diff, inventoryLines, syncOnce } from '../mongo/sync';
import { acquireLock } from '../process/lock';
import { readState, stateFile, writeState } from './state';
import { STEPS } from './steps';
import { docker, dockerStart, lastLine, oldContainers, progressTo, seconds } from './steps/common';

// `migrate back`: the way back after the switch. nginx returns to the files it had before (the switch's backup set),
// the old containers serve again, and the writes the new MongoDB took since the switch are either copied back to the
// old one first (--reverse-copy: the same incremental sync, new -> old, while the new app answers 503 with
// Retry-After) or knowingly discarded (--discard-new-writes). Without either, going back is refused as soon as one
// document differs, naming how many.

const RETRY_AFTER_S = 5;

export interface BackOptions {
  readonly context?: string;
  readonly yes: boolean;
  readonly reverseCopy: boolean;
  readonly discardNewWrites: boolean;
  /** Where `.env` is (the old MongoDB's credentials). */
  readonly projectDir: string;
}

const running = async (name: string) => (await docker(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim() === 'true';

/** The switch to go back from: the last one that completed. */
function lastSwitch(cfg: LoadedConfig): BackupSet {
  const dir = cfg.root.cutover.backupDir;
  const set = [...listSets(dir)].reverse().find((s) => s.manifest.kind === 'switch' && s.manifest.outcome === 'applied');
  if (!set)
    throw new UserError(`nothing to go back from: no completed switch in ${dir} (bin/roomler migrate status says where the day stands)`);
  return set;
}

/** The old containers going back needs (to compare, and to serve again), started if stopped, asking first; the ones that were stopped. */
async function startOldStack(cfg: LoadedConfig, yes: boolean, io: IO): Promise<string[]> {
  const { app, janus, mongo } = oldContainers(cfg);
  const stopped: string[] = [];
  for (const n of [...new Set([mongo, ...janus, ...app])]) if (!(await running(n))) stopped.push(n);
  if (!stopped.length) return stopped;
  await confirm(
    'migrate back will start',
    [
      `the old containers ${stopped.join(', ')} (docker start): nginx does not send them anything until it is restored; they are needed to compare and to serve again`,
    ],
    yes,
  );
  for (const l of await dockerStart(stopped)) io.out(l);
  return stopped;
}

/** What the new MongoDB took since the switch: documents added, updated, deleted, collections changed whole. */
interface NewWrites {
  readonly lost: number;
  readonly summary: string;
}

async function newWrites(sides: { source: MongoSide; target: MongoSide }, switchedAt: string, io: IO): Promise<NewWrites> {
  const { source: oldSide, target: newSide } = sides;
  io.out(`comparing ${newSide.label} with ${oldSide.label} (what the new MongoDB took since the switch at ${switchedAt})`);
  const [n, old] = await Promise.all([newSide.snapshot(), oldSide.snapshot()]);
  const plans = diff(n.digest, old.digest, n.inventory, old.inventory);
  const added = plans.reduce((x, p) => x + p.upsert.length - p.updated, 0);
  const updated = plans.reduce((x, p) => x + p.updated, 0);
  const removed = plans.reduce((x, p) => x + p.remove.length, 0);
  const whole = plans.filter((p) => p.whole).map((p) => `${p.name} (${p.whole})`);
  const where = plans.filter((p) => p.whole || p.upsert.length || p.remove.length).map((p) => p.name);
  const summary = `${added} document(s) added, ${updated} updated, ${removed} deleted${whole.length ? `, collections changed whole: ${whole.join(', ')}` : ''}${where.length ? ` (in ${where.join(', ')})` : ''}`;
  io.out(`since the switch the new MongoDB took: ${summary}`);
  return { lost: added + updated + removed + whole.length, summary };
}

/** nginx -t of each tree before it is written (with the old containers running, so their names resolve). */
async function proveTrees(nginx: NginxControl, trees: readonly (readonly [string, ReadonlyMap<string, string>])[], io: IO): Promise<void> {
  for (const [what, texts] of trees) {
    const t = await nginx.testWith(texts);
    if ('skipped' in t) io.out(`  not proven: nginx -t of ${what} before writing it (${t.skipped})`);
    else if (!t.ok)
      throw new UserError(
        `nginx -t rejects ${what}; nothing was changed: ${
          t.output
            .split('\n')
            .filter((l) => /emerg|error|failed/.test(l))
            .join('; ') || t.output
        }`,
      );
    else io.out(`  ok nginx -t accepts ${what}`);
  }
}

/** Everything the way back works with, proven and confirmed. */
interface Back {
  readonly set: BackupSet;
  readonly originals: ReadonlyMap<string, string>;
  readonly now: NginxTree;
  readonly routes: readonly ResolvedRoute[];
  readonly maintenance: ReadonlyMap<string, string>;
  readonly nginx: NginxControl;
  readonly sides: { readonly source: MongoSide; readonly target: MongoSide };
  readonly writes: NewWrites;
}

/**
 * The way back in one transaction: the maintenance answer (the new app stops taking writes), the reverse copy, the
 * old app, the original files. Any failure restores nginx's files as they were. Returns when the window opened.
 */
async function wayBack(cfg: LoadedConfig, b: Back, o: BackOptions, guard: Guard, io: IO): Promise<number> {
  const c = cfg.root.cutover;
  const current = b.now.files.filter((f) => b.originals.has(f.real));
  const options = {
    kind: 'rollback' as const,
    backupDir: c.backupDir,
    routes: b.routes,
    nginx: b.nginx,
    timeoutMs: c.requestTimeoutMs,
    guard,
    io,
  };
  const tx = await NginxTransaction.begin(
    options,
    current.map((f) => ({ path: f.path, real: f.real, text: f.text })),
  );
  const checksNow = checksFor(b.now, b.routes).checks;
  const checksBack = checksFor(readTree(c.nginx.confDir, b.originals), b.routes).checks;
  const t0 = Date.now();
  io.out(`write-free window opens at ${new Date(t0).toISOString()}: the new app answers 503 with Retry-After ${RETRY_AFTER_S}`);
  try {
    const maintenance = checksNow.map((x) =>
      isAppRoute(x.route) ? { ...x, websocket: false, protocol: undefined, status: 503, headers: ['Retry-After'] } : x,
    );
    await tx.stage(b.maintenance, maintenance);
    if (o.reverseCopy && b.writes.lost) {
      tx.at('the reverse copy');
      const r = await syncOnce(b.sides.target, b.sides.source, progressTo(io, 'reverse copy: '));
      for (const l of inventoryLines(r, b.sides.target.label, b.sides.source.label)) io.out(`  ${l}`);
    }
    for (const name of oldContainers(cfg).app) if (!(await running(name))) for (const l of await dockerStart([name])) io.out(l);
    tx.at('restoring the original files');
    await tx.stage(b.originals, judged(checksBack));
    tx.commit();
  } catch (e) {
    return tx.fail(e, judged(checksNow));
  }
  io.out(`write-free window closes at ${new Date().toISOString()} (${seconds(Date.now() - t0)}): nginx serves the old stack again`);
  return t0;
}

/** The day resumes at the switch: the steps from the switch on are forgotten, the switch recorded as gone back. */
function resumeAtSwitch(file: string, t0: number, outcome: string): void {
  const state = readState(file);
  if (!state) return;
  const at = STEPS.findIndex((s) => s.id === 'switch');
  const steps = Object.fromEntries(Object.entries(state.steps).filter(([id]) => STEPS.findIndex((s) => s.id === id) < at));
  const finishedAt = new Date().toISOString();
  writeState(file, {
    ...state,
    steps: {
      ...steps,
      switch: { status: 'failed', startedAt: new Date(t0).toISOString(), finishedAt, durationMs: Date.now() - t0, outcome },
    },
  });
}

/** Measures what going back costs, refuses to lose it unnoticed, proves what can fail, asks, and goes back. */
async function goBackLocked(cfg: LoadedConfig, o: BackOptions, guard: Guard, io: IO): Promise<void> {
  const c = cfg.root.cutover;
  const set = lastSwitch(cfg);
  const switchedAt = set.manifest.created;
  // 1. What going back costs, measured: the old MongoDB must run to be compared with.
  const stopped = await startOldStack(cfg, o.yes, io);
  const kubectl = new Kubectl(contextFor(cfg, cfg.instances[0], o.context));
  const sides = migrationSides(cfg, { kubectl, projectDir: o.projectDir });
  const writes = await newWrites(sides, switchedAt, io);
  if (writes.lost && !o.reverseCopy && !o.discardNewWrites) {
    throw new UserError(
      `going back now loses what the new MongoDB took since the switch at ${switchedAt}: ${writes.summary}. Nothing was changed in nginx or either database${stopped.length ? ` (the containers ${stopped.join(', ')} were started and serve nothing)` : ''}. Run bin/roomler migrate back --reverse-copy to copy it back to the old MongoDB first (the site answers 503 with Retry-After meanwhile), or --discard-new-writes to lose it`,
    );
  }
  // 2. Prove what can fail once the new app stops taking writes: the originals load in nginx (the old containers run,
  // so their names resolve), the maintenance answer loads.
  const originals = new Map(set.manifest.files.map((f) => [f.real, original(set, f)]));
  const nginx = new NginxControl(c.nginx);
  const now = readTree(c.nginx.confDir);
  const routes = resolveRoutes(cfg);
  const m = maintenanceTexts(now, routes, RETRY_AFTER_S, 'target');
  await proveTrees(
    nginx,
    [
      ['the original files', originals],
      ['the maintenance answer', m.texts],
    ],
    io,
  );
  const back = { set, originals, now, routes, maintenance: m.texts, nginx, sides, writes };
  await confirmBack(cfg, back, o);
  // 3. The way back: the maintenance answer, the reverse copy, the original files.
  const t0 = await wayBack(cfg, back, o, guard, io);
  // 4. The day resumes at the switch.
  const copied =
    o.reverseCopy && writes.lost ? `copied back ${writes.summary}` : writes.lost ? `discarded ${writes.summary}` : 'nothing to copy back';
  resumeAtSwitch(stateFile(cfg), t0, `gone back at ${new Date().toISOString()}: ${copied}`);
  if (!cutoverPlan(cfg).alreadyDone)
    io.out('migrate back: done: the old stack serves again; bin/roomler migrate run resumes at the switch');
}

/** What going back will do, for the operator to confirm. */
async function confirmBack(cfg: LoadedConfig, b: Back, o: BackOptions): Promise<void> {
  const copyLine =
    o.reverseCopy && b.writes.lost
      ? `copy what the new MongoDB took back to ${b.sides.source.label} (${b.writes.summary}) and prove both equal`
      : `discard what the new MongoDB took since the switch (${b.writes.lost ? b.writes.summary : 'nothing'})`;
  await confirm(
    'migrate back will',
    [
      `answer 503 with Retry-After on ${cfg.instances[0].domains.app}'s app locations (the new app stops taking writes)`,
      copyLine,
      `put nginx's files back as they were before the switch (backup set ${b.set.manifest.stamp}) and reload: every route on the old backends`,
      'leave the new stack running (bin/roomler deploy rollback or deleting the namespaces is yours to decide)',
    ],
    o.yes,
  );
}

/** `migrate back`, under the day's lock: any failure that is not an operator's error names its cause. */
export async function goBack(cfg: LoadedConfig, o: BackOptions, io: IO): Promise<void> {
  if (o.reverseCopy && o.discardNewWrites) throw new UserError('--reverse-copy and --discard-new-writes exclude each other', 2);
  const file = stateFile(cfg);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const release = await acquireLock(join(dirname(file), '.lock'), 'another migrate run or migrate back');
  const guard = new Guard((line) => io.out(line));
  try {
    await goBackLocked(cfg, o, guard, io);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`migrate back failed: ${(e as Error).message} (${lastLine((e as Error).stack ?? '')})`);
  } finally {
    guard.dispose();
    await release();
  }
}

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import { contextFor, Kubectl } from '../cluster/kubectl';
import { listSets, original } from '../cutover/backups';
import { NginxControl } from '../cutover/nginx';
import { checksFor, judged, plan as cutoverPlan, readTree, resolveRoutes } from '../cutover/plan';
import { isAppRoute, maintenanceTexts } from '../cutover/switch';
import { Guard, NginxTransaction } from '../cutover/transaction';
import { migrationSides } from '../mongo/migrate';
import { diff, inventoryLines, syncOnce } from '../mongo/sync';
import { acquireLock } from '../process/lock';
import { readState, stateFile, writeState } from './state';
import { STEPS } from './steps';
import { docker, dockerStart, lastLine, oldContainers, seconds } from './steps/common';

// `migrate back`: the way back after the switch. nginx returns to the files it had before (the switch's backup set),
// the old containers serve again, and the writes the new MongoDB took since the switch are either copied back to the
// old one first (--reverse-copy: the same incremental sync, new -> old, while the new app answers 503 with
// Retry-After) or knowingly discarded (--discard-new-writes). Without either, going back is refused as soon as one
// document differs, naming how many.

type Log = (line: string) => void;
const RETRY_AFTER_S = 5;

export interface BackOptions {
  readonly context?: string;
  readonly yes: boolean;
  readonly reverseCopy: boolean;
  readonly discardNewWrites: boolean;
  readonly log: Log;
}

const running = async (name: string) => (await docker(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim() === 'true';

export async function goBack(cfg: LoadedConfig, o: BackOptions): Promise<number> {
  const { log } = o;
  if (o.reverseCopy && o.discardNewWrites) throw new UserError('--reverse-copy and --discard-new-writes exclude each other', 2);
  const file = stateFile(cfg);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const release = await acquireLock(join(dirname(file), '.lock'), 'another migrate run or migrate back');
  const guard = new Guard(log);
  try {
    const c = cfg.root.cutover;
    const set = [...listSets(c.backupDir)].reverse().find((s) => s.manifest.kind === 'switch' && s.manifest.outcome === 'applied');
    if (!set)
      throw new UserError(
        `nothing to go back from: no completed switch in ${c.backupDir} (bin/roomler migrate status says where the day stands)`,
      );
    const switchedAt = set.manifest.created;
    const { app, janus, mongo } = oldContainers(cfg);
    const needed = [...new Set([mongo, ...janus, ...app])];
    const stopped: string[] = [];
    for (const n of needed) if (!(await running(n))) stopped.push(n);

    // 1. What going back costs, measured: the old MongoDB must run to be compared with.
    if (stopped.length) {
      await confirm(
        'migrate back will start',
        [
          `the old containers ${stopped.join(', ')} (docker start): nginx does not send them anything until it is restored; they are needed to compare and to serve again`,
        ],
        o.yes,
      );
      for (const l of await dockerStart(stopped)) log(l);
    }
    const kubectl = new Kubectl(contextFor(cfg, cfg.instances[0], o.context));
    const { source: oldSide, target: newSide } = migrationSides(cfg, kubectl);
    log(`comparing ${newSide.label} with ${oldSide.label} (what the new MongoDB took since the switch at ${switchedAt})`);
    const [n, old] = await Promise.all([newSide.snapshot(), oldSide.snapshot()]);
    const plans = diff(n.digest, old.digest, n.inventory, old.inventory);
    const added = plans.reduce((x, p) => x + p.upsert.length - p.updated, 0);
    const updated = plans.reduce((x, p) => x + p.updated, 0);
    const removed = plans.reduce((x, p) => x + p.remove.length, 0);
    const whole = plans.filter((p) => p.whole).map((p) => `${p.name} (${p.whole})`);
    const lost = added + updated + removed + whole.length;
    const where = plans.filter((p) => p.whole || p.upsert.length || p.remove.length).map((p) => p.name);
    const summary = `${added} document(s) added, ${updated} updated, ${removed} deleted${whole.length ? `, collections changed whole: ${whole.join(', ')}` : ''}${where.length ? ` (in ${where.join(', ')})` : ''}`;
    log(`since the switch the new MongoDB took: ${summary}`);
    if (lost && !o.reverseCopy && !o.discardNewWrites) {
      throw new UserError(
        `going back now loses what the new MongoDB took since the switch at ${switchedAt}: ${summary}. Nothing was changed in nginx or either database${stopped.length ? ` (the containers ${stopped.join(', ')} were started and serve nothing)` : ''}. Run bin/roomler migrate back --reverse-copy to copy it back to the old MongoDB first (the site answers 503 with Retry-After meanwhile), or --discard-new-writes to lose it`,
      );
    }

    // 2. Prove what can fail once the new app stops taking writes: the originals load in nginx (the old containers run,
    // so their names resolve), the maintenance answer loads.
    const originals = new Map(set.manifest.files.map((f) => [f.real, original(set, f)]));
    const nginx = new NginxControl(c.nginx);
    const now = readTree(c.nginx.confDir);
    const routes = resolveRoutes(cfg);
    const m = maintenanceTexts(now, routes, RETRY_AFTER_S, 'target');
    for (const [what, texts] of [
      ['the original files', originals],
      ['the maintenance answer', m.texts],
    ] as const) {
      const t = await nginx.testWith(texts);
      if ('skipped' in t) log(`  not proven: nginx -t of ${what} before writing it (${t.skipped})`);
      else if (!t.ok)
        throw new UserError(
          `nginx -t rejects ${what}; nothing was changed: ${
            t.output
              .split('\n')
              .filter((l) => /emerg|error|failed/.test(l))
              .join('; ') || t.output
          }`,
        );
      else log(`  ok nginx -t accepts ${what}`);
    }
    const copyLine =
      o.reverseCopy && lost
        ? `copy what the new MongoDB took back to ${oldSide.label} (${summary}) and prove both equal`
        : `discard what the new MongoDB took since the switch (${lost ? summary : 'nothing'})`;
    await confirm(
      'migrate back will',
      [
        `answer 503 with Retry-After on ${cfg.instances[0].domains.app}'s app locations (the new app stops taking writes)`,
        copyLine,
        `put nginx's files back as they were before the switch (backup set ${set.manifest.stamp}) and reload: every route on the old backends`,
        'leave the new stack running (bin/roomler deploy rollback or deleting the namespaces is yours to decide)',
      ],
      o.yes,
    );

    // 3. The way back: the maintenance answer, the reverse copy, the original files.
    const current = now.files.filter((f) => originals.has(f.real));
    const tx = await NginxTransaction.begin(
      { kind: 'rollback', backupDir: c.backupDir, routes, nginx, timeoutMs: c.requestTimeoutMs, guard, log },
      current.map((f) => ({ path: f.path, real: f.real, text: f.text })),
    );
    const checksNow = checksFor(now, routes).checks;
    const checksBack = checksFor(readTree(c.nginx.confDir, originals), routes).checks;
    const t0 = Date.now();
    log(`write-free window opens at ${new Date(t0).toISOString()}: the new app answers 503 with Retry-After ${RETRY_AFTER_S}`);
    try {
      await tx.stage(
        m.texts,
        checksNow.map((x) =>
          isAppRoute(x.route) ? { ...x, websocket: false, protocol: undefined, status: 503, headers: ['Retry-After'] } : x,
        ),
      );
      if (o.reverseCopy && lost) {
        tx.at('the reverse copy');
        const r = await syncOnce(newSide, oldSide, (l) => log(`reverse copy: ${l}`));
        for (const l of inventoryLines(r, newSide.label, oldSide.label)) log(`  ${l}`);
      }
      for (const name of app) if (!(await running(name))) for (const l of await dockerStart([name])) log(l);
      tx.at('restoring the original files');
      await tx.stage(originals, judged(checksBack));
      tx.commit();
    } catch (e) {
      return tx.fail(e, judged(checksNow));
    }
    log(`write-free window closes at ${new Date().toISOString()} (${seconds(Date.now() - t0)}): nginx serves the old stack again`);

    // 4. The day resumes at the switch.
    const state = readState(file);
    if (state) {
      const at = STEPS.findIndex((s) => s.id === 'switch');
      const steps = Object.fromEntries(Object.entries(state.steps).filter(([id]) => STEPS.findIndex((s) => s.id === id) < at));
      writeState(file, {
        ...state,
        steps: {
          ...steps,
          switch: {
            status: 'failed',
            startedAt: new Date(t0).toISOString(),
            finishedAt: new Date().toISOString(),
            durationMs: Date.now() - t0,
            outcome: `gone back at ${new Date().toISOString()}: ${o.reverseCopy && lost ? `copied back ${summary}` : lost ? `discarded ${summary}` : 'nothing to copy back'}`,
          },
        },
      });
    }
    if (!cutoverPlan(cfg).alreadyDone) log('migrate back: done: the old stack serves again; bin/roomler migrate run resumes at the switch');
    return 0;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`migrate back failed: ${(e as Error).message} (${lastLine((e as Error).stack ?? '')})`);
  } finally {
    guard.dispose();
    await release();
  }
}

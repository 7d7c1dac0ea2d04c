import { readFileSync } from 'node:fs';

import type { LoadedConfig } from '../../../../lib/config';
import { confirm } from '../../cli/confirm';
import { UserError } from '../../cli/errors';
import { type BackupSet, BYTES, listSets, original } from '../../cutover/backups';
import { plan as cutoverPlan } from '../../cutover/plan';
import { pendingSwitch, proveSwitch, runSwitch, type SwitchHooks, type SwitchProof } from '../../cutover/switch';
import { Guard } from '../../cutover/transaction';
import { migrationSides } from '../../mongo/migrate';
import { DIGEST_HERE_BELOW_BYTES, type DigestWhere, type MongoSide } from '../../mongo/sides';
import { inventoryLines, noOplog, type SyncBase, syncChanges, syncOnce, type SyncReport } from '../../mongo/sync';
import type { RunState } from '../state';
import {
  docker,
  dockerStart,
  dockerStop,
  lastLine,
  oldContainers,
  progressTo,
  type RunContext,
  seconds,
  type Step,
  type StepResult,
} from './common';

// The switch: the only step with a write-free window. Everything that can fail after the old app stops is proven
// while it still serves (nginx: the plan, the files, nginx -t of the current, the maintenance and the cutover trees,
// the new targets, every route's request; MongoDB: the sync passes, the last measuring what the final one will cost,
// from the oplog when the old MongoDB keeps one). Only then does it ask, naming the window it measured. In the window:
// the app's locations answer 503 with Retry-After, the old app stops, the final sync copies what changed and proves
// both databases equal, nginx moves to the NodePorts. Any failure restores nginx byte-identical and starts the old app
// again.

/** Browsers and clients are told to come back after this many seconds (the page also reloads itself). */
const RETRY_AFTER_S = 5;
/** What `docker stop` of the old app is given in the estimate (it stops a Node app that gets no requests any more). */
const STOP_ALLOWANCE_MS = 1000;

const app = (cfg: LoadedConfig) => oldContainers(cfg).app;
const domain = (cfg: LoadedConfig) => cfg.instances[0].domains.app;
const ago = (iso: string) => seconds(Date.now() - Date.parse(iso));

/** What nginx serves the app with now, judged by the files (a killed switch may have left any of its stages). */
function nginxState(cfg: LoadedConfig, set: BackupSet): string {
  const originals = new Map(set.manifest.files.map((f) => [f.real, original(set, f)]));
  const now = new Map(set.manifest.files.map((f) => [f.real, readFileSync(f.real, BYTES)]));
  if ([...now].every(([real, text]) => originals.get(real) === text)) return `the old backends (nginx's files are the originals)`;
  if ([...now.values()].some((t) => t.includes('add_header Retry-After'))) return `503 with Retry-After (the maintenance answer)`;
  return cutoverPlan(cfg).alreadyDone ? 'the new backends (cut over, not yet verified)' : 'a mix of old and new targets';
}

/**
 * What a killed switch left, for `migrate run` and `migrate status` to say before anything else: since when the old
 * app has been stopped and what the site answers. Undefined when no switch is half-done.
 */
export async function interruptedSwitch(cfg: LoadedConfig, state: RunState | undefined): Promise<string | undefined> {
  const set = pendingSwitch(cfg);
  const w = state?.steps.switch?.window;
  if (!set || !w?.openedAt) return undefined;
  const names = app(cfg);
  const running = await Promise.all(
    names.map(async (n) => (await docker(['inspect', '--format', '{{.State.Running}}', n])).stdout.trim() === 'true'),
  );
  const stopped = names.filter((_, i) => !running[i]);
  const appLine = stopped.length
    ? `the old app ${stopped.join(', ')} has been stopped since ${w.appStoppedAt ?? w.openedAt} (${ago(w.appStoppedAt ?? w.openedAt)} ago), so nothing takes writes`
    : `the old app ${names.join(', ')} still runs`;
  return `THE SWITCH WAS INTERRUPTED: its write-free window opened at ${w.openedAt} (${ago(w.openedAt)} ago); ${appLine}; ${domain(cfg)} answers ${nginxState(cfg, set)}. bin/roomler migrate run resumes the switch at once, without asking.`;
}

/** The window to announce, from what was just measured: the final sync's pass, one nginx stage, stopping the app. */
const estimateMs = (pass: SyncReport, proof: SwitchProof) => pass.timings.total + proof.stageMs + STOP_ALLOWANCE_MS;

interface WindowOptions {
  readonly proof: SwitchProof;
  readonly guard: Guard;
  /** What the switch announced before it began. */
  readonly announcedMs: number;
  /** The set a killed switch left pending: this run takes it over. */
  readonly resume?: BackupSet;
  readonly where?: DigestWhere;
  /** The last pre-sync pass's documents and oplog position: the final sync copies only what the oplog names since. */
  readonly base?: SyncBase;
}

/** The window as it happens: when it opened (a resumed switch: when the killed run opened it), when this run's answer went live. */
interface WindowClock {
  opened: number;
  live: number;
  final?: SyncReport;
}

/**
 * The shells a final sync from the oplog uses, started and connected: one on the source, two on the target. When one
 * cannot connect, the others end too and the cause is thrown.
 */
async function warmForFinalSync(sides: { source: MongoSide; target: MongoSide }): Promise<void> {
  try {
    await Promise.all([sides.source.warmShells(1), sides.target.warmShells(2)]);
  } catch (e) {
    sides.source.releaseShells();
    sides.target.releaseShells();
    throw e;
  }
}

/** The window a killed run opened: it stays the window's start, and the app's stop stays when it was. */
const earlierWindow = (ctx: RunContext, o: WindowOptions) => (o.resume ? ctx.state.steps.switch?.window : undefined);

/** The moment the maintenance answer goes live: the window's start, recorded at once. */
function opening(ctx: RunContext, w: WindowClock, o: WindowOptions): (at: Date) => void {
  const earlier = earlierWindow(ctx, o);
  return (at) => {
    w.live = at.getTime();
    w.opened = o.resume && earlier?.openedAt ? Date.parse(earlier.openedAt) : w.live;
    ctx.note({ window: { ...(o.resume ? earlier : {}), openedAt: new Date(w.opened).toISOString(), announcedMs: o.announcedMs } });
    ctx.io.out(`write-free window opens at ${at.toISOString()}: ${domain(ctx.cfg)} answers 503 with Retry-After ${RETRY_AFTER_S}`);
  };
}

/** Inside the window: the old app stops (recorded at once), the final sync makes the new MongoDB equal to the old one. */
function freezing(
  ctx: RunContext,
  w: WindowClock,
  o: WindowOptions,
  sides: { source: MongoSide; target: MongoSide },
): SwitchHooks['frozen'] {
  const names = app(ctx.cfg);
  const { source, target } = sides;
  const earlier = earlierWindow(ctx, o);
  const where = o.where ?? 'side';
  return async (tx) => {
    tx.at(`docker stop ${names.join(' ')}`);
    const appStoppedAt = (o.resume && earlier?.appStoppedAt) || new Date().toISOString();
    ctx.note({ window: { openedAt: new Date(w.opened).toISOString(), appStoppedAt, announcedMs: o.announcedMs } });
    const io = progressTo(ctx.io, 'final sync: ');
    if (o.base?.position) {
      // From the last pre-sync pass: the oplog names what the old app wrote since (a kill -9 loses this base, and a
      // resumed switch reads both sides whole).
      await dockerStop(names, ctx.io);
      tx.at('the final sync');
      w.final = await syncChanges(source, target, o.base, io);
    } else {
      // The target is read while the old app stops (only the sync writes to it); the source once it has stopped.
      const targetSnapshot = target.snapshot(where);
      targetSnapshot.catch(() => undefined);
      await dockerStop(names, ctx.io);
      tx.at('the final sync');
      w.final = await syncOnce(source, target, io, { where, targetSnapshot });
    }
    for (const l of inventoryLines(w.final, source.label, target.label)) ctx.io.out(`  ${l}`);
    tx.at('cutover');
  };
}

async function theWindow(ctx: RunContext, o: WindowOptions): Promise<StepResult> {
  const w: WindowClock = { opened: 0, live: 0 };
  const names = app(ctx.cfg);
  const sides = migrationSides(ctx.cfg, { kubectl: ctx.kubectl, projectDir: ctx.projectDir });
  const hooks = { frozen: freezing(ctx, w, o, sides), thaw: async () => dockerStart(names) };
  let thisRunMs: number;
  try {
    // The final sync from the oplog needs a shell in the old container (the oplog and the counts) and two in
    // mongodb-0 (the removal, the counts after the copy): started, connected and authenticated before the window
    // opens, so their start is not paid inside it and a refused connection stops the switch before anything stops.
    if (o.base?.position) await warmForFinalSync(sides);
    thisRunMs = await runSwitch(ctx.cfg, o.proof, hooks, { guard: o.guard, io: ctx.io, resume: o.resume, onOpen: opening(ctx, w, o) });
  } finally {
    sides.source.releaseShells();
    sides.target.releaseShells();
  }
  // The new app serves from live + thisRunMs; a resumed switch's window began with the killed run.
  const windowMs = w.live + thisRunMs - w.opened;
  const announced = seconds(o.announcedMs);
  ctx.io.out(
    `write-free window closes at ${new Date(w.opened + windowMs).toISOString()} (${seconds(windowMs)}; announced about ${announced})`,
  );
  const final = w.final!;
  return {
    outcome: `switched; write-free window ${seconds(windowMs)} (announced about ${announced})`,
    verified: [
      `final sync: ${final.documents} documents in ${final.collections.length} collections equal on both sides (counts, indexes, fingerprints); ${final.changed} change(s) copied in the window (${final.mode.kind === 'oplog' ? `only what the oplog named: ${final.mode.why}` : `both sides read whole: ${final.mode.why}`})`,
      'every route verified through nginx',
    ],
    manual: [],
    figures: {
      writeFreeWindowMs: windowMs,
      announcedWindowMs: o.announcedMs,
      finalSyncMs: final.timings.total,
      changedInWindow: final.changed,
    },
  };
}

async function resumeSwitch(ctx: RunContext, set: BackupSet, guard: Guard): Promise<StepResult> {
  const { cfg, io } = ctx;
  const why = await interruptedSwitch(cfg, ctx.state);
  if (why) io.out(why);
  const originals = new Map(set.manifest.files.map((f) => [f.real, original(set, f)]));
  const proof = await proveSwitch(cfg, { retryAfter: RETRY_AFTER_S, stopped: app(cfg), originals, guard });
  for (const l of proof.unproven) io.out(`  not proven: ${l}`);
  return theWindow(ctx, { proof, guard, announcedMs: ctx.state.steps.switch?.window?.announcedMs ?? 0, resume: set });
}

/**
 * The passes before the window, while the old app still writes: two full ones (what changed since the bulk copy; then
 * one read as the final sync will read, its oplog position taken first), and when the old MongoDB keeps an oplog, a
 * third that copies only what the oplog names since the second: the measurement of the final sync's kind of work.
 */
async function preSync(source: MongoSide, target: MongoSide, io: RunContext['io']) {
  const first = await syncOnce(source, target, progressTo(io, '  pre-sync 1 (what changed since the bulk copy): '), { live: true });
  // A small database is digested on this side (its archive crosses kubectl exec faster than mongosh starts in the
  // pod): the second pre-sync reads as a full final one would.
  const where: DigestWhere = first.bytes < DIGEST_HERE_BELOW_BYTES ? 'here' : 'side';
  const { oplog } = await source.changesSince('latest');
  const position = oplog.present ? oplog.last : null;
  const why = oplog.present ? undefined : noOplog(source.label);
  const second = await syncOnce(source, target, progressTo(io, '  pre-sync 2 (every document, both sides): '), {
    live: true,
    where,
    position,
    fullBecause: why,
  });
  if (!position) return { pass: second, where, copied: first.changed + second.changed };
  // Measured as the window will run it: its shells connected first.
  await warmForFinalSync({ source, target });
  const third = await syncChanges(source, target, second.base, progressTo(io, '  pre-sync 3 (what the final sync will do): '), {
    live: true,
  });
  return { pass: third, where, copied: first.changed + second.changed + third.changed };
}

export const switchStep: Step = {
  id: 'switch',
  title: 'Switch: prove everything first; then 503 with Retry-After, stop the old app, final sync, cut nginx over',
  confirmsItself: true,
  changes: (cfg) => [
    `nginx under ${cfg.root.cutover.nginx.confDir}: the app's locations answer 503 with Retry-After during the window, then every route moves to the NodePorts`,
    `docker stop ${app(cfg).join(' ')} (the old app: nothing writes to the old database any more)`,
    `the database in ${cfg.instances[0].namespace}/mongodb-0 (made equal to the old one: only what changed is copied)`,
    `${domain(cfg)} answers 503 with Retry-After for the write-free window; its length is measured before anything stops, and announced`,
  ],
  touches: (cfg) => [
    'cutover plan, preflight and nginx -t of every stage (private mount namespace)',
    'the incremental MongoDB sync (two or three passes before, one inside the window: from the oplog when the old MongoDB keeps one)',
    `docker stop ${app(cfg).join(' ')}`,
    'nginx -s reload (twice)',
  ],
  checks: [
    'before anything stops: the cutover plan, the files, nginx -t of the current, maintenance and cutover trees, every new target, every route, the sync passes',
    "in the window: the app's locations answer 503 with Retry-After; the final sync proves both databases equal (counts, indexes, fingerprints)",
    'after: every route verified through nginx',
  ],
  gate: 'nginx serves the new stack; the write-free window is reported next to the one announced',
  rollback:
    'a refused switch has stopped and changed nothing; a failure inside the window starts the old app again and restores nginx byte-identical; afterwards: bin/roomler migrate back',
  run: async (ctx) => {
    const { cfg, kubectl, io, projectDir } = ctx;
    const guard = new Guard((line) => io.out(line));
    try {
      const pending = pendingSwitch(cfg);
      if (pending && ctx.state.steps.switch?.window?.openedAt) return await resumeSwitch(ctx, pending, guard);
      const last = listSets(cfg.root.cutover.backupDir).pop();
      if (last?.manifest.kind === 'switch' && last.manifest.outcome === 'applied' && cutoverPlan(cfg).alreadyDone) {
        // Killed after the switch completed and before its record was written.
        return {
          outcome: `switched (completed by an earlier run: backup set ${last.manifest.stamp})`,
          verified: ['nginx serves the new stack'],
          manual: [],
        };
      }
      io.out('proving everything that can fail once the old app stops (nothing is changed or stopped yet):');
      const proof = await proveSwitch(cfg, { retryAfter: RETRY_AFTER_S, guard });
      for (const l of proof.proven) io.out(`  ok ${l}`);
      for (const l of proof.unproven) io.out(`  not proven: ${l}`);
      const { source, target } = migrationSides(cfg, { kubectl, projectDir });
      const { pass, where, copied } = await preSync(source, target, io);
      const announced = estimateMs(pass, proof);
      io.out(
        `  ok the final copy works both ways it can fail (reading, copying, verifying); the pre-sync passes copied ${copied} change(s)`,
      );
      await confirm(
        'step switch will now',
        [
          `answer 503 with Retry-After on ${domain(cfg)}'s app locations (nginx under ${cfg.root.cutover.nginx.confDir})`,
          `stop the old app ${app(cfg).join(', ')} (docker stop): the point of no return for writes. Going back costs every write the new app takes after the switch, unless copied back (bin/roomler migrate back --reverse-copy)`,
          `copy what changed to ${target.label} and prove both databases equal, then move every route to the NodePorts`,
          `${domain(cfg)} answers 503 with Retry-After for about ${seconds(announced)} (measured now: final sync ~${seconds(pass.timings.total)} ${pass.mode.kind === 'oplog' ? 'copying only what the oplog names' : `reading both databases whole: ${pass.mode.why}`}, nginx reload and checks ~${seconds(proof.stageMs)}, stopping the app ~${seconds(STOP_ALLOWANCE_MS)})`,
        ],
        ctx.yes,
      );
      return await theWindow(ctx, {
        proof,
        guard,
        announcedMs: announced,
        where,
        base: pass.mode.kind === 'oplog' ? pass.base : undefined,
      });
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${(e as Error).message}: ${lastLine((e as Error).stack ?? '')}`);
    } finally {
      guard.dispose();
    }
  },
};

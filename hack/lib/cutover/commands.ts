import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { acquireLock } from '../process/lock';
import { type BackupSet, BYTES, checkBackupDir, listSets, notWritable, original, sha256 } from './backups';
import { type Check, checksFor, judged } from './checks';
import { NginxControl } from './nginx';
import { plan } from './plan';
import { httpGet, splitHostPort, tcpConnect } from './probes';
import { type ResolvedRoute, resolveRoutes } from './routes';
import { type Change, Guard, Interrupted, transact } from './transaction';
import { type NginxTree, readTree } from './tree';
import { runChecks } from './verify';

// `cutover apply` and `rollback`, and the preflight the switch shares (drain: drain.ts). Each takes the
// config, its options and the command's IO, and writes what it does to `io.out`, one line per stage.

const ms = (since: number) => `${Math.round(performance.now() - since)} ms`;

export interface PreflightOptions {
  readonly cfg: LoadedConfig;
  readonly tree: NginxTree;
  readonly files: readonly string[];
  readonly nginx: NginxControl;
  readonly guard: Guard;
  readonly targets: readonly ResolvedRoute[];
  readonly baseline: readonly Check[];
  readonly io: IO;
}

/** Whether each new target accepts a connection (and answers its health request): a problem per target that does not. */
async function targetProblems(o: PreflightOptions): Promise<string[]> {
  const c = o.cfg.root.cutover;
  const problems: string[] = [];
  for (const r of o.targets) {
    const { host, port } = splitHostPort(r.target);
    try {
      await o.guard.race(tcpConnect(host, port, c.connectTimeoutMs));
      if (!r.health) continue;
      const target = {
        address: { host, port },
        tls: false,
        host,
        path: r.health.path,
        timeoutMs: c.connectTimeoutMs,
        signal: o.guard.signal,
      };
      const status = await o.guard.race(httpGet(target));
      if (status !== r.health.status)
        problems.push(`new target ${r.target} (${r.to}): GET ${r.health.path} answered ${status}, expected ${r.health.status}`);
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      problems.push(`new target ${r.target} (${r.to}) does not answer: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** The files, the backup directory and nginx itself: every problem at once. */
async function hostProblems(o: PreflightOptions): Promise<string[]> {
  const problems: string[] = [];
  for (const f of o.files) {
    const why = notWritable(f);
    if (why) problems.push(`${f} ${why}`);
  }
  try {
    checkBackupDir(o.cfg.root.cutover.backupDir, o.tree.includeDirs);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const t = await o.guard.race(o.nginx.test());
  if (!t.ok) problems.push(`nginx -t fails before any change: ${t.output}`);
  try {
    if (!(await o.guard.race(o.nginx.workers())).length) problems.push('the nginx master has no workers');
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    problems.push((e as Error).message);
  }
  return problems;
}

/**
 * Checks that need no change made: all problems at once, so one run shows everything to fix. Then `baseline`:
 * the verification requests must pass on the current config, or a failure later could not be blamed on the change.
 */
export async function preflight(o: PreflightOptions): Promise<void> {
  const problems = [...(await hostProblems(o)), ...(await targetProblems(o))];
  if (problems.length) throw new UserError(`preflight failed; nothing was changed:\n  - ${problems.join('\n  - ')}`);
  o.io.out(
    `preflight: ${o.files.length} file(s) writable, nginx -t ok, workers running${o.targets.length ? `, ${o.targets.length} new target(s) answer` : ''}`,
  );
  if (!o.baseline.length) return;
  const timeoutMs = o.cfg.root.cutover.requestTimeoutMs;
  const v = await o.guard.race(runChecks(o.baseline, { nginx: o.nginx, timeoutMs, signal: o.guard.signal }));
  if (v.failed.length)
    throw new UserError(
      `preflight: verification fails before any change, so it could not judge the cutover; nothing was changed:\n  ${v.failed.join('\n  ')}\n  (fix nginx or the backends, or set cutover.routes[].verify)`,
    );
  o.io.out(`preflight: ${v.passed.length} verification request(s) pass on the current config`);
}

/** Runs `fn` under the cutover lock with signals turned into a clean stop. */
async function locked(cfg: LoadedConfig, what: string, io: IO, fn: (guard: Guard) => Promise<void>): Promise<void> {
  const dir = cfg.root.cutover.backupDir;
  const guard = new Guard((line) => io.out(line));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const release = await guard.race(acquireLock(join(dir, '.lock'), 'another cutover apply or rollback'));
    try {
      await fn(guard);
    } finally {
      await release();
    }
  } catch (e) {
    if (e instanceof Interrupted)
      throw new UserError(`${what} interrupted by ${e.signal} before any change: nothing was written`, e.exitCode);
    throw e;
  } finally {
    guard.dispose();
  }
}

/** What apply or rollback will change on this host, for the confirmation. */
const hostLines = (cfg: LoadedConfig, files: readonly string[]) => {
  const n = cfg.root.cutover.nginx;
  return [
    `files:   ${files.join(', ')}`,
    `nginx:   ${[...n.exec, ...n.command].join(' ')} -s reload (pid file ${n.pidFile})`,
    `backups: ${cfg.root.cutover.backupDir}`,
  ];
};

/**
 * `stopped`: old hosts stopped on purpose (the migration day stops the old app to freeze writes right before the
 * switch): requests that still reach them cannot pass before the change, nor confirm a restore, so they are left out
 * of both; everything they serve is still verified on the new side after the change.
 */
export async function apply(cfg: LoadedConfig, options: { yes: boolean; stopped?: readonly string[] }, io: IO): Promise<void> {
  const start = performance.now();
  const c = cfg.root.cutover;
  const first = plan(cfg);
  if (!first.alreadyDone && !first.problems.length)
    await confirm(
      'cutover apply will change',
      hostLines(
        cfg,
        first.changes.map((x) => x.file.path),
      ),
      options.yes,
    );
  await locked(cfg, 'apply', io, async (guard) => {
    const p = plan(cfg);
    if (p.alreadyDone) {
      io.out('apply: already cut over: every route points at its NodePort; nothing to do');
      return;
    }
    if (p.problems.length)
      throw new UserError(
        `plan: the config does not account for every old backend or does not match the routes; nothing was changed:\n  ${p.problems.join('\n  ')}`,
      );
    const nginx = new NginxControl(c.nginx);
    const reachable = (checks: readonly Check[]) => checks.filter((x) => !(options.stopped ?? []).includes(splitHostPort(x.current).host));
    const files = p.changes.map((x) => x.file.real);
    await preflight({ cfg, tree: p.tree, files, nginx, guard, targets: p.targets, baseline: reachable(judged(p.checks)), io });
    const changes = p.changes.map((x) => ({ path: x.file.path, real: x.file.real, before: x.file.text, after: x.after }));
    await transact({
      kind: 'apply',
      backupDir: c.backupDir,
      routes: p.routes,
      changes,
      checksAfter: p.checksAfter,
      checksBefore: reachable(p.checks),
      nginx,
      timeoutMs: c.requestTimeoutMs,
      guard,
      io,
    });
    io.out(
      `apply: done: ${p.routes.length} route(s) on the NodePorts, verified in ${ms(start)} (start to verified). Old backends keep their open connections: run drain before stopping them`,
    );
  });
}

/** The backup set to restore: `to`, or the last applied cutover. */
function setToRestore(backupDir: string, to: string | undefined): BackupSet {
  const sets = listSets(backupDir);
  const have = sets.map((s) => `${s.manifest.stamp} (${s.manifest.kind}, ${s.manifest.outcome})`).join(', ') || 'none';
  const set = to
    ? sets.find((s) => s.manifest.stamp === to)
    : [...sets].reverse().find((s) => s.manifest.kind === 'apply' && s.manifest.outcome === 'applied');
  if (!set)
    throw new UserError(
      to ? `no backup set ${to} in ${backupDir} (have: ${have})` : `no applied cutover to roll back in ${backupDir} (have: ${have})`,
    );
  return set;
}

/** The files that differ from the set's originals; refuses to discard edits made after the cutover unless `force`. */
function restoreChanges(set: BackupSet, force: boolean): Change[] {
  const changes: Change[] = [];
  const edited: string[] = [];
  for (const f of set.manifest.files) {
    const orig = original(set, f);
    if (!existsSync(f.real)) throw new UserError(`${f.path} no longer exists; restore it by hand from ${set.dir}/files${f.real}`);
    const now = readFileSync(f.real, BYTES);
    if (now === orig) continue;
    if (f.sha256After && sha256(now) !== f.sha256After) edited.push(f.path);
    changes.push({ path: f.path, real: f.real, before: now, after: orig });
  }
  if (edited.length && !force)
    throw new UserError(
      `rollback would discard edits made after the cutover in: ${edited.join(', ')}; review them (diff against ${set.dir}/files), then run rollback --force`,
    );
  return changes;
}

export async function rollback(cfg: LoadedConfig, options: { to?: string; force: boolean; yes: boolean }, io: IO): Promise<void> {
  const start = performance.now();
  const c = cfg.root.cutover;
  await confirm(
    'cutover rollback will change',
    hostLines(cfg, [`the files of backup set ${options.to ?? '(the last applied cutover)'}`]),
    options.yes,
  );
  await locked(cfg, 'rollback', io, async (guard) => {
    const set = setToRestore(c.backupDir, options.to);
    const changes = restoreChanges(set, options.force);
    if (!changes.length) {
      io.out(`rollback: the files already match backup set ${set.manifest.stamp}; nothing to do`);
      return;
    }
    const tree = readTree(c.nginx.confDir);
    const routes = resolveRoutes(cfg);
    const { checks, problems } = checksFor(tree, routes);
    if (problems.length) throw new UserError(`rollback: cannot verify every route; nothing was changed:\n  ${problems.join('\n  ')}`);
    const nginx = new NginxControl(c.nginx);
    // No new-target or baseline checks: rolling back is what you do when the current side is broken.
    await preflight({ cfg, tree, files: changes.map((x) => x.real), nginx, guard, targets: [], baseline: [], io });
    const checksAfter = checksFor(readTree(c.nginx.confDir, new Map(changes.map((x) => [x.real, x.after]))), routes).checks;
    io.out(`rollback: restoring ${changes.length} file(s) from ${set.manifest.stamp} (${set.manifest.kind})`);
    const timeoutMs = c.requestTimeoutMs;
    await transact({
      kind: 'rollback',
      backupDir: c.backupDir,
      routes,
      changes,
      checksAfter,
      checksBefore: checks,
      nginx,
      timeoutMs,
      guard,
      io,
    });
    io.out(`rollback: done: files as in ${set.manifest.stamp}, verified in ${ms(start)}`);
  });
}

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { LoadedConfig } from '../../../lib/config';
import { UserError } from '../cli/errors';
import { confirm } from '../cli/confirm';
import { acquireLock } from '../process/lock';
import { BYTES, checkBackupDir, listSets, notWritable, original, sha256 } from './backups';
import { NginxControl } from './nginx';
import { checksFor, describeCheck, plan, readTree, resolveRoutes, routeStatus, unifiedDiff, type Check, type NginxTree, type ResolvedRoute } from './plan';
import { httpGet, joinHostPort, splitHostPort, tcpConnect } from './probes';
import { Guard, Interrupted, transact, type Change } from './transaction';
import { runChecks } from './verify';

type Log = (line: string) => void;

const ms = (since: number) => `${Math.round(performance.now() - since)} ms`;

export function printPlan(cfg: LoadedConfig, log: Log): number {
  const p = plan(cfg);
  const c = cfg.root.cutover;
  for (const n of p.notes) log(`note: ${n}`);
  for (const w of p.warnings) log(`warning: ${w}`);
  if (p.alreadyDone) {
    log('cutover plan: already cut over; nothing would change');
    return 0;
  }
  for (const change of p.changes) log(unifiedDiff(change, c.nginx.confDir).trimEnd());
  const count = p.changes.reduce((n, x) => n + x.replacements.length, 0);
  log(`cutover plan: ${count} proxy target(s) in ${p.changes.length} file(s); every other byte stays identical`);
  log('apply would run, in order:');
  log(`  preflight: the files are writable; ${c.backupDir} is outside nginx's includes; nginx -t passes; the nginx master (${c.nginx.pidFile}) has workers`);
  for (const r of p.targets) log(`  preflight: TCP connect to ${r.target} (${r.to})${r.health ? ` and GET ${r.health.path} expects ${r.health.status}` : ''}`);
  log(`  preflight: every verification request below passes on the current config`);
  log(`  backup to ${c.backupDir}/<stamp>, rewrite atomically, nginx -t, reload, wait for new workers (up to ${c.nginx.reloadTimeoutMs} ms)`);
  for (const check of p.checks) log(`  verify: ${describeCheck(check)}`);
  if (p.problems.length) throw new UserError(`the plan does not match the configured expectations; apply would abort before writing:\n  ${p.problems.join('\n  ')}`);
  return 0;
}

/**
 * Checks that need no change made: all problems at once, so one run shows everything to fix. Then `baseline`:
 * the verification requests must pass on the current config, or a failure later could not be blamed on the change.
 */
async function preflight(o: {
  cfg: LoadedConfig;
  tree: NginxTree;
  files: readonly string[];
  nginx: NginxControl;
  guard: Guard;
  targets: readonly ResolvedRoute[];
  baseline: readonly Check[];
  log: Log;
}): Promise<void> {
  const c = o.cfg.root.cutover;
  const problems: string[] = [];
  for (const f of o.files) {
    const why = notWritable(f);
    if (why) problems.push(`${f} ${why}`);
  }
  try {
    checkBackupDir(c.backupDir, o.tree.includeDirs);
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
  for (const r of o.targets) {
    const { host, port } = splitHostPort(r.target);
    try {
      await o.guard.race(tcpConnect(host, port, c.connectTimeoutMs));
      if (r.health) {
        const status = await o.guard.race(httpGet({ address: { host, port }, tls: false, host, path: r.health.path, timeoutMs: c.connectTimeoutMs, signal: o.guard.signal }));
        if (status !== r.health.status) problems.push(`new target ${r.target} (${r.to}): GET ${r.health.path} answered ${status}, expected ${r.health.status}`);
      }
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      problems.push(`new target ${r.target} (${r.to}) does not answer: ${(e as Error).message}`);
    }
  }
  if (problems.length) throw new UserError(`preflight failed; nothing was changed:\n  - ${problems.join('\n  - ')}`);
  o.log(`preflight: ${o.files.length} file(s) writable, nginx -t ok, workers running${o.targets.length ? `, ${o.targets.length} new target(s) answer` : ''}`);
  if (!o.baseline.length) return;
  const v = await o.guard.race(runChecks(o.baseline, { nginx: o.nginx, timeoutMs: c.requestTimeoutMs, signal: o.guard.signal }));
  if (v.failed.length) throw new UserError(`preflight: verification fails before any change, so it could not judge the cutover; nothing was changed:\n  ${v.failed.join('\n  ')}\n  (fix nginx or the backends, or set cutover.routes[].verify)`);
  o.log(`preflight: ${v.passed.length} verification request(s) pass on the current config`);
}

/** Runs `fn` under the cutover lock with signals turned into a clean stop. */
async function locked(cfg: LoadedConfig, what: string, log: Log, fn: (guard: Guard) => Promise<number>): Promise<number> {
  const dir = cfg.root.cutover.backupDir;
  const guard = new Guard(log);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const release = await guard.race(acquireLock(join(dir, '.lock'), 'another cutover apply or rollback'));
    try {
      return await fn(guard);
    } finally {
      release();
    }
  } catch (e) {
    if (e instanceof Interrupted) throw new UserError(`${what} interrupted by ${e.signal} before any change: nothing was written`, e.signal === 'SIGINT' ? 130 : 143);
    throw e;
  } finally {
    guard.dispose();
  }
}

/** What apply or rollback will change on this host, for the confirmation. */
const hostLines = (cfg: LoadedConfig, files: readonly string[]) => {
  const n = cfg.root.cutover.nginx;
  return [`files:   ${files.join(', ')}`, `nginx:   ${[...n.exec, ...n.command].join(' ')} -s reload (pid file ${n.pidFile})`, `backups: ${cfg.root.cutover.backupDir}`];
};

export async function apply(cfg: LoadedConfig, options: { yes: boolean }, log: Log): Promise<number> {
  const start = performance.now();
  const c = cfg.root.cutover;
  const first = plan(cfg);
  if (!first.alreadyDone && !first.problems.length) await confirm('cutover apply will change', hostLines(cfg, first.changes.map((x) => x.file.path)), options.yes);
  return locked(cfg, 'apply', log, async (guard) => {
    const p = plan(cfg);
    if (p.alreadyDone) {
      log('apply: already cut over: every route points at its NodePort; nothing to do');
      return 0;
    }
    if (p.problems.length) throw new UserError(`plan: the config files do not match the configured routes; nothing was changed:\n  ${p.problems.join('\n  ')}`);
    const nginx = new NginxControl(c.nginx);
    await preflight({ cfg, tree: p.tree, files: p.changes.map((x) => x.file.real), nginx, guard, targets: p.targets, baseline: p.checks, log });
    const changes = p.changes.map((x) => ({ path: x.file.path, real: x.file.real, before: x.file.text, after: x.after }));
    await transact({ kind: 'apply', backupDir: c.backupDir, routes: p.routes, changes, checksAfter: p.checksAfter, checksBefore: p.checks, nginx, timeoutMs: c.requestTimeoutMs, guard, log });
    log(`apply: done: ${p.routes.length} route(s) on the NodePorts, verified in ${ms(start)} (start to verified). Old backends keep their open connections: run drain before stopping them`);
    return 0;
  });
}

export async function rollback(cfg: LoadedConfig, options: { to?: string; force: boolean; yes: boolean }, log: Log): Promise<number> {
  const start = performance.now();
  const c = cfg.root.cutover;
  await confirm('cutover rollback will change', hostLines(cfg, [`the files of backup set ${options.to ?? '(the last applied cutover)'}`]), options.yes);
  return locked(cfg, 'rollback', log, async (guard) => {
    const sets = listSets(c.backupDir);
    const have = sets.map((s) => `${s.manifest.stamp} (${s.manifest.kind}, ${s.manifest.outcome})`).join(', ') || 'none';
    const set = options.to ? sets.find((s) => s.manifest.stamp === options.to) : [...sets].reverse().find((s) => s.manifest.kind === 'apply' && s.manifest.outcome === 'applied');
    if (!set) throw new UserError(options.to ? `no backup set ${options.to} in ${c.backupDir} (have: ${have})` : `no applied cutover to roll back in ${c.backupDir} (have: ${have})`);
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
    if (edited.length && !options.force) throw new UserError(`rollback would discard edits made after the cutover in: ${edited.join(', ')}; review them (diff against ${set.dir}/files), then run rollback --force`);
    if (!changes.length) {
      log(`rollback: the files already match backup set ${set.manifest.stamp}; nothing to do`);
      return 0;
    }
    const tree = readTree(c.nginx.confDir);
    const routes = resolveRoutes(cfg);
    const { checks, problems } = checksFor(tree, routes);
    if (problems.length) throw new UserError(`rollback: cannot verify every route; nothing was changed:\n  ${problems.join('\n  ')}`);
    const nginx = new NginxControl(c.nginx);
    // No new-target or baseline checks: rolling back is what you do when the current side is broken.
    await preflight({ cfg, tree, files: changes.map((x) => x.real), nginx, guard, targets: [], baseline: [], log });
    const checksAfter = checksFor(readTree(c.nginx.confDir, new Map(changes.map((x) => [x.real, x.after]))), routes).checks;
    log(`rollback: restoring ${changes.length} file(s) from ${set.manifest.stamp} (${set.manifest.kind})`);
    await transact({ kind: 'rollback', backupDir: c.backupDir, routes, changes, checksAfter, checksBefore: checks, nginx, timeoutMs: c.requestTimeoutMs, guard, log });
    log(`rollback: done: files as in ${set.manifest.stamp}, verified in ${ms(start)}`);
    return 0;
  });
}

export function status(cfg: LoadedConfig, log: Log): number {
  for (const r of routeStatus(cfg)) log(`${r.state.padEnd(6)} ${r.line}`);
  const sets = listSets(cfg.root.cutover.backupDir);
  log(sets.length ? `backup sets in ${cfg.root.cutover.backupDir} (rollback --to STAMP):` : `no backup sets in ${cfg.root.cutover.backupDir}`);
  for (const s of sets) log(`  ${s.manifest.stamp}  ${s.manifest.kind.padEnd(8)}  ${s.manifest.outcome}  ${s.manifest.files.map((f) => relative(cfg.root.cutover.nginx.confDir, f.path)).join(', ')}`);
  return 0;
}

/**
 * Watches nginx's established connections to the old backends until none are left (exit 0) or the timeout
 * (exit 3). WebSocket calls stay on the old Janus through the old workers until they end (FIELD-NOTES).
 */
export async function drain(cfg: LoadedConfig, options: { timeoutMs?: number; intervalMs?: number }, log: Log): Promise<number> {
  const c = cfg.root.cutover;
  const timeoutMs = options.timeoutMs ?? c.drain.timeoutMinutes * 60_000;
  const intervalMs = options.intervalMs ?? c.drain.intervalSeconds * 1000;
  const pending = routeStatus(cfg).filter((r) => r.state === 'old' || r.state === 'MIXED');
  if (pending.length) throw new UserError(`drain watches the old backends after apply, but these routes still point at them: ${pending.map((r) => r.route.from).join(', ')}; run cutover -- apply first`);
  const nginx = new NginxControl(c.nginx);
  const olds = await Promise.all(
    [...new Set(c.routes.map((r) => r.from))].map(async (from) => {
      const { host, port } = splitHostPort(from);
      const ips = await nginx.resolve(host).catch(() => [] as string[]);
      return { from, host, endpoints: ips.map((ip) => joinHostPort(ip, port)) };
    }),
  );
  for (const o of olds.filter((x) => !x.endpoints.length)) log(`drain: ${o.host} no longer resolves where nginx runs (container gone?): counting ${o.from} as drained`);
  const start = Date.now();
  const freed = new Set<string>();
  let last = '';
  for (;;) {
    const open = (await nginx.connections()).filter((x) => x.state === 'ESTABLISHED');
    const counts = olds.map((o) => ({ ...o, n: open.filter((x) => o.endpoints.includes(x.remote)).length }));
    const line = counts.map((x) => `${x.from} ${x.n}`).join(', ');
    const elapsed = `${((Date.now() - start) / 1000).toFixed(1)} s`;
    if (line !== last) log(`drain: ${elapsed}: established connections from nginx: ${line}`);
    last = line;
    for (const host of new Set(counts.map((x) => x.host))) {
      if (!freed.has(host) && counts.filter((x) => x.host === host).every((x) => x.n === 0)) {
        freed.add(host);
        log(`drain: ${host} has no connections from nginx left: its container can be stopped`);
      }
    }
    if (counts.every((x) => x.n === 0)) {
      log(`drain: done after ${elapsed}: no connections from nginx to the old backends; the old containers can be stopped safely`);
      return 0;
    }
    if (Date.now() - start >= timeoutMs) {
      const busy = counts.filter((x) => x.n > 0);
      log(`drain: timed out after ${elapsed}: still open: ${busy.map((x) => `${x.from} ${x.n}`).join(', ')}; do not stop ${[...new Set(busy.map((x) => x.host))].join(', ')} yet`);
      return 3;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

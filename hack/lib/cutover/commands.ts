import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import { acquireLock } from '../process/lock';
import { BYTES, checkBackupDir, listSets, notWritable, original, sha256 } from './backups';
import { NginxControl } from './nginx';
import { backendValue, parseBackend, unquote } from './nginx-config';
import {
  type Check,
  checksFor,
  describeCheck,
  displayPath,
  inventory,
  judged,
  type NginxTree,
  oldHostsOf,
  type Plan,
  plan,
  readTree,
  type ResolvedRoute,
  resolveRoutes,
  routeStatus,
  unaccountedProblem,
  unifiedDiff,
} from './plan';
import { httpGet, splitHostPort, tcpConnect } from './probes';
import { type Change, Guard, Interrupted, transact } from './transaction';
import { runChecks } from './verify';

type Log = (line: string) => void;

const ms = (since: number) => `${Math.round(performance.now() - since)} ms`;

/** One line per backend address on an old host, as plan and status show them. */
export function inventoryLines(p: Pick<Plan, 'inventory'>): string[] {
  return p.inventory.map((t) => {
    const what = `${t.file}:${t.line} ${t.kind} ${t.hostPort}`;
    if (t.disposition === 'routed') return `  routed       ${what} -> ${t.route!.to} (${t.route!.target})`;
    if (t.disposition === 'kept') return `  kept         ${what}: ${t.reason}`;
    return `  UNACCOUNTED  ${what}`;
  });
}

export function printPlan(cfg: LoadedConfig, log: Log): number {
  const p = plan(cfg);
  const c = cfg.root.cutover;
  for (const n of p.notes) log(`note: ${n}`);
  for (const w of p.warnings) log(`warning: ${w}`);
  if (p.inventory.length) {
    const count = (d: string) => p.inventory.filter((t) => t.disposition === d).length;
    log(
      `backend addresses on the old hosts (${oldHostsOf(cfg).join(', ')}): ${count('routed')} routed, ${count('kept')} kept, ${count('unaccounted')} unaccounted`,
    );
    for (const l of inventoryLines(p)) log(l);
  }
  if (p.alreadyDone) {
    log('cutover plan: already cut over; nothing would change');
    return 0;
  }
  for (const change of p.changes) log(unifiedDiff(change, c.nginx.confDir).trimEnd());
  const count = p.changes.reduce((n, x) => n + x.replacements.length, 0);
  log(`cutover plan: ${count} proxy target(s) in ${p.changes.length} file(s); every other byte stays identical`);
  log('apply would run, in order:');
  log(
    `  preflight: the files are writable; ${c.backupDir} is outside nginx's includes; nginx -t passes; the nginx master (${c.nginx.pidFile}) has workers`,
  );
  for (const r of p.targets)
    log(`  preflight: TCP connect to ${r.target} (${r.to})${r.health ? ` and GET ${r.health.path} expects ${r.health.status}` : ''}`);
  log(`  preflight: every verification request below passes on the current config`);
  log(
    `  backup to ${c.backupDir}/<stamp>, rewrite atomically, nginx -t, reload, wait for new workers (up to ${c.nginx.reloadTimeoutMs} ms)`,
  );
  for (const check of p.checks) {
    if (check.route.retired)
      log(
        `  verify: ${describeCheck({ ...check, websocket: false, protocol: undefined, status: check.route.retired })} (retired: nginx answers itself)`,
      );
    else log(`  verify: ${describeCheck(check)}${judged([check]).length ? '' : ' (after the change only: baseline: false)'}`);
  }
  if (p.problems.length) throw new UserError(`apply would abort before writing anything:\n  ${p.problems.join('\n  ')}`);
  return 0;
}

/**
 * Checks that need no change made: all problems at once, so one run shows everything to fix. Then `baseline`:
 * the verification requests must pass on the current config, or a failure later could not be blamed on the change.
 */
export async function preflight(o: {
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
        const status = await o.guard.race(
          httpGet({
            address: { host, port },
            tls: false,
            host,
            path: r.health.path,
            timeoutMs: c.connectTimeoutMs,
            signal: o.guard.signal,
          }),
        );
        if (status !== r.health.status)
          problems.push(`new target ${r.target} (${r.to}): GET ${r.health.path} answered ${status}, expected ${r.health.status}`);
      }
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      problems.push(`new target ${r.target} (${r.to}) does not answer: ${(e as Error).message}`);
    }
  }
  if (problems.length) throw new UserError(`preflight failed; nothing was changed:\n  - ${problems.join('\n  - ')}`);
  o.log(
    `preflight: ${o.files.length} file(s) writable, nginx -t ok, workers running${o.targets.length ? `, ${o.targets.length} new target(s) answer` : ''}`,
  );
  if (!o.baseline.length) return;
  const v = await o.guard.race(runChecks(o.baseline, { nginx: o.nginx, timeoutMs: c.requestTimeoutMs, signal: o.guard.signal }));
  if (v.failed.length)
    throw new UserError(
      `preflight: verification fails before any change, so it could not judge the cutover; nothing was changed:\n  ${v.failed.join('\n  ')}\n  (fix nginx or the backends, or set cutover.routes[].verify)`,
    );
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
export async function apply(cfg: LoadedConfig, options: { yes: boolean; stopped?: readonly string[] }, log: Log): Promise<number> {
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
  return locked(cfg, 'apply', log, async (guard) => {
    const p = plan(cfg);
    if (p.alreadyDone) {
      log('apply: already cut over: every route points at its NodePort; nothing to do');
      return 0;
    }
    if (p.problems.length)
      throw new UserError(
        `plan: the config does not account for every old backend or does not match the routes; nothing was changed:\n  ${p.problems.join('\n  ')}`,
      );
    const nginx = new NginxControl(c.nginx);
    const reachable = (checks: readonly Check[]) => checks.filter((x) => !(options.stopped ?? []).includes(splitHostPort(x.current).host));
    await preflight({
      cfg,
      tree: p.tree,
      files: p.changes.map((x) => x.file.real),
      nginx,
      guard,
      targets: p.targets,
      baseline: reachable(judged(p.checks)),
      log,
    });
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
      log,
    });
    log(
      `apply: done: ${p.routes.length} route(s) on the NodePorts, verified in ${ms(start)} (start to verified). Old backends keep their open connections: run drain before stopping them`,
    );
    return 0;
  });
}

export async function rollback(cfg: LoadedConfig, options: { to?: string; force: boolean; yes: boolean }, log: Log): Promise<number> {
  const start = performance.now();
  const c = cfg.root.cutover;
  await confirm(
    'cutover rollback will change',
    hostLines(cfg, [`the files of backup set ${options.to ?? '(the last applied cutover)'}`]),
    options.yes,
  );
  return locked(cfg, 'rollback', log, async (guard) => {
    const sets = listSets(c.backupDir);
    const have = sets.map((s) => `${s.manifest.stamp} (${s.manifest.kind}, ${s.manifest.outcome})`).join(', ') || 'none';
    const set = options.to
      ? sets.find((s) => s.manifest.stamp === options.to)
      : [...sets].reverse().find((s) => s.manifest.kind === 'apply' && s.manifest.outcome === 'applied');
    if (!set)
      throw new UserError(
        options.to
          ? `no backup set ${options.to} in ${c.backupDir} (have: ${have})`
          : `no applied cutover to roll back in ${c.backupDir} (have: ${have})`,
      );
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
    if (edited.length && !options.force)
      throw new UserError(
        `rollback would discard edits made after the cutover in: ${edited.join(', ')}; review them (diff against ${set.dir}/files), then run rollback --force`,
      );
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
    await transact({
      kind: 'rollback',
      backupDir: c.backupDir,
      routes,
      changes,
      checksAfter,
      checksBefore: checks,
      nginx,
      timeoutMs: c.requestTimeoutMs,
      guard,
      log,
    });
    log(`rollback: done: files as in ${set.manifest.stamp}, verified in ${ms(start)}`);
    return 0;
  });
}

export function status(cfg: LoadedConfig, log: Log): number {
  for (const r of routeStatus(cfg)) log(`${r.state.padEnd(6)} ${r.line}`);
  const c = cfg.root.cutover;
  const tree = readTree(c.nginx.confDir);
  const targets = inventory(tree, resolveRoutes(cfg), cfg);
  for (const file of [...new Set(targets.map((t) => t.file))]) {
    const here = targets.filter((t) => t.file === file);
    const n = (d: string) => here.filter((t) => t.disposition === d).length;
    log(
      `old hosts in ${file}: ${n('routed')} routed, ${n('kept')} kept, ${n('unaccounted')} unaccounted${n('unaccounted') ? ': apply refuses until each is routed or kept (see plan)' : ''}`,
    );
  }
  if (!targets.length) log(`old hosts (${oldHostsOf(cfg).join(', ')}): no backend address in the config names them`);
  for (const l of inventoryLines({ inventory: targets.filter((t) => t.disposition === 'unaccounted') })) log(l);
  const sets = listSets(c.backupDir);
  log(sets.length ? `backup sets in ${c.backupDir} (rollback --to STAMP):` : `no backup sets in ${c.backupDir}`);
  for (const s of sets)
    log(
      `  ${s.manifest.stamp}  ${s.manifest.kind.padEnd(8)}  ${s.manifest.outcome}  ${s.manifest.files.map((f) => displayPath(c.nginx.confDir, f.path)).join(', ')}`,
    );
  return 0;
}

/**
 * After apply: waits until nginx holds no connection to any port of the old hosts (WebSocket calls stay on the old
 * Janus through the old workers until they end), then proves `nginx -t` passes with those hosts unresolvable, and
 * only then names the containers that can be stopped. Exit 0 safe, 3 on timeout, 1 when it cannot say so.
 */
export async function drain(cfg: LoadedConfig, options: { timeoutMs?: number; intervalMs?: number }, log: Log): Promise<number> {
  const c = cfg.root.cutover;
  const timeoutMs = options.timeoutMs ?? c.drain.timeoutMinutes * 60_000;
  const intervalMs = options.intervalMs ?? c.drain.intervalSeconds * 1000;
  const refuse = (why: string) => {
    log(`drain: NOT safe to stop the old containers: ${why}`);
    return 1;
  };
  // 1. The cutover is applied, accounts for every old backend, and verifies now.
  const states = routeStatus(cfg);
  const pending = states.filter((r) => r.state === 'old' || r.state === 'MIXED');
  if (pending.length)
    return refuse(
      `these routes still point at the old backends: ${pending.map((r) => `${r.route.from} (${r.state})`).join(', ')}; run cutover apply first`,
    );
  if (!states.some((r) => r.state === 'new'))
    return refuse(
      `no route points at a new target in the config under ${c.nginx.confDir}: nothing is cut over (or confDir is not the config nginx runs; for nginx in Docker set cutover.nginx.exec)`,
    );
  const p = plan(cfg);
  const open = unaccountedProblem(cfg, p.inventory);
  if (open) return refuse(open);
  const nginx = new NginxControl(c.nginx);
  const v = await runChecks(judged(p.checks), { nginx, timeoutMs: c.requestTimeoutMs });
  if (v.failed.length) return refuse(`the cutover does not verify now:\n  ${v.failed.join('\n  ')}`);
  log(`drain: cut over and verified (${v.passed.length} request(s) through nginx reach the new targets)`);

  // 2. Every port of every old host, resolved where nginx runs; kept hosts are watched but not waited for.
  const keptHosts = new Map(p.inventory.filter((t) => t.disposition === 'kept').map((t) => [t.host, t.reason!]));
  const hosts = await Promise.all(
    oldHostsOf(cfg).map(async (host) => ({ host, ips: await nginx.resolve(host).catch(() => [] as string[]), kept: keptHosts.get(host) })),
  );
  for (const h of hosts.filter((x) => !x.ips.length))
    log(`drain: ${h.host} no longer resolves where nginx runs (container gone?): nothing to wait for`);
  for (const h of hosts.filter((x) => x.kept)) log(`drain: ${h.host} stays (kept: ${h.kept}); its connections are not waited for`);
  const start = Date.now();
  let last = '';
  for (;;) {
    const established = (await nginx.ownConnections()).filter((x) => x.state === 'ESTABLISHED');
    const counts = hosts.map((h) => {
      const to = established.filter((x) => h.ips.includes(splitHostPort(x.remote).host));
      return { ...h, n: to.length, ports: [...new Set(to.map((x) => splitHostPort(x.remote).port))].sort((a, b) => a - b) };
    });
    const line = counts
      .map((x) => `${x.host} ${x.n}${x.ports.length ? ` (port${x.ports.length > 1 ? 's' : ''} ${x.ports.join(', ')})` : ''}`)
      .join(', ');
    const elapsed = `${((Date.now() - start) / 1000).toFixed(1)} s`;
    if (line !== last) log(`drain: ${elapsed}: established connections from nginx: ${line}`);
    last = line;
    const busy = counts.filter((x) => x.n > 0 && !x.kept);
    if (!busy.length) break;
    if (Date.now() - start >= timeoutMs) {
      log(
        `drain: timed out after ${elapsed}: still open: ${busy.map((x) => `${x.host} ${x.n}`).join(', ')}; do not stop ${busy.map((x) => x.host).join(', ')} yet`,
      );
      return 3;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }

  // 3. Proof that nginx still loads once they are gone.
  const gone = hosts.filter((h) => !h.kept).map((h) => h.host);
  const others = [
    ...new Set(
      p.tree.all.flatMap((d) => {
        const b = backendValue(d, p.tree.proxied);
        const parsed = b && parseBackend(unquote(b.token));
        return parsed && !isIP(parsed.host.replace(/^\[|\]$/g, '')) && !gone.includes(parsed.host) && !keptHosts.has(parsed.host)
          ? [parsed.host]
          : [];
      }),
    ),
  ];
  const t = await nginx.testWithout(gone, others);
  if ('skipped' in t) {
    log(
      `drain: could not run nginx -t with ${gone.join(', ')} unresolvable where nginx runs (${t.skipped}); statically, no backend address in the config under ${c.nginx.confDir} names them`,
    );
  } else if (!t.ok) {
    return refuse(
      `nginx -t fails with ${gone.join(', ')} unresolvable, so the next reload or restart would fail once they stop:\n  ${
        t.output
          .split('\n')
          .filter((l) => /emerg|error|failed/.test(l))
          .join('\n  ') || t.output
      }`,
    );
  } else log(`drain: nginx -t passes with ${gone.join(', ')} unresolvable (as once their containers are gone)`);
  log(
    `drain: done after ${((Date.now() - start) / 1000).toFixed(1)} s: no connections from nginx to ${gone.join(', ')}; safe to stop: ${gone.join(', ')}${keptHosts.size ? `; keep running: ${[...keptHosts.keys()].join(', ')}` : ''}`,
  );
  return 0;
}

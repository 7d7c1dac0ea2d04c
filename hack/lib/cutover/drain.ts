import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import type { LoadedConfig } from '../../../lib/config';
import type { IO } from '../cli/io';
import { judged } from './checks';
import { oldHostsOf, unaccountedProblem } from './inventory';
import { NginxControl } from './nginx';
import { backendValue, parseBackend, unquote } from './nginx-config';
import { type Plan, plan } from './plan';
import { splitHostPort } from './probes';
import { routeStatus } from './routes';
import { runChecks } from './verify';

// `cutover drain`, after apply: waits until nginx holds no connection to any port of the old hosts (WebSocket calls
// stay on the old Janus through the old workers until they end), then proves `nginx -t` passes with those hosts
// unresolvable, and only then names the containers that can be stopped.

/** safe: the old containers can be stopped; timed out: connections are still open; not safe: it cannot say so. */
export type DrainVerdict = 'safe' | 'timed out' | 'not safe';

/** An old host as nginx resolves it; `kept` says why it stays (cutover.kept): watched, not waited for. */
interface OldHost {
  readonly host: string;
  readonly ips: readonly string[];
  readonly kept?: string;
}

const since = (start: number) => `${((Date.now() - start) / 1000).toFixed(1)} s`;

/** The cutover is applied, accounts for every old backend, and verifies now: its plan, or why not. */
async function verifiedCutover(cfg: LoadedConfig, nginx: NginxControl, io: IO): Promise<Plan | { refused: string }> {
  const c = cfg.root.cutover;
  const states = routeStatus(cfg);
  const pending = states.filter((r) => r.state === 'old' || r.state === 'MIXED');
  if (pending.length)
    return {
      refused: `these routes still point at the old backends: ${pending.map((r) => `${r.route.from} (${r.state})`).join(', ')}; run cutover apply first`,
    };
  if (!states.some((r) => r.state === 'new'))
    return {
      refused: `no route points at a new target in the config under ${c.nginx.confDir}: nothing is cut over (or confDir is not the config nginx runs; for nginx in Docker set cutover.nginx.exec)`,
    };
  const p = plan(cfg);
  const open = unaccountedProblem(cfg, p.inventory);
  if (open) return { refused: open };
  const v = await runChecks(judged(p.checks), { nginx, timeoutMs: c.requestTimeoutMs });
  if (v.failed.length) return { refused: `the cutover does not verify now:\n  ${v.failed.join('\n  ')}` };
  io.out(`drain: cut over and verified (${v.passed.length} request(s) through nginx reach the new targets)`);
  return p;
}

/** Every old host, resolved where nginx runs. */
async function oldHosts(cfg: LoadedConfig, keptHosts: ReadonlyMap<string, string>, nginx: NginxControl, io: IO): Promise<OldHost[]> {
  const hosts = await Promise.all(
    oldHostsOf(cfg).map(async (host) => ({ host, ips: await nginx.resolve(host).catch(() => [] as string[]), kept: keptHosts.get(host) })),
  );
  for (const h of hosts.filter((x) => !x.ips.length))
    io.out(`drain: ${h.host} no longer resolves where nginx runs (container gone?): nothing to wait for`);
  for (const h of hosts.filter((x) => x.kept)) io.out(`drain: ${h.host} stays (kept: ${h.kept}); its connections are not waited for`);
  return hosts;
}

/**
 * Counts nginx's established connections to every port of each old host (a line whenever the counts change) until
 * no host that is not kept has one; false at the timeout.
 */
async function waitForDrain(
  hosts: readonly OldHost[],
  nginx: NginxControl,
  o: { start: number; timeoutMs: number; intervalMs: number },
  io: IO,
): Promise<boolean> {
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
    const elapsed = since(o.start);
    if (line !== last) io.out(`drain: ${elapsed}: established connections from nginx: ${line}`);
    last = line;
    const busy = counts.filter((x) => x.n > 0 && !x.kept);
    if (!busy.length) return true;
    if (Date.now() - o.start >= o.timeoutMs) {
      io.out(
        `drain: timed out after ${elapsed}: still open: ${busy.map((x) => `${x.host} ${x.n}`).join(', ')}; do not stop ${busy.map((x) => x.host).join(', ')} yet`,
      );
      return false;
    }
    await sleep(o.intervalMs);
  }
}

/** Proof that nginx still loads once `gone` no longer resolve: why not, or undefined. */
async function loadsWithout(
  p: Plan,
  gone: readonly string[],
  keptHosts: ReadonlyMap<string, string>,
  nginx: NginxControl,
  io: IO,
): Promise<string | undefined> {
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
    io.out(
      `drain: could not run nginx -t with ${gone.join(', ')} unresolvable where nginx runs (${t.skipped}); statically, no backend address in the config under ${p.tree.confDir} names them`,
    );
    return undefined;
  }
  if (!t.ok) {
    const errors = t.output
      .split('\n')
      .filter((l) => /emerg|error|failed/.test(l))
      .join('\n  ');
    return `nginx -t fails with ${gone.join(', ')} unresolvable, so the next reload or restart would fail once they stop:\n  ${errors || t.output}`;
  }
  io.out(`drain: nginx -t passes with ${gone.join(', ')} unresolvable (as once their containers are gone)`);
  return undefined;
}

/** `cutover drain`: the verdict, with every line of how it was reached on `io.out`. */
export async function drain(cfg: LoadedConfig, options: { timeoutMs?: number; intervalMs?: number }, io: IO): Promise<DrainVerdict> {
  const c = cfg.root.cutover;
  const timeoutMs = options.timeoutMs ?? c.drain.timeoutMinutes * 60_000;
  const intervalMs = options.intervalMs ?? c.drain.intervalSeconds * 1000;
  const refuse = (why: string): DrainVerdict => {
    io.out(`drain: NOT safe to stop the old containers: ${why}`);
    return 'not safe';
  };
  const nginx = new NginxControl(c.nginx);
  const p = await verifiedCutover(cfg, nginx, io);
  if ('refused' in p) return refuse(p.refused);
  const keptHosts = new Map(p.inventory.filter((t) => t.disposition === 'kept').map((t) => [t.host, t.reason!]));
  const hosts = await oldHosts(cfg, keptHosts, nginx, io);
  const start = Date.now();
  if (!(await waitForDrain(hosts, nginx, { start, timeoutMs, intervalMs }, io))) return 'timed out';
  const gone = hosts.filter((h) => !h.kept).map((h) => h.host);
  const broken = await loadsWithout(p, gone, keptHosts, nginx, io);
  if (broken) return refuse(broken);
  io.out(
    `drain: done after ${since(start)}: no connections from nginx to ${gone.join(', ')}; safe to stop: ${gone.join(', ')}${keptHosts.size ? `; keep running: ${[...keptHosts.keys()].join(', ')}` : ''}`,
  );
  return 'safe';
}

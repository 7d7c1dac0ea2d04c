import type { LoadedConfig } from '../../lib/config';
import { command, config, group, UserError } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { stdio } from '../lib/cli/io';
import { listSets } from '../lib/cutover/backups';
import { describeCheck, judged } from '../lib/cutover/checks';
import { apply, rollback } from '../lib/cutover/commands';
import { drain, type DrainVerdict } from '../lib/cutover/drain';
import { inventory, oldHostsOf, type OldTarget } from '../lib/cutover/inventory';
import { type Plan, plan, unifiedDiff } from '../lib/cutover/plan';
import { resolveRoutes, routeStatus } from '../lib/cutover/routes';
import { displayPath, readTree } from '../lib/cutover/tree';

/** drain's exit status: 0 safe to stop the old containers, 3 still busy at the timeout, 1 it cannot say so. */
const DRAIN_EXIT: Record<DrainVerdict, number> = { safe: 0, 'timed out': 3, 'not safe': 1 };

/** One line per backend address on an old host, as plan and status show them. */
function inventoryLines(targets: readonly OldTarget[]): string[] {
  return targets.map((t) => {
    const what = `${t.file}:${t.line} ${t.kind} ${t.hostPort}`;
    if (t.disposition === 'routed') return `  routed       ${what} -> ${t.route!.to} (${t.route!.target})`;
    if (t.disposition === 'kept') return `  kept         ${what}: ${t.reason}`;
    return `  UNACCOUNTED  ${what}`;
  });
}

/** What apply would do, in order: every check before the change, the change, every request after it. */
function applySteps(cfg: LoadedConfig, p: Plan): string[] {
  const c = cfg.root.cutover;
  return [
    'apply would run, in order:',
    `  preflight: the files are writable; ${c.backupDir} is outside nginx's includes; nginx -t passes; the nginx master (${c.nginx.pidFile}) has workers`,
    ...p.targets.map(
      (r) => `  preflight: TCP connect to ${r.target} (${r.to})${r.health ? ` and GET ${r.health.path} expects ${r.health.status}` : ''}`,
    ),
    `  preflight: every verification request below passes on the current config`,
    `  backup to ${c.backupDir}/<stamp>, rewrite atomically, nginx -t, reload, wait for new workers (up to ${c.nginx.reloadTimeoutMs} ms)`,
    ...p.checks.map((check) =>
      check.route.retired
        ? `  verify: ${describeCheck({ ...check, websocket: false, protocol: undefined, status: check.route.retired })} (retired: nginx answers itself)`
        : `  verify: ${describeCheck(check)}${judged([check]).length ? '' : ' (after the change only: baseline: false)'}`,
    ),
  ];
}

/** `cutover plan`: notes, the old backends, then the diff and every step apply would run (or that nothing would change). */
function formatPlan(cfg: LoadedConfig, p: Plan): string[] {
  const lines = [...p.notes.map((n) => `note: ${n}`), ...p.warnings.map((w) => `warning: ${w}`)];
  if (p.inventory.length) {
    const count = (d: string) => p.inventory.filter((t) => t.disposition === d).length;
    lines.push(
      `backend addresses on the old hosts (${oldHostsOf(cfg).join(', ')}): ${count('routed')} routed, ${count('kept')} kept, ${count('unaccounted')} unaccounted`,
      ...inventoryLines(p.inventory),
    );
  }
  if (p.alreadyDone) return [...lines, 'cutover plan: already cut over; nothing would change'];
  const count = p.changes.reduce((n, x) => n + x.replacements.length, 0);
  return [
    ...lines,
    ...p.changes.map((change) => unifiedDiff(change, cfg.root.cutover.nginx.confDir).trimEnd()),
    `cutover plan: ${count} proxy target(s) in ${p.changes.length} file(s); every other byte stays identical`,
    ...applySteps(cfg, p),
  ];
}

/**
 * `cutover status`: each route, the old backends per file (every unaccounted one named), the backup sets; each part
 * printed as it is read.
 */
function* formatStatus(cfg: LoadedConfig): Generator<string> {
  const c = cfg.root.cutover;
  yield* routeStatus(cfg).map((r) => `${r.state.padEnd(6)} ${r.line}`);
  const targets = inventory(readTree(c.nginx.confDir), resolveRoutes(cfg), cfg);
  for (const file of [...new Set(targets.map((t) => t.file))]) {
    const here = targets.filter((t) => t.file === file);
    const n = (d: string) => here.filter((t) => t.disposition === d).length;
    yield `old hosts in ${file}: ${n('routed')} routed, ${n('kept')} kept, ${n('unaccounted')} unaccounted${n('unaccounted') ? ': apply refuses until each is routed or kept (see plan)' : ''}`;
  }
  if (!targets.length) yield `old hosts (${oldHostsOf(cfg).join(', ')}): no backend address in the config names them`;
  yield* inventoryLines(targets.filter((t) => t.disposition === 'unaccounted'));
  const sets = listSets(c.backupDir);
  yield sets.length ? `backup sets in ${c.backupDir} (rollback --to STAMP):` : `no backup sets in ${c.backupDir}`;
  for (const set of sets) {
    const files = set.manifest.files.map((f) => displayPath(c.nginx.confDir, f.path)).join(', ');
    yield `  ${set.manifest.stamp}  ${set.manifest.kind.padEnd(8)}  ${set.manifest.outcome}  ${files}`;
  }
}

// `bin/roomler cutover <plan|apply|status|drain|rollback>`: the host nginx, from the Docker backends to the NodePorts.
export default group({
  subcommands: {
    plan: command({
      summary: 'the exact proxy_pass diff and every check apply would run; changes nothing',
      examples: ['bin/roomler cutover plan'],
      run: async () => {
        const cfg = config();
        const p = plan(cfg);
        for (const line of formatPlan(cfg, p)) stdio.out(line);
        if (!p.alreadyDone && p.problems.length)
          throw new UserError(`apply would abort before writing anything:\n  ${p.problems.join('\n  ')}`);
      },
    }),
    apply: command({
      summary: 'preflight, back up, rewrite, nginx -t, reload, confirm, verify (restored byte-identical on any failure)',
      options: { yes: YES_OPTION },
      examples: ['bin/roomler cutover apply', 'bin/roomler cutover apply --yes'],
      run: ({ values }) => apply(config(), { yes: values.yes }, stdio),
    }),
    status: command({
      summary: 'where each route points now, and the backup sets',
      examples: ['bin/roomler cutover status'],
      run: async () => {
        for (const line of formatStatus(config())) stdio.out(line);
      },
    }),
    drain: command({
      summary: 'wait until nginx holds no connections to the old backends (exit 3 on timeout)',
      options: {
        timeout: { type: 'number', value: 'SECONDS', description: 'give up after this long', defaultText: 'cutover.drain.timeoutMinutes' },
        interval: { type: 'number', value: 'SECONDS', description: 'time between counts', defaultText: 'cutover.drain.intervalSeconds' },
      },
      examples: ['bin/roomler cutover drain --timeout 3600'],
      run: async ({ values }) => {
        const timeoutMs = values.timeout === undefined ? undefined : values.timeout * 1000;
        const intervalMs = values.interval === undefined ? undefined : values.interval * 1000;
        return DRAIN_EXIT[await drain(config(), { timeoutMs, intervalMs }, stdio)];
      },
    }),
    rollback: command({
      summary: 'restore a backup set (default: the last applied cutover), test, reload, verify',
      options: {
        to: {
          type: 'string',
          value: 'STAMP',
          description: 'the backup set to restore (see status)',
          defaultText: 'the last applied cutover',
        },
        force: { type: 'boolean', description: 'also discard edits made to the files after the cutover' },
        yes: YES_OPTION,
      },
      examples: ['bin/roomler cutover rollback', 'bin/roomler cutover rollback --to 20261126T101500Z'],
      run: ({ values }) => rollback(config(), { to: values.to, force: values.force, yes: values.yes }, stdio),
    }),
  },
  examples: ['bin/roomler cutover plan', 'bin/roomler cutover apply'],
});

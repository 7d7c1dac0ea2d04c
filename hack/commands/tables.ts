import type { History, ReleaseSummary } from '../lib/cluster/deploy';
import { describeHolder } from '../lib/cluster/lock';
import { describeGit, outcomeOf } from '../lib/cluster/releases';
import type { Line } from '../lib/doctor/checks';

// The tables the cluster commands print, from the data their actions return.

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((v, c) => v.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** After a succeeded release: each namespace's Pods, then the NodePorts. */
export function formatReleaseSummary(s: ReleaseSummary): string {
  const rows = [['NAMESPACE', 'POD', 'READY', 'RESTARTS'], ...s.pods.map((p) => [p.namespace, p.pod, p.ready, String(p.restarts)])];
  return `${table(rows)}\n\nNodePorts:\n${s.nodePorts.map((p) => `  ${p}`).join('\n')}`;
}

/** `deploy history`: one row per revision, oldest first, and who holds the lock. */
export function formatHistory(h: History): string[] {
  if (!h.revisions.length) return [`no revisions in namespace ${h.namespace}: nothing was deployed here with bin/roomler deploy`];
  const rows = [
    ['REVISION', 'FINISHED', 'OUTCOME', 'DIGEST', 'GIT', 'BY', 'SOURCE'],
    ...h.revisions.map((m) => [
      String(m.revision),
      m.finishedAt || '-',
      outcomeOf(m, h.lock).slice(0, 100),
      m.digest.slice(0, 12),
      describeGit(m.git),
      m.by,
      m.source,
    ]),
  ];
  const lock = h.lock ? [`\nlocked: ${describeHolder(h.lock)}${h.lock.expired ? ' (expired: the next deploy takes it over)' : ''}`] : [];
  return [table(rows), ...lock];
}

/** `doctor`: one line per check, the names aligned, then the counts. */
export function formatDoctor(lines: readonly Line[]): string[] {
  const width = Math.max(...lines.map((l) => l.check.length));
  const count = (s: Line['status']) => lines.filter((l) => l.status === s).length;
  return [
    ...lines.map((l) => `${l.status.padEnd(7)} ${l.check.padEnd(width)}  ${l.detail}`),
    `doctor: ${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail, ${count('skipped')} skipped`,
  ];
}

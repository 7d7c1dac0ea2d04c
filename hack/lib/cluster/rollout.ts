import { UserError } from '../cli/errors';
import { start } from '../process/run';
import type { Kubectl } from './kubectl';

type Obj = Record<string, any>;

/** What one Pod reports, in the operator's words: phase, node, and why it is not ready. */
export function describePod(p: Obj): string {
  const name = p.metadata.name;
  const node = p.spec?.nodeName ? ` on ${p.spec.nodeName}` : '';
  const scheduled = (p.status?.conditions ?? []).find((c: Obj) => c.type === 'PodScheduled');
  if (p.status?.phase === 'Pending' && scheduled?.status === 'False') return `${name} Pending, not scheduled: ${explainScheduling(scheduled.message ?? scheduled.reason ?? '')}`;
  const statuses: Obj[] = p.status?.containerStatuses ?? [];
  const problems = statuses.flatMap((c) => {
    const waiting = c.state?.waiting;
    if (waiting) return [`container ${c.name} ${waiting.reason}${c.restartCount ? ` (${c.restartCount} restarts` + (c.lastState?.terminated ? `, last exit ${c.lastState.terminated.exitCode}` : '') + ')' : ''}${waiting.message ? `: ${waiting.message}` : ''}`];
    if (c.state?.terminated) return [`container ${c.name} terminated (exit ${c.state.terminated.exitCode}${c.state.terminated.reason ? `, ${c.state.terminated.reason}` : ''})`];
    if (!c.ready) return [`container ${c.name} running but not Ready (its readiness probe fails)`];
    return [];
  });
  if (!statuses.length) return `${name} ${p.status?.phase ?? 'Unknown'}${node}`;
  return `${name} ${p.status?.phase ?? 'Unknown'}${node}${problems.length ? `: ${problems.join('; ')}` : ', Ready'}`;
}

/** The scheduler's message, with the cause spelled out where the stack is known to hit it. */
export function explainScheduling(message: string): string {
  const hints: [RegExp, string][] = [
    [/didn't have free ports for the requested pod ports/, 'HOST PORT CLASH: the node already runs a Pod that uses the same host ports (hostNetwork pods claim every container port on their node); stop the other Pod or move one of them'],
    [/unbound immediate PersistentVolumeClaims/, 'its PersistentVolumeClaim is not bound: check the PersistentVolume (size, access mode, storageClassName, node affinity)'],
    [/didn't match Pod's node affinity\/selector|node affinity/, 'no node matches its node selector or affinity: is the pinned node in the cluster and labelled kubernetes.io/hostname?'],
    [/volume node affinity conflict/, 'its PersistentVolume is pinned to another node than the Pod'],
    [/untolerated taint/, 'the nodes are tainted (not ready, or cordoned)'],
    [/Insufficient (cpu|memory)/, 'no node has enough free CPU or memory for its requests'],
  ];
  const hint = hints.find(([re]) => re.test(message));
  return hint ? `${hint[1]} (scheduler: ${message.trim()})` : message.trim();
}

const selectorOf = (o: Obj): string =>
  Object.entries<string>(o.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** The current Pods of a workload, described. */
export async function podReport(kubectl: Kubectl, o: Obj): Promise<string[]> {
  const r = await kubectl.run(['get', 'pods', '-n', o.metadata.namespace, '-l', selectorOf(o), '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) return [`(cannot list its Pods: ${r.stderr.trim().split('\n').pop()})`];
  const items: Obj[] = JSON.parse(r.stdout).items.filter((p: Obj) => !p.metadata.deletionTimestamp);
  if (!items.length) return ['no Pods yet (the controller has not created any: see kubectl describe)'];
  return Promise.all(items.map(async (p) => describePod(p) + (await claimReport(kubectl, p))));
}

/** For a Pod waiting on its PersistentVolumeClaims: each unbound claim and what the volume controller said of it. */
async function claimReport(kubectl: Kubectl, p: Obj): Promise<string> {
  const scheduled = (p.status?.conditions ?? []).find((c: Obj) => c.type === 'PodScheduled');
  if (!/unbound immediate PersistentVolumeClaims/.test(scheduled?.message ?? '')) return '';
  const ns = p.metadata.namespace;
  const claims: string[] = (p.spec?.volumes ?? []).map((v: Obj) => v.persistentVolumeClaim?.claimName).filter(Boolean);
  const lines = await Promise.all(
    claims.map(async (name) => {
      const c = await kubectl.run(['get', 'pvc', name, '-n', ns, '-o', 'jsonpath={.status.phase}'], { timeoutMs: 15_000 });
      if (c.stdout === 'Bound') return '';
      const ev = await kubectl.run(['get', 'events', '-n', ns, '--field-selector', `involvedObject.kind=PersistentVolumeClaim,involvedObject.name=${name}`, '-o', 'json'], { timeoutMs: 15_000 });
      const events: Obj[] = ev.exitCode === 0 ? JSON.parse(ev.stdout).items : [];
      const last = events.sort((a, b) => String(a.lastTimestamp ?? a.eventTime).localeCompare(String(b.lastTimestamp ?? b.eventTime))).pop();
      return `; PVC ${name} is ${c.stdout || 'missing'}${last ? `: ${last.message}` : ''}`;
    }),
  );
  return lines.join('');
}

/**
 * Waits for a Deployment/StatefulSet/DaemonSet the way kubectl judges it (`kubectl rollout status`), printing
 * what its Pods report while it waits; on timeout, fails naming the workload and each Pod's state.
 */
export async function waitForRollout(kubectl: Kubectl, o: Obj, timeoutSeconds: number, log: (line: string) => void): Promise<void> {
  const ns = o.metadata.namespace;
  const what = `${o.kind.toLowerCase()}/${o.metadata.name}`;
  const wait = start('kubectl', kubectl.argv(['rollout', 'status', what, '-n', ns, `--timeout=${timeoutSeconds}s`]), { timeoutMs: (timeoutSeconds + 30) * 1000 });
  let last = '';
  const progress = setInterval(async () => {
    const now = (await podReport(kubectl, o)).join('; ');
    if (now !== last) log(`  ${ns}/${what}: ${now}`);
    last = now;
  }, 5000);
  const r = await wait.done.finally(() => clearInterval(progress));
  if (r.exitCode === 0) return;
  const pods = await podReport(kubectl, o);
  throw new UserError(
    `${ns}/${what} did not become ready within ${timeoutSeconds} s (--timeout, default deploy.rolloutTimeoutSeconds); later waves were not applied.\n  its Pods: ${pods.join('\n            ')}\n  kubectl: ${(r.stderr.trim() || r.stdout.trim()).split('\n').pop()}\n  inspect: kubectl -n ${ns} describe ${what}`,
  );
}

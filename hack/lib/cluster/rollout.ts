import type { K8sObject } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import type { Guard } from '../process/interrupt';
import { start } from '../process/run';
import { claimProblem, describePod, explainKubectlError, hostPortClash, nodeProblems, podReady, unreachable } from './causes';
import type { Kubectl } from './kubectl';

export { describePod, explainScheduling } from './causes';

const selectorOf = (o: K8sObject): string =>
  Object.entries<string>(o.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** A workload's current Pods (not those being deleted), and what is wrong with the nodes they run on. */
export async function workloadPods(
  kubectl: Kubectl,
  o: K8sObject,
): Promise<{ pods: K8sObject[]; nodes: Map<string, string>; error?: string }> {
  const r = await kubectl.run(['get', 'pods', '-n', o.metadata.namespace, '-l', selectorOf(o), '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) return { pods: [], nodes: new Map(), error: r.stderr.trim().split('\n').pop() };
  const pods: K8sObject[] = JSON.parse(r.stdout).items.filter((p: K8sObject) => !p.metadata.deletionTimestamp);
  return {
    pods,
    nodes: await nodeProblems(
      kubectl,
      pods.map((p) => p.spec?.nodeName),
    ),
  };
}

/** The current Pods of a workload, described, each with the cause of what keeps it from being ready. */
export async function podReport(kubectl: Kubectl, o: K8sObject): Promise<string[]> {
  const { pods, nodes, error } = await workloadPods(kubectl, o);
  if (error) return [`(cannot list its Pods: ${error})`];
  if (!pods.length) return ['no Pods yet (the controller has not created any: see kubectl describe)'];
  return Promise.all(pods.map(async (p) => describePod(p, nodes) + (await causeOf(kubectl, p))));
}

/** For a Pod the scheduler cannot place: the foreign Pod on its host ports, or why its claims do not bind. */
async function causeOf(kubectl: Kubectl, p: K8sObject): Promise<string> {
  const scheduled = (p.status?.conditions ?? []).find((c: K8sObject) => c.type === 'PodScheduled');
  const message: string = scheduled?.status === 'False' ? (scheduled.message ?? '') : '';
  if (/didn't have free ports/.test(message)) return hostPortClash(kubectl, p);
  if (!/unbound immediate PersistentVolumeClaims|PersistentVolumeClaim .* not found/.test(message)) return '';
  const claims: string[] = (p.spec?.volumes ?? []).map((v: K8sObject) => v.persistentVolumeClaim?.claimName).filter(Boolean);
  const problems = await Promise.all(claims.map((name) => claimProblem(kubectl, p.metadata.namespace, name)));
  return problems
    .filter(Boolean)
    .map((x) => `; ${x}`)
    .join('');
}

/** Whether a workload has at least one ready Pod now (its Ready condition, on a node that still reports). */
export async function hasReadyPod(kubectl: Kubectl, o: K8sObject): Promise<boolean> {
  const { pods, nodes } = await workloadPods(kubectl, o);
  return pods.some((p) => podReady(p, nodes));
}

export interface RolloutWait {
  readonly timeoutSeconds: number;
  readonly log: (line: string) => void;
  /** An interruption stops the wait at once. */
  readonly guard?: Guard;
  /** When the workload had a ready Pod before this deploy changed it: an outage is reported from then. */
  readonly servingUntil?: Date;
}

/**
 * Waits for a Deployment/StatefulSet/DaemonSet the way kubectl judges it (`kubectl rollout status`), printing
 * what its Pods report while it waits; on timeout, fails naming the workload, each Pod's state and its cause, and an
 * outage when the workload served before this deploy and has no ready Pod now (a Recreate strategy, or a single
 * StatefulSet replica, stops the old Pod first).
 */
export async function waitForRollout(kubectl: Kubectl, o: K8sObject, w: RolloutWait): Promise<void> {
  const ns = o.metadata.namespace;
  const what = `${o.kind.toLowerCase()}/${o.metadata.name}`;
  const wait = start('kubectl', kubectl.argv(['rollout', 'status', what, '-n', ns, `--timeout=${w.timeoutSeconds}s`]), {
    timeoutMs: (w.timeoutSeconds + 30) * 1000,
  });
  let last = '';
  let apiGone: string | undefined;
  const progress = setInterval(async () => {
    const now = (await podReport(kubectl, o)).join('; ');
    // kubectl rollout status retries a broken watch until its timeout: an API server that stopped answering ends it.
    const lost = /cannot list its Pods: (.*)\)$/.exec(now);
    if (lost && unreachable(lost[1])) {
      apiGone = explainKubectlError(lost[1]);
      wait.stop();
    }
    if (now !== last) w.log(`  ${ns}/${what}: ${now}`);
    last = now;
  }, 5000);
  const r = await (w.guard ? w.guard.race(wait.done) : wait.done).finally(() => {
    clearInterval(progress);
    wait.stop();
  });
  if (r.exitCode === 0) return;
  const pods = await podReport(kubectl, o);
  const listing = /cannot list its Pods: (.*)\)$/.exec(pods[0] ?? '');
  if (apiGone || (listing && unreachable(listing[1]))) {
    const why = apiGone ?? explainKubectlError(listing![1]);
    throw new UserError(`lost the API server while waiting for ${ns}/${what}: ${why}; later waves were not applied`);
  }
  const outage = w.servingUntil && !(await hasReadyPod(kubectl, o)) ? outageLine(o, w.servingUntil) : '';
  throw new UserError(
    `${ns}/${what} did not become ready within ${w.timeoutSeconds} s (--timeout, default deploy.rolloutTimeoutSeconds); later waves were not applied.\n${outage}  its Pods: ${pods.join('\n            ')}\n  kubectl: ${(r.stderr.trim() || r.stdout.trim()).split('\n').pop()}\n  inspect: kubectl -n ${ns} describe ${what}`,
  );
}

function outageLine(o: K8sObject, since: Date): string {
  const how =
    o.spec?.strategy?.type === 'Recreate'
      ? 'its Recreate strategy stopped the old Pod before the new one was ready'
      : 'the old Pod was replaced before the new one was ready';
  const id = `${o.metadata.namespace}/${o.metadata.name}`;
  return `  OUTAGE: ${id} has no ready Pod since ${since.toISOString()} (${how}): whatever it serves is down now. bin/roomler deploy rollback brings the previous revision back\n`;
}

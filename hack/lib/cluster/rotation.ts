import { type K8sObject, podSpecOf } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { explainKubectlError } from './causes';
import type { Kubectl } from './kubectl';

// Rotating a Secret: its new values reach a pod only when the pod starts (envFrom and env are read once; a mounted
// Secret updates, but Janus and the app copy theirs at start). Secret values are never in dist/, so no pod-template
// hash can follow them: `secrets apply` finds the Secrets whose values it changes and restarts the workloads that read
// them (`kubectl rollout restart`, the same rolling update a deploy makes). docs/security.md, "Rotating a secret".

/** The kinds `kubectl rollout restart` restarts. */
const RESTARTABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** The Secret names a pod spec reads: envFrom, env valueFrom, volumes (secret and projected). */
export function secretsRead(spec: K8sObject): Set<string> {
  const out = new Set<string>();
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const e of c.envFrom ?? []) if (e.secretRef?.name) out.add(e.secretRef.name);
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef?.name) out.add(e.valueFrom.secretKeyRef.name);
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret?.secretName) out.add(v.secret.secretName);
    for (const s of v.projected?.sources ?? []) if (s.secret?.name) out.add(s.secret.name);
  }
  return out;
}

/** The workloads (`deployment/roomler` in namespace roomler) that read a Secret `namespace/name` at start. */
export function readersOf(
  objects: readonly K8sObject[],
  secret: { namespace: string; name: string },
): { namespace: string; ref: string }[] {
  return objects
    .filter((o) => RESTARTABLE.has(o.kind) && (o.metadata?.namespace ?? 'default') === secret.namespace)
    .filter((o) => secretsRead(podSpecOf(o) ?? {}).has(secret.name))
    .map((o) => ({ namespace: secret.namespace, ref: `${o.kind.toLowerCase()}/${o.metadata.name}` }));
}

/** A Secret as `secrets apply` writes it: the values to compare with the cluster's. */
export interface AppliedSecret {
  readonly metadata: { readonly namespace: string; readonly name: string };
  readonly stringData: Record<string, string>;
}

/**
 * Which of `secrets` hold other values in the cluster than the ones about to be applied: `changed` (a rotation),
 * `created` (not there yet: nothing reads it running), or `unknown` with the reason (e.g. no right to read Secrets,
 * said as such). Values are compared in this process and never printed.
 */
export async function secretChanges<S extends AppliedSecret>(
  kubectl: Kubectl,
  secrets: readonly S[],
): Promise<{ changed: S[]; created: S[]; unknown?: string }> {
  const changed: S[] = [];
  const created: S[] = [];
  for (const s of secrets) {
    const r = await kubectl.run(['get', 'secret', s.metadata.name, '-n', s.metadata.namespace, '-o', 'json', '--ignore-not-found'], {
      timeoutMs: 30_000,
    });
    if (r.exitCode !== 0) {
      const why = /forbidden/i.test(r.stderr)
        ? `this user may not read Secrets in ${s.metadata.namespace} (get secrets is forbidden)`
        : (r.stderr.trim().split('\n').pop() ?? `kubectl exit ${r.exitCode}`);
      return { changed, created, unknown: why };
    }
    if (!r.stdout.trim()) {
      created.push(s);
      continue;
    }
    const data: Record<string, string> = JSON.parse(r.stdout).data ?? {};
    const now = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    const keys = new Set([...Object.keys(now), ...Object.keys(s.stringData)]);
    if ([...keys].some((k) => (now[k] ?? '') !== (s.stringData[k] ?? ''))) changed.push(s);
  }
  return { changed, created };
}

/** A workload to restart, and the Secrets it reads whose values change. */
export interface Restart {
  readonly namespace: string;
  /** `deployment/roomler`, as kubectl rollout takes it. */
  readonly ref: string;
  readonly secrets: readonly string[];
}

/** What a `secrets apply` does to the workloads that read the Secrets, known before it asks. */
export interface RotationPlan {
  /** `--context` of the manual commands, when one is set. */
  readonly context?: string;
  /** The Secrets (`namespace/name`) whose values change. */
  readonly changed: readonly string[];
  /** The workloads in dist/ that read one of them: restarted once the Secrets are applied. */
  readonly restarts: readonly Restart[];
  /** Why the changes cannot be known (e.g. no right to read Secrets); then `readers` are to be restarted by hand. */
  readonly unknown?: string;
  /** Every workload in dist/ that reads one of the Secrets: what to restart by hand when the changes are unknown. */
  readonly readers: readonly Restart[];
  /** Set when dist/ is missing: the readers cannot be known. */
  readonly noDist?: string;
}

/** Every workload of `objects` that reads one of `secrets`, with the names it reads. */
function readingWorkloads(objects: readonly K8sObject[], secrets: readonly AppliedSecret[]): Restart[] {
  const workloads = new Map<string, { namespace: string; ref: string; secrets: string[] }>();
  for (const s of secrets) {
    for (const r of readersOf(objects, s.metadata)) {
      const w = workloads.get(`${r.namespace}/${r.ref}`) ?? { ...r, secrets: [] };
      w.secrets.push(s.metadata.name);
      workloads.set(`${r.namespace}/${r.ref}`, w);
    }
  }
  return [...workloads.values()];
}

/**
 * The rotation plan of applying `secrets` to the cluster `kubectl` talks to: which values change there, and which
 * workloads of dist/ (`objects`; undefined when dist/ does not exist, `dist` naming it) read them.
 */
export async function planRotation(
  kubectl: Kubectl,
  secrets: readonly AppliedSecret[],
  objects: readonly K8sObject[] | undefined,
  dist: string,
): Promise<RotationPlan> {
  const { changed, unknown } = await secretChanges(kubectl, secrets);
  const readers = readingWorkloads(objects ?? [], secrets);
  const noDist = objects ? undefined : dist;
  const names = changed.map((s) => `${s.metadata.namespace}/${s.metadata.name}`);
  return {
    context: kubectl.context,
    changed: names,
    restarts: unknown ? [] : readingWorkloads(objects ?? [], changed),
    unknown,
    readers,
    noDist,
  };
}

/** `kubectl rollout restart` of each workload, by namespace: what to run by hand. */
const manualRestart = (plan: RotationPlan, workloads: readonly Restart[]) =>
  [...new Set(workloads.map((w) => w.namespace))]
    .map((ns) => {
      const refs = workloads.filter((w) => w.namespace === ns).map((w) => w.ref);
      return `kubectl${plan.context ? ` --context ${plan.context}` : ''} -n ${ns} rollout restart ${refs.join(' ')}`;
    })
    .join(' && ');

/** The confirmation's lines about restarts. */
export function rotationLines(plan: RotationPlan): string[] {
  const label = 'restarts:        ';
  if (plan.unknown) {
    const manual = plan.readers.length ? `: ${manualRestart(plan, plan.readers)}` : '';
    return [`${label}unknown: ${plan.unknown}, so which values change cannot be known; if one does, restart its readers by hand${manual}`];
  }
  if (!plan.changed.length) return [`${label}none: no Secret changes value`];
  if (plan.noDist) {
    const which = plan.changed.join(', ');
    return [
      `${label}unknown: ${which} change value, but ${plan.noDist} does not exist (bin/roomler synth) to tell which workloads read them`,
    ];
  }
  if (!plan.restarts.length) return [`${label}none: ${plan.changed.join(', ')} change value, but no workload in dist/ reads them`];
  return plan.restarts.map((r) => `${label}${r.namespace}/${r.ref} (reads ${r.secrets.join(', ')}, changed)`);
}

const notFound = (stderr: string) => /NotFound|not found/.test(stderr) && !/forbidden/i.test(stderr);

/**
 * After the Secrets are applied: `kubectl rollout restart` of each workload the plan names (one not in the cluster yet
 * is said and left: its Pods read the new values when deploy creates them), and the manual commands when the changes
 * could not be known. A restart that fails is a UserError naming the workload, after every other was tried.
 */
export async function restartReaders(kubectl: Kubectl, plan: RotationPlan, io: IO): Promise<void> {
  const failed: string[] = [];
  for (const r of plan.restarts) {
    const res = await kubectl.run(['rollout', 'restart', r.ref, '-n', r.namespace], { timeoutMs: 60_000 });
    if (res.exitCode === 0) io.out(res.stdout.replace(/\n$/, ''));
    else if (notFound(res.stderr))
      io.out(`${r.namespace}/${r.ref}: not in the cluster yet; its Pods read the new values when deploy creates it`);
    else failed.push(`${r.namespace}/${r.ref}: ${explainKubectlError(res.stderr)}`);
  }
  if (failed.length) {
    const again = manualRestart(plan, plan.restarts);
    throw new UserError(
      `the Secrets are applied, but restarting their readers failed:\n  ${failed.join('\n  ')}\n  restart them with: ${again}`,
    );
  }
  if (plan.unknown && plan.readers.length) {
    io.out(
      `secrets apply: which values changed is unknown (${plan.unknown}); to have running Pods read them: ${manualRestart(plan, plan.readers)}`,
    );
  }
}

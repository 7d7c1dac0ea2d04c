import type { Kubectl } from './kubectl';

// Rotating a Secret: its new values reach a pod only when the pod starts (envFrom and env are read once; a mounted
// Secret updates, but Janus and the app copy theirs at start). Secret values are never in dist/, so no pod-template
// hash can follow them: `secrets apply` finds the Secrets whose values it changes and restarts the workloads that read
// them (`kubectl rollout restart`, the same rolling update a deploy makes).

type Obj = Record<string, any>;

/** The pod spec of a workload in dist/ (Deployment, StatefulSet, DaemonSet, and a CronJob's job), or undefined. */
const podSpec = (o: Obj): Obj | undefined => (o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : o.spec?.template?.spec);

/** The Secret names a pod spec reads: envFrom, env valueFrom, volumes (secret and projected). */
export function secretsRead(spec: Obj): Set<string> {
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
export function readersOf(objects: readonly Obj[], secret: { namespace: string; name: string }): { namespace: string; ref: string }[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind) && (o.metadata?.namespace ?? 'default') === secret.namespace)
    .filter((o) => secretsRead(podSpec(o) ?? {}).has(secret.name))
    .map((o) => ({ namespace: secret.namespace, ref: `${o.kind.toLowerCase()}/${o.metadata.name}` }));
}

/**
 * Which of `secrets` hold other values in the cluster than the ones about to be applied: `changed` (a rotation),
 * `created` (not there yet: nothing reads it running), or `unknown` with the reason (e.g. no right to read Secrets,
 * said as such). Values are compared in this process and never printed.
 */
export async function secretChanges(
  kubectl: Kubectl,
  secrets: readonly { metadata: { namespace: string; name: string }; stringData: Record<string, string> }[],
): Promise<{ changed: typeof secrets; created: typeof secrets; unknown?: string }> {
  const changed: (typeof secrets)[number][] = [];
  const created: (typeof secrets)[number][] = [];
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

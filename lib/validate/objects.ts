import type { Finding } from './index';

export type Obj = Record<string, any>;

export const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']);

export const objectId = (o: Obj) =>
  [o?.kind ?? '?', o?.metadata?.namespace, o?.metadata?.name ?? '?'].filter((x) => x !== undefined).join('/');

/** The pod template (`{ metadata, spec }`) of a workload, or undefined for other kinds. */
export function podSpecOf(o: Obj): Obj | undefined {
  if (!WORKLOAD_KINDS.has(o?.kind)) return undefined;
  return o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
}

/** Path of the pod template inside a workload. */
export const templatePath = (o: Obj) => (o.kind === 'CronJob' ? 'spec.jobTemplate.spec.template' : 'spec.template');

/** Containers and init containers with their paths inside the pod spec. */
export function containersOf(spec: Obj): { c: Obj; path: string }[] {
  return ['initContainers', 'containers'].flatMap((k) => (spec?.[k] ?? []).map((c: Obj, n: number) => ({ c, path: `${k}[${n}]` })));
}

export function finding(
  severity: Finding['severity'],
  rule: string,
  o: Obj,
  file: string,
  path: string,
  message: string,
  fix?: string,
): Finding {
  return { severity, rule, object: objectId(o), file, path, message, ...(fix ? { fix } : {}) };
}

/** The node a pod is pinned to by hostname, or undefined when it may land on any node. */
export function pinnedNode(spec: Obj): string | undefined {
  const bySelector = spec?.nodeSelector?.['kubernetes.io/hostname'];
  if (bySelector) return bySelector;
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const values = terms.flatMap((t: Obj) =>
    (t.matchExpressions ?? []).filter((e: Obj) => e.key === 'kubernetes.io/hostname' && e.operator === 'In').flatMap((e: Obj) => e.values),
  );
  return values.length === 1 ? values[0] : undefined;
}

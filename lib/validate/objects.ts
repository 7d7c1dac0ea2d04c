import type { Finding } from './index';

export type { K8sObject as Obj } from '../manifest';
export { podTemplateOf as podSpecOf, templatePath, WORKLOAD_KINDS } from '../manifest';
import { type K8sObject as Obj,keyOf } from '../manifest';

export const objectId = keyOf;

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

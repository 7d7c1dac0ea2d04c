import { HOSTNAME_LABEL } from '../config/names';
import { type K8sObject, keyOf } from '../manifest';
import type { Finding } from './index';

/** @deprecated keyOf from lib/manifest.ts. */
export const objectId = keyOf;

/** Containers and init containers with their paths inside the pod spec. */
export function containersOf(spec: K8sObject): { c: K8sObject; path: string }[] {
  return ['initContainers', 'containers'].flatMap((k) => (spec?.[k] ?? []).map((c: K8sObject, n: number) => ({ c, path: `${k}[${n}]` })));
}

export function finding(
  severity: Finding['severity'],
  rule: string,
  o: K8sObject,
  file: string,
  path: string,
  message: string,
  fix?: string,
): Finding {
  return { severity, rule, object: keyOf(o), file, path, message, ...(fix ? { fix } : {}) };
}

/** The node a pod is pinned to by hostname, or undefined when it may land on any node. */
export function pinnedNode(spec: K8sObject): string | undefined {
  const bySelector = spec?.nodeSelector?.[HOSTNAME_LABEL];
  if (bySelector) return bySelector;
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const values = terms.flatMap((t: K8sObject) =>
    (t.matchExpressions ?? [])
      .filter((e: K8sObject) => e.key === HOSTNAME_LABEL && e.operator === 'In')
      .flatMap((e: K8sObject) => e.values),
  );
  return values.length === 1 ? values[0] : undefined;
}

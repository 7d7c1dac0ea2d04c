import { stringify } from 'yaml';

import { blockYaml, YAML_OPTIONS } from './yaml-block';

// The one home of what every part of the project knows about Kubernetes objects as plain data: the constructs'
// output, the validators, deploy, the cutover's and the runbook's readers of dist/, and the tests.

/** A Kubernetes object as YAML or JSON gives it. */
export type K8sObject = Record<string, any>;

/** The kinds whose objects run pods (and have a pod template). */
export const WORKLOAD_KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']);

/** `Kind/namespace/name` (`Kind/name` for a cluster-scoped object): how every message and map names an object. */
export const objectKey = (o: { kind?: string; namespace?: string; name?: string }) =>
  [o.kind ?? '?', o.namespace, o.name ?? '?'].filter((x) => x !== undefined).join('/');

/** objectKey of a whole object. */
export const keyOf = (o: K8sObject) => objectKey({ kind: o?.kind, namespace: o?.metadata?.namespace, name: o?.metadata?.name });

/** The pod template (`{ metadata, spec }`) of a workload, or undefined for other kinds. */
export function podTemplateOf(o: K8sObject): K8sObject | undefined {
  if (!WORKLOAD_KINDS.has(o?.kind)) return undefined;
  return o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
}

/** The pod spec of a workload, or undefined for other kinds. */
export const podSpecOf = (o: K8sObject): K8sObject | undefined => podTemplateOf(o)?.spec;

/** Path of the pod template inside a workload, for messages. */
export const templatePath = (o: K8sObject) => (o.kind === 'CronJob' ? 'spec.jobTemplate.spec.template' : 'spec.template');

/**
 * YAML of objects as dist/ holds them and kubectl reads them: YAML 1.1 (what kubectl's parser speaks: `yes` stays a
 * string), no line folding, documents separated by `---`.
 */
export const toYaml = (objects: readonly K8sObject[]) => objects.map((o) => blockYaml(o) ?? stringify(o, YAML_OPTIONS)).join('---\n');

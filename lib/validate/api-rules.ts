import { cronJobScheduleProblem } from '../config/cron';
import { dataSizeProblem } from '../config/limits';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../config/primitives';
import { type K8sObject, podTemplateOf, templatePath } from '../manifest';
import type { Finding, ParsedObject } from './index';
import { containersOf, finding } from './objects';

// What the API server validates beyond the OpenAPI schema (k8s.io/apimachinery/pkg/util/validation and
// pkg/apis/*/validation), for the kinds this project emits.

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Kinds whose names must be DNS-1123 labels (the rest are subdomains); Services are DNS-1035 labels. */
const LABEL_NAMED = new Set(['Namespace']);

export function qualifiedKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'has more than one "/"';
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)))
    return `prefix "${prefix}" must be a DNS-1123 subdomain`;
  if (name.length > 63) return 'name part must be at most 63 characters';
  if (!QUALIFIED_NAME.test(name)) return 'name part must be alphanumeric, "-", "_" or ".", starting and ending alphanumeric';
  return undefined;
}

function ianaProblem(name: string): string | undefined {
  if (name.length > 15) return 'must be at most 15 characters (IANA service name)';
  if (!IANA_SVC_NAME.test(name) || name.includes('--')) return 'must be lowercase letters, digits and single "-" (IANA service name)';
  if (!/[a-z]/.test(name)) return 'must contain at least one letter (IANA service name)';
  return undefined;
}

/** The cron syntax Kubernetes accepts (robfig/cron v3 ParseStandard, no TZ on create); undefined when valid. */
export const cronProblem = cronJobScheduleProblem;

function duplicates(names: unknown[]): string[] {
  const seen = new Set<unknown>();
  return names.filter((n) => (seen.has(n) ? true : (seen.add(n), false))) as string[];
}

/** Records a finding at a path of the object under check. */
type Add = (path: string, message: string, fix?: string) => void;

/** A rule family: adds a finding for each problem of one object. */
type Rule = (o: K8sObject, add: Add) => void;

/** metadata.name by the kind's naming rule, and metadata.namespace. */
function nameRules(o: K8sObject, add: Add): void {
  const name: unknown = o.metadata?.name;
  if (typeof name === 'string') {
    if (o.kind === 'Service') {
      if (name.length > 63 || !DNS1035_LABEL.test(name))
        add('metadata.name', `Service name "${name}" must be a DNS-1035 label (start with a letter, at most 63 characters)`);
    } else if (LABEL_NAMED.has(o.kind)) {
      if (name.length > 63 || !DNS1123_LABEL.test(name))
        add('metadata.name', `${o.kind} name "${name}" must be a DNS-1123 label (at most 63 characters)`);
    } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
      add('metadata.name', `name "${name}" must be a DNS-1123 subdomain (at most 253 characters)`);
    }
  } else {
    add('metadata.name', 'metadata.name is required');
  }
  const ns: unknown = o.metadata?.namespace;
  if (typeof ns === 'string' && (ns.length > 63 || !DNS1123_LABEL.test(ns)))
    add('metadata.namespace', `namespace "${ns}" must be a DNS-1123 label`);
}

function labelRules(labels: Record<string, unknown> | undefined, path: string, add: Add): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    const p = qualifiedKeyProblem(k);
    if (p) add(`${path}["${k}"]`, `label key ${p}`);
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v))
      add(
        `${path}["${k}"]`,
        `label value "${v}" must be at most 63 characters, alphanumeric, "-", "_" or ".", starting and ending alphanumeric`,
      );
  }
}

function annotationRules(annotations: Record<string, unknown> | undefined, path: string, add: Add): void {
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    const p = qualifiedKeyProblem(k);
    if (p) add(`${path}["${k}"]`, `annotation key ${p}`);
    size += k.length + String(v).length;
  }
  if (size > 256 * 1024) add(path, `annotations total ${size} bytes, more than 256 KiB`);
}

const metadataRules: Rule = (o, add) => {
  labelRules(o.metadata?.labels, 'metadata.labels', add);
  annotationRules(o.metadata?.annotations, 'metadata.annotations', add);
};

/** A workload's pod template: its metadata, the selector that must match it, unique names, and every container. */
const podTemplateRules: Rule = (o, add) => {
  const pod = podTemplateOf(o);
  if (!pod) return;
  const tpl = templatePath(o);
  labelRules(pod.metadata?.labels, `${tpl}.metadata.labels`, add);
  annotationRules(pod.metadata?.annotations, `${tpl}.metadata.annotations`, add);
  selectorRules(o, pod, add);
  const spec = pod.spec ?? {};
  for (const d of duplicates((spec.volumes ?? []).map((v: any) => v.name))) add(`${tpl}.spec.volumes`, `duplicate volume name "${d}"`);
  for (const d of duplicates(containersOf(spec).map(({ c }) => c.name))) add(`${tpl}.spec.containers`, `duplicate container name "${d}"`);
  for (const { c, path } of containersOf(spec)) containerRules(c, `${tpl}.spec.${path}`, spec.hostNetwork, add);
};

/** The selector of a Deployment, StatefulSet, DaemonSet or ReplicaSet: non-empty, and matching its pod template. */
function selectorRules(o: K8sObject, pod: K8sObject, add: Add): void {
  if (!['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) return;
  const selector = o.spec?.selector?.matchLabels;
  if (!selector || Object.keys(selector).length === 0) add('spec.selector', 'a workload needs a non-empty selector');
  for (const [k, v] of Object.entries(selector ?? {})) {
    if (pod.metadata?.labels?.[k] !== v)
      add(
        `spec.selector.matchLabels["${k}"]`,
        `selector ${k}=${v} does not match the pod template labels`,
        `set ${templatePath(o)}.metadata.labels["${k}"] to "${v}"`,
      );
  }
}

/** A container at path `cp`: unique env and port names, valid ports, probes that may act after one success. */
function containerRules(c: K8sObject, cp: string, hostNetwork: unknown, add: Add): void {
  for (const d of duplicates((c.env ?? []).map((e: any) => e.name))) add(`${cp}.env`, `duplicate env name "${d}"`);
  for (const d of duplicates((c.ports ?? []).filter((p: any) => p.name).map((p: any) => p.name)))
    add(`${cp}.ports`, `duplicate port name "${d}"`);
  (c.ports ?? []).forEach((p: any, n: number) => {
    if (p.name !== undefined) {
      const problem = ianaProblem(String(p.name));
      if (problem) add(`${cp}.ports[${n}].name`, `port name "${p.name}" ${problem}`);
    }
    for (const k of ['containerPort', 'hostPort']) {
      if (p[k] !== undefined && (p[k] < 1 || p[k] > 65535)) add(`${cp}.ports[${n}].${k}`, `${k} ${p[k]} is outside 1-65535`);
    }
    if (hostNetwork && p.hostPort !== undefined && p.hostPort !== p.containerPort) {
      add(`${cp}.ports[${n}].hostPort`, 'with hostNetwork, hostPort must equal containerPort');
    }
  });
  for (const probe of ['livenessProbe', 'startupProbe']) {
    const t = c[probe]?.successThreshold;
    if (t !== undefined && t !== 1) add(`${cp}.${probe}.successThreshold`, `${probe} successThreshold must be 1, got ${t}`);
  }
}

/** A Service's ports: named when more than one, unique names as DNS-1123 labels, in range, nodePort only where allowed. */
const serviceRules: Rule = (o, add) => {
  if (o.kind !== 'Service') return;
  const ports: any[] = o.spec?.ports ?? [];
  if (ports.length > 1)
    ports.forEach(
      (p, n) => p.name === undefined && add(`spec.ports[${n}].name`, 'every port needs a name when a Service has more than one'),
    );
  for (const d of duplicates(ports.filter((p) => p.name).map((p) => p.name))) add('spec.ports', `duplicate port name "${d}"`);
  ports.forEach((p, n) => {
    if (p.name !== undefined && (String(p.name).length > 63 || !DNS1123_LABEL.test(String(p.name))))
      add(`spec.ports[${n}].name`, `port name "${p.name}" must be a DNS-1123 label`);
    if (p.port < 1 || p.port > 65535) add(`spec.ports[${n}].port`, `port ${p.port} is outside 1-65535`);
    if (p.nodePort !== undefined && o.spec?.type !== 'NodePort' && o.spec?.type !== 'LoadBalancer')
      add(`spec.ports[${n}].nodePort`, 'nodePort is only allowed on NodePort or LoadBalancer Services');
  });
};

/** data and binaryData (ConfigMap) or data and stringData (Secret): keys as IsConfigMapKey, bytes as the API server counts them. */
const dataRules: Rule = (o, add) => {
  if (o.kind !== 'ConfigMap' && o.kind !== 'Secret') return;
  const utf8 = (v: unknown) => Buffer.byteLength(String(v), 'utf8');
  const decoded = (v: unknown) => Buffer.from(String(v), 'base64').length;
  const fields: [string, (v: unknown) => number][] =
    o.kind === 'ConfigMap'
      ? [
          ['data', utf8],
          ['binaryData', decoded],
        ]
      : [
          ['data', decoded],
          ['stringData', utf8],
        ];
  const all: Record<string, number> = {};
  for (const [field, value] of fields) {
    for (const [k, v] of Object.entries((o[field] ?? {}) as Record<string, unknown>)) {
      if (k.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(k) || k === '.' || k === '..' || k.startsWith('..')) {
        add(
          `${field}["${k}"]`,
          `key "${k}" must be at most 253 characters of letters, digits, "-", "_" and ".", not "." and not starting with ".."`,
        );
      }
      all[`${field}["${k}"]`] = value(v);
    }
  }
  const size = dataSizeProblem(`${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`, all);
  if (size) add(size.key, size.message);
};

const scheduleRules: Rule = (o, add) => {
  if (o.kind !== 'CronJob' || typeof o.spec?.schedule !== 'string') return;
  const problem = cronProblem(o.spec.schedule);
  if (problem) add('spec.schedule', `schedule "${o.spec.schedule}": ${problem}`);
};

/** Every rule family, in the order their findings are reported. */
const RULES: readonly Rule[] = [nameRules, metadataRules, podTemplateRules, serviceRules, dataRules, scheduleRules];

export function apiServerRules({ file, object: o }: ParsedObject): Finding[] {
  const out: Finding[] = [];
  const add: Add = (path, message, fix) => out.push(finding('error', 'api-server', o, file, path, message, fix));
  for (const rule of RULES) rule(o, add);
  return out;
}

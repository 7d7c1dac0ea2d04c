import { HOST_UDP_PORTS_ANNOTATION } from '../config/names';
import { quantityValue } from '../config/values';
import { type K8sObject, keyOf, podTemplateOf, templatePath } from '../manifest';
import type { Finding, ParsedObject } from './index';
import { containersOf, finding, pinnedNode } from './objects';

/** Objects created outside the synthesized output (by `npm run secrets`, or by hand). */
export interface ExternalRefs {
  readonly secrets: readonly string[];
  readonly configMaps: readonly string[];
  readonly persistentVolumeClaims: readonly string[];
}

/** The whole output as every rule sees it, and where its findings go. */
interface Output {
  readonly objects: readonly ParsedObject[];
  /** The objects that run pods. */
  readonly workloads: readonly ParsedObject[];
  readonly err: (p: ParsedObject, path: string, message: string, fix?: string) => void;
  /** Whether the namespace holds an object of this kind and name. */
  readonly has: (kind: string, ns: string | undefined, name: string) => boolean;
  /** Whether a Secret is in the namespace (plain or sealed) or declared external. */
  readonly secretOk: (ns: string | undefined, name: string) => boolean;
  /** Whether a ConfigMap is in the namespace or declared external. */
  readonly configMapOk: (ns: string | undefined, name: string) => boolean;
  /** Whether a PersistentVolumeClaim is in the namespace or declared external. */
  readonly claimOk: (ns: string | undefined, name: string) => boolean;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

const ranges = (spec: string) =>
  spec.split(',').map((r) => {
    const [a, b] = r.trim().split('-').map(Number);
    return { from: a, to: b ?? a };
  });

const missing = (kind: string, name: string) => `${kind} "${name}" is neither in the output nor declared external`;

/** Every volume of a workload names a claim, ConfigMap or Secret that exists. */
function volumeRefRules(out: Output, p: ParsedObject, spec: K8sObject, tp: string): void {
  const ns = p.object.metadata?.namespace;
  (spec.volumes ?? []).forEach((v: K8sObject, n: number) => {
    const claim = v.persistentVolumeClaim?.claimName;
    if (claim && !out.claimOk(ns, claim)) {
      out.err(
        p,
        `${tp}.volumes[${n}].persistentVolumeClaim.claimName`,
        missing('PersistentVolumeClaim', claim),
        'add it, or list it in validation.external.persistentVolumeClaims',
      );
    }
    const cm = v.configMap?.name;
    if (cm && !out.configMapOk(ns, cm)) out.err(p, `${tp}.volumes[${n}].configMap.name`, missing('ConfigMap', cm));
    const secret = v.secret?.secretName;
    if (secret && !out.secretOk(ns, secret)) out.err(p, `${tp}.volumes[${n}].secret.secretName`, missing('Secret', secret));
    for (const [m, src] of (v.projected?.sources ?? []).entries()) {
      if (src.secret?.name && !out.secretOk(ns, src.secret.name))
        out.err(p, `${tp}.volumes[${n}].projected.sources[${m}].secret.name`, missing('Secret', src.secret.name));
    }
  });
}

/** Every container mounts volumes of its pod, reads ConfigMaps and Secrets that exist, and probes ports it declares. */
function containerRefRules(out: Output, p: ParsedObject, spec: K8sObject, tp: string): void {
  const ns = p.object.metadata?.namespace;
  const volumes = new Set((spec.volumes ?? []).map((v: K8sObject) => v.name));
  for (const { c, path } of containersOf(spec)) {
    const cp = `${tp}.${path}`;
    (c.volumeMounts ?? []).forEach((m: K8sObject, n: number) => {
      if (!volumes.has(m.name))
        out.err(
          p,
          `${cp}.volumeMounts[${n}].name`,
          `mount "${m.name}" names no volume of the pod`,
          `add a volume "${m.name}" to ${tp}.volumes`,
        );
    });
    (c.envFrom ?? []).forEach((e: K8sObject, n: number) => {
      if (e.configMapRef?.name && !out.configMapOk(ns, e.configMapRef.name))
        out.err(p, `${cp}.envFrom[${n}].configMapRef.name`, missing('ConfigMap', e.configMapRef.name));
      if (e.secretRef?.name && !out.secretOk(ns, e.secretRef.name))
        out.err(p, `${cp}.envFrom[${n}].secretRef.name`, missing('Secret', e.secretRef.name), 'list it in validation.external.secrets');
    });
    (c.env ?? []).forEach((e: K8sObject, n: number) => {
      const s = e.valueFrom?.secretKeyRef?.name;
      if (s && !out.secretOk(ns, s)) out.err(p, `${cp}.env[${n}].valueFrom.secretKeyRef.name`, missing('Secret', s));
      const cm = e.valueFrom?.configMapKeyRef?.name;
      if (cm && !out.configMapOk(ns, cm)) out.err(p, `${cp}.env[${n}].valueFrom.configMapKeyRef.name`, missing('ConfigMap', cm));
    });
    const declared = new Set((c.ports ?? []).flatMap((pt: K8sObject) => [pt.name, pt.containerPort]));
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const port = c[probe]?.tcpSocket?.port ?? c[probe]?.httpGet?.port ?? c[probe]?.grpc?.port;
      if (port !== undefined && !declared.has(port)) {
        out.err(
          p,
          `${cp}.${probe}`,
          `${probe} targets port ${JSON.stringify(port)}, which the container does not declare`,
          'declare it in ports, or probe a declared port',
        );
      }
    }
  }
}

/** What each workload refers to by name: volumes' sources, mounts, env sources, probed ports, a StatefulSet's Service. */
function workloadRules(out: Output): void {
  for (const p of out.workloads) {
    const o = p.object;
    const spec = podTemplateOf(o)!.spec ?? {};
    const tp = `${templatePath(o)}.spec`;
    volumeRefRules(out, p, spec, tp);
    containerRefRules(out, p, spec, tp);
    if (o.kind === 'StatefulSet' && o.spec?.serviceName && !out.has('Service', o.metadata?.namespace, o.spec.serviceName)) {
      out.err(
        p,
        'spec.serviceName',
        `StatefulSet serviceName "${o.spec.serviceName}" names no Service in namespace ${o.metadata?.namespace}`,
      );
    }
  }
}

/** A Service's selector matches a workload of its namespace, whose pods declare every targetPort. */
function serviceSelectorRules(out: Output, p: ParsedObject): void {
  const s = p.object;
  const selector = s.spec?.selector;
  if (!selector || !Object.keys(selector).length) return;
  const selected = out.workloads.filter(
    (w) => w.object.metadata?.namespace === s.metadata?.namespace && matches(selector, podTemplateOf(w.object)?.metadata?.labels),
  );
  if (selected.length === 0) {
    out.err(
      p,
      'spec.selector',
      `selector ${JSON.stringify(selector)} matches no workload in namespace ${s.metadata?.namespace}`,
      'fix the selector or the pod template labels',
    );
    return;
  }
  (s.spec.ports ?? []).forEach((port: K8sObject, n: number) => {
    const target = port.targetPort ?? port.port;
    const declared = selected.some((w) =>
      containersOf(podTemplateOf(w.object)!.spec).some(({ c }) =>
        (c.ports ?? []).some((cp: K8sObject) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target)),
      ),
    );
    if (!declared)
      out.err(
        p,
        `spec.ports[${n}].targetPort`,
        `targetPort ${JSON.stringify(target)} is not declared by the selected pods`,
        'declare the port in the container, or target a declared one',
      );
  });
}

/** Services: selector and targetPorts as above; NodePorts in range and unique across the output. */
function serviceRules(out: Output): void {
  const nodePorts = new Map<number, string>();
  for (const p of out.objects.filter((x) => x.object.kind === 'Service')) {
    serviceSelectorRules(out, p);
    (p.object.spec?.ports ?? []).forEach((port: K8sObject, n: number) => {
      if (port.nodePort === undefined) return;
      if (port.nodePort < 30000 || port.nodePort > 32767)
        out.err(p, `spec.ports[${n}].nodePort`, `NodePort ${port.nodePort} is outside 30000-32767`);
      const first = nodePorts.get(port.nodePort);
      if (first) out.err(p, `spec.ports[${n}].nodePort`, `NodePort ${port.nodePort} is already used by ${first}`);
      else nodePorts.set(port.nodePort, keyOf(p.object));
    });
  }
}

/** Static PVCs bind to exactly one PV. */
function staticClaimRules(out: Output): void {
  const pvs = out.objects.filter((x) => x.object.kind === 'PersistentVolume');
  for (const p of out.objects.filter((x) => x.object.kind === 'PersistentVolumeClaim')) {
    const claim = p.object;
    if (claim.spec?.storageClassName !== '') continue; // dynamically provisioned
    const candidates = pvs.filter((pv) => bindsTo(pv.object, claim));
    if (candidates.length === 1) continue;
    out.err(
      p,
      'spec',
      candidates.length === 0
        ? `static claim binds to no PersistentVolume (${whyNoBind(
            pvs.map((x) => x.object),
            claim,
          )})`
        : `static claim could bind to ${candidates.length} PersistentVolumes: ${candidates.map((c) => c.object.metadata.name).join(', ')}`,
      'pre-bind it: spec.volumeName on the claim and spec.claimRef on the volume',
    );
  }
}

/** The host ports a hostNetwork pod binds: its container ports and the ranges its pod template declares. */
function hostPortsOf(tpl: K8sObject): { protocol: string; from: number; to: number }[] {
  const mine = containersOf(tpl.spec).flatMap(({ c }) =>
    (c.ports ?? []).map((pt: K8sObject) => ({
      protocol: pt.protocol ?? 'TCP',
      from: pt.hostPort ?? pt.containerPort,
      to: pt.hostPort ?? pt.containerPort,
    })),
  );
  const extra = tpl.metadata?.annotations?.[HOST_UDP_PORTS_ANNOTATION];
  if (extra) mine.push(...ranges(extra).map((r) => ({ protocol: 'UDP', ...r })));
  return mine;
}

/** hostNetwork pods that can share a node must not share a host port. */
function hostPortRules(out: Output): void {
  const bound: { p: ParsedObject; node?: string; protocol: string; from: number; to: number }[] = [];
  const r = (x: { from: number; to: number }) => (x.from === x.to ? `${x.from}` : `${x.from}-${x.to}`);
  for (const p of out.workloads) {
    const tpl = podTemplateOf(p.object)!;
    if (!tpl.spec?.hostNetwork) continue;
    const node = pinnedNode(tpl.spec);
    const mine = hostPortsOf(tpl);
    for (const m of mine) {
      for (const b of bound) {
        if (b.p === p || b.protocol !== m.protocol || m.from > b.to || b.from > m.to) continue;
        if (node && b.node && node !== b.node) continue;
        out.err(
          p,
          `${templatePath(p.object)}.spec`,
          `host port ${m.protocol} ${r(m)} collides with ${m.protocol} ${r(b)} of ${keyOf(b.p.object)} on node ${node ?? b.node ?? '(any)'}`,
          'pin the pods to different nodes or move the ports',
        );
      }
    }
    for (const m of mine) bound.push({ p, node, ...m });
  }
}

/** Every rule family, in the order their findings are reported. */
const RULES: readonly ((out: Output) => void)[] = [workloadRules, serviceRules, staticClaimRules, hostPortRules];

/** What no single-object check can see: references between objects of the whole output. */
export function crossObjectRules(objects: readonly ParsedObject[], external: ExternalRefs): Finding[] {
  const findings: Finding[] = [];
  const has = (kind: string, ns: string | undefined, name: string) =>
    objects.some((p) => p.object.kind === kind && p.object.metadata?.namespace === ns && p.object.metadata?.name === name);
  const out: Output = {
    objects,
    workloads: objects.filter((p) => podTemplateOf(p.object)),
    err: (p, path, message, fix) => findings.push(finding('error', 'cross-object', p.object, p.file, path, message, fix)),
    has,
    secretOk: (ns, name) => has('Secret', ns, name) || has('SealedSecret', ns, name) || external.secrets.includes(name),
    configMapOk: (ns, name) => has('ConfigMap', ns, name) || external.configMaps.includes(name),
    claimOk: (ns, name) => has('PersistentVolumeClaim', ns, name) || external.persistentVolumeClaims.includes(name),
  };
  for (const rule of RULES) rule(out);
  return findings;
}

/** A storage quantity in bytes, by the API server's grammar (exponents and every suffix included). */
const quantityBytes = quantityValue;

function bindsTo(pv: K8sObject, claim: K8sObject): boolean {
  return whyNot(pv, claim) === undefined;
}

function whyNot(pv: K8sObject, claim: K8sObject): string | undefined {
  const s = pv.spec ?? {};
  const c = claim.spec ?? {};
  if (c.volumeName && c.volumeName !== pv.metadata?.name) return `volumeName ${c.volumeName} names another volume`;
  if (s.claimRef && (s.claimRef.name !== claim.metadata?.name || s.claimRef.namespace !== claim.metadata?.namespace))
    return 'its claimRef names another claim';
  if ((s.storageClassName ?? '') !== (c.storageClassName ?? '')) return `storage class "${s.storageClassName ?? ''}" differs`;
  if (!(c.accessModes ?? []).every((m: string) => (s.accessModes ?? []).includes(m))) return 'access modes differ';
  if (!(quantityBytes(s.capacity?.storage) >= quantityBytes(c.resources?.requests?.storage)))
    return `capacity ${s.capacity?.storage} is less than the request ${c.resources?.requests?.storage}`;
  if (c.selector?.matchLabels && !matches(c.selector.matchLabels, pv.metadata?.labels)) return 'its labels do not match the claim selector';
  if ((s.volumeMode ?? 'Filesystem') !== (c.volumeMode ?? 'Filesystem')) return 'volume modes differ';
  return undefined;
}

function whyNoBind(pvs: K8sObject[], claim: K8sObject): string {
  if (pvs.length === 0) return 'there are no PersistentVolumes in the output';
  const named = claim.spec?.volumeName ? pvs.find((pv) => pv.metadata?.name === claim.spec.volumeName) : undefined;
  if (claim.spec?.volumeName && !named) return `volumeName ${claim.spec.volumeName} names no PersistentVolume in the output`;
  const reasons = (named ? [named] : pvs).map((pv) => `${pv.metadata?.name}: ${whyNot(pv, claim)}`);
  return reasons.join('; ');
}

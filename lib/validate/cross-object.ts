import { quantityValue } from '../config/values';
import type { Finding, ParsedObject } from './index';
import { containersOf, finding, type Obj, pinnedNode, podSpecOf, templatePath } from './objects';

/** Objects created outside the synthesized output (by `npm run secrets`, or by hand). */
export interface ExternalRefs {
  readonly secrets: readonly string[];
  readonly configMaps: readonly string[];
  readonly persistentVolumeClaims: readonly string[];
}

/** Annotation on a pod template declaring host ports a hostNetwork pod binds beyond its container ports. */
export const HOST_UDP_PORTS_ANNOTATION = 'roomler.io/host-udp-ports';

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

const ranges = (spec: string) =>
  spec.split(',').map((r) => {
    const [a, b] = r.trim().split('-').map(Number);
    return { from: a, to: b ?? a };
  });

/** What no single-object check can see: references between objects of the whole output. */
export function crossObjectRules(objects: readonly ParsedObject[], external: ExternalRefs): Finding[] {
  const out: Finding[] = [];
  const err = (p: ParsedObject, path: string, message: string, fix?: string) =>
    out.push(finding('error', 'cross-object', p.object, p.file, path, message, fix));
  const inNs = (kind: string, ns: string | undefined) =>
    objects.filter((p) => p.object.kind === kind && p.object.metadata?.namespace === ns);
  const has = (kind: string, ns: string | undefined, name: string) => inNs(kind, ns).some((p) => p.object.metadata?.name === name);
  const workloads = objects.filter((p) => podSpecOf(p.object));

  for (const p of workloads) {
    const o = p.object;
    const ns = o.metadata?.namespace;
    const tpl = podSpecOf(o)!;
    const spec = tpl.spec ?? {};
    const tp = `${templatePath(o)}.spec`;
    const volumes = new Set((spec.volumes ?? []).map((v: Obj) => v.name));
    (spec.volumes ?? []).forEach((v: Obj, n: number) => {
      const claim = v.persistentVolumeClaim?.claimName;
      if (claim && !has('PersistentVolumeClaim', ns, claim) && !external.persistentVolumeClaims.includes(claim)) {
        err(
          p,
          `${tp}.volumes[${n}].persistentVolumeClaim.claimName`,
          `PersistentVolumeClaim "${claim}" is neither in the output nor declared external`,
          'add it, or list it in validation.external.persistentVolumeClaims',
        );
      }
      const cm = v.configMap?.name;
      if (cm && !has('ConfigMap', ns, cm) && !external.configMaps.includes(cm))
        err(p, `${tp}.volumes[${n}].configMap.name`, `ConfigMap "${cm}" is neither in the output nor declared external`);
      const secret = v.secret?.secretName;
      if (secret && !has('Secret', ns, secret) && !has('SealedSecret', ns, secret) && !external.secrets.includes(secret))
        err(p, `${tp}.volumes[${n}].secret.secretName`, `Secret "${secret}" is neither in the output nor declared external`);
      for (const [m, src] of (v.projected?.sources ?? []).entries()) {
        if (
          src.secret?.name &&
          !has('Secret', ns, src.secret.name) &&
          !has('SealedSecret', ns, src.secret.name) &&
          !external.secrets.includes(src.secret.name)
        ) {
          err(
            p,
            `${tp}.volumes[${n}].projected.sources[${m}].secret.name`,
            `Secret "${src.secret.name}" is neither in the output nor declared external`,
          );
        }
      }
    });
    for (const { c, path } of containersOf(spec)) {
      const cp = `${tp}.${path}`;
      (c.volumeMounts ?? []).forEach((m: Obj, n: number) => {
        if (!volumes.has(m.name))
          err(
            p,
            `${cp}.volumeMounts[${n}].name`,
            `mount "${m.name}" names no volume of the pod`,
            `add a volume "${m.name}" to ${tp}.volumes`,
          );
      });
      const secretOk = (name: string) => has('Secret', ns, name) || has('SealedSecret', ns, name) || external.secrets.includes(name);
      (c.envFrom ?? []).forEach((e: Obj, n: number) => {
        if (e.configMapRef?.name && !has('ConfigMap', ns, e.configMapRef.name) && !external.configMaps.includes(e.configMapRef.name)) {
          err(
            p,
            `${cp}.envFrom[${n}].configMapRef.name`,
            `ConfigMap "${e.configMapRef.name}" is neither in the output nor declared external`,
          );
        }
        if (e.secretRef?.name && !secretOk(e.secretRef.name))
          err(
            p,
            `${cp}.envFrom[${n}].secretRef.name`,
            `Secret "${e.secretRef.name}" is neither in the output nor declared external`,
            'list it in validation.external.secrets',
          );
      });
      (c.env ?? []).forEach((e: Obj, n: number) => {
        const s = e.valueFrom?.secretKeyRef?.name;
        if (s && !secretOk(s))
          err(p, `${cp}.env[${n}].valueFrom.secretKeyRef.name`, `Secret "${s}" is neither in the output nor declared external`);
        const cm = e.valueFrom?.configMapKeyRef?.name;
        if (cm && !has('ConfigMap', ns, cm) && !external.configMaps.includes(cm))
          err(p, `${cp}.env[${n}].valueFrom.configMapKeyRef.name`, `ConfigMap "${cm}" is neither in the output nor declared external`);
      });
      const declared = new Set((c.ports ?? []).flatMap((pt: Obj) => [pt.name, pt.containerPort]));
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const port = c[probe]?.tcpSocket?.port ?? c[probe]?.httpGet?.port ?? c[probe]?.grpc?.port;
        if (port !== undefined && !declared.has(port)) {
          err(
            p,
            `${cp}.${probe}`,
            `${probe} targets port ${JSON.stringify(port)}, which the container does not declare`,
            'declare it in ports, or probe a declared port',
          );
        }
      }
    }
    if (o.kind === 'StatefulSet' && o.spec?.serviceName && !has('Service', ns, o.spec.serviceName)) {
      err(p, 'spec.serviceName', `StatefulSet serviceName "${o.spec.serviceName}" names no Service in namespace ${ns}`);
    }
  }

  // Services: selector matches a workload; targetPort is declared by the selected pods; NodePorts unique.
  const nodePorts = new Map<number, string>();
  for (const p of objects.filter((x) => x.object.kind === 'Service')) {
    const s = p.object;
    const selector = s.spec?.selector;
    if (selector && Object.keys(selector).length) {
      const selected = workloads.filter(
        (w) => w.object.metadata?.namespace === s.metadata?.namespace && matches(selector, podSpecOf(w.object)?.metadata?.labels),
      );
      if (selected.length === 0) {
        err(
          p,
          'spec.selector',
          `selector ${JSON.stringify(selector)} matches no workload in namespace ${s.metadata?.namespace}`,
          'fix the selector or the pod template labels',
        );
      } else {
        (s.spec.ports ?? []).forEach((port: Obj, n: number) => {
          const target = port.targetPort ?? port.port;
          const declared = selected.some((w) =>
            containersOf(podSpecOf(w.object)!.spec).some(({ c }) =>
              (c.ports ?? []).some((cp: Obj) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target)),
            ),
          );
          if (!declared)
            err(
              p,
              `spec.ports[${n}].targetPort`,
              `targetPort ${JSON.stringify(target)} is not declared by the selected pods`,
              'declare the port in the container, or target a declared one',
            );
        });
      }
    }
    (s.spec?.ports ?? []).forEach((port: Obj, n: number) => {
      if (port.nodePort === undefined) return;
      if (port.nodePort < 30000 || port.nodePort > 32767)
        err(p, `spec.ports[${n}].nodePort`, `NodePort ${port.nodePort} is outside 30000-32767`);
      const first = nodePorts.get(port.nodePort);
      if (first) err(p, `spec.ports[${n}].nodePort`, `NodePort ${port.nodePort} is already used by ${first}`);
      else nodePorts.set(port.nodePort, `Service/${s.metadata?.namespace}/${s.metadata?.name}`);
    });
  }

  // Static PVCs bind to exactly one PV.
  const pvs = objects.filter((x) => x.object.kind === 'PersistentVolume');
  for (const p of objects.filter((x) => x.object.kind === 'PersistentVolumeClaim')) {
    const claim = p.object;
    if (claim.spec?.storageClassName !== '') continue; // dynamically provisioned
    const candidates = pvs.filter((pv) => bindsTo(pv.object, claim));
    if (candidates.length !== 1) {
      err(
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

  // hostNetwork pods that can share a node must not share a host port.
  const bound: { p: ParsedObject; node?: string; protocol: string; from: number; to: number; what: string }[] = [];
  for (const p of workloads) {
    const tpl = podSpecOf(p.object)!;
    if (!tpl.spec?.hostNetwork) continue;
    const node = pinnedNode(tpl.spec);
    const mine = containersOf(tpl.spec).flatMap(({ c }) =>
      (c.ports ?? []).map((pt: Obj) => ({
        protocol: pt.protocol ?? 'TCP',
        from: pt.hostPort ?? pt.containerPort,
        to: pt.hostPort ?? pt.containerPort,
      })),
    );
    const extra = tpl.metadata?.annotations?.[HOST_UDP_PORTS_ANNOTATION];
    if (extra) mine.push(...ranges(extra).map((r) => ({ protocol: 'UDP', ...r })));
    for (const m of mine) {
      for (const b of bound) {
        if (b.p === p || b.protocol !== m.protocol || m.from > b.to || b.from > m.to) continue;
        if (node && b.node && node !== b.node) continue;
        const r = (x: { from: number; to: number }) => (x.from === x.to ? `${x.from}` : `${x.from}-${x.to}`);
        err(
          p,
          `${templatePath(p.object)}.spec`,
          `host port ${m.protocol} ${r(m)} collides with ${m.protocol} ${r(b)} of ${b.what} on node ${node ?? b.node ?? '(any)'}`,
          'pin the pods to different nodes or move the ports',
        );
      }
    }
    for (const m of mine)
      bound.push({ p, node, ...m, what: `${p.object.kind}/${p.object.metadata?.namespace}/${p.object.metadata?.name}` });
  }
  return out;
}

/** A storage quantity in bytes, by the API server's grammar (exponents and every suffix included). */
const quantityBytes = quantityValue;

function bindsTo(pv: Obj, claim: Obj): boolean {
  return whyNot(pv, claim) === undefined;
}

function whyNot(pv: Obj, claim: Obj): string | undefined {
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

function whyNoBind(pvs: Obj[], claim: Obj): string {
  if (pvs.length === 0) return 'there are no PersistentVolumes in the output';
  const named = claim.spec?.volumeName ? pvs.find((pv) => pv.metadata?.name === claim.spec.volumeName) : undefined;
  if (claim.spec?.volumeName && !named) return `volumeName ${claim.spec.volumeName} names no PersistentVolume in the output`;
  const reasons = (named ? [named] : pvs).map((pv) => `${pv.metadata?.name}: ${whyNot(pv, claim)}`);
  return reasons.join('; ');
}

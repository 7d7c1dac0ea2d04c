import type { InstanceConfig } from './instance';
import { persistentVolumeNames } from './names';

type Path = readonly (string | number)[];
/** Describes where instance `index`'s value at `path` came from (file:line, variable or default). */
export type Locate = (index: number, path: Path) => string;

interface Claim {
  readonly index: number;
  readonly path: Path;
  readonly what: string;
}

/** Host ports a Janus pod binds on its node: TCP for its APIs, UDP for RTP. */
export function janusHostPorts(i: InstanceConfig): { protocol: 'TCP' | 'UDP'; from: number; to: number; path: Path }[] {
  const tcp = Object.entries(i.janus.ports).map(([k, p]) => ({ protocol: 'TCP' as const, from: p, to: p, path: ['janus', 'ports', k] }));
  const [from, to] = i.janus.rtpPortRange.split('-').map(Number);
  return [...tcp, { protocol: 'UDP', from, to, path: ['janus', 'rtpPortRange'] }];
}

/**
 * What a single instance's schema cannot see: values that must be unique across the cluster (NodePorts,
 * namespaces, hostPaths and PV names) and host ports of hostNetwork pods that share a node.
 */
export function crossInstanceIssues(instances: readonly InstanceConfig[], locate: Locate): string[] {
  const problems: string[] = [];
  const unique = (key: string, claim: Claim, seen: Map<string, Claim>) => {
    const first = seen.get(key);
    if (!first) return void seen.set(key, claim);
    problems.push(
      `${locate(claim.index, claim.path)}: ${claim.what} is already used by ` +
        `${instances[first.index].name} at ${locate(first.index, first.path)}`,
    );
  };

  const nodePorts = new Map<string, Claim>();
  const namespaces = new Map<string, Claim>();
  const names = new Map<string, Claim>();
  const hostPaths = new Map<string, Claim>();
  const pvs = new Map<string, Claim>();
  instances.forEach((i, index) => {
    unique(i.name, { index, path: ['name'], what: `instance name ${i.name}` }, names);
    unique(i.namespace, { index, path: ['namespace'], what: `namespace ${i.namespace}` }, namespaces);
    const ports: [number, Path][] = [
      [i.app.nodePort, ['app', 'nodePort']],
      ...Object.entries(i.janus.nodePorts).map(([k, p]): [number, Path] => [p, ['janus', 'nodePorts', k]]),
    ];
    for (const [p, path] of ports) unique(String(p), { index, path, what: `NodePort ${p}` }, nodePorts);
    for (const [p, path] of [
      [i.mongodb.hostPath, ['mongodb', 'hostPath']],
      [i.app.uploads.hostPath, ['app', 'uploads', 'hostPath']],
    ] as const) {
      unique(`${i.dataNode}:${p.replace(/\/+$/, '')}`, { index, path, what: `hostPath ${p} on node ${i.dataNode}` }, hostPaths);
    }
    const pvNames = persistentVolumeNames(i);
    unique(pvNames.mongodb, { index, path: ['namespace'], what: `PersistentVolume name ${pvNames.mongodb}` }, pvs);
    unique(pvNames.uploads, { index, path: ['namespace'], what: `PersistentVolume name ${pvNames.uploads}` }, pvs);
  });

  // hostNetwork: every Janus binds its ports on the node itself, so two on one node must not overlap.
  const bound: { index: number; node: string; protocol: string; from: number; to: number; path: Path }[] = [];
  instances.forEach((i, index) => {
    for (const p of janusHostPorts(i)) {
      for (const b of bound) {
        if (b.node === i.janus.node && b.protocol === p.protocol && p.from <= b.to && b.from <= p.to) {
          const range = (x: { from: number; to: number }) => (x.from === x.to ? `${x.from}` : `${x.from}-${x.to}`);
          problems.push(
            `${locate(index, p.path)}: host port ${p.protocol} ${range(p)} of janus in ${i.namespace} collides on node ` +
              `${i.janus.node} with ${p.protocol} ${range(b)} of janus in ${instances[b.index].namespace} at ${locate(b.index, b.path)}`,
          );
        }
      }
      bound.push({ index, node: i.janus.node, ...p });
    }
  });
  return problems;
}

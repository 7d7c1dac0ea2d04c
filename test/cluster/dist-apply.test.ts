import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { waves } from '../../hack/lib/cluster/deploy';
import { type K8sObject } from '../../lib/manifest';
import { applyWaves, eventually, type TestCluster, useCluster } from '../support/cluster';
import { cleanupDirs, objectsOf, projectWith, TWO_INSTANCES } from '../support/files';
import { synthIn } from '../support/synth';

afterAll(cleanupDirs);

// dist/ applied for real into a real API server (kwok plays the kubelet): what a server-side dry run cannot see
// (nodePort ranges and duplicates across files, PV/PVC binding, scheduling onto pinned nodes) is checked here.

/** A fresh synth of `config`, applied file by file in the order deploy uses (sync waves). */
async function applyFresh(cluster: TestCluster, config = ''): Promise<{ dist: string; objects: K8sObject[] }> {
  const project = projectWith({ 'roomler.yaml': config });
  const s = synthIn(project, {});
  expect(s.code, s.stderr).toBe(0);
  await applyWaves(cluster, s.outdir);
  return { dist: s.outdir, objects: waves(s.outdir).flatMap(([, o]) => o) };
}

/** Waits until every Pod of the namespace is Running and Ready, and returns them. */
const readyPods = (cluster: TestCluster, ns: string, count: number) =>
  eventually(
    async () => {
      const pods: K8sObject[] = (await cluster.json(['get', 'pods', '-n', ns])).items;
      const ready = pods.filter(
        (p) => p.status?.phase === 'Running' && p.status.conditions?.some((c: K8sObject) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === count && pods.length === count ? pods : undefined;
    },
    60_000,
    `${count} ready pods in ${ns}`,
  );

const nodeOf = (pods: K8sObject[], prefix: string) => pods.find((p) => p.metadata.name.startsWith(prefix))?.spec.nodeName;

describe('dist/ of the default config, applied for real', () => {
  const cluster = useCluster();

  it('binds every PVC to its static PV, runs every Pod on its pinned node, and keeps the exact NodePorts', async () => {
    const { objects } = await applyFresh(cluster);
    const pvcs = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
    expect(pvcs.length).toBeGreaterThanOrEqual(3);
    for (const pvc of pvcs) {
      const live = await eventually(
        async () => {
          const c = await cluster.json(['get', 'pvc', pvc.metadata.name, '-n', pvc.metadata.namespace]);
          return c.status.phase === 'Bound' ? c : undefined;
        },
        30_000,
        `PVC ${pvc.metadata.name} Bound`,
      );
      expect(live.spec.volumeName).toBe(pvc.spec.volumeName);
      const pv = await cluster.json(['get', 'pv', pvc.spec.volumeName]);
      expect(pv.spec.claimRef).toMatchObject({ namespace: 'roomler', name: pvc.metadata.name });
    }

    const pods = await readyPods(cluster, 'roomler', 4);
    expect(nodeOf(pods, 'mongodb-0')).toBe('k8s-worker1');
    expect(nodeOf(pods, 'janus-')).toBe('k8s-worker1');
    expect(nodeOf(pods, 'roomler-')).toBe('k8s-worker1');
    // Janus runs on the host network: its Pod takes the node's address.
    const janus = pods.find((p) => p.metadata.name.startsWith('janus-'))!;
    const node = await cluster.json(['get', 'node', 'k8s-worker1']);
    expect(janus.status.podIP).toBe(node.status.addresses.find((a: K8sObject) => a.type === 'InternalIP').address);
    const coturn = await readyPods(cluster, 'coturn', 2);
    expect(nodeOf(coturn, 'coturn-worker1')).toBe('k8s-worker1');
    expect(nodeOf(coturn, 'coturn-worker2')).toBe('k8s-worker2');

    const cronjobs = (await cluster.json(['get', 'cronjobs', '-n', 'roomler'])).items.map(
      (c: K8sObject) => `${c.metadata.name} ${c.spec.schedule}`,
    );
    expect(cronjobs.sort()).toEqual(['mongodb-backup 0 3 * * *', 'mongodb-backup-verify 0 4 * * *']);

    const ports = (await cluster.json(['get', 'services', '-n', 'roomler'])).items.flatMap((s: K8sObject) =>
      s.spec.type === 'NodePort' ? s.spec.ports.map((p: K8sObject) => `${s.metadata.name}/${p.name}=${p.nodePort}`) : [],
    );
    // The Janus admin API has no NodePort (it is off the public paths by default).
    expect(ports.sort()).toEqual(['janus-nodeport/http=30808', 'janus-nodeport/websocket=30818', 'roomler/http=30030']);
  });

  it('a nodePort used again in another chart file is refused by the API server, with its own message', async () => {
    // Synth refuses such a config; here a hand edit of dist/ does what synth would never write.
    const project = projectWith({
      'roomler.yaml':
        'instances:\n  - name: other\n    app: { nodePort: 31030 }\n    dataNode: k8s-worker2\n    janus: { nodePorts: { http: 31808, websocket: 31818 } }\n',
    });
    const s = synthIn(project, {});
    expect(s.code, s.stderr).toBe(0);
    const file = join(s.outdir, 'other.k8s.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('nodePort: 31030', 'nodePort: 30030'));
    const service = objectsOf(readFileSync(file, 'utf8')).filter((o) => ['Namespace', 'Service'].includes(o.kind));
    const r = await cluster.kubectl(['apply', '--server-side', '-f', '-'], service.map((o) => stringify(o)).join('---\n'));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.ports\[0\]\.nodePort: Invalid value: 30030: provided port is already allocated/);
  });
});

describe('dist/ of a two-instance config, applied for real', () => {
  const cluster = useCluster();

  it('keeps the instances apart: own namespaces, own volumes on their nodes, own NodePorts', async () => {
    await applyFresh(cluster, TWO_INSTANCES);
    const prod = await readyPods(cluster, 'roomler', 4);
    const staging = await readyPods(cluster, 'staging', 4);
    expect(nodeOf(prod, 'mongodb-0')).toBe('k8s-worker1');
    expect(nodeOf(staging, 'mongodb-0')).toBe('k8s-worker2');
    expect(nodeOf(staging, 'janus-')).toBe('k8s-worker2');
    const pvs = (await cluster.json(['get', 'pv'])).items.map(
      (p: K8sObject) => `${p.metadata.name} ${p.spec.hostPath.path} ${p.status.phase}`,
    );
    expect(pvs).toEqual(
      expect.arrayContaining(['staging-mongodb-data /data/staging/mongodb Bound', 'roomler-mongodb-data /data/roomler/mongodb Bound']),
    );
    const svc = await cluster.json(['get', 'service', 'roomler', '-n', 'staging']);
    expect(svc.spec.ports[0].nodePort).toBe(31030);
  });
});

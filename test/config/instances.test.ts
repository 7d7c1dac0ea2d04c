import { afterAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../lib/config';
import { allObjects, cleanupDirs, find, projectWith } from '../support/files';
import { STAGING, synthFiles } from '../support/synth';

afterAll(cleanupDirs);

const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ cwd: projectWith({ 'roomler.yaml': yaml }), env });
const problemsOf = (yaml: string) => {
  try {
    load(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join('\n');
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('many instances from one config', () => {
  it('gives each instance its own chart file, namespace, NodePorts, pins and paths', () => {
    const files = synthFiles({ cwd: projectWith({ 'roomler.yaml': `instances:\n  - name: roomler\n${STAGING}` }), env: {} });
    expect([...files.keys()]).toEqual(['roomler.k8s.yaml', 'staging.k8s.yaml', 'coturn.k8s.yaml']);
    const staging = allObjects(new Map([['s', files.get('staging.k8s.yaml')!]]));
    expect(find(staging, 'Namespace', 'staging')).toBeTruthy();
    expect(find(staging, 'Service', 'roomler', 'staging').spec.ports[0].nodePort).toBe(31030);
    expect(find(staging, 'Deployment', 'janus', 'staging').spec.template.spec.nodeSelector).toEqual({
      'kubernetes.io/hostname': 'k8s-worker2',
    });
    expect(find(staging, 'PersistentVolume', 'staging-mongodb-data').spec.hostPath.path).toBe('/data/staging/mongodb');
    expect(find(staging, 'PersistentVolume', 'staging-uploads').spec.hostPath.path).toBe('/data/staging/uploads');
    expect(find(staging, 'ConfigMap', 'roomler-config', 'staging').data.URL).toBe('https://staging.roomler.live');
  });

  it("adding an instance never changes another instance's bytes", () => {
    const alone = synthFiles();
    const two = synthFiles({ cwd: projectWith({ 'roomler.yaml': `instances:\n  - name: roomler\n${STAGING}` }), env: {} });
    expect(two.get('roomler.k8s.yaml')).toBe(alone.get('roomler.k8s.yaml'));
  });

  it('shares top-level defaults with every instance, and lets each override them', () => {
    // IfNotPresent needs exact tags everywhere (a moving tag with it is a config error, test/config/config.test.ts).
    const pinned =
      'redis:\n  image: redis:7.2.7-alpine\napp:\n  image: gjovanov/roomler:2024.11.3\njanus:\n  image: gjovanov/janus-slim:0.9.5\n';
    const { instances } = load(
      `imagePullPolicy: Always\n${pinned}instances:\n  - name: roomler\n${STAGING.replace('name: staging', 'name: staging\n    imagePullPolicy: IfNotPresent')}`,
    );
    expect(instances.map((i) => [i.name, i.imagePullPolicy, i.redis.image, i.app.image])).toEqual([
      ['roomler', 'Always', 'redis:7.2.7-alpine', 'gjovanov/roomler:2024.11.3'],
      ['staging', 'IfNotPresent', 'redis:7.2.7-alpine', 'gjovanov/roomler:2024.11.3'],
    ]);
  });

  it('rejects a NodePort used by two instances, naming both sides', () => {
    const p = problemsOf(`instances:\n  - name: roomler\n${STAGING.replace('nodePort: 31030', 'nodePort: 30030')}`);
    expect(p).toMatch(
      /roomler\.yaml:\d+:\d+: instances\[1\]\.app\.nodePort: NodePort 30030 is already used by roomler at app\.nodePort \(default\), inherited by instances\[0\] \(roomler\)/,
    );
  });

  it('rejects two instances in one namespace', () => {
    const p = problemsOf(`instances:\n  - name: roomler\n${STAGING.replace('name: staging', 'name: staging\n    namespace: roomler')}`);
    expect(p).toMatch(/instances\[1\]\.namespace: namespace roomler is already used by roomler/);
    expect(p).toMatch(/PersistentVolume name roomler-mongodb-data is already used by roomler/);
  });

  it('rejects a shared hostPath on the same node', () => {
    const p = problemsOf(`instances:\n  - name: roomler\n${STAGING}    mongodb: { hostPath: /data/roomler/mongodb/ }\n`);
    expect(p).toMatch(
      /instances\[1\]\.mongodb\.hostPath: hostPath \/data\/roomler\/mongodb\/ on node k8s-worker1 is already used by roomler/,
    );
  });

  it('rejects Janus host ports that collide on one node (TCP ports and the UDP RTP range)', () => {
    const sameNode = STAGING.replace('node: k8s-worker2', 'node: k8s-worker1');
    const p = problemsOf(`instances:\n  - name: roomler\n${sameNode}`);
    expect(p).toMatch(
      /instances\[1\]\.janus\.node|host port TCP 8088 of janus in staging collides on node k8s-worker1 with TCP 8088 of janus in roomler/,
    );
    expect(p).toMatch(
      /host port UDP 10000-10200 of janus in staging collides on node k8s-worker1 with UDP 10000-10200 of janus in roomler/,
    );
    const moved = sameNode.replace(
      '      node: k8s-worker1\n',
      '      node: k8s-worker1\n      ports: { http: 9088, websocket: 9188, adminHttp: 9288, adminWebsocket: 9388 }\n      rtpPortRange: 20000-20200\n',
    );
    expect(load(`instances:\n  - name: roomler\n${moved}`).instances).toHaveLength(2);
  });

  it('names the instance entry when an override is invalid', () => {
    expect(problemsOf(`instances:\n  - name: roomler\n  - name: Bad_Name\n`)).toMatch(
      /roomler\.yaml:3:\d+: instances\[1\]\.name: instance name must be a DNS-1123 label/,
    );
  });

  it('synthesizes 50 instances, each in its own file', () => {
    const yaml =
      'instances:\n' +
      Array.from({ length: 50 }, (_, n) => {
        const port = (k: number) => 30000 + n * 5 + k;
        return `  - name: r${n}\n    dataNode: node-${n}\n    app: { nodePort: ${port(0)} }\n    janus: { nodePorts: { http: ${port(1)}, websocket: ${port(2)} } }\n`;
      }).join('');
    const files = synthFiles({ cwd: projectWith({ 'roomler.yaml': yaml }), env: {} });
    expect([...files.keys()].filter((f) => /^r\d+\.k8s\.yaml$/.test(f))).toHaveLength(50);
    expect(
      new Set(
        allObjects(files)
          .filter((o) => o.kind === 'Namespace')
          .map((o) => o.metadata.name),
      ).size,
    ).toBe(51);
  });
});

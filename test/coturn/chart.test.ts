import { afterAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../lib/config';
import { NOBODY_UID } from '../../lib/constructs/coturn-worker';
import { cidrRange } from '../../lib/constructs/turnserver-conf';
import { type K8sObject } from '../../lib/manifest';
import { allObjects, cleanupDirs, find, projectWith } from '../support/files';
import { synthFiles } from '../support/synth';

// The coturn chart as synthesized; test/coturn/coturn.test.ts runs Debian's turnserver with the config it renders.
afterAll(cleanupDirs);

const files = synthFiles();
const coturn = allObjects(new Map([['c', files.get('coturn.k8s.yaml')!]]));
const conf = (o: K8sObject[] = coturn, worker = 'coturn-worker1') =>
  find(o, 'ConfigMap', worker, 'coturn').data['turnserver.conf'] as string;

describe('coturn chart', () => {
  it('matches its YAML snapshot', async () => {
    await expect(files.get('coturn.k8s.yaml')).toMatchFileSnapshot('../charts/__snapshots__/coturn.k8s.yaml');
  });

  it('runs one pinned TURN server per worker on the host network', () => {
    for (const [name, node] of [
      ['coturn-worker1', 'k8s-worker1'],
      ['coturn-worker2', 'k8s-worker2'],
    ]) {
      const d = find(coturn, 'Deployment', name, 'coturn');
      const spec = d.spec.template.spec;
      expect(spec).toMatchObject({
        hostNetwork: true,
        dnsPolicy: 'ClusterFirstWithHostNet',
        nodeSelector: { 'kubernetes.io/hostname': node },
      });
      expect(d.spec.strategy).toEqual({ type: 'Recreate' });
      const c = spec.containers[0];
      expect(c.image).toMatch(/^coturn\/coturn:\d+\.\d+\.\d+$/);
      expect(c.ports.map((p: K8sObject) => `${p.protocol}/${p.containerPort}`)).toEqual(['UDP/3478', 'TCP/3478', 'TCP/5349', 'TCP/443']);
      expect(c.resources).toEqual({
        requests: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '64Mi' },
        limits: { cpu: '2', memory: '1Gi', 'ephemeral-storage': '512Mi' },
      });
      expect(d.spec.template.metadata.annotations['roomler.io/host-udp-ports']).toBe('49152-50175');
      expect(spec.volumes).toContainEqual({ name: 'auth', secret: { secretName: 'coturn-auth', defaultMode: 0o400 } });
      expect(spec.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'coturn-tls', defaultMode: 0o400 } });
    }
    expect(find(coturn, 'Namespace', 'coturn').metadata.namespace).toBeUndefined();
  });

  it('runs as root only to bind 443, and says so: runAsUser 0, NET_BIND_SERVICE in the server alone, true exemptions', () => {
    const d = find(coturn, 'Deployment', 'coturn-worker1', 'coturn');
    const [init, main] = [d.spec.template.spec.initContainers[0], d.spec.template.spec.containers[0]];
    expect(main.securityContext).toMatchObject({
      runAsUser: 0,
      runAsGroup: 0,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    });
    expect(init.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsUser: 0,
      runAsGroup: 0,
    });
    expect(d.metadata.annotations['ignore-check.kube-linter.io/run-as-non-root']).toMatch(/binds port 443 .*runAsUser: 0/);
    // Without a port below 1024 there is no reason for root: the image's nobody, explicitly, reading the Secret through fsGroup.
    const high = allObjects(synthFiles({ cwd: projectWith({ 'roomler.yaml': 'coturn:\n  ports: { altTls: 5350 }\n' }), env: {} }));
    const h = find(high, 'Deployment', 'coturn-worker1', 'coturn');
    expect(h.spec.template.spec.securityContext).toMatchObject({ fsGroup: NOBODY_UID });
    expect(h.spec.template.spec.containers[0].securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: NOBODY_UID,
      capabilities: { drop: ['ALL'] },
    });
    expect(h.spec.template.spec.containers[0].securityContext.capabilities.add).toBeUndefined();
    expect(Object.keys(h.metadata.annotations).filter((k) => /run-as-non-root|privileged-ports|added-capabilities/.test(k))).toEqual([]);
  });

  it('renders use-auth-secret with the hardening options, and no secret in the ConfigMap', () => {
    const text = conf();
    for (const line of [
      'use-auth-secret',
      'realm=roomler.live',
      'fingerprint',
      'no-cli',
      'no-multicast-peers',
      'no-software-attribute',
      'stale-nonce=600',
      'min-port=49152',
      'max-port=50175',
      'user-quota=12',
    ]) {
      expect(text.split('\n')).toContain(line);
    }
    expect(text).not.toMatch(/^lt-cred-mech/m);
    expect(text).not.toMatch(/^static-auth-secret/m);
  });

  it('denies every internal range as a relay peer: loopback, link-local, RFC 1918, pod and service CIDRs, node IPs', () => {
    const objs = allObjects(
      synthFiles({
        cwd: projectWith({
          'roomler.yaml': 'coturn:\n  workers:\n    - { name: worker1, node: k8s-worker1, publicIp: 198.51.100.7, nodeIp: 203.0.113.7 }\n',
        }),
        env: {},
      }),
    );
    const text = conf(objs);
    expect(text).toContain('external-ip=198.51.100.7/203.0.113.7');
    const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const ranges = [...text.matchAll(/^denied-peer-ip=(\d+\.\d+\.\d+\.\d+)(?:-(\d+\.\d+\.\d+\.\d+))?$/gm)].map((m) => [
      toInt(m[1]),
      toInt(m[2] ?? m[1]),
    ]);
    const denied = (ip: string) => ranges.some(([a, b]) => toInt(ip) >= a && toInt(ip) <= b);
    for (const ip of [
      '127.0.0.1',
      '169.254.169.254',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.10',
      '10.244.3.7',
      '10.96.0.10',
      '100.64.1.1',
      '203.0.113.7',
      '0.0.0.0',
    ])
      expect(denied(ip), ip).toBe(true);
    for (const ip of ['8.8.8.8', '198.51.100.7', '1.1.1.1']) expect(denied(ip), ip).toBe(false);
    expect(cidrRange('10.244.0.0/16')).toEqual({ first: '10.244.0.0', last: '10.244.255.255' });
  });

  const problems = (yaml: string) => {
    try {
      loadConfig({ cwd: projectWith({ 'roomler.yaml': yaml }), env: {} });
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.join('\n');
    }
    return '';
  };

  it('fails synth when coturn and Janus collide on a node, naming both', () => {
    expect(problems('janus:\n  rtpPortRange: 49000-49200\n')).toMatch(
      /coturn\.relayRange.*: host port UDP 49152-50175 of coturn-worker1 collides on node k8s-worker1 with UDP 49000-49200 of janus in roomler at .*janus\.rtpPortRange/,
    );
    expect(problems('coturn:\n  ports: { tls: 8088 }\n')).toMatch(
      /coturn\.ports\.tls.*: host port TCP 8088 of coturn-worker1 collides on node k8s-worker1 with TCP 8088 of janus in roomler/,
    );
  });

  it('fails synth when TURN_URL points at no coturn endpoint', () => {
    expect(problems('app:\n  env:\n    TURN_URL: turn:turn.example.com:3478\n')).toMatch(
      /app\.env\.TURN_URL: TURN_URL turn:turn\.example\.com:3478 points at no configured coturn endpoint/,
    );
    expect(problems('app:\n  env:\n    TURN_URL: turns:turn.roomler.live:5349?transport=tcp\n')).toBe('');
  });
});

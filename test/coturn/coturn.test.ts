import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';
import { NOBODY_UID } from '../../lib/constructs/coturn-worker';
import { cidrRange } from '../../lib/constructs/turnserver-conf';
import { buildSecrets } from '../../hack/lib/cluster/secrets';
import { turnPassword } from '../../lib/turn';
import { allObjects, cleanupDirs, emptyDir, find, projectWith, synthFiles, type Obj } from '../support/synth';
import { freePort } from '../rsync/sshd';

const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) s.kill('SIGTERM');
  cleanupDirs();
});

const files = synthFiles();
const coturn = allObjects(new Map([['c', files.get('coturn.k8s.yaml')!]]));
const conf = (o: Obj[] = coturn, worker = 'coturn-worker1') => find(o, 'ConfigMap', worker, 'coturn').data['turnserver.conf'] as string;

describe('coturn chart', () => {
  it('matches its YAML snapshot', async () => {
    await expect(files.get('coturn.k8s.yaml')).toMatchFileSnapshot('../charts/__snapshots__/coturn.k8s.yaml');
  });

  it('runs one pinned TURN server per worker on the host network', () => {
    for (const [name, node] of [['coturn-worker1', 'k8s-worker1'], ['coturn-worker2', 'k8s-worker2']]) {
      const d = find(coturn, 'Deployment', name, 'coturn');
      const spec = d.spec.template.spec;
      expect(spec).toMatchObject({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet', nodeSelector: { 'kubernetes.io/hostname': node } });
      expect(d.spec.strategy).toEqual({ type: 'Recreate' });
      const c = spec.containers[0];
      expect(c.image).toMatch(/^coturn\/coturn:\d+\.\d+\.\d+$/);
      expect(c.ports.map((p: Obj) => `${p.protocol}/${p.containerPort}`)).toEqual(['UDP/3478', 'TCP/3478', 'TCP/5349', 'TCP/443']);
      expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '2', memory: '1Gi', 'ephemeral-storage': '512Mi' } });
      expect(d.spec.template.metadata.annotations['roomler.io/host-udp-ports']).toBe('49152-50175');
      expect(spec.volumes).toContainEqual({ name: 'auth', secret: { secretName: 'coturn-auth', defaultMode: 0o400 } });
      expect(spec.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'coturn-tls', defaultMode: 0o400 } });
    }
    expect(find(coturn, 'Namespace', 'coturn').metadata.namespace).toBeUndefined();
  });

  it('runs as root only to bind 443, and says so: runAsUser 0, NET_BIND_SERVICE in the server alone, true exemptions', () => {
    const d = find(coturn, 'Deployment', 'coturn-worker1', 'coturn');
    const [init, main] = [d.spec.template.spec.initContainers[0], d.spec.template.spec.containers[0]];
    expect(main.securityContext).toMatchObject({ runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } });
    expect(init.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsUser: 0, runAsGroup: 0 });
    expect(d.metadata.annotations['ignore-check.kube-linter.io/run-as-non-root']).toMatch(/binds port 443 .*runAsUser: 0/);
    // Without a port below 1024 there is no reason for root: the image's nobody, explicitly, reading the Secret through fsGroup.
    const high = allObjects(synthFiles({ cwd: projectWith({ 'roomler.yaml': 'coturn:\n  ports: { altTls: 5350 }\n' }), env: {} }));
    const h = find(high, 'Deployment', 'coturn-worker1', 'coturn');
    expect(h.spec.template.spec.securityContext).toMatchObject({ fsGroup: NOBODY_UID });
    expect(h.spec.template.spec.containers[0].securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: NOBODY_UID, capabilities: { drop: ['ALL'] } });
    expect(h.spec.template.spec.containers[0].securityContext.capabilities.add).toBeUndefined();
    expect(Object.keys(h.metadata.annotations).filter((k) => /run-as-non-root|privileged-ports|added-capabilities/.test(k))).toEqual([]);
  });

  it('renders use-auth-secret with the hardening options, and no secret in the ConfigMap', () => {
    const text = conf();
    for (const line of ['use-auth-secret', 'realm=roomler.live', 'fingerprint', 'no-cli', 'no-multicast-peers', 'no-software-attribute', 'stale-nonce=600', 'min-port=49152', 'max-port=50175', 'user-quota=12']) {
      expect(text.split('\n')).toContain(line);
    }
    expect(text).not.toMatch(/^lt-cred-mech/m);
    expect(text).not.toMatch(/^static-auth-secret/m);
  });

  it('denies every internal range as a relay peer: loopback, link-local, RFC 1918, pod and service CIDRs, node IPs', () => {
    const objs = allObjects(synthFiles({ cwd: projectWith({ 'roomler.yaml': 'coturn:\n  workers:\n    - { name: worker1, node: k8s-worker1, publicIp: 198.51.100.7, nodeIp: 203.0.113.7 }\n' }), env: {} }));
    const text = conf(objs);
    expect(text).toContain('external-ip=198.51.100.7/203.0.113.7');
    const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const ranges = [...text.matchAll(/^denied-peer-ip=(\d+\.\d+\.\d+\.\d+)(?:-(\d+\.\d+\.\d+\.\d+))?$/gm)].map((m) => [toInt(m[1]), toInt(m[2] ?? m[1])]);
    const denied = (ip: string) => ranges.some(([a, b]) => toInt(ip) >= a && toInt(ip) <= b);
    for (const ip of ['127.0.0.1', '169.254.169.254', '10.1.2.3', '172.20.0.1', '192.168.1.10', '10.244.3.7', '10.96.0.10', '100.64.1.1', '203.0.113.7', '0.0.0.0']) expect(denied(ip), ip).toBe(true);
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
    expect(problems('janus:\n  rtpPortRange: 49000-49200\n')).toMatch(/coturn\.relayRange.*: host port UDP 49152-50175 of coturn-worker1 collides on node k8s-worker1 with UDP 49000-49200 of janus in roomler at .*janus\.rtpPortRange/);
    expect(problems('coturn:\n  ports: { tls: 8088 }\n')).toMatch(/coturn\.ports\.tls.*: host port TCP 8088 of coturn-worker1 collides on node k8s-worker1 with TCP 8088 of janus in roomler/);
  });

  it('fails synth when TURN_URL points at no coturn endpoint', () => {
    expect(problems('app:\n  env:\n    TURN_URL: turn:turn.example.com:3478\n')).toMatch(/app\.env\.TURN_URL: TURN_URL turn:turn\.example\.com:3478 points at no configured coturn endpoint/);
    expect(problems('app:\n  env:\n    TURN_URL: turns:turn.roomler.live:5349?transport=tcp\n')).toBe('');
  });
});

describe("Debian's turnserver with the generated config (real coturn 4.6 on loopback)", () => {
  const secret = `turn-secret-${process.pid}`;
  const config = loadConfig({ cwd: projectWith({}), env: {} });
  const roomler = allObjects(new Map([['r', files.get('roomler.k8s.yaml')!]]));
  const username: string = find(roomler, 'ConfigMap', 'roomler-config').data.TURN_USERNAME;
  const password = buildSecrets(config, (n) => ({ MONGO_ROOT_USERNAME: 'root', MONGO_ROOT_PASSWORD: 'x', COTURN_AUTH_SECRET: secret })[n]).find((s) => s.metadata.name === 'roomler-secret')!.stringData.TURN_PASSWORD;

  // The init container's own command, from the manifest: `sh -c SCRIPT NAME <template> <secret file> <output>`.
  const init = find(coturn, 'Deployment', 'coturn-worker1', 'coturn').spec.template.spec.initContainers[0];
  const runInit = (dir: string, template: string, secretValue?: string) => {
    writeFileSync(join(dir, 'template.conf'), template);
    if (secretValue !== undefined) writeFileSync(join(dir, 'static-auth-secret'), secretValue, { mode: 0o400 });
    const [sh, c, script, name] = init.command;
    return spawnSync(sh, [c, script, name, join(dir, 'template.conf'), join(dir, 'static-auth-secret'), join(dir, 'turnserver.conf')], { encoding: 'utf8' });
  };

  let starts = 0;
  /** The template moved onto loopback high ports with TLS off (the relay may reach loopback here only because this test's peers are loopback relays). */
  async function local(template: string) {
    const dir = emptyDir('roomler-turn-');
    const port = await freePort();
    const relay = 20000 + (process.pid % 20000) + 100 * starts++;
    const text =
      template
        .split('\n')
        .filter((l) => !/^(listening-port|tls-listening-port|alt-tls-listening-port|min-port|max-port|cert|pkey|log-file)=/.test(l))
        .join('\n') +
      [`listening-ip=127.0.0.1`, `relay-ip=127.0.0.1`, `listening-port=${port}`, `min-port=${relay}`, `max-port=${relay + 50}`, 'no-tls', 'no-dtls', 'allow-loopback-peers', 'allowed-peer-ip=127.0.0.1', `pidfile=${dir}/turn.pid`, `log-file=${dir}/turn.log`, 'no-stdout-log'].join('\n') +
      '\n';
    return { dir, port, text };
  }
  async function launch(dir: string, port: number) {
    const server = spawn('turnserver', ['-c', join(dir, 'turnserver.conf')], { stdio: 'ignore' });
    servers.push(server);
    for (let n = 0; n < 50; n++) {
      if (spawnSync('turnutils_stunclient', ['-p', String(port), '127.0.0.1'], { timeout: 1000 }).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { port, log: () => readFileSync(join(dir, 'turn.log'), 'utf8') };
  }
  /** coturn with the runtime file the init step writes, as in the pod: template plus the secret from its file. */
  async function start() {
    const { dir, port, text } = await local(conf());
    const r = runInit(dir, text, `${secret}\n`);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(join(dir, 'turnserver.conf')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'turnserver.conf'), 'utf8').endsWith(`\nstatic-auth-secret=${secret}\n`)).toBe(true);
    return launch(dir, port);
  }
  const allocate = (port: number, user: string, pass: string) =>
    spawnSync('turnutils_uclient', ['-p', String(port), '-u', user, '-w', pass, '-y', '-c', '-n', '3', '-m', '1', '-l', '100', '127.0.0.1'], { encoding: 'utf8', timeout: 30_000 });

  it('accepts the config, and the TURN_USERNAME / TURN_PASSWORD the tooling produces relay data', async () => {
    const { port, log } = await start();
    const r = allocate(port, username, password);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/tot_recv_msgs=([1-9]\d*)/);
    expect(log()).not.toMatch(/CONFIG ERROR|Bad configuration|Unknown option/i);
  });

  it('the init step fails loudly, writing nothing, on a missing, empty or multi-line secret', () => {
    for (const [value, message] of [
      [undefined, /coturn-config: cannot read .*static-auth-secret: set key static-auth-secret of the coturn auth Secret/],
      ['', /coturn-config: .*static-auth-secret is empty: every TURN login would be rejected/],
      ['\n', /is empty/],
      ['abc\nlisten-port=1', /holds a line break/],
    ] as const) {
      const dir = emptyDir('roomler-turn-init-');
      const r = runInit(dir, conf(), value);
      expect(r.status, String(value)).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(existsSync(join(dir, 'turnserver.conf'))).toBe(false);
    }
  });

  it('the old init step would have started coturn with an empty secret, and every login fails then', async () => {
    // What `printf "static-auth-secret=%s" "$(cat …)"` produced when cat failed: coturn starts and rejects the credential.
    const { dir, port, text } = await local(conf());
    writeFileSync(join(dir, 'turnserver.conf'), `${text}static-auth-secret=\n`, { mode: 0o600 });
    await launch(dir, port);
    const r = allocate(port, username, password);
    expect(r.status).not.toBe(0);
  });

  it('rejects a wrong password and an expiry beyond 2147483647', async () => {
    const { port, log } = await start();
    const wrong = allocate(port, username, 'not-the-password');
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/Cannot complete Allocation/);
    const farUser = '9999999999:roomler';
    const far = allocate(port, farUser, turnPassword(secret, farUser));
    expect(far.status).not.toBe(0);
    expect(log()).toMatch(/Cannot find credentials of user <9999999999:roomler>/);
  });
});

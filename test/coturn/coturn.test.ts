import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { buildSecrets } from '../../hack/lib/cluster/secrets';
import { freePort } from '../../hack/lib/process/ports';
import { loadConfig } from '../../lib/config';
import { type K8sObject } from '../../lib/manifest';
import { turnPassword } from '../../lib/turn';
import { allObjects, cleanupDirs, emptyDir, find, projectWith } from '../support/files';
import { synthFiles } from '../support/synth';

const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) s.kill('SIGTERM');
  cleanupDirs();
});

const files = synthFiles();
const coturn = allObjects(new Map([['c', files.get('coturn.k8s.yaml')!]]));
const conf = (o: K8sObject[] = coturn, worker = 'coturn-worker1') =>
  find(o, 'ConfigMap', worker, 'coturn').data['turnserver.conf'] as string;

describe("Debian's turnserver with the generated config (real coturn 4.6 on loopback)", () => {
  const secret = `turn-secret-${process.pid}`;
  const config = loadConfig({ cwd: projectWith({}), env: {} });
  const roomler = allObjects(new Map([['r', files.get('roomler.k8s.yaml')!]]));
  const username: string = find(roomler, 'ConfigMap', 'roomler-config').data.TURN_USERNAME;
  const password = buildSecrets(
    config,
    (n) => ({ MONGO_ROOT_USERNAME: 'root', MONGO_ROOT_PASSWORD: 'x', COTURN_AUTH_SECRET: secret })[n],
  ).find((s) => s.metadata.name === 'roomler-secret')!.stringData.TURN_PASSWORD;

  // The init container's own command, from the manifest: `sh -c SCRIPT NAME <template> <secret file> <output>`.
  const init = find(coturn, 'Deployment', 'coturn-worker1', 'coturn').spec.template.spec.initContainers[0];
  const runInit = (dir: string, template: string, secretValue?: string) => {
    writeFileSync(join(dir, 'template.conf'), template);
    if (secretValue !== undefined) writeFileSync(join(dir, 'static-auth-secret'), secretValue, { mode: 0o400 });
    const [sh, c, script, name] = init.command;
    return spawnSync(sh, [c, script, name, join(dir, 'template.conf'), join(dir, 'static-auth-secret'), join(dir, 'turnserver.conf')], {
      encoding: 'utf8',
    });
  };

  let starts = 0;
  /**
   * The template moved onto loopback high ports with TLS off (the relay may reach loopback here only because this test's
   * peers are loopback relays).
   */
  async function local(template: string) {
    const dir = emptyDir('roomler-turn-');
    const port = await freePort();
    const relay = 20000 + (process.pid % 20000) + 100 * starts++;
    const text =
      template
        .split('\n')
        .filter((l) => !/^(listening-port|tls-listening-port|alt-tls-listening-port|min-port|max-port|cert|pkey|log-file)=/.test(l))
        .join('\n') +
      [
        `listening-ip=127.0.0.1`,
        `relay-ip=127.0.0.1`,
        `listening-port=${port}`,
        `min-port=${relay}`,
        `max-port=${relay + 50}`,
        'no-tls',
        'no-dtls',
        'allow-loopback-peers',
        'allowed-peer-ip=127.0.0.1',
        `pidfile=${dir}/turn.pid`,
        `log-file=${dir}/turn.log`,
        'no-stdout-log',
      ].join('\n') +
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
    spawnSync(
      'turnutils_uclient',
      ['-p', String(port), '-u', user, '-w', pass, '-y', '-c', '-n', '3', '-m', '1', '-l', '100', '127.0.0.1'],
      { encoding: 'utf8', timeout: 30_000 },
    );

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

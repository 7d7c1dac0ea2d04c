import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOMLER } from '../support/cli';
import { turnPassword } from '../../lib/turn';
import { cleanupDirs, emptyDir, projectWith } from '../support/synth';
import { freePort } from '../rsync/sshd';

// Debian's dnsmasq on a loopback high port answers with records the test controls.
const ROOT = join(__dirname, '..', '..');
const IP = '198.51.100.7';
let dnsmasq: ChildProcess;
let port: number;
beforeAll(async () => {
  port = await freePort();
  dnsmasq = spawn('/usr/sbin/dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${port}`,
    `--host-record=roomler.live,${IP}`, // explicit
    `--host-record=janus.roomler.live,${IP}`, // explicit
    `--address=/wild.example/${IP}`, // a wildcard: every name under wild.example
    '--host-record=turn.roomler.live,203.0.113.9', // the wrong address
  ], { stdio: 'ignore' });
  for (let n = 0; n < 50; n++) {
    if (spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]).status === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
afterAll(() => {
  dnsmasq?.kill();
  cleanupDirs();
});

/** doctor with a stand-in kubectl that finds no cluster, and no nginx on this "host": those say "skipped". */
function doctor(yaml: string, dotenv = '', confDir = '/nonexistent/conf.d') {
  const project = projectWith({ 'roomler.yaml': `doctor: { publicIp: ${IP}, dnsServer: "127.0.0.1:${port}" }\ncutover: { nginx: { confDir: ${confDir}, command: [/nonexistent/nginx] } }\n${yaml}`, '.env': dotenv });
  const r = spawnSync(ROOMLER, ['doctor'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROOMLER_PROJECT_DIR: project, PATH: `${join(__dirname, 'standins')}:${process.env.PATH}` } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('npm run doctor: DNS (real dnsmasq)', () => {
  it('an explicit record is ok, a wildcard-only answer warns naming the record to add, a wrong address fails', () => {
    const r = doctor('domains: { janus: janus.wild.example }\n');
    expect(r.out).toMatch(/^ok\s+dns roomler\.live\s+resolves to 198\.51\.100\.7$/m);
    expect(r.out).toMatch(/^warn\s+dns janus\.wild\.example\s+answered only by the wildcard \*\.wild\.example .*add an explicit A record janus\.wild\.example -> 198\.51\.100\.7$/m);
    expect(r.out).toMatch(/^fail\s+dns turn\.roomler\.live\s+resolves to 203\.0\.113\.9, expected 198\.51\.100\.7$/m);
    expect(r.code).toBe(1);
  });

  it('exits 0 when every name resolves explicitly and nothing fails; unreachable parts say skipped (stand-in kubectl)', () => {
    const r = doctor('coturn: { host: roomler.live }\nturn: { host: roomler.live }\n');
    expect(r.out, r.err).toMatch(/doctor: \d+ ok, 0 warn, 0 fail, \d+ skipped/);
    expect(r.out).toMatch(/^skipped\s+cluster\s+not reachable with the current kubeconfig \(The connection to the server 127\.0\.0\.1:6443 was refused/m);
    expect(r.out).toMatch(/^skipped\s+nginx\s+\/nonexistent\/nginx is not on this host/m);
    expect(r.code).toBe(0);
  });

  it('a name that does not resolve fails', () => {
    const r = doctor('domains: { app: missing.roomler.test }\n');
    expect(r.out).toMatch(/^fail\s+dns missing\.roomler\.test\s+does not resolve at 127\.0\.0\.1:\d+; add an A record for missing\.roomler\.test -> 198\.51\.100\.7$/m);
  });
});

describe('npm run doctor: nginx routes on this host (as cutover status sees them)', () => {
  it('ok for a route cut over, warn for one still on the old backend, fail for a half-done one', () => {
    const conf = emptyDir('roomler-doctor-nginx-');
    writeFileSync(join(conf, 'roomler.live.conf'), 'server { location / { proxy_pass http://127.0.0.1:30030; } }\n');
    writeFileSync(join(conf, 'janus.conf'), 'server { location /janus_http { proxy_pass http://janus_r:8088/janus; } location /ws { proxy_pass http://janus_r:8188; } location /ws2 { proxy_pass http://127.0.0.1:30818; } }\n');
    const r = doctor(`nodeAddress: 127.0.0.1\ncoturn: { host: roomler.live }\nturn: { host: roomler.live }\n`, '', conf);
    expect(r.out).toMatch(/^ok\s+nginx route\s+new: r00mler2:3000 -> roomler\/http \(127\.0\.0\.1:30030\): 0 old, 1 new$/m);
    expect(r.out).toMatch(/^warn\s+nginx route\s+old: janus_r:8088 -> janus-nodeport\/http .*\(not cut over yet\)$/m);
    expect(r.out).toMatch(/^fail\s+nginx route\s+MIXED: janus_r:8188 -> janus-nodeport\/websocket .*1 old, 1 new \(half cut over/m);
    expect(r.code).toBe(1);
  });
});

describe('npm run doctor: TURN and probes', () => {
  const base = 'coturn: { host: roomler.live }\nturn: { host: roomler.live }\n';

  it('checks the app credential against the coturn secret', () => {
    const user = '2145830400:roomler';
    const good = doctor(base, `COTURN_AUTH_SECRET=s3cret\nTURN_PASSWORD=${turnPassword('s3cret', user)}\n`);
    expect(good.out).toMatch(/^ok\s+turn credential roomler\s+TURN_PASSWORD verifies against COTURN_AUTH_SECRET for 2145830400:roomler$/m);
    const bad = doctor(base, `COTURN_AUTH_SECRET=s3cret\nTURN_PASSWORD=${turnPassword('other', user)}\n`);
    expect(bad.out).toMatch(/^fail\s+turn credential roomler\s+TURN_PASSWORD does not verify/m);
    expect(bad.code).toBe(1);
  });

  it('warns before the TURN credential lapses', () => {
    const soon = Math.floor(Date.now() / 1000) + 30 * 86400;
    const r = doctor(`${base}turn: { host: roomler.live, expiry: ${soon} }\n`.replace(`turn: { host: roomler.live }\n`, ''));
    expect(r.out).toMatch(/^warn\s+turn expiry roomler\s+\d+:roomler expires in 2\d days: raise turn\.expiry/m);
  });

  it('fails a startup budget that a liveness probe could cut short', () => {
    const r = doctor(`${base}app: { startupProbe: { failureThreshold: 5 } }\n`);
    expect(r.out).toMatch(/^fail\s+probes roomler\s+startup budget 35 s \(10 \+ 5 x 5\) is less than 120 s for 12 PM2 workers/m);
    expect(r.code).toBe(1);
  });
});

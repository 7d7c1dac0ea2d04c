import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOMLER, ROOT } from '../support/cli';
import { labBin, useCluster } from '../support/cluster';
import { ferretdbBin, mongoPath, seedRoomler, startServer, stopServers, withDb, type Server } from '../support/mongo';
import { cleanupDirs, emptyDir, synthIn } from '../support/synth';
import { freePort, startSshd, type Sshd } from '../rsync/sshd';
import { crontabSpool } from '../rsync/world';
import { freeNodePort, Lab, LOCATIONS, OLD_HOSTS, ROUTES, startBackends, type Backends, type Echo } from '../cutover/support/lab';

// The whole migration day, rehearsed against real parts (issue 20): a real nginx with a production-shaped config for
// both domains (every location of FIELD-NOTES, `/` -> janus_r's dead port included, TLS, comments, an upstream, an
// include), the old stack's "containers" as local processes (the old app writing to a FerretDB that plays the Docker
// MongoDB 4.0; the old Janus backends), an uploads tree, a real sshd as the data node, the lab control plane, and the
// new backends on the NodePorts (the new app writing to another FerretDB that plays mongodb-0). STAND-INS, because
// nothing real can run here: docker (no engine; test/migration/shims/docker runs the real programs as the containers'
// processes) and `kubectl exec` (no kubelet; test/mongo-backup/shims/kubectl runs the real tools locally). While the
// day runs, a client keeps writing through the old app (then the new one), a load of connection-per-request HTTP
// goes through nginx, and WebSockets stay open on the old Janus until drain waits for them.

const USER = 'root';
const PASSWORD = `rehearsal-${process.pid}`;
const cluster = useCluster();
let sshd: Sshd;
let dnsmasq: ChildProcess;
let dnsPort: number;
let newDb: Server;
let newApp: ChildProcess;
let lab: Lab;
let backends: Backends[] = [];
const dir = emptyDir('roomler-rehearsal-');
const containers = join(dir, 'containers');
const node = join(dir, 'node');
const podSecrets = join(dir, 'pod-secrets');
const SHIMS = [join(__dirname, 'shims'), join(__dirname, '..', 'mongo-backup', 'shims')];

/** A line-by-line reader of a child's output (for the app processes' {"ready"} line). */
const firstLine = (child: ChildProcess) => new Promise<string>((res) => createInterface({ input: child.stdout! }).once('line', res));

/** An old "container": a start script the docker stand-in runs, and where it listens. */
function container(name: string, host: string, port: number, script: string) {
  writeFileSync(join(containers, `${name}.start`), `#!/bin/bash\ncd '${ROOT}'\n${script}\n`, { mode: 0o600 });
  writeFileSync(join(containers, `${name}.port`), `${host} ${port}\n`);
  const r = spawnSync(join(__dirname, 'shims', 'docker'), ['start', name], { env: { ...process.env, SHIM_CONTAINERS: containers }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`starting ${name}: ${r.stderr}`);
}

/** Backends from several processes as one (the lab needs one ports map). */
function combine(list: Backends[]): Backends {
  return {
    ports: Object.assign({}, ...list.map((b) => b.ports)),
    get events() {
      return list.flatMap((b) => b.events);
    },
    heldBy: (name, count) => Promise.race(list.map((b) => b.heldBy(name, count))),
    release: () => list.forEach((b) => b.release()),
    stop: async () => void (await Promise.all(list.map((b) => b.stop()))),
  };
}

beforeAll(async () => {
  for (const d of [containers, node, podSecrets]) mkdirSync(d, { recursive: true });
  writeFileSync(join(podSecrets, 'MONGO_INITDB_ROOT_USERNAME'), USER);
  writeFileSync(join(podSecrets, 'MONGO_INITDB_ROOT_PASSWORD'), PASSWORD);
  mkdirSync(join(dir, 'sshd'));
  sshd = await startSshd(join(dir, 'sshd'));
  dnsPort = await freePort();
  dnsmasq = spawn('/usr/sbin/dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${dnsPort}`, ...['roomler.live', 'janus.roomler.live', 'turn.roomler.live'].map((n) => `--host-record=${n},127.0.0.1`)], { stdio: 'ignore' });

  // The old MongoDB ("container" mongo): a FerretDB with the Roomler data, its root user as in the old container.
  const oldDbPort = await freePort();
  const oldData = join(dir, 'old-db');
  mkdirSync(oldData);
  container('mongo', '127.0.0.1', oldDbPort, `export FERRETDB_SETUP_USERNAME='${USER}' FERRETDB_SETUP_PASSWORD='${PASSWORD}' FERRETDB_SETUP_DATABASE=admin\nexec '${ferretdbBin()}' --handler=sqlite --sqlite-url=file:${oldData}/ --state-dir=${oldData} --listen-addr=127.0.0.1:${oldDbPort} --debug-addr=- --telemetry=disable --log-level=warn --test-enable-new-auth`);
  const oldUri = `mongodb://${USER}:${PASSWORD}@127.0.0.1:${oldDbPort}/admin`;
  await seedRoomler({ uri: oldUri });
  // The old app (r00mler2) writes there; the old Janus (janus_r) is its own process of backends.
  const oldAppPort = await freePort();
  container('r00mler2', OLD_HOSTS.app.ip, oldAppPort, `export MONGO_URI='${oldUri}'\nexec node --require tsx/cjs test/migration/app.ts '{"name":"old:app","host":"${OLD_HOSTS.app.ip}","port":${oldAppPort}}'`);
  const janusOld = await startBackends(ROUTES.filter((r) => r.key !== 'app').map((r) => ({ name: `old:${r.key}`, port: 0 as const, host: OLD_HOSTS.janus.ip })), { routes: false });
  writeFileSync(join(containers, 'janus_r.start'), '#!/bin/bash\n# started by the test (its backends process)\nexit 1\n');
  writeFileSync(join(containers, 'janus_r.pid'), `${janusOld.pid}\n`);
  const janusNew = await startBackends(ROUTES.filter((r) => r.key !== 'app' && r.backend === r.key).map((r) => ({ name: `new:${r.key}`, port: 'nodeport' as const })), { routes: false });
  backends = [janusOld, janusNew];

  // The new side: mongodb-0's FerretDB and the new app on its NodePort.
  newDb = await startServer({ user: USER, password: PASSWORD });
  const appPort = await freeNodePort();
  newApp = spawn('node', ['--require', 'tsx/cjs', join(__dirname, 'app.ts'), JSON.stringify({ name: 'new:app', host: '127.0.0.1', port: appPort })], { cwd: ROOT, env: { ...process.env, MONGO_URI: newDb.uri }, stdio: ['ignore', 'pipe', 'inherit'] });
  await firstLine(newApp);

  const all = combine([...backends, { ports: { 'old:app': oldAppPort, 'new:app': appPort }, events: [], heldBy: () => new Promise(() => undefined), release: () => undefined, stop: async () => undefined }]);
  const uploads = join(dir, 'docker-uploads');
  mkdirSync(join(uploads, 'avatars'), { recursive: true });
  for (let n = 0; n < 40; n++) writeFileSync(join(uploads, 'avatars', `user-${n}.png`), Buffer.alloc(1000 + n * 97, n));
  lab = await Lab.create(all, {
    appExtra: `uploads: { hostPath: "${node}/data/uploads" }`,
    projectExtra: [
      `mongodb: { port: ${newDb.port}, hostPath: "${node}/data/mongodb" }`,
      `backups: { volume: { hostPath: "${node}/data/backup" } }`,
      `migrate: { mongo: { container: mongo, port: ${oldDbPort} }, uploads: { source: "${uploads}" } }`,
      `ssh: { host: 127.0.0.1, port: ${sshd.port}, user: root, keyPath: "${sshd.keyPath}", knownHostsFile: "${sshd.knownHostsFile}" }`,
      `backup: { basePath: "${dir}/backups", keep: 3 }`,
      `doctor: { publicIp: 127.0.0.1, dnsServer: "127.0.0.1:${dnsPort}" }`,
      '',
    ].join('\n'),
  }).then((l) => l);
}, 180_000);

afterAll(async () => {
  dnsmasq?.kill();
  newApp?.kill();
  for (const name of ['r00mler2', 'mongo']) spawnSync(join(__dirname, 'shims', 'docker'), ['stop', name], { env: { ...process.env, SHIM_CONTAINERS: containers } });
  await lab?.stop();
  await Promise.all(backends.map((b) => b.stop()));
  await sshd?.stop();
  await stopServers();
  cleanupDirs();
});

interface Outcome {
  readonly t0: number;
  readonly t1: number;
  readonly ok: boolean;
  readonly what: string;
}

/** One request through nginx on a fresh connection (connection-per-request, as browsers after a reload). */
function request(site: string, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const tls = site === 'janus.roomler.live';
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      { host: '127.0.0.1', port: tls ? lab.janusListen : lab.appListen, path, method, agent: false, headers: { Host: site, Connection: 'close' }, servername: tls ? site : undefined, rejectUnauthorized: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Load and writes through nginx until stopped: every outcome with its start and end time. */
function traffic() {
  const outcomes: Outcome[] = [];
  const acked: number[] = [];
  let stop = false;
  let id = 0;
  const record = async (what: string, f: () => Promise<boolean>) => {
    const t0 = Date.now();
    const ok = await f().catch(() => false);
    outcomes.push({ t0, t1: Date.now(), ok, what });
  };
  const http = LOCATIONS.filter((l) => !l.ws);
  const loops = [
    ...[0, 1, 2].map(async (w) => {
      for (let n = w; !stop; n++) {
        const l = http[n % http.length];
        await record(`GET ${l.site}${l.path}`, async () => (await request(l.site, l.path)).status < 500);
        // Paced (each loop up to ~40 requests/s, a new TLS connection each): enough to see any failure in a
        // window of well under a second; the saturating load is test/cutover/load.test.ts's.
        await new Promise((r) => setTimeout(r, 25));
      }
    }),
    (async () => {
      while (!stop) {
        const n = ++id;
        await record(`write ${n}`, async () => {
          const r = await request('roomler.live', `/write?id=${n}`, 'POST');
          if (r.status === 200) acked.push(n);
          return r.status === 200;
        });
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
  ];
  return { outcomes, acked, stop: async () => ((stop = true), await Promise.all(loops)) };
}

/** `bin/roomler migrate run --yes` as an operator's automation runs it, in a private crontab namespace. */
function runDay(onLine: (line: string) => void) {
  const cron = crontabSpool();
  const env = {
    ...process.env,
    ...cluster.env,
    PATH: `${SHIMS.join(':')}:${mongoPath()}:${process.env.PATH}`,
    ROOMLER_PROJECT_DIR: lab.project,
    MONGO_ROOT_USERNAME: USER,
    MONGO_ROOT_PASSWORD: PASSWORD,
    COTURN_AUTH_SECRET: 'rehearsal-turn-secret',
    JANUS_ADMIN_SECRET: 'rehearsal-janus-admin',
    SHIM_REAL_KUBECTL: join(labBin(), 'kubectl'),
    SHIM_POD_SECRET_DIR: podSecrets,
    SHIM_CONTAINER: 'mongo',
    SHIM_CONTAINERS: containers,
  };
  const child = spawn(cron.wrap[0], [...cron.wrap.slice(1), ROOMLER, 'migrate', 'run', '--yes'], { cwd: ROOT, env });
  let out = '';
  for (const s of [child.stdout, child.stderr]) createInterface({ input: s }).on('line', (l) => ((out += `${l}\n`), onLine(l)));
  return { env, cron, done: new Promise<{ code: number | null; out: string }>((res) => child.on('close', (code) => res({ code, out }))) };
}

/** The write-free windows the run announced, from its own log lines. */
const windows = (out: string) => {
  const opens = [...out.matchAll(/write-free window opens at (\S+):/g)].map((m) => Date.parse(m[1]));
  const closes = [...out.matchAll(/write-free window closes at (\S+) /g)].map((m) => Date.parse(m[1]));
  return opens.map((t, n) => [t, closes[n] ?? Infinity] as const);
};

/** The job of the first backup, as the kubelet would run it (kwok runs none): the real script against mongodb-0. */
function runBackupJob() {
  const r = spawnSync('bash', [join(ROOT, 'lib', 'scripts', 'mongodb-backup.sh')], {
    env: { ...process.env, PATH: mongoPath(), HOME: emptyDir(), TMPDIR: emptyDir(), BACKUP_DIR: join(node, 'data', 'backup'), DATABASE: 'roomlerdb', MONGO_HOST: newDb.host, SECRET_DIR: podSecrets, SCRIPTS_DIR: join(ROOT, 'lib', 'scripts'), KEEP: '7' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`the backup job's script failed: ${r.stdout}${r.stderr}`);
}

describe('the migration day, rehearsed end to end (bin/roomler migrate run)', () => {
  it('moves everything with no acknowledged write lost, no failed request outside the write-free window, calls kept until drained; a run that fails in the switch resumes and ends the same', async () => {
    const s = synthIn(lab.project, {});
    expect(s.code, s.stderr).toBe(0);
    expect(spawnSync(ROOMLER, ['migrate', 'plan'], { env: { ...process.env, ROOMLER_PROJECT_DIR: lab.project }, encoding: 'utf8' }).stdout).toMatch(/^7\. switch: /m);

    const calls: Echo[] = await Promise.all([lab.ws('/janus_ws'), lab.ws('/janus_ws'), lab.ws('/janus_admin')]);
    const callErrors: string[] = [];
    const callCheck = setInterval(() => {
      for (const c of calls.filter((x) => x.open)) c.say('ping').then((r) => r.startsWith('old:') || callErrors.push(r), (e: Error) => callErrors.push(e.message));
    }, 500);
    const load = traffic();

    // Run 1: the new MongoDB goes down right after the bulk copy: the switch's final sync fails, the old app is
    // started again, and the run stops at that step.
    const first = runDay((line) => {
      if (line.startsWith('step copy-mongo: done')) void newDb.stop();
    });
    const r1 = await first.done;
    expect(r1.code, r1.out).toBe(1);
    expect(r1.out).toMatch(/step switch: FAILED/);
    expect(r1.out).toMatch(/started r00mler2 again: the old stack serves/);
    expect(await lab.serving()).toEqual(Lab.all('old'));
    newDb = await startServer({ user: USER, password: PASSWORD, dataDir: newDb.dataDir, port: newDb.port });

    // Run 2 resumes at the switch; drain waits for the calls, which end one by one; the first backup job runs.
    let closing = false;
    const second = runDay((line) => {
      if (!closing && /established connections from nginx: .*janus_r [1-9]/.test(line)) {
        closing = true;
        setTimeout(() => calls.forEach((c) => c.close()), 500);
      }
      if (/waiting for job roomler\/mongodb-backup-first-/.test(line)) runBackupJob();
    });
    const r2 = await second.done;
    clearInterval(callCheck);
    await load.stop();
    expect(r2.code, r2.out).toBe(0);
    for (const id of ['prerequisites', 'prepare-node', 'copy-uploads', 'deploy', 'copy-mongo', 'test-internal']) expect(r2.out).toMatch(new RegExp(`step ${id}: done .*\\(not repeated`));
    for (const id of ['switch', 'test-external', 'drain', 'backups']) expect(r2.out).toMatch(new RegExp(`^step ${id}: done in `, 'm'));

    // No acknowledged write is lost: each is in the new database.
    const ids = await withDb(newDb, async (d) => (await d.collection<{ _id: number }>('writes').find({}, { projection: { _id: 1 } }).toArray()).map((x) => x._id));
    const stored = new Set(ids);
    expect(load.acked.length).toBeGreaterThan(50);
    expect(load.acked.filter((n) => !stored.has(n))).toEqual([]);
    // Writes before and after the switch: both apps wrote some.
    const by = await withDb(newDb, (d) => d.collection('writes').aggregate<{ _id: string }>([{ $group: { _id: '$by', n: { $sum: 1 } } }]).toArray());
    expect(by.map((x) => x._id).sort()).toEqual(['new:app', 'old:app']);

    // Failures only inside the windows both runs announced, and only on the app (Janus's routes never failed).
    const announced = [...windows(r1.out), ...windows(r2.out)];
    expect(announced).toHaveLength(2);
    const outside = load.outcomes.filter((o) => !o.ok && !announced.some(([a, b]) => o.t1 >= a && o.t0 <= b + 1000));
    expect(outside.map((o) => o.what)).toEqual([]);
    expect(load.outcomes.filter((o) => !o.ok && o.what.includes('janus.roomler.live'))).toEqual([]);
    expect(load.outcomes.length).toBeGreaterThan(500);

    // The calls stayed on the old Janus until drain waited for them; then the old containers were stopped.
    expect(callErrors).toEqual([]);
    expect(r2.out).toMatch(/^drain: nginx -t passes with r00mler2, janus_r unresolvable/m);
    const inspect = (name: string) => spawnSync(join(__dirname, 'shims', 'docker'), ['inspect', '--format', '{{.State.Running}}', name], { env: { ...process.env, SHIM_CONTAINERS: containers }, encoding: 'utf8' }).stdout.trim();
    expect(['r00mler2', 'mongo'].map(inspect)).toEqual(['false', 'false']);
    expect(await lab.serving()).toEqual(Lab.all('new'));

    // Backups: the schedule is installed, and the snapshots verify.
    expect(second.cron.read()).toMatch(/bin\/roomler' backup run --log /);
    const verify = spawnSync(ROOMLER, ['backup', 'verify'], { env: second.env, encoding: 'utf8' });
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);

    // The report says what happened, and status agrees.
    expect(r2.out).toMatch(/^ {2}switch +done +\S+ s +switched; write-free window \d+\.\d s$/m);
    expect(r2.out).toMatch(/^ {2}write-free window: \d+\.\d s \(old app stopped until nginx served the new one\)$/m);
    // Before stopping the app, the switch announces the window it expects from the bulk copy's measured duration.
    expect(r2.out).toMatch(/answers 502 for about \d+ s \(the write-free window: the bulk copy took \d+\.\d s, the cutover ~1 s\)/);
    const status = spawnSync(ROOMLER, ['migrate', 'status'], { env: second.env, encoding: 'utf8' });
    expect(status.stdout.match(/ done /g)).toHaveLength(10);
    expect(status.stdout).toMatch(/every step is done/);
    const state = JSON.parse(readFileSync(join(dir, 'backups', 'migration', 'state.json'), 'utf8'));
    expect(state.steps.switch.figures.writeFreeWindowMs).toBeGreaterThan(0);
  }, 300_000);
});

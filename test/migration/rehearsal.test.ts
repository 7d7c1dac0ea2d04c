import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../hack/lib/process/run';
import { type Echo, Lab } from '../cutover/support/lab';
import { labBin, useCluster } from '../support/cluster';
import { type Dns, startDnsmasq } from '../support/dnsmasq';
import { cleanupDirs, emptyDir } from '../support/files';
import { mongoPath, stopServers, withDb } from '../support/mongo';
import { ROOMLER, ROOT } from '../support/roomler';
import { type Sshd, startSshd } from '../support/sshd';
import { synthIn } from '../support/synth';
import { byWindow, seconds, windows, World } from './support/world';

// The whole migration day, rehearsed against real parts: the world of support/world.ts (a real nginx with a
// production-shaped config for both domains, the old stack's containers as local processes, the new side on its
// NodePorts), plus an uploads tree, a real sshd as the data node, dnsmasq for the app's names and the lab control
// plane. While the day runs, a client keeps writing through nginx, three more send requests to every location, and
// WebSockets stay open on the old Janus until drain waits for them.

const cluster = useCluster();
let sshd: Sshd;
let dns: Dns;
let world: World;

beforeAll(async () => {
  const dir = emptyDir('roomler-rehearsal-');
  mkdirSync(join(dir, 'sshd'));
  sshd = await startSshd(join(dir, 'sshd'));
  dns = await startDnsmasq({ 'roomler.live': '127.0.0.1', 'janus.roomler.live': '127.0.0.1', 'turn.roomler.live': '127.0.0.1' });
  const uploads = join(dir, 'docker-uploads');
  mkdirSync(join(uploads, 'avatars'), { recursive: true });
  for (let n = 0; n < 40; n++) writeFileSync(join(uploads, 'avatars', `user-${n}.png`), Buffer.alloc(1000 + n * 97, n));
  world = await World.start({
    oplog: true,
    uploads,
    appExtra: ({ node }) => `uploads: { hostPath: "${node}/data/uploads" }`,
    projectExtra: ({ node }) =>
      [
        `backups: { volume: { hostPath: "${node}/data/backup" } }`,
        `ssh: { host: 127.0.0.1, port: ${sshd.port}, user: root, keyPath: "${sshd.keyPath}", knownHostsFile: "${sshd.knownHostsFile}" }`,
        `doctor: { publicIp: 127.0.0.1, dnsServer: "${dns.server}" }`,
      ].join('\n'),
  });
}, 180_000);

afterAll(async () => {
  dns?.stop();
  await world?.stop();
  await sshd?.stop();
  await stopServers();
  cleanupDirs();
});

/** `bin/roomler migrate run --yes` with the lab cluster's kubectl behind the kubectl stand-in. */
const runDay = (onLine: (line: string) => void) =>
  world.migrate(['run', '--yes'], onLine, { ...cluster.env, SHIM_REAL_KUBECTL: join(labBin(), 'kubectl') });

/**
 * The job of the first backup, as the kubelet would run it (kwok runs none): the real script against mongodb-0. Not
 * spawnSync: the test's own traffic runs in this process, and a blocked event loop would time its requests out.
 */
async function runBackupJob(): Promise<void> {
  const r = await run('bash', [join(ROOT, 'lib', 'scripts', 'mongodb-backup.sh')], {
    env: {
      ...process.env,
      PATH: mongoPath(),
      HOME: emptyDir(),
      TMPDIR: emptyDir(),
      BACKUP_DIR: join(world.node, 'data', 'backup'),
      DATABASE: 'roomlerdb',
      MONGO_HOST: world.newDb.host,
      SECRET_DIR: world.podSecrets,
      SCRIPTS_DIR: join(ROOT, 'lib', 'scripts'),
      KEEP: '7',
    },
    timeoutMs: 120_000,
  });
  if (r.exitCode !== 0) throw new Error(`the backup job's script failed: ${r.stdout}${r.stderr}`);
}

describe('the migration day, rehearsed end to end (bin/roomler migrate run)', () => {
  it('refuses a switch that could fail before anything stops; then moves everything with no acknowledged write lost, 503 with Retry-After inside a window of seconds and no failure outside it, calls kept until drained', async () => {
    const { lab } = world;
    const s = synthIn(lab.project, {});
    expect(s.code, s.stderr).toBe(0);
    const plan = spawnSync(ROOMLER, ['migrate', 'plan'], {
      env: { ...process.env, ROOMLER_PROJECT_DIR: lab.project },
      encoding: 'utf8',
    }).stdout;
    expect(plan).toMatch(/^7\. switch: /m);
    const inspect = (name: string) => world.running(name);

    const calls: Echo[] = await Promise.all([lab.ws('/janus_ws'), lab.ws('/janus_ws'), lab.ws('/janus_admin')]);
    const callErrors: string[] = [];
    const callCheck = setInterval(() => {
      for (const c of calls.filter((x) => x.open))
        c.say('ping').then(
          (r) => r.startsWith('old:') || callErrors.push(r),
          (e: Error) => callErrors.push(e.message),
        );
    }, 500);
    const load = world.traffic();

    // Run 1: an unrelated include breaks right before the switch (someone's edit), while the step before it runs (it
    // does not read nginx's files; the switch's first check is only that step's few seconds away, so the edit is made
    // as it starts). The switch proves nginx -t before anything stops: it is refused, the old app never stopped, no
    // window opened, nothing was written.
    const broken = join(lab.confDir, 'zz-unrelated.conf');
    let before: Record<string, string> = {};
    const first = runDay((line) => {
      if (/^== step \d+\/\d+ test-internal:/.test(line)) {
        writeFileSync(broken, `# a colleague's half-finished edit\ninclude ${lab.dir}/snippets/not-written-yet.conf;\n`);
        before = lab.confBytes();
      }
    });
    const r1 = await first.done;
    expect(r1.code, r1.out).toBe(1);
    // Step 1 already said what happens to the admin locations while the admin API is off (the default).
    expect(r1.out).toMatch(
      /^ {2}note: janus\.roomler\.live\/janus_admin_http: retired \(the Janus admin API is off \(janus\.admin\.enabled: false\)\): nginx answers 403 there itself/m,
    );
    expect(r1.out).toMatch(/step switch failed: .*\n(.*\n)*.*nginx -t fails before any change: .*not-written-yet\.conf/);
    expect(r1.out).not.toMatch(/write-free window opens/);
    expect(lab.confBytes()).toEqual(before);
    expect(inspect('r00mler2')).toBe('true');
    rmSync(broken);

    // Run 2: the new MongoDB is down: the final copy cannot work, which the pre-sync finds while the old app serves.
    await world.newDbDown();
    const r2 = await runDay(() => undefined).done;
    expect(r2.code, r2.out).toBe(1);
    expect(r2.out).toMatch(/step switch failed: .*roomler\/mongodb-0 failed .*(ECONNREFUSED|connection refused)/);
    expect(r2.out).not.toMatch(/write-free window opens/);
    expect(inspect('r00mler2')).toBe('true');
    await world.newDbUp();

    // Run 3 resumes at the switch and completes the day; drain waits for the calls, which end one by one; the first
    // backup job runs.
    let closing = false;
    let backupJob: Promise<void> | undefined;
    const third = runDay((line) => {
      if (!closing && /established connections from nginx: .*janus_r [1-9]/.test(line)) {
        closing = true;
        setTimeout(() => calls.forEach((c) => c.close()), 500);
      }
      if (/waiting for job roomler\/mongodb-backup-first-/.test(line)) {
        // Awaited after the day; handled now so a failure is reported there, not as an unhandled rejection.
        backupJob ??= runBackupJob();
        backupJob.catch(() => undefined);
      }
    });
    const r3 = await third.done;
    await backupJob;
    clearInterval(callCheck);
    await load.stop();
    expect(r3.code, r3.out).toBe(0);
    for (const id of ['prerequisites', 'prepare-node', 'copy-uploads', 'deploy', 'copy-mongo', 'test-internal'])
      expect(r3.out).toMatch(new RegExp(`step ${id}: done .*\\(not repeated`));
    for (const id of ['switch', 'test-external', 'drain', 'backups']) expect(r3.out).toMatch(new RegExp(`^step ${id}: done in `, 'm'));

    // No acknowledged write is lost: each is in the new database. Both apps wrote some.
    const ids = await withDb(world.newDb, async (d) =>
      (
        await d
          .collection<{ _id: number }>('writes')
          .find({}, { projection: { _id: 1 } })
          .toArray()
      ).map((x) => x._id),
    );
    const stored = new Set(ids);
    expect(load.acked.length).toBeGreaterThan(50);
    expect(load.acked.filter((n) => !stored.has(n))).toEqual([]);
    const by = await withDb(world.newDb, (d) =>
      d
        .collection('writes')
        .aggregate<{ _id: string }>([{ $group: { _id: '$by', n: { $sum: 1 } } }])
        .toArray(),
    );
    expect(by.map((x) => x._id).sort()).toEqual(['new:app', 'old:app']);

    // One window, of seconds, announced beforehand from what it measured, and no longer than announced (+20 %).
    const announced = [...windows(r1.out), ...windows(r2.out), ...windows(r3.out)];
    expect(announced).toHaveLength(1);
    const m = /write-free window closes at \S+ \((\S+ s); announced about (\S+ s)\)/.exec(r3.out);
    expect(m, r3.out).not.toBeNull();
    const [took, promised] = [seconds(m![1]), seconds(m![2])];
    const switchLog = r3.out.slice(r3.out.indexOf('== step 7/10 switch'), r3.out.indexOf('step switch: done'));
    expect(took, switchLog).toBeLessThanOrEqual(10);
    expect(took, switchLog).toBeLessThanOrEqual(promised * 1.2);
    expect(r3.out).toMatch(
      /answers 503 with Retry-After for about \d+\.\d s \(measured now: final sync ~\d+\.\d s copying only what the oplog names, nginx reload and checks ~\d+\.\d s/,
    );
    // The old MongoDB keeps an oplog: the window copied only what it named since the last pre-sync pass.
    expect(switchLog).toMatch(/^ {2}pre-sync 3 \(what the final sync will do\): read container mongo's oplog in \d+\.\d s: \d+ entries/m);
    expect(switchLog).toMatch(
      /^final sync: read container mongo's oplog in \d+\.\d s: \d+ entries since the previous pass name \d+ document/m,
    );
    // Inside the window the app's requests were told to come back (503 with Retry-After), never shown an error; outside
    // it nothing failed; Janus's routes never failed.
    const { inside, outside } = byWindow(load.outcomes, announced[0]);
    expect(outside.map((o) => `${o.what}: ${o.got}`)).toEqual([]);
    expect(inside.filter((o) => !/^503 Retry-After \d+$/.test(o.got ?? '')).map((o) => `${o.what}: ${o.got}`)).toEqual([]);
    expect(inside.length).toBeGreaterThan(0);
    expect(load.outcomes.filter((o) => !o.ok && o.what.includes('janus.roomler.live'))).toEqual([]);
    expect(load.outcomes.length).toBeGreaterThan(500);
    // The final sync's inventories, both sides, in the log.
    expect(r3.out).toMatch(/^ {2}writes +\d+ [0-9a-f]{16} +\d+ [0-9a-f]{16} +\+\d+ ~0 -0$/m);

    // The calls stayed on the old Janus until drain waited for them; then the old containers were stopped.
    expect(callErrors).toEqual([]);
    expect(r3.out).toMatch(/^drain: nginx -t passes with r00mler2, janus_r unresolvable/m);
    expect(['r00mler2', 'mongo'].map(inspect)).toEqual(['false', 'false']);
    expect(await lab.serving()).toEqual(Lab.all('new', { retired: true }));

    // Backups: the schedule is installed, and the snapshots verify.
    expect(third.cron.read()).toMatch(/bin\/roomler' backup run --log /);
    const verify = spawnSync(ROOMLER, ['backup', 'verify'], { env: third.env, encoding: 'utf8' });
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);

    // The report says what happened, and status agrees.
    expect(r3.out).toMatch(/^ {2}switch +done +\S+ s +switched; write-free window \d+\.\d s \(announced about \d+\.\d s\)$/m);
    expect(r3.out).toMatch(
      /^ {2}write-free window: \d+\.\d s \(the app answered 503 with Retry-After until nginx served the new one; announced about \d+\.\d s\)$/m,
    );
    const status = spawnSync(ROOMLER, ['migrate', 'status'], { env: third.env, encoding: 'utf8' });
    expect(status.stdout.match(/ done /g)).toHaveLength(10);
    expect(status.stdout).toMatch(/every step is done/);
    const state = JSON.parse(readFileSync(join(world.dir, 'backups', 'migration', 'state.json'), 'utf8'));
    expect(state.steps.switch.figures.writeFreeWindowMs).toBeGreaterThan(0);
  }, 300_000);
});

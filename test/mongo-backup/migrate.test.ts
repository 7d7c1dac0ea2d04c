import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Binary, BSONRegExp, Double, Int32, Long, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { pidOf, waitForPid, watchArgv } from '../support/argv-watch';
import { labBin, useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir, projectWith } from '../support/files';
import { contents, mongoPath, rawDocuments, SEED, seedRoomler, type Server, startServer, stopServers, withDb } from '../support/mongo';
import { ROOMLER } from '../support/roomler';

// `bin/roomler migrate mongo` with the real mongodump/mongorestore 100.18.0 and mongosh 2.12.0, a FerretDB as the old
// Docker MongoDB and another as the new mongodb-0, and a real lab API server (test/support/cluster.ts) for every kubectl
// call but one. SHIMS (shims/): `kubectl exec` and `docker exec` cannot work here (kwok runs no containers, there is no
// Docker engine), so those two run the given command locally, with the real tools, and nothing else.

const SHIMS = join(__dirname, 'shims');
const CONTAINER = 'roomler-mongo';
// Every character that has broken a quoting layer somewhere: YAML, URI, shell, JSON, .env.
const SOURCE_PASSWORD = `o"ld\\'s $HOME:/@ pw-${process.pid}`;
const TARGET_PASSWORD = `n"ew\\'s $(id):/@ pw-${process.pid}`;
const SECRETS = [SOURCE_PASSWORD, TARGET_PASSWORD].flatMap((p) => [p, encodeURIComponent(p)]);

const cluster = useCluster();
let source: Server;
beforeAll(async () => {
  source = await startServer({ user: 'root', password: SOURCE_PASSWORD });
  await seedRoomler(source);
}, 120_000);
afterAll(async () => {
  await stopServers();
  cleanupDirs();
});

/** A fresh target (the mongodb-0 pod's server, its credential files) and the command's environment. */
async function scenario(opts: { source?: Server; targetDataDir?: string } = {}) {
  const from = opts.source ?? source;
  const target = await startServer({ user: 'admin', password: TARGET_PASSWORD, dataDir: opts.targetDataDir });
  const pod = emptyDir('roomler-pod-secrets-');
  writeFileSync(join(pod, 'MONGO_INITDB_ROOT_USERNAME'), 'admin');
  writeFileSync(join(pod, 'MONGO_INITDB_ROOT_PASSWORD'), `${TARGET_PASSWORD}\n`); // a Secret made from a file ends with a newline
  const tmp = emptyDir('roomler-migrate-tmp-');
  const home = emptyDir('roomler-migrate-home-');
  const project = projectWith({
    'roomler.yaml': `mongodb:\n  port: ${target.port}\nmigrate:\n  mongo:\n    container: ${CONTAINER}\n    port: ${from.port}\n`,
  });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${SHIMS}:${mongoPath()}`,
    HOME: home,
    TMPDIR: tmp,
    KUBECONFIG: cluster.state.kubeconfig,
    ROOMLER_PROJECT_DIR: project,
    MONGO_ROOT_USERNAME: 'root',
    MONGO_ROOT_PASSWORD: SOURCE_PASSWORD,
    SHIM_REAL_KUBECTL: join(labBin(), 'kubectl'),
    SHIM_POD_SECRET_DIR: pod,
    SHIM_CONTAINER: CONTAINER,
  };
  return { target, tmp, env };
}

/**
 * Runs the command to its end, scanning every process's argv for the passwords meanwhile; `during` acts on the run.
 * A run that has not ended after 45 s (the slowest here takes ~15 s) is killed and reported as hung.
 */
async function migrate(env: NodeJS.ProcessEnv, args: string[] = [], during?: () => Promise<void>) {
  const child = spawn(ROOMLER, ['migrate', 'mongo', '--yes', ...args], { env, detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // This run's mongorestore, not another test file's: its --config lies in the scratch directory under this TMPDIR.
  const watch = watchArgv(SECRETS, `--config=${env.TMPDIR}/`);
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* ended meanwhile */
    }
  }, 45_000);
  const code = new Promise<number>((res) => child.on('close', (c) => res(c ?? -1)));
  await during?.();
  const exit = await code;
  clearTimeout(watchdog);
  const { leaks, seen } = watch.stop();
  const all = stdout + stderr;
  if (process.env.DEBUG_MIGRATE) console.log(all);
  expect(hung, `the migration hung:\n${all}`).toBe(false);
  expect(leaks).toEqual([]);
  for (const secret of SECRETS) expect(all).not.toContain(secret);
  return { code: exit, stdout, stderr, seen };
}

const totalDocs = (c: Awaited<ReturnType<typeof contents>>) => Object.values(c).reduce((a, v) => a + v.count, 0);

describe('bin/roomler migrate mongo (real tools against FerretDB, real API server; kubectl exec and docker exec shimmed)', () => {
  it('copies a realistic database, verifies counts and index definitions, and keeps both passwords out of every argv', async () => {
    const { target, tmp, env } = await scenario();
    const r = await migrate(env);
    expect(r.code, r.stderr).toBe(0);
    // The confirmation names the real lab cluster (kubectl.connect talked to its API server).
    expect(r.stdout).toMatch(/kubectl context: roomler-lab\n\s+API server:\s+https:\/\/127\.0\.0\.1:\d+\n/);
    expect(r.stdout).toMatch(
      new RegExp(
        `^migrate mongo: OK 4 collections, ${SEED.documents} documents and 11 indexes in roomler/mongodb-0 match what mongodump read from roomler-mongo$`,
        'm',
      ),
    );
    expect(r.stdout).not.toMatch(/arrived on the source/);
    expect(await contents(target)).toEqual(await contents(source));
    expect(r.seen).toBeGreaterThan(0);
    // Nothing but tsx's own compile cache: the archive never touched the disk, the config files are gone.
    expect(readdirSync(tmp).filter((f) => !f.startsWith('tsx-'))).toEqual([]);
  });

  it('refuses a target that already holds documents, and streams nothing', async () => {
    const { target, env } = await scenario();
    await withDb(target, (d) => d.collection('users').insertMany([1, 2, 3, 4, 5].map((i) => ({ i }))));
    const r = await migrate(env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /target roomlerdb in roomler\/mongodb-0 already holds 5 documents in 1 collection\(s\); nothing was changed\. Re-run with --force/,
    );
    expect(totalDocs(await contents(target))).toBe(5);
  });

  it('replaces a non-empty target only with --force', async () => {
    const { target, env } = await scenario();
    await withDb(target, (d) => d.collection('users').insertMany([1, 2, 3, 4, 5].map((i) => ({ email: `old${i}` }))));
    const r = await migrate(env, ['--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/database:\s+roomlerdb in roomler\/mongodb-0 \(replaced: --force\)/);
    expect(await contents(target)).toEqual(await contents(source));
  });

  it('fails when the index definitions differ (an empty target whose collection the app already indexed its own way)', async () => {
    const { target, env } = await scenario();
    await withDb(target, async (d) => (await d.createCollection('users')).createIndex({ lastSeen: -1 }));
    const r = await migrate(env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /the target does not match the dump:\n\s+users: indexes differ: source \[.*"email_1".*\], target \[.*"lastSeen_-1".*\]/,
    );
  });

  it('says how many documents arrived on the source after its dump started', async () => {
    const live = await startServer({ user: 'root', password: SOURCE_PASSWORD });
    await seedRoomler(live);
    const { target, env } = await scenario({ source: live });
    // A writer already connected, inserting 300 messages the moment mongodump runs.
    const go = join(emptyDir(), 'go');
    const writer = withDb(live, async (d) => {
      await d.command({ ping: 1 });
      while (!existsSync(go)) await sleep(5);
      await d.collection('messages').insertMany(Array.from({ length: 300 }, (_, i) => ({ late: i })));
    });
    const r = await migrate(env, [], async () => {
      await waitForPid('mongodump', `127.0.0.1:${live.port}`);
      writeFileSync(go, '');
    });
    await writer;
    expect(r.code, r.stderr).toBe(0);
    const m = r.stdout.match(
      /^migrate mongo: (\d+) documents arrived on the source after the dump started \(count before the dump vs after the restore: messages \+(\d+)\); the target may lack them: stop the writers and run a final sync/m,
    );
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(Number(m![2]));
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThanOrEqual(300);
    // The target holds exactly what the dump read: the seed, and maybe some of the late ones.
    const messages = (await contents(target)).messages.count;
    expect(messages).toBeGreaterThanOrEqual(SEED.messages);
    expect(messages).toBeLessThanOrEqual(SEED.messages + 300);
  });

  describe('stops with the failing side named, and never hangs', () => {
    it('the old MongoDB refuses the password', async () => {
      const { target, env } = await scenario();
      const r = await migrate({ ...env, MONGO_ROOT_PASSWORD: `wrong ${SOURCE_PASSWORD}` });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the inventory in container roomler-mongo failed \(exit 1\): MongoServerError: Authentication failed\./);
      expect(totalDocs(await contents(target))).toBe(0);
    });

    it('the target is unreachable', async () => {
      const { target, env } = await scenario();
      await target.stop();
      const r = await migrate(env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`the inventory in roomler/mongodb-0 failed \\(exit 1\\): MongoNetworkError: connect ECONNREFUSED ${target.host}`),
      );
      expect(r.seen).toBe(0);
    });

    it('the target disk fills up (a 1 MiB tmpfs)', async () => {
      const disk = emptyDir('roomler-full-disk-');
      const mnt = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk], { encoding: 'utf8' });
      expect(mnt.status, `mounting a tmpfs needs root: ${mnt.stderr}`).toBe(0);
      let target: Server | undefined;
      try {
        mkdirSync(join(disk, 'data'));
        const s = await scenario({ targetDataDir: join(disk, 'data') });
        target = s.target;
        const env = s.env;
        const r = await migrate(env);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /mongorestore in roomler\/mongodb-0 failed \(exit 1\): Failed: roomlerdb\.\w+: .*database or disk is full/,
        );
        expect(pidOf('mongodump', `127.0.0.1:${source.port}`)).toBeUndefined();
      } finally {
        await target?.stop();
        spawnSync('umount', [disk]);
      }
    });

    it('mongorestore is killed mid-stream: mongodump is stopped too', async () => {
      const { env } = await scenario();
      const r = await migrate(
        env,
        [],
        async () => void process.kill(await waitForPid('mongorestore', `--config=${env.TMPDIR}/`), 'SIGKILL'),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /mongorestore in roomler\/mongodb-0 failed \(exit 137, killed by SIGKILL\)(; mongodump was stopped)?; the target keeps what mongorestore inserted so far \(re-run with --force to replace it\)/,
      );
      expect(pidOf('mongodump', `127.0.0.1:${source.port}`)).toBeUndefined();
    });

    it('mongodump is killed mid-stream: mongorestore is stopped too', async () => {
      const { env } = await scenario();
      const r = await migrate(env, [], async () => void process.kill(await waitForPid('mongodump', `127.0.0.1:${source.port}`), 'SIGKILL'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /mongodump in container roomler-mongo failed \(killed by SIGKILL\); mongorestore was stopped; the target keeps/,
      );
      expect(pidOf('mongorestore', `--config=${env.TMPDIR}/`)).toBeUndefined();
    });
  });

  it('lists missing credentials before touching anything', async () => {
    const { env } = await scenario();
    const { MONGO_ROOT_USERNAME: _u, MONGO_ROOT_PASSWORD: _p, ...without } = env;
    const r = await migrate(without);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing MONGO_ROOT_USERNAME, MONGO_ROOT_PASSWORD/);
    expect(r.seen).toBe(0);
  });
});

/** Every document of every collection as raw BSON, sorted: two databases hold the same bytes or they differ here. */

describe('bin/roomler migrate mongo --sync: only what differs is copied, then both sides are proven equal', () => {
  it('copies inserts, updates and deletes, a new collection and one whose indexes changed, any _id type, every BSON type byte-exact', async () => {
    const live = await startServer({ user: 'root', password: SOURCE_PASSWORD });
    await seedRoomler(live);
    const { target, env } = await scenario({ source: live });
    const bulk = await migrate(env);
    expect(bulk.code, bulk.stderr).toBe(0);
    // What the old app does after the bulk copy: new messages, edited users, expired sessions, a new collection, a new
    // index; documents whose _id is a string, an int32, an int64; values of every type FerretDB stores (it has no
    // decimal128, minKey or maxKey) that mongorestore must keep exact: a double 1.0 next to an int32 1 and an int64 1.
    await withDb(live, async (d) => {
      await d.collection('messages').insertMany(Array.from({ length: 50 }, (_, i) => ({ late: i, content: `after the bulk copy ${i}` })));
      const users = await d.collection('users').find({}).limit(30).toArray();
      for (const u of users) await d.collection('users').updateOne({ _id: u._id }, { $set: { lastSeen: new Date(1800000000000) } });
      const sessions = await d.collection('sessions').find({}).limit(20).toArray();
      await d.collection('sessions').deleteMany({ _id: { $in: sessions.map((s) => s._id) } });
      await d.collection('audit').insertMany([
        { _id: 'login:1' as never, at: new Date() },
        { _id: 7 as never, n: new Int32(7) },
        { _id: Long.fromString('9007199254740993') as never, big: true },
      ]);
      await d.collection('audit').createIndex({ at: 1 });
      await d.collection('rooms').createIndex({ members: 1 });
      await d.collection('typed').insertOne({
        d: new Double(1),
        i: new Int32(1),
        l: Long.fromNumber(1),
        bin: new Binary(Buffer.from([0, 1, 2]), 4),
        re: new BSONRegExp('^a', 'i'),
        t: new Timestamp({ t: 1, i: 2 }),
        nested: { a: [1, 'two', null, { b: true }] },
      });
    });
    const r = await migrate(env, ['--sync']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /read container roomler-mongo and roomler\/mongodb-0 in \d+\.\d s: \d+ documents; \d+ to copy or delete in 6 collection\(s\)/,
    );
    expect(r.stdout).toMatch(/^users +500 [0-9a-f]{16} +500 [0-9a-f]{16} +\+0 ~30 -0$/m);
    expect(r.stdout).toMatch(/^sessions +20 [0-9a-f]{16} +20 [0-9a-f]{16} +\+0 ~0 -20$/m);
    expect(r.stdout).toMatch(/^messages +6050 [0-9a-f]{16} +6050 [0-9a-f]{16} +\+50 ~0 -0$/m);
    expect(r.stdout).toMatch(/^rooms .* copied whole: its index definitions differ$/m);
    expect(r.stdout).toMatch(/^audit .* copied whole: the target lacks the collection$/m);
    expect(r.stdout).toMatch(
      /^migrate mongo: OK 6 collections, \d+ documents: roomler\/mongodb-0 equals container roomler-mongo \(counts, indexes, fingerprints\)/m,
    );
    // The test's own look: the same bytes, the same indexes.
    expect(await rawDocuments(target)).toEqual(await rawDocuments(live));
    expect(await contents(target)).toEqual(await contents(live));
    // Nothing left to do: a second run reads both sides and copies nothing.
    const again = await migrate(env, ['--sync']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/; 0 to copy or delete in 0 collection\(s\)/);
    expect(again.stdout).toMatch(/0 change\(s\) copied/);
  });
});

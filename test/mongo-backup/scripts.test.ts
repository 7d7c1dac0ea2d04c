import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../hack/lib/process/ports';
import { ARCHIVE_NAME, type ArchiveManifest } from '../../lib/config/mongo-backup';
import { SCRIPTS_DIR } from '../../lib/constructs/mongodb-backup-cronjobs';
import { pidOf, watchArgv } from '../support/argv-watch';
import { cleanupDirs, emptyDir } from '../support/files';
import { contents, mongoPath, SEED, seedRoomler, type Server, startServer, stopServers, withDb } from '../support/mongo';

// The very scripts the CronJobs mount, run with real bash, gzip, sha256sum, find and flock AND the real MongoDB tools:
// mongosh 2.12.0, mongodump/mongorestore 100.18.0, against FerretDB v1.24.2 (test/support/mongo.ts). No stand-ins.

const USER = 'root';
// Every character that has broken a quoting layer somewhere: YAML, URI, shell, JSON.
const PASSWORD = `p"a\\s's $x:/@ w-${process.pid}`;
let server: Server;

beforeAll(async () => {
  server = await startServer({ user: USER, password: PASSWORD });
  await seedRoomler(server);
}, 120_000);
afterAll(async () => {
  await stopServers();
  cleanupDirs();
});

function setup(host = server.host) {
  const dir = emptyDir('roomler-backup-');
  const [backup, secrets, home] = ['backup', 'secrets', 'home'].map((d) => join(dir, d));
  for (const d of [backup, secrets, home]) mkdirSync(d);
  writeFileSync(join(secrets, 'MONGO_INITDB_ROOT_USERNAME'), USER);
  writeFileSync(join(secrets, 'MONGO_INITDB_ROOT_PASSWORD'), PASSWORD);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: mongoPath(),
    HOME: home, // the CronJobs set HOME to their writable /tmp (test/charts)
    TMPDIR: dir,
    BACKUP_DIR: backup,
    DATABASE: 'roomlerdb',
    MONGO_HOST: host,
    SECRET_DIR: secrets,
    SCRIPTS_DIR,
    KEEP: '7',
    MAX_AGE_HOURS: '25',
    MIN_BYTES: '4096',
    MIN_ARCHIVES: '1',
  };
  return { dir, backup, secrets, env };
}
const script = (name: string) => join(SCRIPTS_DIR, name);
const run = (name: string, env: NodeJS.ProcessEnv) => spawnSync('bash', [script(name)], { env, encoding: 'utf8' });
/** Runs a script in the background (its own process group), resolving with its exit code and output. */
function spawnScript(name: string, env: NodeJS.ProcessEnv) {
  const child = spawn('bash', [script(name)], { env, detached: true });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((res) => child.on('close', (code) => res({ code, out })));
  return { child, done };
}
const archives = (backup: string) =>
  readdirSync(backup)
    .filter((f) => ARCHIVE_NAME.test(f))
    .sort();
const manifestOf = (backup: string, archive: string): ArchiveManifest =>
  JSON.parse(readFileSync(join(backup, archive.replace('.archive.gz', '.manifest.json')), 'utf8'));
const stamp = (hoursAgo: number) =>
  new Date(Date.now() - hoursAgo * 3600_000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
/** A finished archive as the backup job leaves it, taken `hoursAgo` (for the verify and pruning rules only). */
function seed(backup: string, hoursAgo: number, bytes = 8192) {
  const base = `roomlerdb-${stamp(hoursAgo)}`;
  const gz = spawnSync('bash', ['-c', `head -c ${bytes} /dev/urandom | base64 -w0 | gzip -1`], { encoding: 'buffer' }).stdout;
  writeFileSync(join(backup, `${base}.archive.gz`), gz);
  writeFileSync(
    join(backup, `${base}.manifest.json`),
    JSON.stringify({
      database: 'roomlerdb',
      createdAt: '',
      collections: {},
      indexes: {},
      bytes: gz.length,
      sha256: createHash('sha256').update(gz).digest('hex'),
    }),
  );
  return base;
}
async function waitFor<T>(what: string, check: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
/** Exactly one line, the job's FAIL line, and no credential in it. */
function expectOneFailLine(out: string, line: RegExp) {
  expect(out.trim().split('\n')).toHaveLength(1);
  expect(out).toMatch(line);
  for (const secret of [PASSWORD, encodeURIComponent(PASSWORD)]) expect(out).not.toContain(secret);
}

describe('mongodb-backup.sh (real mongosh and mongodump against FerretDB)', () => {
  it('writes a complete archive and a manifest with the counts and index definitions it holds', async () => {
    const { backup, env, dir } = setup();
    const r = run('mongodb-backup.sh', env);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const [archive] = archives(backup);
    expect(archive).toMatch(/^roomlerdb-\d{8}T\d{6}Z\.archive\.gz$/);
    const bytes = readFileSync(join(backup, archive));
    const db = await contents(server);
    expect(manifestOf(backup, archive)).toEqual({
      database: 'roomlerdb',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      collections: Object.fromEntries(Object.entries(db).map(([c, v]) => [c, v.count])),
      indexes: Object.fromEntries(Object.entries(db).map(([c, v]) => [c, v.indexes])),
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(Object.values(db).reduce((a, v) => a + v.count, 0)).toBe(SEED.documents);
    expect(spawnSync('gzip', ['-t', join(backup, archive)]).status).toBe(0);
    expect(readdirSync(backup).filter((f) => f.endsWith('.partial'))).toEqual([]);
    // The credentials file mongodump read is gone with the work directory.
    expect(readdirSync(dir).filter((f) => f.startsWith('tmp.'))).toEqual([]);
    expect(r.stdout).toMatch(
      new RegExp(
        `^mongodb-backup: OK roomlerdb-\\d{8}T\\d{6}Z\\.archive\\.gz 4 collections, ${SEED.documents} documents, 11 indexes bytes=\\d+ sha256=[0-9a-f]{64} kept=1\n$`,
      ),
    );
    expect(r.stderr).toBe('');
  });

  it('never puts the credentials on a command line (reads /proc/*/cmdline while it runs)', async () => {
    const { backup, env } = setup();
    const job = spawnScript('mongodb-backup.sh', env);
    const watch = watchArgv([PASSWORD, encodeURIComponent(PASSWORD)], `--archive=${backup}/`);
    const { code, out } = await job.done;
    const { leaks, seen } = watch.stop();
    expect(code, out).toBe(0);
    expect(seen).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
    expect(archives(backup)).toHaveLength(1);
  });

  describe('every failure ends with one line naming the step, the exit code and the reason; the last good archive stays', () => {
    // The last good archive each failing run must leave alone: one real backup, made once, copied into each
    // scenario's directory (its bytes and names are what the job wrote).
    let good: { name: string; bytes: Buffer }[] = [];
    let goodAt = 0;
    beforeAll(() => {
      const { backup, env } = setup();
      const r = run('mongodb-backup.sh', env);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      good = readdirSync(backup)
        .sort()
        .map((name) => ({ name, bytes: readFileSync(join(backup, name)) }));
      goodAt = Date.now();
    });

    /** The last good archive in place, then the failing run (`before` it, `during` it); returns its output. */
    async function failing(
      s: ReturnType<typeof setup>,
      o: { env?: NodeJS.ProcessEnv; before?: () => Promise<void>; during?: () => Promise<void> } = {},
    ) {
      for (const g of good) writeFileSync(join(s.backup, g.name), g.bytes);
      await sleep(Math.max(0, goodAt + 1100 - Date.now())); // a new stamp (seconds) for the failing run
      await o.before?.();
      const job = spawnScript('mongodb-backup.sh', o.env ?? s.env);
      await o.during?.();
      const { code, out } = await job.done;
      expect(code).toBe(1);
      expect(readdirSync(s.backup).sort()).toEqual(good.map((g) => g.name));
      for (const g of good) expect(readFileSync(join(s.backup, g.name)).equals(g.bytes), g.name).toBe(true);
      return out;
    }

    it('wrong password', async () => {
      const s = setup();
      const out = await failing(s, {
        before: async () => writeFileSync(join(s.secrets, 'MONGO_INITDB_ROOT_PASSWORD'), 'not-the-password'),
      });
      expectOneFailLine(out, /^mongodb-backup: FAIL step=inventory tool=mongosh exit=1: MongoServerError: Authentication failed\.$/m);
    });

    it('server down', async () => {
      const down = `127.0.0.1:${await freePort()}`; // nothing listens there
      const out = await failing(setup(down));
      expectOneFailLine(
        out,
        new RegExp(`^mongodb-backup: FAIL step=inventory tool=mongosh exit=1: MongoNetworkError: connect ECONNREFUSED ${down}$`, 'm'),
      );
    });

    it('disk full (a 200 KiB tmpfs: room for one archive, not two)', async () => {
      const s = setup();
      const mnt = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', s.backup], { encoding: 'utf8' });
      expect(mnt.status, `mounting a tmpfs needs root: ${mnt.stderr}`).toBe(0);
      try {
        const out = await failing(s);
        expectOneFailLine(
          out,
          /^mongodb-backup: FAIL step=dump tool=mongodump exit=1: Failed: archive writer: .*no space left on device$/m,
        );
      } finally {
        spawnSync('umount', [s.backup]);
      }
    });

    it('mongodump killed', async () => {
      const s = setup();
      const out = await failing(s, {
        during: async () => void process.kill(await waitFor('mongodump', () => pidOf('mongodump', s.backup)), 'SIGKILL'),
      });
      expectOneFailLine(out, /^mongodb-backup: FAIL step=dump tool=mongodump exit=137: killed by SIGKILL$/m);
    });

    it('mongosh prints a warning on stdout (unwritable HOME): the manifest does not parse and the job fails', async () => {
      const s = setup();
      const out = await failing(s, { env: { ...s.env, HOME: '/dev/null/home' } });
      expectOneFailLine(
        out,
        /^mongodb-backup: FAIL step=manifest tool=mongosh exit=1: the inventory mongosh printed does not parse as one JSON line .*: Warning: Could not access file: ENOTDIR/m,
      );
    });
  });

  it('filters the connection string mongo-tools print on errors (the real mongodump, a uri with the password)', () => {
    const { dir, env } = setup();
    const config = join(dir, 'dump.yaml');
    writeFileSync(
      config,
      `uri: "mongodb://${encodeURIComponent(USER)}:${encodeURIComponent('wrong' + PASSWORD)}@${server.host}/?authSource=admin"\n`,
    );
    const r = spawnSync(
      'bash',
      [
        '-c',
        `JOB=test; work=$(mktemp -d); . "$SCRIPTS_DIR/mongodb-steps.sh"; step dump mongodump --config="$1" --db=roomlerdb --archive="$work/x"`,
        'test',
        config,
      ],
      { env, encoding: 'utf8' },
    );
    expect(r.status).toBe(1);
    const raw = readFileSync(
      join(
        dir,
        readdirSync(dir).find((f) => f.startsWith('tmp.'))!,
        'dump.err',
      ),
      'utf8',
    );
    expect(raw).toContain(encodeURIComponent(PASSWORD)); // what the tool itself prints
    expect(r.stdout).toMatch(
      new RegExp(
        `^test: FAIL step=dump tool=mongodump exit=1: Failed: can't create session: failed to connect to mongodb://<credentials>@${server.host}/\\?authSource=admin: .*Authentication failed\\.\\n$`,
      ),
    );
    expect(r.stdout).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('a run killed half-way leaves only a .partial, prunes nothing, and the next run removes it', async () => {
    const { backup, env } = setup();
    const older = Array.from({ length: 8 }, (_, n) => seed(backup, 24 * (n + 1)));
    const before = archives(backup);
    const job = spawnScript('mongodb-backup.sh', env);
    await waitFor('the .partial archive', () => (readdirSync(backup).some((f) => f.endsWith('.archive.gz.partial')) ? true : undefined));
    process.kill(-job.child.pid!, 'SIGKILL');
    await job.done;
    expect(readdirSync(backup).some((f) => f.endsWith('.archive.gz.partial'))).toBe(true);
    expect(archives(backup)).toEqual(before); // no new complete-looking archive, and no pruning
    expect(older.every((b) => existsSync(join(backup, `${b}.manifest.json`)))).toBe(true);
    const r = run('mongodb-backup.sh', env);
    expect(r.status, r.stdout).toBe(0);
    expect(readdirSync(backup).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(archives(backup)).toHaveLength(7);
  });

  it('keeps exactly KEEP newest by the stamp in the name, whatever the file mtimes say', () => {
    const { backup, env } = setup();
    const seeded = [30, 2, 100, 50, 75, 10, 200, 150, 5].map((h) => seed(backup, h));
    for (const b of seeded.slice(0, 4)) spawnSync('touch', ['-d', '2001-01-01', join(backup, `${b}.archive.gz`)]);
    const r = run('mongodb-backup.sh', { ...env, KEEP: '3' });
    expect(r.status, r.stdout).toBe(0);
    const kept = archives(backup);
    // The new archive plus the two newest seeded ones (2 h and 5 h old), though those have the oldest mtimes.
    expect(kept).toHaveLength(3);
    expect(kept).toContain(`${seeded[1]}.archive.gz`);
    expect(kept).toContain(`${seeded[8]}.archive.gz`);
    expect(kept.filter((k) => !seeded.includes(k.replace('.archive.gz', '')))).toHaveLength(1);
    expect(readdirSync(backup).filter((f) => f.endsWith('.manifest.json'))).toHaveLength(3);
  });

  it('refuses to run while another run holds the lock', () => {
    const { backup, env } = setup();
    const holder = spawn('flock', [join(backup, '.lock'), 'sleep', '3']);
    spawnSync('sleep', ['0.3']);
    const r = run('mongodb-backup.sh', env);
    holder.kill();
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^mongodb-backup: FAIL step=lock: another run holds .*\.lock\n$/);
    expect(archives(backup)).toEqual([]);
  });
});

describe('mongodb-backup-verify.sh', () => {
  const verify = (env: NodeJS.ProcessEnv) => run('mongodb-backup-verify.sh', env);

  it('passes a fresh, complete archive and prints one status line', () => {
    const { backup, env } = setup();
    seed(backup, 3);
    const r = verify(env);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^mongodb-backup-verify: OK newest=roomlerdb-\d{8}T\d{6}Z\.archive\.gz age=3h bytes=\d+ archives=1\n$/);
  });

  const failures: [string, (backup: string, env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv | void, RegExp][] = [
    ['missing', () => undefined, /FAIL missing: no roomlerdb-\*\.archive\.gz/],
    ['stale by its name (30 h)', (b) => void seed(b, 30), /FAIL stale: newest .* is 30h old \(limit 25h\)/],
    [
      'truncated',
      (b) => {
        const base = seed(b, 1, 65536);
        const f = join(b, `${base}.archive.gz`);
        writeFileSync(f, readFileSync(f).subarray(0, 5000));
      },
      /FAIL truncated or corrupt: gzip -t fails/,
    ],
    [
      'corrupted (checksum differs from the manifest)',
      (b) => {
        const base = seed(b, 1);
        const m = join(b, `${base}.manifest.json`);
        writeFileSync(m, readFileSync(m, 'utf8').replace(/"sha256":"[0-9a-f]{4}/, '"sha256":"0000'));
      },
      /FAIL checksum mismatch/,
    ],
    [
      'too small',
      (b, env) => {
        seed(b, 1, 1024);
        return { ...env, MIN_BYTES: '100000' };
      },
      /FAIL too small: .* bytes \(floor 100000\)/,
    ],
    [
      'too few archives',
      (b, env) => {
        seed(b, 1);
        return { ...env, MIN_ARCHIVES: '3' };
      },
      /FAIL too few archives: 1 \(expected at least 3\)/,
    ],
    [
      'no manifest',
      (b) => {
        const base = seed(b, 1);
        spawnSync('rm', [join(b, `${base}.manifest.json`)]);
      },
      /FAIL no manifest for/,
    ],
  ];
  for (const [name, prepare, message] of failures) {
    it(`fails when the newest archive is ${name}`, () => {
      const { backup, env } = setup();
      const r = verify(prepare(backup, env) ?? env);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(message);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
    });
  }
});

describe('writes during the dump, and mongodb-restore-test.sh (a FerretDB as the throw-away server)', () => {
  /** The restore test against a fresh FerretDB without auth, as the job's scratch mongod. */
  async function restoreTest(env: NodeJS.ProcessEnv) {
    const scratch = await startServer();
    const { SECRET_DIR: _, ...noSecrets } = env; // the restore-test CronJob has no credentials mounted
    const r = await spawnScript('mongodb-restore-test.sh', { ...noSecrets, RESTORE_HOST: scratch.host, SCRATCH_DIR: emptyDir() }).done;
    return { ...r, scratch };
  }

  it('the manifest counts what the archive holds while the database takes writes; the restore test passes on it', async () => {
    const live = await startServer({ user: USER, password: PASSWORD });
    await seedRoomler(live);
    const { backup, env } = setup(live.host);
    // A writer inserting messages until told to stop, started before the job.
    const stop = join(emptyDir(), 'stop');
    const writer = withDb(live, async (d) => {
      let i = 0;
      while (!existsSync(stop)) {
        await d.collection('messages').insertOne({ live: i++, createdAt: new Date() });
        await sleep(5);
      }
      return i;
    });
    let countBefore: number;
    while ((countBefore = (await contents(live)).messages.count) <= SEED.messages) await sleep(20);
    const job = await spawnScript('mongodb-backup.sh', env).done;
    writeFileSync(stop, '');
    const written = await writer;
    expect(job.code, job.out).toBe(0);
    const [archive] = archives(backup);
    const manifest = manifestOf(backup, archive);
    // Counts taken before the dump would be lower than what the archive holds.
    expect(manifest.collections.messages).toBeGreaterThan(countBefore);
    expect(manifest.collections.messages).toBeLessThanOrEqual(SEED.messages + written);
    const r = await restoreTest(env);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toBe(
      `mongodb-restore-test: OK ${archive} restored 4 collections, ${SEED.documents + manifest.collections.messages - SEED.messages} documents, 11 indexes as its manifest says\n`,
    );
    expect((await contents(r.scratch)).messages.count).toBe(manifest.collections.messages);
  });

  it('fails when the archive lacks documents its manifest counts, or an index', async () => {
    const { backup, env } = setup();
    expect(run('mongodb-backup.sh', env).status).toBe(0);
    const [archive] = archives(backup);
    const file = join(backup, archive.replace('.archive.gz', '.manifest.json'));
    const manifest = manifestOf(backup, archive);
    writeFileSync(file, JSON.stringify({ ...manifest, collections: { ...manifest.collections, messages: SEED.messages + 1 } }));
    let r = await restoreTest(env);
    expect(r.code).toBe(1);
    expectOneFailLine(
      r.out,
      new RegExp(
        `^mongodb-restore-test: FAIL step=compare tool=mongosh exit=1: ${archive}: messages: restored ${SEED.messages}, manifest says ${SEED.messages + 1}$`,
        'm',
      ),
    );
    writeFileSync(
      file,
      JSON.stringify({
        ...manifest,
        indexes: { ...manifest.indexes, users: [...manifest.indexes.users, { key: { lastSeen: -1 }, name: 'lastSeen_-1' }] },
      }),
    );
    r = await restoreTest(env);
    expect(r.code).toBe(1);
    expectOneFailLine(
      r.out,
      /^mongodb-restore-test: FAIL step=compare tool=mongosh exit=1: .*users: restored indexes .*, manifest says .*lastSeen_-1/m,
    );
  });

  it('fails with the restore step when the archive does not restore', async () => {
    const { backup, env } = setup();
    expect(run('mongodb-backup.sh', env).status).toBe(0);
    const [archive] = archives(backup);
    const f = join(backup, archive);
    writeFileSync(f, readFileSync(f).subarray(0, 20_000));
    const r = await restoreTest(env);
    expect(r.code).toBe(1);
    expectOneFailLine(r.out, /^mongodb-restore-test: FAIL step=restore tool=mongorestore exit=1: Failed: /m);
  });
});

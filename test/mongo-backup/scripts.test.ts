import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ARCHIVE_NAME } from '../../lib/config/mongo-backup';
import { SCRIPTS_DIR } from '../../lib/constructs/mongodb-backup-cronjobs';
import { watchArgv } from '../support/argv-watch';
import { cleanupDirs, emptyDir } from '../support/synth';

afterAll(cleanupDirs);

// The very scripts the CronJobs mount, run locally with real bash, gzip, sha256sum, find and flock. Only
// mongodump and mongosh are stand-ins (MongoDB cannot run here); the stand-in mongosh runs the real
// mongodb-counts.js, and the stand-in mongodump writes real gzip archives.
const STANDINS = join(__dirname, 'standins');
const USER = 'root';
const PASSWORD = `p@ss:w/rd sentinel-${process.pid}-${Date.now()}`;

function setup(collections: Record<string, number> = { messages: 1200, rooms: 40, users: 300 }) {
  const dir = emptyDir('roomler-backup-');
  const backup = join(dir, 'backup');
  const secrets = join(dir, 'secrets');
  mkdirSync(backup);
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'MONGO_INITDB_ROOT_USERNAME'), USER);
  writeFileSync(join(secrets, 'MONGO_INITDB_ROOT_PASSWORD'), PASSWORD);
  const env = {
    ...process.env,
    PATH: `${STANDINS}:${process.env.PATH}`,
    TMPDIR: dir,
    BACKUP_DIR: backup,
    DATABASE: 'roomlerdb',
    MONGO_HOST: 'mongodb:27017',
    SECRET_DIR: secrets,
    SCRIPTS_DIR,
    KEEP: '7',
    MAX_AGE_HOURS: '25',
    MIN_BYTES: '4096',
    MIN_ARCHIVES: '1',
    STANDIN_USER: USER,
    STANDIN_PASSWORD: PASSWORD,
    STANDIN_USERINFO: `${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}`,
    STANDIN_COLLECTIONS: JSON.stringify(collections),
    STANDIN_DUMP_BYTES: '65536',
  };
  return { dir, backup, env };
}
const script = (name: string) => join(SCRIPTS_DIR, name);
const run = (name: string, env: NodeJS.ProcessEnv) => spawnSync('bash', [script(name)], { env, encoding: 'utf8' });
const archives = (backup: string) => readdirSync(backup).filter((f) => ARCHIVE_NAME.test(f)).sort();
const stamp = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
/** A finished archive as the backup job leaves it, taken `hoursAgo`. */
function seed(backup: string, hoursAgo: number, bytes = 8192) {
  const base = `roomlerdb-${stamp(hoursAgo)}`;
  const gz = spawnSync('bash', ['-c', `head -c ${bytes} /dev/urandom | base64 -w0 | gzip -1`], { encoding: 'buffer' }).stdout;
  writeFileSync(join(backup, `${base}.archive.gz`), gz);
  writeFileSync(join(backup, `${base}.manifest.json`), JSON.stringify({ database: 'roomlerdb', createdAt: '', collections: {}, bytes: gz.length, sha256: createHash('sha256').update(gz).digest('hex') }));
  return base;
}

describe('mongodb-backup.sh (stand-in mongodump/mongosh)', () => {
  it('writes a complete, checked archive and a manifest with counts, size and sha256', () => {
    const { backup, env, dir } = setup();
    const r = run('mongodb-backup.sh', env);
    expect(r.status, r.stderr).toBe(0);
    const [archive] = archives(backup);
    expect(archive).toMatch(/^roomlerdb-\d{8}T\d{6}Z\.archive\.gz$/);
    const bytes = readFileSync(join(backup, archive));
    const manifest = JSON.parse(readFileSync(join(backup, archive.replace('.archive.gz', '.manifest.json')), 'utf8'));
    expect(manifest).toEqual({ database: 'roomlerdb', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), collections: { messages: 1200, rooms: 40, users: 300 }, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(spawnSync('gzip', ['-t', join(backup, archive)]).status).toBe(0);
    expect(readdirSync(backup).filter((f) => f.endsWith('.partial'))).toEqual([]);
    // The credentials file mongodump read is gone with the work directory.
    expect(readdirSync(dir).filter((f) => f.startsWith('tmp.'))).toEqual([]);
    expect(r.stdout).toMatch(/mongodb-backup: OK roomlerdb-\d{8}T\d{6}Z\.archive\.gz/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('never puts the credentials on a command line (reads /proc/*/cmdline while the dump runs)', async () => {
    const { backup, env } = setup();
    const child = spawn('bash', [script('mongodb-backup.sh')], { env: { ...env, STANDIN_DUMP_BYTES: '163840', STANDIN_CHUNK_SLEEP: '0.2' } });
    const watch = watchArgv([PASSWORD, encodeURIComponent(PASSWORD)], 'mongodump');
    const done = new Promise<number>((res) => child.on('exit', (code) => res(code ?? -1)));
    expect(await done).toBe(0);
    const { leaks, seen } = watch.stop();
    expect(seen).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
    expect(archives(backup)).toHaveLength(1);
  });

  it('a dump killed with SIGKILL half-way leaves nothing that looks complete and prunes nothing', async () => {
    const { backup, env } = setup();
    const older = Array.from({ length: 8 }, (_, n) => seed(backup, 24 * (n + 1)));
    const before = archives(backup);
    const child = spawn('bash', [script('mongodb-backup.sh')], { env: { ...env, STANDIN_DUMP_BYTES: '1048576', STANDIN_CHUNK_SLEEP: '0.1' }, detached: true });
    const deadline = Date.now() + 15_000;
    while (!readdirSync(backup).some((f) => f.endsWith('.archive.gz.partial')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    expect(readdirSync(backup).some((f) => f.endsWith('.archive.gz.partial'))).toBe(true);
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(archives(backup)).toEqual(before); // no new complete-looking archive, and no pruning
    expect(older.every((b) => existsSync(join(backup, `${b}.manifest.json`)))).toBe(true);
    // The next run discards the partial file and succeeds; only then does it prune to KEEP.
    const r = run('mongodb-backup.sh', env);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(backup).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(archives(backup)).toHaveLength(7);
  });

  it('keeps exactly KEEP newest by the stamp in the name, whatever the file mtimes say', () => {
    const { backup, env } = setup();
    const seeded = [30, 2, 100, 50, 75, 10, 200, 150, 5].map((h) => seed(backup, h));
    // Make the newest-by-name files look oldest on disk: mtime must not matter.
    for (const b of seeded.slice(0, 4)) spawnSync('touch', ['-d', '2001-01-01', join(backup, `${b}.archive.gz`)]);
    const r = run('mongodb-backup.sh', { ...env, KEEP: '3' });
    expect(r.status, r.stderr).toBe(0);
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
    expect(r.stderr).toMatch(/another run holds/);
    expect(archives(backup)).toEqual([]);
  });

  it('fails without writing anything when MongoDB rejects the credentials', () => {
    const { backup, env } = setup();
    const r = run('mongodb-backup.sh', { ...env, STANDIN_PASSWORD: 'other' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Authentication failed/);
    expect(readdirSync(backup).filter((f) => !f.startsWith('.'))).toEqual([]);
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
    ['truncated', (b) => { const base = seed(b, 1, 65536); const f = join(b, `${base}.archive.gz`); writeFileSync(f, readFileSync(f).subarray(0, 5000)); }, /FAIL truncated or corrupt: gzip -t fails/],
    ['corrupted (checksum differs from the manifest)', (b) => { const base = seed(b, 1); const m = join(b, `${base}.manifest.json`); writeFileSync(m, readFileSync(m, 'utf8').replace(/"sha256":"[0-9a-f]{4}/, '"sha256":"0000')); }, /FAIL checksum mismatch/],
    ['too small', (b, env) => { seed(b, 1, 1024); return { ...env, MIN_BYTES: '100000' }; }, /FAIL too small: .* bytes \(floor 100000\)/],
    ['too few archives', (b, env) => { seed(b, 1); return { ...env, MIN_ARCHIVES: '3' }; }, /FAIL too few archives: 1 \(expected at least 3\)/],
    ['no manifest', (b) => { const base = seed(b, 1); spawnSync('rm', [join(b, `${base}.manifest.json`)]); }, /FAIL no manifest for/],
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

describe('mongodb-restore-test.sh (stand-in mongod/mongorestore/mongosh)', () => {
  function restoreEnv(restored: Record<string, number>) {
    const { backup, env, dir } = setup({ messages: 1200, users: 300 });
    expect(run('mongodb-backup.sh', env).status).toBe(0);
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'mongod'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    // mongorestore reads the real archive and checks it is a complete gzip stream.
    writeFileSync(join(bin, 'mongorestore'), '#!/bin/sh\nfor a; do case "$a" in --archive=*) gzip -t "${a#--archive=}" || exit 1;; esac; done\n', { mode: 0o755 });
    return { env: { ...env, PATH: `${bin}:${env.PATH}`, SCRATCH_DIR: join(dir, 'scratch'), STANDIN_COLLECTIONS: JSON.stringify(restored), STANDIN_PASSWORD: '' }, backup };
  }

  it('passes when the restored counts equal the manifest', () => {
    const { env } = restoreEnv({ messages: 1200, users: 300 });
    const r = run('mongodb-restore-test.sh', env);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/OK .* restored counts \{"messages":1200,"users":300\}/);
  });

  it('fails when a collection lost documents', () => {
    const { env } = restoreEnv({ messages: 1100, users: 300 });
    const r = run('mongodb-restore-test.sh', env);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL .* restored \{"messages":1100,"users":300\}, manifest says \{"messages":1200,"users":300\}/);
  });
});

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { watchArgv } from '../support/argv-watch';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOMLER } from '../support/cli';
import { cleanupDirs, emptyDir, projectWith } from '../support/synth';

afterAll(cleanupDirs);

// `npm run migrate -- mongo` against stand-in docker and kubectl executables (no Docker engine or cluster
// here) that run stand-in mongodump/mongorestore/mongosh and pipe real gzip archive bytes.
const ROOT = join(__dirname, '..', '..');
const STANDINS = join(__dirname, 'standins');
const SOURCE_PASSWORD = `old-sentinel-${process.pid}-${Date.now()}`;
const TARGET_PASSWORD = `new-sentinel-${process.pid}-${Date.now()}`;
const SOURCE_COUNTS = '{"messages":1200,"rooms":40,"users":300}';

function scenario(opts: { target?: string; restored?: string } = {}) {
  const state = emptyDir('roomler-migrate-');
  const tmp = emptyDir('roomler-migrate-tmp-');
  if (opts.target) writeFileSync(join(state, 'target.json'), opts.target);
  const project = projectWith({ '.env': `MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=${SOURCE_PASSWORD}\nDOCKER_MONGO_CONTAINER=roomler-mongo\n` });
  const env = {
    ...process.env,
    PATH: `${STANDINS}:${process.env.PATH}`,
    TMPDIR: tmp,
    ROOMLER_PROJECT_DIR: project,
    STANDIN_STATE: state,
    STANDIN_CONTAINER: 'roomler-mongo',
    STANDIN_NAMESPACE: 'roomler',
    STANDIN_SOURCE_USER: 'root',
    STANDIN_SOURCE_PASSWORD: SOURCE_PASSWORD,
    STANDIN_SOURCE_COUNTS: SOURCE_COUNTS,
    STANDIN_TARGET_USER: 'admin',
    STANDIN_TARGET_PASSWORD: TARGET_PASSWORD,
    STANDIN_DUMP_BYTES: '262144',
    STANDIN_CHUNK_SLEEP: '0.1',
    ...(opts.restored ? { STANDIN_RESTORED_COUNTS: opts.restored } : {}),
  };
  return { state, tmp, env };
}

/** Runs the command, scanning every process's argv for the two passwords while it runs. */
async function migrate(env: NodeJS.ProcessEnv, ...args: string[]) {
  const child = spawn(ROOMLER, ['migrate', 'mongo', '--yes', ...args], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const watch = watchArgv([SOURCE_PASSWORD, TARGET_PASSWORD]);
  const code = await new Promise<number>((res) => child.on('exit', (c) => res(c ?? -1)));
  const { leaks } = watch.stop();
  return { code, stdout, stderr, leaks };
}

describe('npm run migrate -- mongo (stand-in docker and kubectl)', () => {
  it('streams the dump into mongorestore without a temp file, verifies counts, and keeps passwords out of argv', async () => {
    const { state, tmp, env } = scenario();
    const r = await migrate(env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/migrate mongo: OK 3 collections, 1540 documents in roomler\/mongodb-0 match roomler-mongo/);
    const sent = readFileSync(join(state, 'sent.gz'));
    const received = readFileSync(join(state, 'received.gz'));
    expect(sent.length).toBeGreaterThan(100_000);
    expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(sent).digest('hex'));
    // Nothing but tsx's own compile cache: the archive never touched the disk on the way.
    expect(readdirSync(tmp).filter((f) => !f.startsWith('tsx-'))).toEqual([]);
    expect(r.leaks).toEqual([]);
    const calls = readFileSync(join(state, 'calls'), 'utf8');
    expect(calls).toMatch(/docker exec -i roomler-mongo mongodump --username=root --password --authenticationDatabase=admin --db=roomlerdb --archive --gzip/);
    expect(calls).toMatch(/mongorestore --config=\S+ --username=admin .*--archive --gzip --nsInclude=roomlerdb\.\*\n/);
    expect(calls).not.toMatch(/--drop/);
  });

  it('refuses a target that already holds data, and streams nothing', async () => {
    const { state, env } = scenario({ target: '{"users":5}' });
    const r = await migrate(env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/target roomlerdb in roomler\/mongodb-0 already holds 5 documents in 1 collection\(s\); nothing was changed\. Re-run with --force/);
    expect(existsSync(join(state, 'sent.gz'))).toBe(false);
    expect(readFileSync(join(state, 'target.json'), 'utf8')).toBe('{"users":5}');
  });

  it('replaces a non-empty target only with --force (mongorestore --drop)', async () => {
    const { state, env } = scenario({ target: '{"users":5}' });
    const r = await migrate(env, '--force');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(state, 'calls'), 'utf8')).toMatch(/mongorestore .*--drop/);
  });

  it('detects a count mismatch after the restore', async () => {
    const { env } = scenario({ restored: '{"messages":1199,"rooms":40,"users":300}' });
    const r = await migrate(env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/count mismatch after restore:\n\s+messages: source 1200, target 1199/);
  });

  it('names the failing side: a wrong old password', async () => {
    const { env } = scenario();
    const r = await migrate({ ...env, STANDIN_SOURCE_PASSWORD: 'something-else' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot query the old MongoDB in container roomler-mongo \(docker exit 1\): MongoServerError: Authentication failed/);
  });

  it('lists missing credentials before touching anything', async () => {
    const { state, env } = scenario();
    const r = await migrate({ ...env, ROOMLER_PROJECT_DIR: projectWith({}) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing MONGO_ROOT_USERNAME, MONGO_ROOT_PASSWORD/);
    expect(existsSync(join(state, 'calls'))).toBe(false);
  });
});

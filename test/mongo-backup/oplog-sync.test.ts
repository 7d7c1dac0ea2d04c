import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { Kubectl } from '../../hack/lib/cluster/kubectl';
import { containerSide, type MongoSide, podSide } from '../../hack/lib/mongo/sides';
import { syncChanges, syncOnce, type SyncReport } from '../../hack/lib/mongo/sync';
import { cleanupDirs, emptyDir } from '../support/files';
import { contents, mongoPath, rawDocuments, seedRoomler, type Server, startServer, stopServers, withDb } from '../support/mongo';

// The incremental final sync (hack/lib/mongo/sync.ts syncChanges) between a FerretDB that keeps an oplog (FerretDB
// writes local.oplog.rs entries for inserts, updates and deletes once that capped collection exists, as a MongoDB
// replica set does) as the old container and another as mongodb-0, through the same sides the switch uses. SHIMS
// (shims/): `docker exec` and `kubectl exec` run the real tools locally; nothing else is shimmed.

const SHIMS = join(__dirname, 'shims');
const CONTAINER = 'roomler-mongo';
const PASSWORD = `o"ld\\'s pw-${process.pid}`;
const quiet = { out: () => undefined, err: () => undefined };

let saved: NodeJS.ProcessEnv;
beforeAll(() => {
  saved = { ...process.env };
  const pod = emptyDir('roomler-pod-secrets-');
  writeFileSync(join(pod, 'MONGO_INITDB_ROOT_USERNAME'), 'admin');
  writeFileSync(join(pod, 'MONGO_INITDB_ROOT_PASSWORD'), 'new-pw\n');
  Object.assign(process.env, { PATH: `${SHIMS}:${mongoPath()}`, SHIM_POD_SECRET_DIR: pod, SHIM_CONTAINER: CONTAINER });
});
afterAll(async () => {
  process.env = saved;
  await stopServers();
  cleanupDirs();
});

async function world() {
  const old = await startServer({ user: 'root', password: PASSWORD });
  await seedRoomler(old);
  await withDb(old, (d) => d.createCollection('oplog.rs', { capped: true, size: 64e6 }), 'local');
  // A replica set's oplog is never empty; this one gets its first entry as the app keeps writing.
  await withDb(old, (d) => d.collection('messages').insertOne({ content: 'the app keeps writing' }));
  const neu = await startServer({ user: 'admin', password: 'new-pw' });
  const source = containerSide({ container: CONTAINER, port: old.port, database: 'roomlerdb', user: 'root', password: PASSWORD });
  const target = podSide({ kubectl: new Kubectl(), namespace: 'roomler', pod: 'mongodb-0', port: neu.port, database: 'roomlerdb' });
  return { old, neu, source, target };
}

/**
 * One world for every test, made once (a seed and a bulk copy are most of a test's time): each test starts with a full
 * pass, which makes the target equal whatever the test before left; the last one drops the oplog.
 */
let made: ReturnType<typeof world> | undefined;
const oplogWorld = () => (made ??= world());

/** The first full pass, with the oplog position taken before it read the source (as the switch's pre-sync does). */
async function fullPass(source: MongoSide, target: MongoSide): Promise<SyncReport> {
  const { oplog } = await source.changesSince('latest');
  return syncOnce(source, target, quiet, { live: true, position: oplog.present ? oplog.last : null });
}

const statFields = (pid: string | number) => {
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp ...": the fields after the command.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};

/**
 * The shells of one side this process started that are still running: each names `marker` in its argv (the pod's,
 * the FIFO it reads; the container's, the file it renames its parameters from). One per process group (each exec
 * leads one: its subshells, forked for a moment, share it), led by a child of this process (other test files run
 * shells too).
 */
const shellsLeft = (marker: string) => [
  ...new Set(
    readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .flatMap((pid) => {
        try {
          if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) return [];
          const group = statFields(pid)[2];
          return Number(statFields(group)[1]) === process.pid ? [group] : [];
        } catch {
          return []; // ended meanwhile
        }
      }),
  ),
];
const podShells = () => shellsLeft('mkfifo');
const containerShells = () => shellsLeft('params.part');

/** What the old app does between passes: new messages, edited users, deleted sessions, a string _id, a new collection. */
async function appWrites(old: Server, round: number): Promise<number> {
  return withDb(old, async (d) => {
    await d.collection('messages').insertMany(Array.from({ length: 40 }, (_, i) => ({ round, i, content: `after ${round}/${i}` })));
    const users = await d.collection('users').find({}).limit(25).toArray();
    for (const u of users) await d.collection('users').updateOne({ _id: u._id }, { $set: { lastSeen: new Date(1800000000000 + round) } });
    const sessions = await d.collection('sessions').find({}).limit(15).toArray();
    await d.collection('sessions').deleteMany({ _id: { $in: sessions.map((s) => s._id) } });
    await d.collection('invites').insertOne({ _id: `invite:${round}` as never, at: new Date(1800000000000) });
    // A number _id (the shells read int32 and double alike: every type it may be is looked for).
    await d.collection('invites').insertOne({ _id: (1000 + round) as never, at: new Date(1800000000000) });
    // The same document written twice counts once.
    await d.collection('users').updateOne({ _id: users[0]._id }, { $set: { twice: round } });
    return 40 + 25 + 15 + 2;
  });
}

describe('the incremental final sync: only the documents the oplog names cross, and both sides are proven equal', () => {
  it('copies inserts, updates and deletes named by the oplog, byte-exact, and a pass with nothing written copies nothing', async () => {
    const { old, neu, source, target } = await oplogWorld();
    const first = await fullPass(source, target);
    expect(first.mode.kind).toBe('full');
    expect(first.base.position).not.toBeNull();
    const written = await appWrites(old, 1);
    const log: string[] = [];
    const r = await syncChanges(source, target, first.base, { out: () => undefined, err: (l) => log.push(l) });
    expect(r.mode.kind).toBe('oplog');
    expect(r.changed).toBe(written);
    expect(log.join('\n')).toMatch(
      /read container roomler-mongo's oplog in \d+\.\d s: \d+ entries since the previous pass name 82 document\(s\) in 4 collection\(s\)/,
    );
    const by = Object.fromEntries(r.collections.map((c) => [c.name, c]));
    expect([by.messages.inserted, by.users.updated, by.sessions.deleted, by.invites.inserted]).toEqual([40, 25, 15, 2]);
    for (const c of r.collections) expect(c.target).toEqual(c.source);
    expect(await rawDocuments(neu)).toEqual(await rawDocuments(old));
    expect(await contents(neu)).toEqual(await contents(old));
    // Nothing written since: nothing copied, still proven equal from the previous pass's digests.
    const again = await syncChanges(source, target, r.base, quiet);
    expect([again.mode.kind, again.changed]).toEqual(['oplog', 0]);
    // And a second round of writes from there.
    await appWrites(old, 2);
    const third = await syncChanges(source, target, again.base, quiet);
    expect(third.changed).toBe(82);
    expect(await rawDocuments(neu)).toEqual(await rawDocuments(old));
    // The shells a pass starts ahead (the pod's removal and counts) are all gone once it ends, used or not; so are
    // shells started ahead by a caller (the switch, before its window: connected when warmShells resolves) and
    // released unused.
    const gone = async () => {
      await vi.waitFor(() => expect([podShells(), containerShells()]).toEqual([[], []]), { timeout: 15_000, interval: 200 });
    };
    await gone();
    await Promise.all([source.warmShells(1), target.warmShells(2)]);
    expect([podShells(), containerShells()].map((x) => x.length)).toEqual([2, 1]);
    source.releaseShells();
    target.releaseShells();
    await gone();
  });

  it('a shell started ahead that cannot connect says why when it is started, before anything needs it', async () => {
    const { old } = await oplogWorld();
    const wrong = `not ${PASSWORD}`;
    const refused = containerSide({ container: CONTAINER, port: old.port, database: 'roomlerdb', user: 'root', password: wrong });
    const err = await refused.warmShells(1).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^a shell in container roomler-mongo ended before it connected \(exit \d+\): .*Authentication failed/);
    expect(err?.message).not.toContain(wrong);
    refused.releaseShells();
    await vi.waitFor(() => expect(containerShells()).toEqual([]), { timeout: 15_000, interval: 200 });
  });

  it("refuses when the new database changed behind its back: another writer's insert shows in the counts", async () => {
    const { neu, source, target } = await oplogWorld();
    const first = await fullPass(source, target);
    // Another writer on the new database (a new app taking writes before the switch). Its inserts and deletes show in
    // the counts; an update of a document the oplog does not name would not (docs/migration.md: what is assumed).
    await withDb(neu, (d) => d.collection('rooms').insertOne({ name: 'created on the target' }));
    await expect(syncChanges(source, target, first.base, quiet)).rejects.toThrow(
      /roomler\/mongodb-0 does not match container roomler-mongo after the sync:\n {2}rooms: roomler\/mongodb-0 counts 101 documents, the previous pass and this one account for 100: something else writes to it/,
    );
    // Live (a pre-sync pass), the same difference is reported, not an error (from a base of its own: a pass advances
    // the one it is given).
    const second = await fullPass(source, target);
    await withDb(neu, (d) => d.collection('rooms').insertOne({ name: 'created on the target again' }));
    const log: string[] = [];
    const live = await syncChanges(source, target, second.base, { out: () => undefined, err: (l) => log.push(l) }, { live: true });
    expect(live.mode.kind).toBe('oplog');
    expect(log.pop()).toMatch(/the source changed meanwhile \(1 difference\(s\), the next pass copies them\)/);
  });

  it('reads both sides whole, saying why, when the oplog cannot say what changed', async () => {
    const { old, neu, source, target } = await oplogWorld();
    const first = await fullPass(source, target);
    await appWrites(old, 3);
    // A position older than the oplog's oldest entry: entries since then may be gone (the capped collection rolled over).
    const log: string[] = [];
    const io = { out: () => undefined, err: (l: string) => log.push(l) };
    const rolled = await syncChanges(source, target, { ...first.base, position: { t: 1, i: 0 } }, io);
    expect(rolled.mode).toEqual({
      kind: 'full',
      why: "container roomler-mongo's oplog no longer reaches back to the previous pass (its oldest entry is newer: too small for the writes since)",
    });
    expect(log[0]).toMatch(/^the oplog cannot say what changed \(.*\): reading both sides whole$/);
    expect(await rawDocuments(neu)).toEqual(await rawDocuments(old));
    // An entry as MongoDB 4.0 logs a transaction (FerretDB writes none: inserted here as mongod would have written it).
    await withDb(
      old,
      (d) =>
        d
          .collection('oplog.rs')
          .insertOne({ ts: new Timestamp({ t: 2_000_000_000, i: 1 }), op: 'c', ns: 'admin.$cmd', o: { applyOps: [] } }),
      'local',
    );
    const txn = await syncChanges(source, target, rolled.base, quiet);
    expect(txn.mode).toEqual({ kind: 'full', why: 'the oplog holds a command: applyOps on admin.$cmd' });
  });

  it('a source that keeps no oplog (a standalone MongoDB 4.0) is read whole at every pass', async () => {
    const { old, neu, source, target } = await oplogWorld();
    await withDb(old, (d) => d.dropCollection('oplog.rs'), 'local');
    const first = await fullPass(source, target);
    expect(first.base.position).toBeNull();
    await appWrites(old, 4);
    const r = await syncChanges(source, target, first.base, quiet);
    expect(r.mode).toEqual({
      kind: 'full',
      why: 'container roomler-mongo keeps no oplog (a standalone server; docs/migration.md: the final sync)',
    });
    expect(await rawDocuments(neu)).toEqual(await rawDocuments(old));
  });
});

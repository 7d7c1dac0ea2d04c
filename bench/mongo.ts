import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Kubectl } from '../hack/lib/cluster/kubectl';
import { labBinDir } from '../hack/lib/lab/binaries';
import { startLab, stopLab } from '../hack/lib/lab/cluster';
import { containerSide, podSide } from '../hack/lib/mongo/sides';
import { syncChanges, syncOnce } from '../hack/lib/mongo/sync';
import { mongoPath, mongoToolsBin, type Server, startServer, stopServers, withDb } from '../test/support/mongo';
import type { Row } from './run';

// `migrate mongo` (the bulk copy of the migration day, repeated during the write-free window) against the bare
// pipe it wraps, side by side in one run: `mongodump --archive | mongorestore --archive --drop` between the same two
// FerretDB servers with the same tools. The difference is what the command adds: the inventories before and after,
// the verification, kubectl's connection. The same SHIMS as test/mongo-backup (kubectl exec and docker exec run the
// command locally: no container runtime here); the lab's API server is real.
// Also the copy rate, and what it means for the reference database (~519 MB, docs/reference-topology.md). FerretDB over SQLite
// writes far slower than mongod, so that figure is an upper bound for the window; the migration day measures the
// real one in its bulk-copy step and announces it before the switch (docs/migration.md).
const ROOT = join(__dirname, '..');
const ROOMLER = join(ROOT, 'bin', 'roomler');
const SHIMS = join(ROOT, 'test', 'mongo-backup', 'shims');
const ROUNDS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
/** The old MongoDB's root password in this bench. */
const PASSWORD = 'bench-old';
/** The reference database's size (docs/reference-topology.md). */
const REFERENCE_BYTES = 519e6;

/** ~40 MB: 40,000 messages of ~1 KB with two secondary indexes, 2,000 users with a unique one. */
async function seed(source: Server): Promise<void> {
  await withDb(source, async (d) => {
    for (let b = 0; b < 20; b++) {
      const docs = Array.from({ length: 2000 }, (_, i) => {
        const n = b * 2000 + i;
        return {
          room: `room-${n % 300}`,
          author: `user${n % 2000}`,
          content: `message ${n} ${'x'.repeat(900 + (n % 200))}`,
          createdAt: new Date(1700000000000 + n),
        };
      });
      await d.collection('messages').insertMany(docs);
    }
    await d.collection('messages').createIndex({ room: 1, createdAt: -1 });
    await d.collection('messages').createIndex({ author: 1 });
    await d
      .collection('users')
      .insertMany(Array.from({ length: 2000 }, (_, i) => ({ email: `user${i}@example.org`, createdAt: new Date() })));
    await d.collection('users').createIndex({ email: 1 }, { unique: true });
  });
}

/** The environment `bin/roomler migrate mongo` runs in: the shims, the lab's kubeconfig, a project naming both servers. */
function commandEnv(tmp: string, lab: { kubeconfig: string }, labBin: string, source: Server, target: Server): NodeJS.ProcessEnv {
  const pod = mkdtempSync(join(tmp, 'pod-'));
  writeFileSync(join(pod, 'MONGO_INITDB_ROOT_USERNAME'), 'admin');
  writeFileSync(join(pod, 'MONGO_INITDB_ROOT_PASSWORD'), 'bench-new');
  const project = mkdtempSync(join(tmp, 'project-'));
  writeFileSync(
    join(project, 'roomler.yaml'),
    `mongodb:\n  port: ${target.port}\nmigrate:\n  mongo:\n    container: bench-mongo\n    port: ${source.port}\n`,
  );
  return {
    ...process.env,
    PATH: `${SHIMS}:${mongoPath()}`,
    KUBECONFIG: lab.kubeconfig,
    ROOMLER_PROJECT_DIR: project,
    MONGO_ROOT_USERNAME: 'root',
    MONGO_ROOT_PASSWORD: PASSWORD,
    SHIM_REAL_KUBECTL: join(labBin, 'kubectl'),
    SHIM_POD_SECRET_DIR: pod,
    SHIM_CONTAINER: 'bench-mongo',
  };
}

/** The data moved: the size of the uncompressed archive (BSON), which is what the copy rate is measured in. */
function archiveBytes(source: Server): number {
  const size = spawnSync(
    'bash',
    [
      '-c',
      `set -o pipefail; printf '%s\\n' "$MONGO_ROOT_PASSWORD" | ${mongoToolsBin()}/mongodump --host 127.0.0.1 --port ${source.port} --username root --authenticationDatabase admin --db roomlerdb --archive 2>/dev/null | wc -c`,
    ],
    { env: { ...process.env, MONGO_ROOT_PASSWORD: PASSWORD }, encoding: 'utf8' },
  );
  const bytes = Number(size.stdout.trim());
  if (size.status !== 0 || !bytes) throw new Error(`mongodump of the seed failed: ${size.stderr}`);
  return bytes;
}

/** `migrate mongo --force` and the bare pipe it wraps, side by side: the median of each, and of their differences. */
function copyRounds(tmp: string, env: NodeJS.ProcessEnv, source: Server, target: Server) {
  const tools = mongoToolsBin();
  // The bare pipe, with the credentials as the tool passes them (stdin / a config file), never in argv.
  const config = join(tmp, 'restore.yaml');
  writeFileSync(config, 'password: bench-new\n', { mode: 0o600 });
  const pipe =
    `printf '%s\\n' "$MONGO_ROOT_PASSWORD" | ${tools}/mongodump --host 127.0.0.1 --port ${source.port} --username root --authenticationDatabase admin --db roomlerdb --archive --gzip 2>/dev/null` +
    ` | ${tools}/mongorestore --host 127.0.0.1 --port ${target.port} --username admin --authenticationDatabase admin --config ${config} --archive --gzip --nsInclude="roomlerdb.*" --drop --stopOnError 2>/dev/null`;
  const time = (cmd: string, args: string[]) => {
    const t = performance.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
    return performance.now() - t;
  };
  const tool: number[] = [];
  const plain: number[] = [];
  // Round 0 is the warm-up; sides alternate which goes first.
  for (let round = 0; round <= ROUNDS; round++) {
    const sides = [
      () => tool.push(time(ROOMLER, ['migrate', 'mongo', '--yes', '--force'])),
      () => plain.push(time('bash', ['-c', `set -o pipefail; ${pipe}`])),
    ];
    for (const side of round % 2 ? sides : sides.reverse()) side();
    if (round === 0) tool.length = plain.length = 0;
  }
  return { copyMs: median(tool), plainMs: median(plain), addedMs: median(tool.map((x, n) => x - plain[n])) };
}

/** 1 % of the documents changed on the source: a third inserted, a third updated, a third deleted. */
async function changeOnePercent(source: Server, round: number, changes: number): Promise<void> {
  await withDb(source, async (d) => {
    // FerretDB has no $sample: every id, then a random pick here.
    const ids = (
      await d
        .collection('messages')
        .find({}, { projection: { _id: 1 } })
        .toArray()
    ).map((x) => x._id);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    const picked = await d
      .collection('messages')
      .find({ _id: { $in: ids.slice(0, Math.round((changes * 2) / 3)) } })
      .toArray();
    const [update, remove] = [picked.slice(0, changes / 3), picked.slice(changes / 3)];
    for (const m of update) await d.collection('messages').updateOne({ _id: m._id }, { $set: { content: `edited ${round} ${m.content}` } });
    await d.collection('messages').deleteMany({ _id: { $in: remove.map((m) => m._id) } });
    await d.collection('messages').insertMany(
      Array.from({ length: changes - picked.length }, (_, i) => ({
        room: `room-${i % 300}`,
        author: `user${i}`,
        content: `new ${round}/${i} ${'y'.repeat(950)}`,
        createdAt: new Date(),
      })),
    );
  });
}

type SyncTimes = { total: number; read: number; copy: number; verify: number };

/**
 * The switch's final sync for the reference shape: 1 % of the documents changed since the copy, `migrate mongo --sync`
 * each round (another 1 % each time); the sync's own log says where its time goes. Medians per phase.
 */
async function syncRounds(env: NodeJS.ProcessEnv, source: Server, documents: number): Promise<(k: keyof SyncTimes) => number> {
  const sync: SyncTimes[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    await changeOnePercent(source, round, Math.round(documents / 100));
    const t = performance.now();
    const r = spawnSync(ROOMLER, ['migrate', 'mongo', '--sync', '--yes'], { cwd: ROOT, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`migrate mongo --sync failed: ${r.stdout}${r.stderr}`);
    const total = performance.now() - t;
    const read = Number(/ in (\d+\.\d) s: \d+ documents;/.exec(r.stderr)?.[1]) * 1000;
    const m = /copied \d+ document change\(s\) in (\d+\.\d) s, verified in (\d+\.\d) s/.exec(r.stderr);
    if (round > 0) sync.push({ total, read, copy: Number(m?.[1]) * 1000, verify: Number(m?.[2]) * 1000 });
  }
  return (k) => median(sync.map((x) => x[k]));
}

/** The switch's own passes, in this process: the sides it builds, through the same SHIMS as `migrate mongo`. */
function switchSides(env: NodeJS.ProcessEnv, source: Server, target: Server) {
  Object.assign(process.env, { PATH: env.PATH, SHIM_POD_SECRET_DIR: env.SHIM_POD_SECRET_DIR, SHIM_CONTAINER: env.SHIM_CONTAINER });
  return {
    source: containerSide({ container: 'bench-mongo', port: source.port, database: 'roomlerdb', user: 'root', password: PASSWORD }),
    target: podSide({ kubectl: new Kubectl(), namespace: 'roomler', pod: 'mongodb-0', port: target.port, database: 'roomlerdb' }),
  };
}

type OplogTimes = SyncTimes & { judge: number };

/**
 * The final sync from the oplog, as the switch runs it in the window: a full pass first (its oplog position taken
 * before), then per round `changes` documents written on the source (a third each inserted, updated, deleted) and one
 * incremental pass. Medians per phase; `judge` is what is left: comparing the per-document maps in memory.
 */
async function oplogRounds(env: NodeJS.ProcessEnv, source: Server, target: Server, changes: number) {
  const sides = switchSides(env, source, target);
  const quiet = { out: () => undefined, err: () => undefined };
  const { oplog } = await sides.source.changesSince('latest');
  let base = (await syncOnce(sides.source, sides.target, quiet, { position: oplog.last })).base;
  const times: OplogTimes[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    // As the switch does before it stops the old app: the shells started and connected ahead, outside the window.
    await Promise.all([sides.source.warmShells(1), sides.target.warmShells(2)]);
    await changeOnePercent(source, 100 + round, changes);
    const r = await syncChanges(sides.source, sides.target, base, quiet);
    if (r.mode.kind !== 'oplog') throw new Error(`the incremental pass read both sides whole: ${r.mode.why}`);
    base = r.base;
    const t = r.timings;
    if (round > 0)
      times.push({ total: t.total, read: t.digest, copy: t.copy, verify: t.verify, judge: t.total - t.digest - t.copy - t.verify });
  }
  // What the counts cost here beyond the shell's start (a count of every collection from its metadata).
  const t = performance.now();
  await withDb(source, async (d) => {
    for (const c of await d.listCollections({}, { nameOnly: true }).toArray()) await d.command({ count: c.name });
  });
  const countsMs = performance.now() - t;
  return { at: (k: keyof OplogTimes) => median(times.map((x) => x[k])), countsMs };
}

/** The read rate of both sides at which a final sync of the reference database fits a 10 s window, given the rest. */
function fitsWindow(restMs: number): string {
  if (restMs >= 10_000) return `no read rate fits it in a 10 s window: copying, verifying and fixed costs alone take ${secs(restMs)} here`;
  return `the final sync fits a 10 s window from ${(519 / ((10_000 - restMs) / 1000)).toFixed(0)} MB/s of read rate on`;
}

/** The oplog rows: 1 % of this database, then the reference database's 1 % by count, and the projection. */
function oplogRows(
  bytes: number,
  documents: number,
  copyMs: number,
  fullSync: (k: keyof SyncTimes) => number,
  small: Awaited<ReturnType<typeof oplogRounds>>,
  reference: Awaited<ReturnType<typeof oplogRounds>>,
  referenceChanges: number,
): Row[] {
  const phases = (x: Awaited<ReturnType<typeof oplogRounds>>) =>
    `${secs(x.at('total'))} (reading the oplog and counts ${secs(x.at('read'))}, copying ${secs(x.at('copy'))}, verifying ${secs(x.at('verify'))}, comparing ${secs(x.at('judge'))})`;
  // Grows with the database besides the changes: the counts (every collection's, on both sides: SQLite counts a
  // table's rows, mongod answers from its metadata), scaled linearly from this database to the reference one. The
  // comparison only visits the documents named, so it stays as measured.
  const scale = REFERENCE_BYTES / bytes;
  const growing = 2 * reference.countsMs;
  const projected = reference.at('total') + growing * (scale - 1);
  return [
    {
      name: `the switch's final sync from the oplog (the old MongoDB a one-member replica set), 1 % of ${documents.toLocaleString('en')} documents (${(bytes / 1e6).toFixed(0)} MB) changed, FerretDB on both sides: the incremental pass vs the full final sync (both sides read whole) vs the full final copy (migrate mongo --force)`,
      value: `${phases(small)} vs ${secs(fullSync('total'))} vs ${secs(copyMs)}: ${(fullSync('total') / small.at('total')).toFixed(1)}x and ${(copyMs / small.at('total')).toFixed(1)}x faster (median of ${ROUNDS} rounds)`,
    },
    {
      name: `the same with the reference database's 1 % by count (${referenceChanges.toLocaleString('en')} documents of ~1 KB changed, ~519 MB / ~${(referenceChanges * 100).toLocaleString('en')} documents), measured on this database`,
      value: `${phases(reference)} (median of ${ROUNDS} rounds)`,
    },
    {
      name: "the final sync from the oplog projected for the reference ~519 MB database with 1 % changed: the measurement above, plus what grows with the database's size besides the changes (the counts on both sides: FerretDB counts each table's rows, mongod answers from metadata) scaled from here",
      value: `window ~${secs(projected + 2000)}: final sync ~${secs(projected)} (${secs(reference.at('total'))} + ${secs(growing)} x ${(scale - 1).toFixed(1)}), + stopping the app (~1 s) and the maintenance and cutover reloads (~1 s)`,
      target: '<= 10 s window',
    },
  ];
}

/** The rows, from the figures measured. */
function rows(bytes: number, documents: number, copy: ReturnType<typeof copyRounds>, s: (k: keyof SyncTimes) => number): Row[] {
  const { copyMs, plainMs, addedMs } = copy;
  const mbPerS = bytes / 1e6 / (plainMs / 1000); // the transfer itself; the command's fixed cost is added below
  // Projected for the reference database: reading both sides grows with its size, copying and verifying with the 1 %
  // that changed, the rest (shell starts, kubectl, the confirmation) is fixed.
  const scale = REFERENCE_BYTES / bytes;
  const fixed = s('total') - s('read') - s('copy') - s('verify');
  const projected = s('read') * scale + (s('copy') + s('verify')) * scale + fixed;
  const readRate = bytes / 1e6 / (s('read') / 1000);
  return [
    {
      name: `the switch's final sync, 1 % of ${documents.toLocaleString('en')} documents (${(bytes / 1e6).toFixed(0)} MB) changed: migrate mongo --sync vs the full final copy it replaces (migrate mongo --force), FerretDB on both sides`,
      value: `${secs(s('total'))} (reading both sides ${secs(s('read'))}, copying ${secs(s('copy'))}, verifying ${secs(s('verify'))}) vs ${secs(copyMs)}: ${copyMs >= s('total') ? `${(copyMs / s('total')).toFixed(1)}x faster` : `${(s('total') / copyMs).toFixed(1)}x slower`} (median of ${ROUNDS} rounds)`,
    },
    {
      name: "the same final sync projected for the reference ~519 MB database with 1 % changed, at the rates measured here (reading both sides grows with the database, copying with the change); FerretDB's mongodump reads far slower than mongod's, so an upper bound",
      value: `~${(projected / 1000).toFixed(0)} s (read at ${readRate.toFixed(1)} MB/s here; ${fitsWindow(fixed + (s('copy') + s('verify')) * scale)}), + the maintenance and cutover reloads (~1 s)`,
      target: '<= 10 s',
    },
    {
      // What the command adds is a fixed cost (two shells and a count of every collection, before and after, on
      // both sides at once; kubectl), not a rate: so the target is on the difference, not a ratio at this size.
      name: `migrate mongo (inventories, verification) vs the bare mongodump --archive --gzip \\| mongorestore pipe, ${(bytes / 1e6).toFixed(0)} MB / 42,000 documents between two FerretDB (SQLite) servers: time added by the command`,
      value: `${secs(copyMs)} vs ${secs(plainMs)}: +${secs(addedMs)} (median of ${ROUNDS} rounds)`,
      target: '<= 10 s added',
    },
    {
      name: 'copy rate of the bare pipe, and the final copy of the reference ~519 MB database at that rate plus the time added (FerretDB over SQLite writes far slower than mongod: an upper bound; step copy-mongo measures the real one)',
      value: `${mbPerS.toFixed(1)} MB/s: ~${Math.ceil(519 / mbPerS + addedMs / 1000)} s, + the cutover`,
    },
  ];
}

export async function bench(): Promise<Row[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-mongo-'));
  const labBin = await labBinDir();
  const lab = await startLab({ dir: join(tmp, 'lab'), binDir: labBin, nodes: [{ name: 'k8s-worker1' }] });
  try {
    const source = await startServer({ user: 'root', password: PASSWORD });
    const target = await startServer({ user: 'admin', password: 'bench-new' });
    await seed(source);
    const env = commandEnv(tmp, lab, labBin, source, target);
    const bytes = archiveBytes(source);
    const copy = copyRounds(tmp, env, source, target);
    const documents = 42_000;
    const fullSync = await syncRounds(env, source, documents);
    // The old MongoDB keeps an oplog from here on (as after `rs.initiate()` on a one-member replica set).
    await withDb(source, (d) => d.createCollection('oplog.rs', { capped: true, size: 256e6 }), 'local');
    await withDb(source, (d) => d.collection('messages').insertOne({ content: 'the first write the oplog holds' }));
    const small = await oplogRounds(env, source, target, Math.round(documents / 100));
    const referenceChanges = Math.round(REFERENCE_BYTES / 1e3 / 100);
    const reference = await oplogRounds(env, source, target, referenceChanges);
    return [
      ...rows(bytes, documents, copy, fullSync),
      ...oplogRows(bytes, documents, copy.copyMs, fullSync, small, reference, referenceChanges),
    ];
  } finally {
    await stopServers();
    await stopLab(lab, true);
    rmSync(tmp, { recursive: true, force: true });
  }
}

// `node --require tsx/cjs bench/mongo.ts`: just these figures (npm run bench runs them with everything else).
if (require.main === module) {
  void bench().then((rows) => {
    for (const r of rows) process.stdout.write(`${r.name}: ${r.value}${r.target ? ` (target ${r.target})` : ''}\n`);
  });
}

import { PassThrough } from 'node:stream';

import { UserError } from '../cli';
import type { IO } from '../cli/io';
import {
  archiveDigest,
  type CollectionDigest,
  type DatabaseDigest,
  DigestMap,
  type DigestWhere,
  fingerprintOf,
  idSupported,
  type MongoSide,
  type OplogPosition,
  type OplogRead,
  positionBefore,
  type Selection,
  type Snapshot,
} from './sides';
import { failure, type Inventory } from './tools';

// The incremental sync: makes `target` hold exactly the documents of `source` by copying only what differs, then
// proves the two equal. There is no oplog on a standalone MongoDB 4.0, and counts miss updates, so both sides are read
// whole and every document digested (lib/scripts/mongodb-digest.js: the MD5 of its raw BSON, keyed by its raw _id;
// the pod's digests are computed inside the pod, so only digests cross kubectl exec). Per collection:
//   - inserted (only in the source) and updated (digest differs): copied with mongodump --queryFile {_id: {$in}} |
//     mongorestore, the updated ones deleted from the target first (mongorestore inserts, it never replaces);
//   - deleted (only in the target): deleted;
//   - a collection the target lacks, whose index definitions differ, or whose _ids cannot be named in a query: copied
//     whole (mongorestore --drop).
// Then the copied documents are digested again on the target, and each collection's count, index definitions and
// fingerprint (the sum of its document digests) must equal the source's. Run while the source still takes writes,
// it brings the target up to the moment each collection was read (the pre-sync before the write freeze); run with
// the source frozen, it makes them equal (the final sync inside the write-free window).

/**
 * Ids per query: a $in of 10,000 ObjectIds is ~350 KB of JSON, far below the 16 MB a query document may be; each
 * batch is a dump of its own (a process start, a connection), so the reference database's 1 % is one.
 */
const BATCH = 10_000;

export interface CollectionReport {
  readonly name: string;
  readonly source: { count: number; fingerprint: string };
  readonly target: { count: number; fingerprint: string };
  /** Before the sync. */
  readonly before: { count: number; fingerprint: string };
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  /** Copied whole, and why. */
  readonly whole?: string;
}

export interface SyncReport {
  readonly collections: readonly CollectionReport[];
  /** Documents copied or deleted. */
  readonly changed: number;
  readonly documents: number;
  /** The size of the source's archive: what one full read moves. */
  readonly bytes: number;
  /** Milliseconds of each phase: reading both sides, copying, verifying. */
  readonly timings: { readonly digest: number; readonly copy: number; readonly verify: number; readonly total: number };
  readonly sourceInventory: Inventory;
  readonly targetInventory: Inventory;
  /** What both sides hold afterwards, per document, and the oplog position it stands for: the next incremental pass's start. */
  readonly base: SyncBase;
  /** How this pass read the source: `full` (both sides whole) or `oplog` (only what the oplog names), and why. */
  readonly mode: { readonly kind: 'full' | 'oplog'; readonly why: string };
}

/**
 * Where an incremental pass starts: each side's digest of every document as the last pass measured it, the documents
 * whose digests differed between the sides then (none after a verified pass), and the source's oplog position taken
 * before that pass read the source (every write it may have missed is after it). A base serves one pass: the pass
 * advances it in place (its cost grows with the documents changed, not with the database) and returns it as the next.
 */
export interface SyncBase {
  readonly position: OplogPosition | null;
  readonly source: Map<string, DigestMap>;
  readonly target: Map<string, DigestMap>;
  readonly differ: Map<string, Set<string>>;
}

interface Plan {
  readonly name: string;
  readonly upsert: string[];
  readonly updated: number;
  readonly remove: string[];
  readonly whole?: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const settled = <T>(r: PromiseSettledResult<T>): T => {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
};

/** What differs per collection, from both sides' digests and inventories. */
export function diff(source: DatabaseDigest, target: DatabaseDigest, sourceInv: Inventory, targetInv: Inventory): Plan[] {
  const names = [...new Set([...Object.keys(source), ...Object.keys(target), ...Object.keys(sourceInv.collections)])].sort();
  return names.map((name) => {
    const s = source[name]?.ids ?? new Map<string, string>();
    const t = target[name]?.ids ?? new Map<string, string>();
    const inSource = name in sourceInv.collections || name in source;
    if (!inSource) return { name, upsert: [], updated: 0, remove: [...t.keys()], whole: undefined };
    let whole: string | undefined;
    if (!(name in targetInv.collections)) whole = 'the target lacks the collection';
    else if (!same(sourceInv.indexes[name], targetInv.indexes[name])) whole = 'its index definitions differ';
    const upsert: string[] = [];
    let updated = 0;
    for (const [id, d] of s) {
      const there = t.get(id);
      if (there === d) continue;
      if (there !== undefined) updated += 1;
      upsert.push(id);
    }
    const remove = [...t.keys()].filter((id) => !s.has(id));
    if (!whole && [...upsert, ...remove].some((id) => !idSupported(id))) whole = 'an _id of a type a query cannot name';
    return { name, upsert, updated, remove, whole };
  });
}

/** What a copy may hold while the target is not ready for it (the dump runs ahead of the removal it waits for). */
const AHEAD_BYTES = 64 * 1024 * 1024;

/**
 * Streams source.dump into target.restore; rejects naming the side that failed on its own. With `digest`, resolves to
 * the digests of the very archive it copied (what the source gave is what the target was given). With `after`, the
 * dump starts at once and the restore only once `after` has resolved (the removal of the stale documents): the dump's
 * start and first reads overlap it.
 */
async function copy(
  source: MongoSide,
  target: MongoSide,
  collection: string,
  ids: readonly string[] | 'all',
  drop: boolean,
  o: { digest?: boolean; after?: Promise<unknown> } = {},
): Promise<DatabaseDigest | undefined> {
  const dump = source.dump(collection, ids);
  const digest = o.digest ? archiveDigest(dump, source.database, source.label) : undefined;
  const pipe = new PassThrough({ highWaterMark: AHEAD_BYTES });
  dump.child.stdout!.pipe(pipe);
  try {
    await o.after;
  } catch (e) {
    dump.stop();
    await dump.done;
    throw e;
  }
  const load = target.restore(collection, drop);
  pipe.pipe(load.child.stdin!);
  let dumpEnded = false;
  dump.child.stdout!.on('end', () => (dumpEnded = true));
  void load.done.then(() => {
    if (!dumpEnded) dump.stop();
  });
  void dump.done.then((r) => {
    if (r.exitCode !== 0) load.stop();
  });
  const [d, l] = await Promise.all([dump.done, load.done]);
  const what = ids === 'all' ? `${collection} (whole)` : `${ids.length} document(s) of ${collection}`;
  digest?.readable();
  if (d.exitCode !== 0) throw new UserError(`copying ${what}: mongodump in ${source.label} failed ${failure(d, source.secrets)}`);
  if (l.exitCode !== 0) throw new UserError(`copying ${what}: mongorestore in ${target.label} failed ${failure(l, target.secrets)}`);
  return digest?.end().digest;
}

const batches = <T>(list: readonly T[]) =>
  Array.from({ length: Math.ceil(list.length / BATCH) }, (_, n) => list.slice(n * BATCH, (n + 1) * BATCH));

/** Both sides read whole, at once: every document's digest, and the inventories they imply. */
async function readBoth(source: MongoSide, target: MongoSide, o: SyncOptions) {
  // The target's read may have started already (the switch reads it while the old app stops: nothing but this sync
  // writes to the target, so its state cannot change meanwhile).
  const [sourceR, targetR] = await Promise.allSettled([source.snapshot(o.where), o.targetSnapshot ?? target.snapshot(o.where)]);
  const [{ digest: sourceDigest, inventory: sourceInv, bytes }, { digest: targetDigest, inventory: targetBefore }] = [
    settled(sourceR),
    settled(targetR),
  ];
  return { sourceDigest, sourceInv, bytes, targetDigest, targetBefore };
}

/**
 * The stale documents go first (updated ones included: mongorestore inserts, it never replaces), all in one exec;
 * then each collection's documents stream from one side to the other.
 */
async function copyChanges(source: MongoSide, target: MongoSide, touched: readonly Plan[], targetDigest: DatabaseDigest): Promise<void> {
  const stale = touched
    .filter((p) => !p.whole)
    .flatMap((p) =>
      batches([...p.remove, ...p.upsert.filter((id) => targetDigest[p.name]?.ids.has(id))]).map((ids) => ({ collection: p.name, ids })),
    );
  if (stale.length) await target.remove(stale);
  for (const p of touched) {
    if (p.whole) await copy(source, target, p.name, 'all', true);
    else for (const ids of batches(p.upsert)) await copy(source, target, p.name, ids, false);
  }
}

/**
 * Every collection's documents as measured on the target now. Those this pass did not touch stand as the first read
 * measured them (nothing else writes to the target); the touched ones are read again, all at once.
 */
async function targetAfter(target: MongoSide, plans: readonly Plan[], targetDigest: DatabaseDigest, targetBefore: Inventory) {
  const touched = plans.filter((p) => p.whole || p.upsert.length || p.remove.length);
  const selections: Selection[] = touched.flatMap((p): Selection[] =>
    p.whole ? [{ collection: p.name, ids: 'all' }] : batches(p.upsert).map((ids) => ({ collection: p.name, ids })),
  );
  const reread = selections.length ? await target.digestOf(selections) : ({} as DatabaseDigest);
  // Index definitions: what the first read measured, and for a collection copied whole, what its re-read shows.
  const targetInv = {
    collections: targetBefore.collections,
    indexes: {
      ...targetBefore.indexes,
      ...Object.fromEntries(touched.filter((p) => p.whole).map((p) => [p.name, reread[p.name]?.indexes ?? []])),
    },
  };
  const after = new Map<string, CollectionDigest>();
  for (const p of plans) {
    if (p.whole) {
      after.set(p.name, reread[p.name] ?? { count: 0, fingerprint: fingerprintOf([]), ids: new Map() });
      continue;
    }
    const ids = new Map(targetDigest[p.name]?.ids ?? []);
    for (const id of [...p.remove, ...p.upsert]) ids.delete(id);
    for (const [id, d] of reread[p.name]?.ids ?? []) ids.set(id, d);
    after.set(p.name, { count: ids.size, fingerprint: fingerprintOf(ids.values()), ids });
  }
  return { after, targetInv };
}

/** Each collection of the source against the target now (count, fingerprint, indexes), and collections the source lacks. */
function compare(
  plans: readonly Plan[],
  source: { digest: DatabaseDigest; inventory: Inventory },
  before: DatabaseDigest,
  target: { after: ReadonlyMap<string, CollectionDigest>; targetInv: Inventory },
): { reports: CollectionReport[]; problems: string[] } {
  const empty = () => ({ count: 0, fingerprint: fingerprintOf([]), ids: new Map<string, string>() });
  const inSource = (name: string) => name in source.inventory.collections || name in source.digest;
  const reports: CollectionReport[] = [];
  const problems: string[] = [];
  for (const p of plans.filter((x) => inSource(x.name))) {
    const s = source.digest[p.name] ?? empty();
    const t = target.after.get(p.name) ?? empty();
    const b = before[p.name] ?? { count: 0, fingerprint: fingerprintOf([]) };
    if (s.count !== t.count || s.fingerprint !== t.fingerprint)
      problems.push(`${p.name}: source ${s.count} documents (fingerprint ${s.fingerprint}), target ${t.count} (${t.fingerprint})`);
    const [want, got] = [source.inventory.indexes[p.name], target.targetInv.indexes[p.name]];
    if (!same(want, got)) problems.push(`${p.name}: indexes differ: source ${JSON.stringify(want)}, target ${JSON.stringify(got)}`);
    reports.push({
      name: p.name,
      source: { count: s.count, fingerprint: s.fingerprint },
      target: { count: t.count, fingerprint: t.fingerprint },
      before: { count: b.count, fingerprint: b.fingerprint },
      inserted: p.whole ? s.count : p.upsert.length - p.updated,
      updated: p.whole ? 0 : p.updated,
      deleted: p.whole ? 0 : p.remove.length,
      whole: p.whole,
    });
  }
  for (const p of plans.filter((x) => !inSource(x.name))) {
    if ((target.after.get(p.name)?.count ?? 0) > 0)
      problems.push(`${p.name}: the source has no such collection, the target still holds ${target.after.get(p.name)!.count} document(s)`);
  }
  return { reports, problems };
}

export interface SyncOptions {
  /** The source still takes writes: what differs after the pass is the next one's to copy, not an error. */
  readonly live?: boolean;
  readonly where?: DigestWhere;
  /** The target's read, already started. */
  readonly targetSnapshot?: Promise<Snapshot>;
  /** The source's oplog position taken before this pass (kept in the report's base for the next, incremental one). */
  readonly position?: OplogPosition | null;
  /** Why this pass reads both sides whole (shown in the report), when an incremental one was wanted. */
  readonly fullBecause?: string;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * One pass: read both sides (at once), copy what differs, verify; one line per phase on `io.err` (progress). Throws a
 * UserError naming the collection when the target does not match afterwards, unless `live`: a source that still
 * takes writes changes while it is read, and what differs after such a pass is the next one's to copy.
 */
export async function syncOnce(source: MongoSide, target: MongoSide, io: IO, o: SyncOptions = {}): Promise<SyncReport> {
  const t0 = Date.now();
  const read = await readBoth(source, target, o);
  const digestMs = Date.now() - t0;
  const documents = Object.values(read.sourceDigest).reduce((n, c) => n + c.count, 0);
  const plans = diff(read.sourceDigest, read.targetDigest, read.sourceInv, read.targetBefore);
  const touched = plans.filter((p) => p.whole || p.upsert.length || p.remove.length);
  const changed = plans.reduce((n, p) => n + (p.whole ? (read.sourceDigest[p.name]?.count ?? 0) : p.upsert.length + p.remove.length), 0);
  io.err(
    `read ${source.label} and ${target.label} in ${secs(digestMs)}: ${documents} documents; ${changed} to copy or delete in ${touched.length} collection(s)`,
  );
  const t1 = Date.now();
  for (const p of touched.filter((x) => x.whole)) io.err(`${p.name}: copied whole (${p.whole})`);
  await copyChanges(source, target, touched, read.targetDigest);
  const copyMs = Date.now() - t1;
  const t2 = Date.now();
  const now = await targetAfter(target, plans, read.targetDigest, read.targetBefore);
  const verifyMs = Date.now() - t2;
  const { reports, problems } = compare(plans, { digest: read.sourceDigest, inventory: read.sourceInv }, read.targetDigest, now);
  const total = Date.now() - t0;
  if (problems.length && !o.live)
    throw new UserError(`${target.label} does not match ${source.label} after the sync:\n  ${problems.join('\n  ')}`);
  // A live source kept taking writes while it was read and copied: what differs now is the next pass's to copy.
  io.err(
    problems.length
      ? `copied ${changed} document change(s) in ${secs(copyMs)}; the source changed meanwhile (${problems.length} collection(s) differ, the next pass copies them)`
      : `copied ${changed} document change(s) in ${secs(copyMs)}, verified in ${secs(verifyMs)}: every collection's count, indexes and fingerprint match`,
  );
  return {
    collections: reports,
    changed,
    documents,
    bytes: read.bytes,
    timings: { digest: digestMs, copy: copyMs, verify: verifyMs, total },
    sourceInventory: read.sourceInv,
    targetInventory: now.targetInv,
    base: baseOf(o.position ?? null, Object.entries(read.sourceDigest), now.after),
    mode: { kind: 'full', why: o.fullBecause ?? 'both sides read whole' },
  };
}

/** The next pass's base from a full pass: both sides' documents, and those that differ between them. */
function baseOf(
  position: OplogPosition | null,
  source: Iterable<[string, { ids: ReadonlyMap<string, string> }]>,
  target: Iterable<[string, { ids: ReadonlyMap<string, string> }]>,
): SyncBase {
  const maps = (sides: Iterable<[string, { ids: ReadonlyMap<string, string> }]>) =>
    new Map([...sides].map(([name, c]) => [name, new DigestMap(c.ids)]));
  const base = { position, source: maps(source), target: maps(target), differ: new Map<string, Set<string>>() };
  for (const name of new Set([...base.source.keys(), ...base.target.keys()])) {
    const [s, t] = [base.source.get(name) ?? new DigestMap(), base.target.get(name) ?? new DigestMap()];
    const differ = new Set<string>();
    for (const [id, d] of s.entries()) if (t.get(id) !== d) differ.add(id);
    for (const [id] of t.entries()) if (!s.has(id)) differ.add(id);
    if (differ.size) base.differ.set(name, differ);
  }
  return base;
}

/** The inventories side by side, one line per collection, as the switch's log and the report show them. */
export function inventoryLines(r: SyncReport, source: string, target: string): string[] {
  return [
    `${'collection'.padEnd(24)} ${source.padEnd(28)} ${target.padEnd(28)} change`,
    ...r.collections.map((c) => {
      const side = (x: { count: number; fingerprint: string }) => `${x.count} ${x.fingerprint}`.padEnd(28);
      const change = c.whole ? `copied whole: ${c.whole}` : `+${c.inserted} ~${c.updated} -${c.deleted}`;
      return `${c.name.padEnd(24)} ${side(c.source)} ${side(c.target)} ${change}`;
    }),
  ];
}

// ---- the incremental pass: only what the source's oplog names ---------------------------------------------------
//
// A full pass reads both sides whole, which grows with the database. When the source keeps an oplog (a replica set,
// even of one member), a pass can start from the previous one instead: the oplog position taken before that pass read
// the source bounds every write it may have missed, so what changed since is exactly the _ids the oplog names after
// it. Those documents are deleted on the target and copied again (a document deleted on the source is simply not
// there to copy), the copied archive digested as it streams (the source's side) and the target's copies read again.
// Every other document is as the previous pass measured it on each side, so only those named now or differing then
// can differ: they are compared one by one, each side's number of documents against the count each server keeps, and
// the index definitions read again. Nothing here grows with the database, only with what changed.

/** Why a pass reads both sides whole when the source keeps no oplog. */
export const noOplog = (label: string) => `${label} keeps no oplog (a standalone server; docs/migration.md: the final sync)`;

/** Why the oplog cannot carry a pass from `base`, or undefined when it can. */
function oplogUnusable(base: SyncBase, read: OplogRead, label: string): string | undefined {
  if (!read.present) return noOplog(label);
  if (!base.position) return 'no oplog position was taken before the previous pass';
  if (!read.first || positionBefore(base.position, read.first))
    return `${label}'s oplog no longer reaches back to the previous pass (its oldest entry is newer: too small for the writes since)`;
  return read.unsupported ?? undefined;
}

/**
 * One collection after an incremental pass: both sides' documents with what the pass measured in place (in the base),
 * and the documents that now differ between them: only those that differed before or were named can.
 */
/** Per collection, documents' digests by raw _id: what a pass measured of the documents the oplog names. */
type Measured = Readonly<Record<string, { readonly ids: ReadonlyMap<string, string> }>>;

function advance(name: string, base: SyncBase, ids: readonly string[], measured: { source: Measured; target: Measured }) {
  const side = (maps: Map<string, DigestMap>) => maps.get(name) ?? maps.set(name, new DigestMap()).get(name)!;
  const [source, target] = [side(base.source), side(base.target)];
  const before = { count: target.size, fingerprint: target.fingerprint() };
  const [s, t] = [measured.source[name]?.ids, measured.target[name]?.ids];
  const suspects = new Set(base.differ.get(name));
  let [inserted, updated, deleted] = [0, 0, 0];
  for (const id of ids) {
    const [was, now] = [target.get(id), t?.get(id)];
    source.put(id, s?.get(id));
    target.put(id, now);
    suspects.add(id);
    if (was === undefined && now !== undefined) inserted += 1;
    else if (was !== undefined && now === undefined) deleted += 1;
    else if (was !== now) updated += 1;
  }
  const differ = new Set([...suspects].filter((id) => source.get(id) !== target.get(id)));
  if (differ.size) base.differ.set(name, differ);
  else base.differ.delete(name);
  return { source, target, before, differ, inserted, updated, deleted };
}

type Written = readonly (readonly [string, readonly string[]])[];

/**
 * The documents the oplog names: deleted on the target where it has them, then copied from the source. Resolves to
 * the source's digests of them, from the archives copied: the source's read of them is the copy's (a document deleted
 * on the source is in none).
 */
async function copyWritten(source: MongoSide, target: MongoSide, base: SyncBase, written: Written): Promise<Measured> {
  const stale = written.flatMap(([name, ids]) =>
    batches(ids.filter((id) => base.target.get(name)?.has(id))).map((b) => ({ collection: name, ids: b })),
  );
  // The first dump starts while the stale documents are deleted; its restore waits for the deletion.
  const removal = stale.length ? target.remove(stale) : undefined;
  const copied: Record<string, { ids: Map<string, string> }> = {};
  for (const [name, ids] of written) {
    const all = (copied[name] = { ids: new Map<string, string>() });
    for (const b of batches(ids)) {
      const d = await copy(source, target, name, b, false, { digest: true, after: removal });
      for (const [id, digest] of d?.[name]?.ids ?? []) all.ids.set(id, digest);
    }
  }
  await removal;
  return copied;
}

/** The documents the oplog names as the target holds them now, and its counts and indexes: at once. */
async function measureWritten(target: MongoSide, written: Written) {
  const selections: Selection[] = written.flatMap(([name, ids]) => batches(ids).map((b) => ({ collection: name, ids: b })));
  const [targetDigest, targetInv] = await Promise.all([
    selections.length ? target.digestOf(selections) : Promise.resolve({} as DatabaseDigest),
    target.inventory({ fast: true }),
  ]);
  return { target: targetDigest, targetInv };
}

/** Every collection after an incremental pass, against the counts and indexes both servers report now. */
function judge(
  sides: { source: MongoSide; target: MongoSide },
  base: SyncBase,
  oplog: OplogRead,
  measured: { source: Measured; target: Measured },
  inv: { source: Inventory; target: Inventory },
) {
  const names = [
    ...new Set([
      ...base.source.keys(),
      ...base.target.keys(),
      ...Object.keys(inv.source.collections),
      ...Object.keys(inv.target.collections),
    ]),
  ].sort();
  const reports: CollectionReport[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const c = advance(name, base, oplog.changes[name] ?? [], measured);
    const inSource = name in inv.source.collections;
    const [sc, tc] = [inv.source.collections[name] ?? 0, inv.target.collections[name] ?? 0];
    if (c.differ.size)
      problems.push(`${name}: ${c.differ.size} document(s) differ after the copy (one: _id ${c.differ.values().next().value})`);
    if (sc !== c.source.size)
      problems.push(
        `${name}: ${sides.source.label} counts ${sc} documents, the previous pass and the oplog account for ${c.source.size}: a write the oplog does not show`,
      );
    if (tc !== c.target.size)
      problems.push(
        `${name}: ${sides.target.label} counts ${tc} documents, the previous pass and this one account for ${c.target.size}: something else writes to it`,
      );
    if (inSource && !same(inv.source.indexes[name], inv.target.indexes[name]))
      problems.push(
        `${name}: indexes differ: source ${JSON.stringify(inv.source.indexes[name])}, target ${JSON.stringify(inv.target.indexes[name])}`,
      );
    if (!inSource && !c.source.size) {
      if (c.target.size) problems.push(`${name}: the source has no such collection, the target still holds ${c.target.size} document(s)`);
      continue;
    }
    reports.push({
      name,
      source: { count: c.source.size, fingerprint: c.source.fingerprint() },
      target: { count: c.target.size, fingerprint: c.target.fingerprint() },
      before: c.before,
      inserted: c.inserted,
      updated: c.updated,
      deleted: c.deleted,
    });
  }
  return { reports, problems };
}

/**
 * One incremental pass from `base` (the report of the previous pass): reads the source's oplog and its counts, copies
 * the documents written since, and proves both databases equal. Falls back to a full pass (syncOnce), saying why, when
 * the oplog cannot say what changed. Throws a UserError naming the collection when the target does not match, unless
 * `live` (the source still takes writes; the next pass copies what they changed).
 */
export async function syncChanges(
  source: MongoSide,
  target: MongoSide,
  base: SyncBase,
  io: IO,
  o: { live?: boolean } = {},
): Promise<SyncReport> {
  // The target's two shells (the removal, the counts after the copy) start while the source's oplog is read, unless
  // the caller started them before the window opened. One that cannot connect fails where it is used, saying why.
  target.warmShells(2).catch(() => undefined);
  try {
    return await incremental(source, target, base, io, o);
  } finally {
    source.releaseShells();
    target.releaseShells();
  }
}

async function incremental(source: MongoSide, target: MongoSide, base: SyncBase, io: IO, o: { live?: boolean }): Promise<SyncReport> {
  const t0 = Date.now();
  const { inventory: sourceInv, oplog } = await source.changesSince(base.position);
  const why = oplogUnusable(base, oplog, source.label);
  if (why) {
    io.err(`the oplog cannot say what changed (${why}): reading both sides whole`);
    return syncOnce(source, target, io, { live: o.live, position: oplog.present ? oplog.last : null, fullBecause: why });
  }
  const readMs = Date.now() - t0;
  const written = Object.entries(oplog.changes).filter(([, ids]) => ids.length);
  const changed = oplog.named;
  io.err(
    `read ${source.label}'s oplog in ${secs(readMs)}: ${oplog.entries} entries since the previous pass name ${changed} document(s) in ${written.length} collection(s)`,
  );
  const t1 = Date.now();
  const copied = await copyWritten(source, target, base, written);
  const copyMs = Date.now() - t1;
  const t2 = Date.now();
  const measured = await measureWritten(target, written);
  const verifyMs = Date.now() - t2;
  const inventories = { source: sourceInv, target: measured.targetInv };
  const { reports, problems } = judge({ source, target }, base, oplog, { source: copied, target: measured.target }, inventories);
  if (problems.length && !o.live)
    throw new UserError(`${target.label} does not match ${source.label} after the sync:\n  ${problems.join('\n  ')}`);
  io.err(
    problems.length
      ? `copied ${changed} document change(s) in ${secs(copyMs)}; the source changed meanwhile (${problems.length} difference(s), the next pass copies them)`
      : `copied ${changed} document change(s) in ${secs(copyMs)}, verified in ${secs(verifyMs)}: every collection's count, indexes and fingerprint match`,
  );
  return {
    collections: reports,
    changed,
    documents: reports.reduce((n, r) => n + r.source.count, 0),
    bytes: 0,
    timings: { digest: readMs, copy: copyMs, verify: verifyMs, total: Date.now() - t0 },
    sourceInventory: sourceInv,
    targetInventory: measured.targetInv,
    base: { ...base, position: oplog.last },
    mode: { kind: 'oplog', why: `${oplog.entries} oplog entries since the previous pass` },
  };
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { PROJECT_ROOT, UserError } from '../cli';
import type { Kubectl } from '../cluster/kubectl';
import { run, type RunResult, start, type Started } from '../process/run';
import { answerLine, failure, type Inventory, parseInventory } from './tools';

// The two MongoDBs of the migration, each reached the only way it can be from the Docker host: the old one through
// `docker exec` into its container (the 4.0 tools and the legacy `mongo` shell), the new one through `kubectl exec`
// into mongodb-0 (the 100.x tools and mongosh). Both offer the same operations, so a copy runs either way: old -> new
// on the migration day, new -> old when going back. Passwords never appear in argv: the old one travels on stdin, the
// new one never leaves the pod (read from the credential files, MONGODB_CREDENTIALS). Each operation is one exec,
// whatever the number of collections: a shell start (mongosh: about a CPU-second) is the dominant cost of a small
// sync, and the final one runs inside the write-free window.

const SCRIPTS = join(PROJECT_ROOT, 'lib', 'scripts');
const script = (name: string) => readFileSync(join(SCRIPTS, name), 'utf8');
/** Runs in both shells: connects and inventories. */
const INVENTORY_JS = () => script('mongodb-inventory.js');
/**
 * The inventory with the removal by _id and the oplog read appended: one program for every shell call, and what runs
 * is what its parameters ask (noInventory, fastCount, remove, oplog), so a shell started ahead serves any of them.
 */
const SHELL_JS = () => `${INVENTORY_JS()}\n${script('mongodb-remove.js')}\n${script('mongodb-oplog.js')}`;
/** Parses mongodump archives and digests every document (Node on this host, mongosh in the pod). */
const DIGEST_JS = () => script('mongodb-digest.js');

/** Per collection: documents, a fingerprint of their contents, each document's digest by raw _id, its indexes. */
export interface CollectionDigest {
  readonly count: number;
  readonly fingerprint: string;
  readonly ids: Map<string, string>;
  /** Index definitions from the dump's metadata, normalized as the inventory normalizes them. */
  readonly indexes?: readonly unknown[];
}
export type DatabaseDigest = Record<string, CollectionDigest>;

/** The inventory a digest implies: counts from the documents read, index definitions from the dump's metadata. */
export const inventoryOf = (d: DatabaseDigest): Inventory => ({
  collections: Object.fromEntries(Object.entries(d).map(([name, c]) => [name, c.count])),
  indexes: Object.fromEntries(Object.entries(d).map(([name, c]) => [name, c.indexes ?? []])),
});

const MASK64 = 0xffffffffffffffffn;
const hex16 = (sum: bigint) => sum.toString(16).padStart(16, '0');

/** A collection's fingerprint from its documents' digests: their sum mod 2^64, so the order never matters. */
export function fingerprintOf(digests: Iterable<string>): string {
  let sum = 0n;
  for (const d of digests) sum = (sum + BigInt(`0x${d}`)) & MASK64;
  return hex16(sum);
}

/**
 * A collection's documents, each one's digest by raw _id, with the fingerprint kept as they change: an incremental
 * pass updates the few documents it copied, and its cost must not grow with the collection.
 */
export class DigestMap {
  private readonly digests: Map<string, string>;
  private sum = 0n;

  constructor(entries: Iterable<readonly [string, string]> = []) {
    this.digests = new Map(entries);
    for (const d of this.digests.values()) this.sum = (this.sum + BigInt(`0x${d}`)) & MASK64;
  }

  get size(): number {
    return this.digests.size;
  }

  get(id: string): string | undefined {
    return this.digests.get(id);
  }

  has(id: string): boolean {
    return this.digests.has(id);
  }

  /** Sets (a digest) or deletes (undefined) one document's digest. */
  put(id: string, digest: string | undefined): void {
    const was = this.digests.get(id);
    if (was !== undefined) this.sum = (this.sum - BigInt(`0x${was}`)) & MASK64;
    if (digest === undefined) this.digests.delete(id);
    else {
      this.digests.set(id, digest);
      this.sum = (this.sum + BigInt(`0x${digest}`)) & MASK64;
    }
  }

  fingerprint(): string {
    return hex16(this.sum);
  }

  entries(): IterableIterator<[string, string]> {
    return this.digests.entries();
  }
}

/** One full read: the digests, the inventory they imply, and the archive's size in bytes. */
export interface Snapshot {
  readonly digest: DatabaseDigest;
  readonly inventory: Inventory;
  readonly bytes: number;
}

/**
 * Where the pod's documents are digested: `side`, inside the pod (only digests cross kubectl exec: for a database of
 * hundreds of MB), or `here`, on this host from the archive (no mongosh start, about a CPU-second: for a small one).
 */
export type DigestWhere = 'side' | 'here';

/** Below this size the pod's archive crosses kubectl exec faster than mongosh starts in the pod. */
export const DIGEST_HERE_BELOW_BYTES = 64e6;

/** Some documents of one collection (raw _ids), or all of it. */
export interface Selection {
  readonly collection: string;
  readonly ids: readonly string[] | 'all';
}

/** A position in the oplog: a timestamp's seconds and increment. */
export interface OplogPosition {
  readonly t: number;
  readonly i: number;
}

/** What lib/scripts/mongodb-oplog.js read: raw _ids touched per collection since the position asked for. */
export interface OplogRead {
  /** Whether the server keeps an oplog (local.oplog.rs) at all. */
  readonly present: boolean;
  /** Its oldest entry: entries before it are gone (a capped collection), so a position older than it is unusable. */
  readonly first: OplogPosition | null;
  /** The newest entry read, or the position asked for: where the next read starts. */
  readonly last: OplogPosition | null;
  readonly entries: number;
  /** Raw _ids (BSON type byte + value, hex) written since, per collection, each once (a number: each type it may be). */
  readonly changes: Record<string, string[]>;
  /** How many documents the entries name (each once). */
  readonly named: number;
  /** Why these entries cannot be applied document by document (a command, a transaction, an _id of another type). */
  readonly unsupported: string | null;
}

/** Whether oplog position `a` comes before `b`. */
export const positionBefore = (a: OplogPosition, b: OplogPosition) => a.t < b.t || (a.t === b.t && a.i < b.i);

export interface MongoSide {
  /** How the operator knows it: "container mongo", "roomler/mongodb-0". */
  readonly label: string;
  readonly database: string;
  /** Credentials to keep out of any message. */
  readonly secrets: readonly string[];
  /**
   * Every document's digest and the inventory they imply (counts, and index definitions from the dump's metadata):
   * one full read of the database, and no shell start on this side's server beyond the pod's digest.
   */
  snapshot(where?: DigestWhere): Promise<Snapshot>;
  /** The digests of the selected documents only (one read per selection, one exec for all). */
  digestOf(selections: readonly Selection[]): Promise<DatabaseDigest>;
  /** Deletes documents by raw _id, all collections in one exec; resolves to how many were deleted. */
  remove(selections: readonly { collection: string; ids: readonly string[] }[]): Promise<number>;
  /**
   * Per collection its count and index definitions, in one shell; with `fast`, the counts the storage engine keeps
   * (the count command without a query: no scan, for the write-free window) instead of counting every document.
   */
  inventory(o?: { fast?: boolean }): Promise<Inventory>;
  /**
   * The fast inventory and what the oplog says changed since `since` (null: from its start), in one shell; with
   * 'latest', only where the oplog stands now (its newest entry as `last`; nothing read).
   */
  changesSince(since: OplogPosition | null | 'latest'): Promise<{ inventory: Inventory; oplog: OplogRead }>;
  /**
   * Starts shells now, up to `n` waiting for their parameters (a shell's start and connection, about a CPU-second with
   * mongosh, paid ahead of the next `n` calls of remove, inventory or changesSince). Resolves once each has connected
   * and authenticated; rejects with the cause when one ends before (the operator learns it before anything stops).
   */
  warmShells(n: number): Promise<void>;
  /** Ends the shells started ahead and not used (each only connects, then exits). */
  releaseShells(): void;
  /** `mongodump --archive` of one collection (these ids, or all of it), running: its stdout is the archive. */
  dump(collection: string, ids: readonly string[] | 'all'): Started;
  /**
   * `mongorestore --archive` from stdin into one collection, running: with `drop`, the collection is replaced with its
   * indexes; otherwise documents are added to it and its indexes (equal on both sides, or it would be copied whole) are
   * left alone.
   */
  restore(collection: string, drop: boolean): Started;
  /** `mongodump --archive --gzip` of the whole database (the bulk copy), running: its stdout is the archive. */
  dumpDatabase(): Started;
  /**
   * `mongorestore --archive --gzip` from stdin of the whole database (the bulk copy), running: with `drop`, each
   * collection in the archive replaces the one there; indexes are restored.
   */
  restoreDatabase(drop: boolean): Started;
}

// ---- raw _id values, as mongodump's query language and the shells write them -------------------------------------

/** A raw _id (hex of BSON type byte + value) as Extended JSON, for mongodump --queryFile; undefined if unsupported. */
export function idToExtendedJson(raw: string): unknown {
  const type = parseInt(raw.slice(0, 2), 16);
  const v = Buffer.from(raw.slice(2), 'hex');
  switch (type) {
    case 0x07:
      return { $oid: v.toString('hex') };
    case 0x02:
      return v.toString('utf8', 4, 4 + v.readInt32LE(0) - 1);
    case 0x10:
      return v.readInt32LE(0);
    case 0x12:
      return { $numberLong: v.readBigInt64LE(0).toString() };
    case 0x01: {
      // A query compares numbers by value whatever their BSON types (and _id's index does too), so a plain JSON number
      // names a double _id, integral or not.
      const d = v.readDoubleLE(0);
      return Number.isFinite(d) && Math.abs(d) <= Number.MAX_SAFE_INTEGER ? d : undefined;
    }
    default:
      return undefined;
  }
}

/** A raw _id as the tagged form mongodb-inventory.js turns into a shell value (ObjectId, NumberInt, NumberLong). */
function idToTagged(raw: string): Record<string, unknown> | undefined {
  const type = parseInt(raw.slice(0, 2), 16);
  const v = Buffer.from(raw.slice(2), 'hex');
  if (type === 0x07) return { o: v.toString('hex') };
  if (type === 0x02) return { s: v.toString('utf8', 4, 4 + v.readInt32LE(0) - 1) };
  if (type === 0x10) return { i: v.readInt32LE(0) };
  if (type === 0x12) return { l: v.readBigInt64LE(0).toString() };
  if (type === 0x01 && idToExtendedJson(raw) !== undefined) return { d: v.readDoubleLE(0) };
  return undefined;
}

/**
 * The raw _ids a tagged one may be, as lib/scripts/mongodb-oplog.js prints them: {o: ObjectId hex} and {s: string}
 * are one each; {n: number} is every BSON number type that holds the value (the shells do not say which it was).
 */
export function rawsOfTagged(t: { o?: string; s?: string; n?: number }): string[] {
  if (t.o !== undefined) return [`07${t.o.toLowerCase()}`];
  if (t.n !== undefined) {
    const n = t.n;
    const le = (size: number, write: (b: Buffer) => void) => {
      const b = Buffer.alloc(size);
      write(b);
      return b.toString('hex');
    };
    return [
      ...(Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 ? [`10${le(4, (b) => b.writeInt32LE(n))}`] : []),
      ...(Number.isSafeInteger(n) ? [`12${le(8, (b) => b.writeBigInt64LE(BigInt(n)))}`] : []),
      `01${le(8, (b) => b.writeDoubleLE(n))}`,
    ];
  }
  const value = Buffer.from(t.s ?? '', 'utf8');
  const length = Buffer.alloc(4);
  length.writeInt32LE(value.length + 1);
  return [`02${length.toString('hex')}${value.toString('hex')}00`];
}

const oplogParams = (since: OplogPosition | null | 'latest') => (since === 'latest' ? { latest: true } : { since });

/** The oplog line among a shell's output (after the inventory's), its ids made raw and each named once. */
export function parseOplog(stdout: string, where: string): OplogRead {
  const line = answerLine(stdout, 'oplog');
  if (!line)
    throw new UserError(`reading the oplog in ${where} gave no answer: ${stdout.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
  const o = (
    JSON.parse(line) as { oplog: Omit<OplogRead, 'changes'> & { changes: Record<string, { o?: string; s?: string; n?: number }[]> } }
  ).oplog;
  const changes = Object.fromEntries(Object.entries(o.changes).map(([name, ids]) => [name, [...new Set(ids.flatMap(rawsOfTagged))]]));
  const named = Object.values(o.changes).reduce((n, ids) => n + new Set(ids.map((id) => JSON.stringify(id))).size, 0);
  return { ...o, changes, named };
}

/** Whether documents with this _id can be copied one by one (else the whole collection is copied). */
export const idSupported = (raw: string) => idToTagged(raw) !== undefined;

const tagged = (ids: readonly string[]) =>
  ids.map((id) => {
    const t = idToTagged(id);
    if (!t) throw new Error(`an _id of BSON type 0x${id.slice(0, 2)} cannot be named in a query`);
    return t;
  });
/** A shell's parameters to delete these documents and nothing else. */
const removal = (selections: readonly { collection: string; ids: readonly string[] }[]) => ({
  noInventory: true,
  remove: selections.map((s) => ({ collection: s.collection, ids: tagged(s.ids) })),
});
export const queryFor = (ids: readonly string[]) => JSON.stringify({ _id: { $in: ids.map(idToExtendedJson) } });

/** One line per selection for the loops below: collection, then its query base64-encoded (or "all"). */
const selectionLines = (selections: readonly Selection[]) =>
  selections
    .map(
      (s) =>
        `${Buffer.from(s.collection).toString('base64')}\t${s.ids === 'all' ? 'all' : Buffer.from(queryFor(s.ids)).toString('base64')}\n`,
    )
    .join('');

const lastWords = (r: RunResult) => r.stdout.trim().split('\n').pop()?.slice(0, 200) || '(no output)';

// ---- digests ---------------------------------------------------------------------------------------------------

interface DigesterInstance {
  readonly bytes: number;
  push(chunk: Buffer): void;
  end(): void;
  collections: Record<string, { count: number; sum: bigint; ids?: Map<string, string> }>;
  summary(): Record<string, { count: number; fingerprint: string; indexes: unknown[] }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const digestModule = () => require(join(SCRIPTS, 'mongodb-digest.js')) as { Digester: new (database: string) => DigesterInstance };

/** Digests a running dump's archive(s) on this host, as they stream. */
async function digestStream(dump: Started, database: string, what: string, secrets: readonly string[]): Promise<DatabaseDigest> {
  return (await digestStreamBytes(dump, database, what, secrets)).digest;
}

/**
 * Digests a dump's archive(s) as the dump writes them, whoever else reads its stdout (a copy digests the very bytes it
 * restores): `end` once the dump has ended well. A chunk it cannot parse stops the dump.
 */
export function archiveDigest(dump: Started, database: string, what: string) {
  const d = new (digestModule().Digester)(database);
  let parseError: Error | undefined;
  dump.child.stdout!.on('data', (chunk: Buffer) => {
    if (parseError) return;
    try {
      d.push(chunk);
    } catch (e) {
      parseError = e as Error;
      dump.stop();
    }
  });
  const readable = () => {
    if (parseError) throw new UserError(`the dump of ${what} cannot be read: ${parseError.message}`);
  };
  return {
    /** Throws a UserError when a chunk could not be parsed (the dump was stopped for it: that is the cause). */
    readable,
    /** The digests, or a UserError naming what was unreadable or short. */
    end(): { digest: DatabaseDigest; bytes: number } {
      readable();
      try {
        d.end();
      } catch (e) {
        throw new UserError(`the dump of ${what} is incomplete: ${(e as Error).message}`);
      }
      return {
        digest: Object.fromEntries(
          Object.entries(d.summary()).map(([name, s]) => [name, { ...s, ids: d.collections[name].ids ?? new Map() }]),
        ),
        bytes: d.bytes,
      };
    },
  };
}

async function digestStreamBytes(
  dump: Started,
  database: string,
  what: string,
  secrets: readonly string[],
): Promise<{ digest: DatabaseDigest; bytes: number }> {
  const digest = archiveDigest(dump, database, what);
  const r = await dump.done;
  digest.readable();
  if (r.exitCode !== 0) throw new UserError(`mongodump in ${what} failed ${failure(r, secrets)}`);
  return digest.end();
}

/** Reads the pod's digest records (lib/scripts/mongodb-digest.js: N, D, S and E lines). */
export function parseDigestLines(text: string, what: string): { digest: DatabaseDigest; bytes: number } {
  const names = new Map<string, string>();
  const out: Record<string, { count: number; fingerprint: string; ids: Map<string, string>; indexes?: unknown[] }> = {};
  let complete = false;
  let bytes = 0;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'N' && f.length === 3) {
      names.set(f[1], JSON.parse(f[2]));
      out[JSON.parse(f[2])] ??= { count: 0, fingerprint: '', ids: new Map() };
    } else if (f[0] === 'D' && f.length === 4) out[names.get(f[1])!].ids.set(f[2], f[3]);
    else if (f[0] === 'S' && f.length === 4) Object.assign(out[names.get(f[1])!], { count: Number(f[2]), fingerprint: f[3] });
    else if (f[0] === 'I' && f.length === 3) Object.assign(out[names.get(f[1])!], { indexes: JSON.parse(f[2]) });
    else if (f[0] === 'E') {
      complete = true;
      bytes = Number(f[2]);
    }
  }
  if (!complete)
    throw new UserError(`the digests of ${what} ended early: ${text.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
  return { digest: out, bytes };
}

// ---- shells started ahead -------------------------------------------------------------------------------------

/** A shell started ahead: its process, and whether it has said it is connected. */
interface Standing {
  readonly shell: Started;
  readonly ready: Promise<void>;
}

/**
 * The shells of one side: each runs SHELL_JS, says {"ready":true} once connected and authenticated, and then waits for
 * its parameters (JSON) on stdin; a call takes a shell started ahead or starts one. `begin` starts one (writing
 * whatever it needs first on its stdin, which stays open).
 */
function shellsOf(label: string, secrets: readonly string[], begin: () => Started) {
  const standing: Standing[] = [];
  const startOne = (): Standing => {
    const shell = begin();
    const ready = new Promise<void>((resolve, reject) => {
      let seen = '';
      const onData = (d: Buffer) => {
        seen += d.toString();
        if (!answerLine(seen, 'ready')) return;
        shell.child.stdout!.off('data', onData);
        resolve();
      };
      shell.child.stdout!.on('data', onData);
      void shell.done.then((r) => reject(new UserError(`a shell in ${label} ended before it connected ${failure(r, secrets)}`)));
    });
    ready.catch(() => undefined);
    return { shell, ready };
  };
  return {
    call: async (what: string, params: Record<string, unknown>): Promise<RunResult> => {
      const { shell } = standing.shift() ?? startOne();
      shell.child.stdin!.end(JSON.stringify(params));
      const r = await shell.done;
      if (r.exitCode !== 0) throw new UserError(`${what} in ${label} failed ${failure(r, secrets)}`);
      return r;
    },
    warm: async (n: number) => {
      while (standing.length < n) standing.push(startOne());
      await Promise.all(standing.map((s) => s.ready));
    },
    release: () => {
      for (const { shell } of standing.splice(0)) shell.child.stdin!.end(JSON.stringify({ noInventory: true }));
    },
  };
}

// ---- the old MongoDB, in its Docker container ------------------------------------------------------------------

/**
 * In the old container (sh, the legacy shell), $1 the shell program: the first line on stdin is the connection (with
 * the password), kept with the program in a 0600 file of a private directory only while the shell runs it (the
 * legacy shell runs a script file; it has no environment or fs to read a password from). The rest of stdin, the
 * parameters, is renamed into the directory in/ whole once it has all come: the legacy shell has no blocking read, so
 * it looks there for the file, where nothing else ever appears or vanishes. The shell's own stdin is /dev/null, so it
 * cannot race for those bytes.
 */
const CONTAINER_SHELL = `umask 077; d=$(mktemp -d) || exit 1
trap 'kill "$w" 2>/dev/null; rm -rf "$d"' EXIT
mkdir "$d/in" || exit 1
IFS= read -r conn || exit 1
{ printf 'var ROOMLER_INVENTORY = %s;\nROOMLER_INVENTORY.paramsFile = "%s";\n' "$conn" "$d/in/params.json" && printf '%s\n' "$1"; } >"$d/run.js" || exit 1
exec 3<&0
{ cat <&3 >"$d/params.part" && mv "$d/params.part" "$d/in/params.json"; } &
w=$!
mongo --quiet --norc --nodb "$d/run.js" </dev/null`;
/**
 * mongodump of selected documents, back to back on stdout: stdin holds the password line, then one line per
 * selection (collection and query, base64; "all" for a whole collection). The password reaches each mongodump on
 * its stdin, as with the 4.0 tools it must; $@ are mongodump's connection arguments.
 */
const CONTAINER_SELECTED_DUMP = `umask 077; q=$(mktemp) || exit 1; trap 'rm -f "$q"' EXIT
IFS= read -r pw || exit 1
while IFS='	' read -r c query; do
  c=$(printf '%s' "$c" | base64 -d)
  if [ "$query" = all ]; then printf '%s\\n' "$pw" | mongodump "$@" --collection="$c" --archive || exit $?
  else printf '%s' "$query" | base64 -d >"$q"; printf '%s\\n' "$pw" | mongodump "$@" --collection="$c" --queryFile="$q" --archive || exit $?; fi
done`;
/**
 * mongorestore from an archive: the 4.0 tools have no --config, and stdin is the archive, so the password comes
 * first on stdin (one line), the archive after it is kept in a 0600 temp file, and the password reaches mongorestore
 * on its own stdin.
 */
const CONTAINER_RESTORE = `umask 077; a=$(mktemp) || exit 1; trap 'rm -f "$a"' EXIT; IFS= read -r pw && cat >"$a" && printf '%s\\n' "$pw" | mongorestore --archive="$a" "$@"`;

export function containerSide(o: { container: string; port: number; database: string; user: string; password: string }): MongoSide {
  const { container, database, user, password } = o;
  const label = `container ${container}`;
  const secrets = [password];
  const auth = [`--host=127.0.0.1:${o.port}`, `--username=${user}`, '--authenticationDatabase=admin'];
  const dumpArgs = [...auth, `--db=${database}`];
  const conn = { host: `127.0.0.1:${o.port}`, database, user, password };
  const shells = shellsOf(label, secrets, () => {
    const s = start('docker', ['exec', '-i', container, 'sh', '-c', CONTAINER_SHELL, 'sh', SHELL_JS()], { timeoutMs: 600_000 });
    s.child.stdin!.write(`${JSON.stringify(conn)}\n`);
    return s;
  });
  // The password reaches mongodump on stdin: --username without --password, no terminal (a bare --password is a
  // parse error, and the 4.0 tools have no --config).
  const dumpWhole = (...extra: string[]) =>
    start('docker', ['exec', '-i', container, 'mongodump', ...dumpArgs, '--archive', ...extra], {
      input: `${password}\n`,
      captureStdout: false,
    });
  const restoreIn = (args: readonly string[]) => {
    const s = start('docker', ['exec', '-i', container, 'sh', '-c', CONTAINER_RESTORE, 'sh', ...auth, '--stopOnError', ...args]);
    s.child.stdin!.write(`${password}\n`);
    return s;
  };
  const selected = (selections: readonly Selection[]) =>
    start('docker', ['exec', '-i', container, 'sh', '-c', CONTAINER_SELECTED_DUMP, 'sh', ...dumpArgs], {
      input: `${password}\n${selectionLines(selections)}`,
      captureStdout: false,
    });
  return {
    label,
    database,
    secrets,
    snapshot: async () => {
      const { digest, bytes } = await digestStreamBytes(dumpWhole(), database, label, secrets);
      return { digest, inventory: inventoryOf(digest), bytes };
    },
    digestOf: (selections) => digestStream(selected(selections), database, label, secrets),
    remove: async (selections) => removedCount(await shells.call('removing documents', removal(selections)), label),
    inventory: async (i = {}) => inventoryFrom(await shells.call('the inventory', { fastCount: !!i.fast }), label),
    changesSince: async (since) => {
      const r = await shells.call('reading the oplog', { fastCount: true, oplog: oplogParams(since) });
      return { inventory: inventoryFrom(r, label), oplog: parseOplog(r.stdout, label) };
    },
    warmShells: shells.warm,
    releaseShells: shells.release,
    dump: (collection, ids) => selected([{ collection, ids }]),
    restore: (collection, drop) => restoreIn([`--nsInclude=${database}.${collection}`, ...(drop ? ['--drop'] : ['--noIndexRestore'])]),
    dumpDatabase: () => dumpWhole('--gzip'),
    restoreDatabase: (drop) => restoreIn(['--gzip', `--nsInclude=${database}.*`, ...(drop ? ['--drop'] : [])]),
  };
}

const inventoryFrom = (r: RunResult, where: string): Inventory => {
  const inventory = parseInventory(r.stdout);
  if (!inventory) throw new UserError(`the inventory of ${where} gave no answer: ${lastWords(r)}`);
  return inventory;
};

const removedCount = (r: RunResult, where: string) => {
  const line = answerLine(r.stdout, 'removed');
  if (!line) throw new UserError(`removing documents in ${where} gave no count: ${lastWords(r)}`);
  return (JSON.parse(line) as { removed: number }).removed;
};

// ---- the new MongoDB, in mongodb-0 ----------------------------------------------------------------------------

/**
 * In mongodb-0 (bash, mongosh, the 100.x tools), before any command: a private scratch directory, removed on exit, as
 * HOME (mongosh writes there; the root filesystem is read-only), and mongo-tools' --config written there from the
 * pod's credential files by the shell itself (each byte outside RFC 3986's unreserved set percent-encoded): the
 * password is never in an argv or the environment. $1 the inventory script, $2 host:port, $3 the database.
 */
const POD_PRELUDE = `set -euo pipefail
export LC_ALL=C
umask 077
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export HOME="$scratch"
inventory=$1 host=$2 db=$3
shift 3
urlenc() { local s=$1 out='' c i; for ((i = 0; i < \${#s}; i++)); do c=\${s:i:1}; case $c in [A-Za-z0-9._~-]) out+=$c ;; *) printf -v c '%%%02X' "'$c"; out+=$c ;; esac; done; printf '%s' "$out"; }
config() {
  local u p
  u=$(<"$SECRET_DIR/MONGO_INITDB_ROOT_USERNAME") p=$(<"$SECRET_DIR/MONGO_INITDB_ROOT_PASSWORD")
  printf 'uri: "mongodb://%s:%s@%s/?authSource=admin"\\n' "$(urlenc "$u")" "$(urlenc "$p")" "$host" >"$scratch/tools.yaml"
}
shell() { MONGO_HOST="$host" DATABASE="$db" mongosh --nodb --quiet --norc --eval "$1"; }`;
/**
 * The shell program ($1: SHELL_JS), its parameters as JSON on stdin, which it reads once started and connected: a
 * shell can be started ahead of need (warmShells) and told what to do when the answer is needed. Through a FIFO: the
 * shell cannot open its stdin by name when it is a socket (kubectl's, node's), and a FIFO blocks its reader until the
 * parameters have all come.
 */
const POD_SHELL = `${POD_PRELUDE}
mkfifo "$scratch/params.json"
exec 3<&0
cat <&3 >"$scratch/params.json" &
writer=$!
trap 'kill "$writer" 2>/dev/null || true; rm -rf "$scratch"' EXIT
PARAMS_FILE="$scratch/params.json" shell "$inventory" </dev/null`;
/**
 * A dump piped into a digest: when the dump fails, its own message is the cause (the digest then only saw a short
 * stream), so its status and stderr are kept and reported first.
 */
const DUMP_FIRST = `rc=$(<"$scratch/dump.rc")
if [ "$rc" != 0 ]; then cat "$scratch/dump.err" >&2; exit "$rc"; fi`;
/** The whole database through one mongosh (the digest of the dump on its stdin), or with no program, as it is. */
const POD_SNAPSHOT = `${POD_PRELUDE}
config
set +e
{ mongodump --config="$scratch/tools.yaml" --db="$db" --archive 2>"$scratch/dump.err"; echo $? >"$scratch/dump.rc"; } | if [ -n "$1" ]; then shell "$1"; else cat; fi
s=$?
${DUMP_FIRST}
exit "$s"`;
/** Selected documents (one line per selection on stdin, as for the container), back to back, through one digest. */
const POD_SELECTED = `${POD_PRELUDE}
config
program=$1
dumps() {
  while IFS='	' read -r c query; do
    c=$(printf '%s' "$c" | base64 -d)
    if [ "$query" = all ]; then mongodump --config="$scratch/tools.yaml" --db="$db" --collection="$c" --archive </dev/null || return $?
    else printf '%s' "$query" | base64 -d >"$scratch/query.json"; mongodump --config="$scratch/tools.yaml" --db="$db" --collection="$c" --queryFile="$scratch/query.json" --archive </dev/null || return $?; fi
  done
}
set +e
{ dumps 2>"$scratch/dump.err"; echo $? >"$scratch/dump.rc"; } | if [ -n "$program" ]; then shell "$program"; else cat; fi
s=$?
${DUMP_FIRST}
exit "$s"`;
/** The whole database, gzipped, on stdout. */
const POD_DUMP = `${POD_PRELUDE}
config
mongodump --config="$scratch/tools.yaml" --db="$db" --archive --gzip`;
/** mongorestore from the archive on stdin. --stopOnError: without it a document it cannot insert is skipped, exit 0. */
const POD_RESTORE = `${POD_PRELUDE}
config
mongorestore --config="$scratch/tools.yaml" --archive --stopOnError "$@"`;

interface PodOptions {
  readonly kubectl: Kubectl;
  readonly namespace: string;
  readonly pod: string;
  readonly port: number;
  readonly database: string;
}

/** kubectl's argv for one of the scripts above in the pod: $1 the shell program, $2 host:port, $3 the database. */
const podExec = (o: PodOptions, program: string, body: string, ...args: string[]) =>
  o.kubectl.argv([
    'exec',
    '-i',
    '-n',
    o.namespace,
    o.pod,
    '--',
    'bash',
    '-c',
    body,
    'roomler',
    program,
    `127.0.0.1:${o.port}`,
    o.database,
    ...args,
  ]);

export function podSide(o: PodOptions): MongoSide {
  const { database } = o;
  const label = `${o.namespace}/${o.pod}`;
  const execArgv = (body: string, ...args: string[]) => podExec(o, INVENTORY_JS(), body, ...args);
  const digestProgram = () => `${DIGEST_JS()}\nROOMLER_DIGEST_MAIN(${JSON.stringify(database)})`;
  const runIn = async (what: string, body: string, args: string[], input: string) => {
    const r = await run('kubectl', podExec(o, INVENTORY_JS(), body, ...args), { input, timeoutMs: 600_000 });
    if (r.exitCode !== 0) throw new UserError(`${what} in ${label} failed ${failure(r)}`);
    return r;
  };
  const shells = shellsOf(label, [], () => start('kubectl', podExec(o, SHELL_JS(), POD_SHELL), { timeoutMs: 600_000 }));
  return {
    label,
    database,
    secrets: [],
    snapshot: async (where = 'side') => {
      const { digest, bytes } =
        where === 'here'
          ? await digestStreamBytes(start('kubectl', execArgv(POD_SNAPSHOT, ''), { input: '', captureStdout: false }), database, label, [])
          : parseDigestLines((await runIn('the digest of every document', POD_SNAPSHOT, [digestProgram()], '')).stdout, label);
      return { digest, inventory: inventoryOf(digest), bytes };
    },
    // Selected documents are few (what a sync copied): their archives cross kubectl exec and are digested here,
    // which saves the pod a mongosh start (about a CPU-second, inside the write-free window).
    digestOf: (selections) =>
      digestStream(
        start('kubectl', execArgv(POD_SELECTED, ''), { input: selectionLines(selections), captureStdout: false }),
        database,
        label,
        [],
      ),
    remove: async (selections) => removedCount(await shells.call('removing documents', removal(selections)), label),
    inventory: async (i = {}) => inventoryFrom(await shells.call('the inventory', { fastCount: !!i.fast }), label),
    changesSince: async (since) => {
      const r = await shells.call('reading the oplog', { fastCount: true, oplog: oplogParams(since) });
      return { inventory: inventoryFrom(r, label), oplog: parseOplog(r.stdout, label) };
    },
    warmShells: shells.warm,
    releaseShells: shells.release,
    dump: (collection, ids) =>
      start('kubectl', execArgv(POD_SELECTED, ''), { input: selectionLines([{ collection, ids }]), captureStdout: false }),
    restore: (collection, drop) =>
      start('kubectl', execArgv(POD_RESTORE, `--nsInclude=${database}.${collection}`, ...(drop ? ['--drop'] : ['--noIndexRestore']))),
    dumpDatabase: () => start('kubectl', execArgv(POD_DUMP, ''), { input: '', captureStdout: false }),
    restoreDatabase: (drop) => start('kubectl', execArgv(POD_RESTORE, '--gzip', `--nsInclude=${database}.*`, ...(drop ? ['--drop'] : []))),
  };
}

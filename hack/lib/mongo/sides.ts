import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, UserError } from '../cli';
import type { Kubectl } from '../cluster/kubectl';
import { run, start, type RunResult, type Started } from '../process/run';
import { failure, parseInventory, type Inventory } from './tools';

// The two MongoDBs of the migration, each reached the only way it can be from the Docker host: the old one through
// `docker exec` into its container (the 4.0 tools and the legacy `mongo` shell), the new one through `kubectl exec`
// into mongodb-0 (the 100.x tools and mongosh). Both offer the same operations, so a copy runs either way: old -> new
// on the migration day, new -> old when going back. Passwords never appear in argv: the old one travels on stdin, the
// new one never leaves the pod (its scripts read the credential files, MONGODB_CREDENTIALS).

const SCRIPTS = join(PROJECT_ROOT, 'lib', 'scripts');
const script = (name: string) => readFileSync(join(SCRIPTS, name), 'utf8');
/** Runs in both shells and in Node: connects, then inventories or removes documents by _id. */
const INVENTORY_JS = () => script('mongodb-inventory.js');
/** Parses a mongodump archive and digests every document (Node on this host, mongosh in the pod). */
export const DIGEST_JS = () => script('mongodb-digest.js');

/** Per collection: documents, a fingerprint of their contents, and (when kept) each document's digest by raw _id. */
export interface CollectionDigest {
  readonly count: number;
  readonly fingerprint: string;
  readonly ids: Map<string, string>;
}
export type DatabaseDigest = Record<string, CollectionDigest>;
const EMPTY = (): CollectionDigest => ({ count: 0, fingerprint: fingerprintOf([]), ids: new Map() });

/** A collection's fingerprint from its documents' digests: their sum mod 2^64, so the order never matters. */
export function fingerprintOf(digests: Iterable<string>): string {
  let sum = 0n;
  for (const d of digests) sum = (sum + BigInt(`0x${d}`)) & 0xffffffffffffffffn;
  return sum.toString(16).padStart(16, '0');
}

export interface MongoSide {
  /** How the operator knows it: "container mongo", "roomler/mongodb-0". */
  readonly label: string;
  readonly database: string;
  /** Credentials to keep out of any message. */
  readonly secrets: readonly string[];
  inventory(): Promise<Inventory>;
  /** Every document's digest (a full read of the database, the digests computed as close to it as possible). */
  digest(): Promise<DatabaseDigest>;
  /** The digests of these documents (or all) of one collection only. */
  digestIds(collection: string, ids: readonly string[] | 'all'): Promise<CollectionDigest>;
  /** Deletes these documents of one collection (by raw _id); resolves to how many were deleted. */
  remove(collection: string, ids: readonly string[]): Promise<number>;
  /** `mongodump --archive` of one collection (these ids, or all of it), running: its stdout is the archive. */
  dump(collection: string, ids: readonly string[] | 'all'): Started;
  /** `mongorestore --archive` from stdin into one collection (dropping it first with `drop`), running. */
  restore(collection: string, drop: boolean): Started;
}

// ---- raw _id values, as the shells and mongodump's query language write them ----------------------------------

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
      const d = v.readDoubleLE(0);
      return Number.isFinite(d) && !Number.isInteger(d) ? d : undefined; // an integral double would parse back as an int
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

/** Whether documents with this _id can be copied one by one (else the whole collection is copied). */
export const idSupported = (raw: string) => idToTagged(raw) !== undefined;

const tagged = (ids: readonly string[]) =>
  ids.map((id) => {
    const t = idToTagged(id);
    if (!t) throw new Error(`an _id of BSON type 0x${id.slice(0, 2)} cannot be named in a query`);
    return t;
  });
export const queryFor = (ids: readonly string[]) => JSON.stringify({ _id: { $in: ids.map(idToExtendedJson) } });

// ---- the digests of a dump ------------------------------------------------------------------------------------

interface DigesterInstance {
  push(chunk: Buffer): void;
  end(): void;
  collections: Record<string, { count: number; sum: bigint; ids?: Map<string, string> }>;
  summary(): Record<string, { count: number; fingerprint: string }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const digestModule = () => require(join(SCRIPTS, 'mongodb-digest.js')) as { Digester: new (database: string) => DigesterInstance };

/** Digests a running dump's archive on this host, as it streams. */
async function digestStream(dump: Started, database: string, what: string, secrets: readonly string[]): Promise<DatabaseDigest> {
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
  const r = await dump.done;
  if (parseError) throw new UserError(`the dump of ${what} cannot be read: ${parseError.message}`);
  if (r.exitCode !== 0) throw new UserError(`mongodump in ${what} failed ${failure(r, secrets)}`);
  try {
    d.end();
  } catch (e) {
    throw new UserError(`the dump of ${what} is incomplete: ${(e as Error).message}`);
  }
  const summary = d.summary();
  return Object.fromEntries(Object.entries(summary).map(([name, s]) => [name, { ...s, ids: d.collections[name].ids ?? new Map() }]));
}

/** Reads the pod's digest records (lib/scripts/mongodb-digest.js, "N/D/S/E" lines). */
export function parseDigestLines(text: string, what: string): DatabaseDigest {
  const names = new Map<string, string>();
  const out: Record<string, { count: number; fingerprint: string; ids: Map<string, string> }> = {};
  let complete = false;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split('\t');
    if (f[0] === 'N') {
      names.set(f[1], JSON.parse(f[2]));
      out[JSON.parse(f[2])] ??= { count: 0, fingerprint: '', ids: new Map() };
    } else if (f[0] === 'D') out[names.get(f[1])!].ids.set(f[2], f[3]);
    else if (f[0] === 'S') Object.assign(out[names.get(f[1])!], { count: Number(f[2]), fingerprint: f[3] });
    else if (f[0] === 'E') complete = true;
  }
  if (!complete) throw new UserError(`the digests of ${what} ended early: ${text.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
  return out;
}

// ---- the old MongoDB, in its Docker container ------------------------------------------------------------------

/**
 * In the old container (sh, the legacy shell): a script from stdin is kept in a 0600 temp file only while the shell
 * runs it (the legacy shell runs a script file, not a script on stdin without echoing prompts).
 */
const CONTAINER_SHELL = `umask 077; f=$(mktemp --suffix=.js) || exit 1; trap 'rm -f "$f"' EXIT; cat >"$f" && mongo --quiet --norc --nodb "$f"`;
/**
 * mongodump of the ids in a query file: stdin holds the query ($1 bytes, read exactly by head -c), then the password
 * line, which mongodump reads from stdin itself ($2.. its arguments).
 */
const CONTAINER_QUERY_DUMP = `umask 077; q=$(mktemp) || exit 1; trap 'rm -f "$q"' EXIT; n=$1; shift; head -c "$n" >"$q" && mongodump --queryFile="$q" "$@"`;
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
  const host = `--host=127.0.0.1:${o.port}`;
  const auth = [host, `--username=${user}`, '--authenticationDatabase=admin'];
  const exec = (args: readonly string[], input?: string | Buffer, timeoutMs = 300_000) => run('docker', ['exec', '-i', container, ...args], { input, timeoutMs });
  const shell = async (params: Record<string, unknown>, what: string): Promise<RunResult> => {
    const conn = { host: `127.0.0.1:${o.port}`, database, user, password, ...params };
    const r = await exec(['sh', '-c', CONTAINER_SHELL], `var ROOMLER_INVENTORY = ${JSON.stringify(conn)};\n${INVENTORY_JS()}`);
    if (r.exitCode !== 0) throw new UserError(`${what} in ${label} failed ${failure(r, secrets)}`);
    return r;
  };
  const dumpArgs = (collection?: string) => [...auth, `--db=${database}`, ...(collection ? [`--collection=${collection}`] : []), '--archive'];
  const dump = (collection: string, ids: readonly string[] | 'all'): Started => {
    if (ids === 'all') return start('docker', ['exec', '-i', container, 'mongodump', ...dumpArgs(collection)], { input: `${password}\n`, captureStdout: false });
    const query = Buffer.from(queryFor(ids));
    return start('docker', ['exec', '-i', container, 'sh', '-c', CONTAINER_QUERY_DUMP, 'sh', String(query.length), ...dumpArgs(collection)], {
      input: Buffer.concat([query, Buffer.from(`${password}\n`)]),
      captureStdout: false,
    });
  };
  return {
    label,
    database,
    secrets,
    inventory: async () => {
      const r = await shell({}, 'the inventory');
      const inv = parseInventory(r.stdout);
      if (!inv) throw new UserError(`no inventory from ${label}: ${r.stdout.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
      return inv;
    },
    digest: () => digestStream(start('docker', ['exec', '-i', container, 'mongodump', ...dumpArgs()], { input: `${password}\n`, captureStdout: false }), database, label, secrets),
    digestIds: async (collection, ids) => (await digestStream(dump(collection, ids), database, label, secrets))[collection] ?? EMPTY(),
    remove: async (collection, ids) => {
      const r = await shell({ remove: { collection, ids: tagged(ids) } }, `removing ${ids.length} document(s) of ${collection}`);
      return removedCount(r, label);
    },
    dump,
    restore: (collection, drop) => {
      const args = [...auth, `--nsInclude=${database}.${collection}`, '--stopOnError', ...(drop ? ['--drop'] : [])];
      const s = start('docker', ['exec', '-i', container, 'sh', '-c', CONTAINER_RESTORE, 'sh', ...args]);
      s.child.stdin!.write(`${password}\n`);
      return s;
    },
  };
}

const removedCount = (r: RunResult, where: string) => {
  const line = r.stdout.split('\n').filter((l) => l.startsWith('{"removed"')).pop();
  if (!line) throw new UserError(`removing documents in ${where} gave no count: ${r.stdout.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
  return (JSON.parse(line) as { removed: number }).removed;
};

// ---- the new MongoDB, in mongodb-0 ----------------------------------------------------------------------------

/**
 * In mongodb-0 (bash, mongosh, the 100.x tools), before any command: a private scratch directory, removed on exit, as
 * HOME (mongosh writes there; the root filesystem is read-only), and mongo-tools' --config written there by mongosh
 * from the pod's credential files (mongodb-inventory.js, DUMP_CONFIG). $1 the inventory script, $2 host:port, $3 the
 * database.
 */
const POD_PRELUDE = `set -euo pipefail
umask 077
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export HOME="$scratch"
inventory=$1 host=$2 db=$3
shift 3
config() { DUMP_CONFIG="$scratch/tools.yaml" MONGO_HOST="$host" DATABASE="$db" mongosh --nodb --quiet --norc --eval "$inventory" </dev/null >/dev/null; }`;
/** The inventory (or a removal: $1 a JSON file's contents on stdin) run as a file. */
const POD_SHELL = `${POD_PRELUDE}
cat >"$scratch/params.json"
MONGO_HOST="$host" DATABASE="$db" PARAMS_FILE="$scratch/params.json" mongosh --nodb --quiet --norc --eval "$inventory"`;
/** $1 "all", or "ids" with the query on stdin; then mongodump's own arguments. */
const POD_QUERY = `mode=$1
shift
if [ "$mode" = ids ]; then cat >"$scratch/query.json"; set -- "$@" --queryFile="$scratch/query.json"; fi`;
/** mongodump of the database or one collection piped through the digest in mongosh ($1 the digest program). */
const POD_DIGEST = `${POD_PRELUDE}
digest=$1
shift
config
${POD_QUERY}
mongodump --config="$scratch/tools.yaml" --db="$db" --archive "$@" | mongosh --nodb --quiet --norc --eval "$digest"`;
/** mongodump of one collection to stdout. */
const POD_DUMP = `${POD_PRELUDE}
config
${POD_QUERY}
mongodump --config="$scratch/tools.yaml" --db="$db" --archive "$@"`;
/** mongorestore from the archive on stdin. --stopOnError: without it a document it cannot insert is skipped, exit 0. */
const POD_RESTORE = `${POD_PRELUDE}
config
mongorestore --config="$scratch/tools.yaml" --archive --stopOnError "$@"`;

export function podSide(o: { kubectl: Kubectl; namespace: string; pod: string; port: number; database: string }): MongoSide {
  const { kubectl, database } = o;
  const label = `${o.namespace}/${o.pod}`;
  const target = `127.0.0.1:${o.port}`;
  const execArgv = (body: string, ...args: string[]) => kubectl.argv(['exec', '-i', '-n', o.namespace, o.pod, '--', 'bash', '-c', body, 'roomler', INVENTORY_JS(), target, database, ...args]);
  const digestProgram = `${DIGEST_JS()}\nROOMLER_DIGEST_MAIN(${JSON.stringify(database)})`;
  const runIn = (body: string, args: string[], input?: string) => run('kubectl', execArgv(body, ...args), { input, timeoutMs: 600_000 });
  const digestVia = async (args: string[], input: string | undefined, what: string) => {
    const r = await runIn(POD_DIGEST, [digestProgram, input === undefined ? 'all' : 'ids', ...args], input ?? '');
    if (r.exitCode !== 0) throw new UserError(`${what} in ${label} failed ${failure(r)}`);
    return parseDigestLines(r.stdout, label);
  };
  return {
    label,
    database,
    secrets: [],
    inventory: async () => {
      const r = await runIn(POD_SHELL, [], '{}');
      if (r.exitCode !== 0) throw new UserError(`cannot query ${label} ${failure(r)}`);
      const inv = parseInventory(r.stdout);
      if (!inv) throw new UserError(`no inventory from ${label}: ${r.stdout.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
      return inv;
    },
    digest: () => digestVia([], undefined, 'the digest of every document'),
    digestIds: async (collection, ids) =>
      (await digestVia([`--collection=${collection}`], ids === 'all' ? undefined : queryFor(ids), `the digest of ${collection}`))[collection] ?? EMPTY(),
    remove: async (collection, ids) => {
      const r = await runIn(POD_SHELL, [], JSON.stringify({ remove: { collection, ids: tagged(ids) } }));
      if (r.exitCode !== 0) throw new UserError(`removing ${ids.length} document(s) of ${collection} in ${label} failed ${failure(r)}`);
      return removedCount(r, label);
    },
    dump: (collection, ids) => {
      const s = start('kubectl', execArgv(POD_DUMP, ids === 'all' ? 'all' : 'ids', `--collection=${collection}`), { captureStdout: false });
      s.child.stdin!.end(ids === 'all' ? '' : queryFor(ids));
      return s;
    },
    restore: (collection, drop) => start('kubectl', execArgv(POD_RESTORE, `--nsInclude=${database}.${collection}`, ...(drop ? ['--drop'] : []))),
  };
}

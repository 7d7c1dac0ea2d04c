import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { type Db, MongoClient, ObjectId } from 'mongodb';

import { accepts, freePort } from '../../hack/lib/process/ports';
import { daemon, stopGroup } from '../../hack/lib/process/run';
import { emptyDir } from './files';
import { ROOT } from './roomler';
import { toolchainDir } from './toolchain';

// The real MongoDB toolchain for tests (docs/mongodb.md): mongodump/mongorestore 100.18.0 and FerretDB v1.24.2 from
// the cache (hack/toolchain/mongo-tools.sh, ferretdb.sh; built by .ci/run before the tests, here only on a machine
// that skipped it), mongosh 2.12.0 from node_modules. FerretDB (SQLite backend) is the MongoDB server.

/** The cached bin directory with mongodump and mongorestore. */
export const mongoToolsBin = () => toolchainDir('mongo-tools');
export const ferretdbBin = () => toolchainDir('ferretdb');
export const NODE_BIN = join(ROOT, 'node_modules', '.bin');
/** PATH with the real mongodump, mongorestore and mongosh first. */
export const mongoPath = () => `${mongoToolsBin()}:${NODE_BIN}:${process.env.PATH}`;

export interface Server {
  readonly host: string;
  readonly port: number;
  /** The SQLite directory. */
  readonly dataDir: string;
  /** Connection string with the credentials, for the test's own driver (never in any argv). */
  readonly uri: string;
  stop(): Promise<void>;
}

const running = new Set<Server>();

/**
 * A FerretDB on a free loopback port, SQLite files in `dataDir` (default: a fresh temp dir). With `user`, the root
 * user is created at start (FerretDB's new authentication: SCRAM, users in admin) and unauthenticated access refused,
 * as with mongod --auth; the password reaches FerretDB in its environment, never its argv.
 */
export async function startServer(opts: { user?: string; password?: string; dataDir?: string; port?: number } = {}): Promise<Server> {
  const dir = emptyDir('roomler-ferretdb-');
  const dataDir = opts.dataDir ?? join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const log = join(dir, 'ferretdb.log');
  const auth = opts.user ? ['--test-enable-new-auth'] : [];
  const env = opts.user
    ? { FERRETDB_SETUP_USERNAME: opts.user, FERRETDB_SETUP_PASSWORD: opts.password, FERRETDB_SETUP_DATABASE: 'admin' }
    : {};
  // --debug-addr=-: no metrics listener (its default 127.0.0.1:8088 is Janus's port in other tests).
  const child = daemon(
    ferretdbBin(),
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dataDir}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
      ...auth,
    ],
    { logFile: log, env },
  );
  const deadline = Date.now() + 20_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`FerretDB did not start on ${port}: ${readFileSync(log, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const userinfo = opts.user ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password ?? '')}@` : '';
  const server: Server = {
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    uri: `mongodb://${userinfo}127.0.0.1:${port}/admin`,
    stop: async () => {
      running.delete(server);
      await stopGroup(child.pid!);
    },
  };
  running.add(server);
  return server;
}

/** Stops every server still running (afterAll). */
export async function stopServers(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

/**
 * Runs `fn` on database `database` of `server` through the Node driver, in the test's own process: the test's reads and
 * writes. The code under test runs the real mongosh, mongodump and mongorestore; the test's side needs no shell (a
 * mongosh start costs ~1 CPU-second, and the suite starts the code under test's own by the hundred).
 */
export async function withDb<T>(server: Pick<Server, 'uri'>, fn: (d: Db) => Promise<T>, database = 'roomlerdb'): Promise<T> {
  const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 20_000, socketTimeoutMS: 60_000 });
  try {
    return await fn(client.db(database));
  } finally {
    await client.close();
  }
}

/** What seedRoomler writes: the messages, and the documents of all four collections (500 + 100 + messages + 40). */
export const SEED = { messages: 6000, documents: 6640 } as const;

/**
 * A realistic Roomler database: 500 users, 100 rooms, SEED.messages messages (sizes vary), 40 sessions; unique indexes (one
 * named), compound secondary indexes with descending keys.
 */
export async function seedRoomler(server: Pick<Server, 'uri'>): Promise<void> {
  await withDb(server, async (d) => {
    const users = Array.from({ length: 500 }, (_, i) => ({
      _id: new ObjectId(),
      email: `user${i}@example.org`,
      username: `user${i}`,
      createdAt: new Date(1700000000000 + i * 1000),
      roles: i % 50 ? ['member'] : ['member', 'admin'],
    }));
    await d.collection('users').insertMany(users);
    await d.collection('users').createIndex({ email: 1 }, { unique: true });
    await d.collection('users').createIndex({ username: 1 }, { unique: true, name: 'username_unique' });
    const rooms = Array.from({ length: 100 }, (_, i) => ({
      _id: new ObjectId(),
      name: `room-${i}`,
      owner: users[i]._id,
      members: [users[i]._id, users[i + 1]._id],
      createdAt: new Date(1700000000000 + i),
    }));
    await d.collection('rooms').insertMany(rooms);
    await d.collection('rooms').createIndex({ name: 1 }, { unique: true });
    await d.collection('rooms').createIndex({ owner: 1, createdAt: -1 });
    const messages = Array.from({ length: SEED.messages }, (_, i) => ({
      room: rooms[i % 100]._id,
      author: users[i % 500]._id,
      content: `message ${i} ${'x'.repeat(i % 300)}`,
      createdAt: new Date(1700000000000 + i),
    }));
    for (let i = 0; i < messages.length; i += 2000) await d.collection('messages').insertMany(messages.slice(i, i + 2000));
    await d.collection('messages').createIndex({ room: 1, createdAt: -1 });
    await d.collection('messages').createIndex({ author: 1 });
    await d
      .collection('sessions')
      .insertMany(Array.from({ length: 40 }, (_, i) => ({ user: users[i]._id, token: `token-${i}`, expires: new Date(1800000000000) })));
    await d.collection('sessions').createIndex({ token: 1 }, { unique: true });
  });
}

/** Counts and index definitions per collection, read by the test itself (not the code under test). */
export async function contents(server: Pick<Server, 'uri'>): Promise<Record<string, { count: number; indexes: unknown[] }>> {
  return withDb(server, async (d) => {
    const out: Record<string, { count: number; indexes: unknown[] }> = {};
    const names = (await d.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    for (const n of names) {
      const indexes = (await d.collection(n).listIndexes().toArray())
        .map(({ v: _v, ns: _ns, ...i }) => i)
        .sort((a, b) => String(a.name).localeCompare(String(b.name)));
      out[n] = { count: await d.collection(n).countDocuments({}), indexes };
    }
    return out;
  });
}

/** Each collection's documents as raw BSON hex, sorted: what "equal" means, read by the test's own driver. */
export async function rawDocuments(server: Server): Promise<Record<string, string[]>> {
  return withDb(server, async (d) => {
    const out: Record<string, string[]> = {};
    for (const c of (await d.listCollections({}, { nameOnly: true }).toArray()).map((x) => x.name).sort()) {
      const docs = (await d.collection(c).find({}, { raw: true }).toArray()) as unknown as Buffer[];
      out[c] = docs.map((b) => Buffer.from(b).toString('hex')).sort();
    }
    return out;
  });
}

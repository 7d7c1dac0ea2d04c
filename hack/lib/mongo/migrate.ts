import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { parse as parseDotenv } from 'dotenv';

import { type InstanceConfig, type LoadedConfig, NAMES } from '../../../lib/config';
import { config, PROJECT_ROOT, projectDir, UserError } from '../cli';
import type { Kubectl } from '../cluster/kubectl';
import { onInterrupt, run, type RunResult, start } from '../process/run';
import { containerSide, type MongoSide, podSide } from './sides';
import { inventoryLines, syncOnce } from './sync';
import { dumpedCounts, failure, type Inventory, parseInventory } from './tools';

export interface MigrateMongoOptions {
  /** Replace a non-empty target database. */
  readonly force: boolean;
  /** Instance name from the config; default the first. */
  readonly instance?: string;
  readonly kubectl: Kubectl;
  readonly yes: boolean;
}

/** The inventory script the backup CronJobs run, also run on both sides of the migration (it is ES5 for the 4.0 shell). */
const INVENTORY_JS = join(PROJECT_ROOT, 'lib', 'scripts', 'mongodb-inventory.js');

/**
 * In the old container (sh, the legacy `mongo` shell): the inventory script arrives on stdin with the old root
 * password in it, is kept in a 0600 temp file only while the shell runs it (the legacy shell runs a script file, not a
 * script on stdin without echoing prompts), and never appears on a command line.
 */
const SOURCE_SHELL = `umask 077; f=$(mktemp --suffix=.js) || exit 1; trap 'rm -f "$f"' EXIT; cat >"$f" && mongo --quiet --norc --nodb "$f"`;

/**
 * In mongodb-0 (bash, mongosh, mongorestore), before either command: a private scratch directory, removed on exit, as
 * HOME (mongosh writes there; the root filesystem is read-only) and for mongorestore's --config.
 */
const POD_PRELUDE = `set -eu
umask 077
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export HOME="$scratch"`;
/**
 * The inventory script arrives on stdin and runs as a file: piped into mongosh it runs in the REPL, which echoes
 * prompts, and `--file /dev/stdin` fails (ENXIO) when stdin is a socket. $1 host:port, $2 database.
 */
const POD_INVENTORY = `${POD_PRELUDE}
cat >"$scratch/inventory.js"
MONGO_HOST="$1" DATABASE="$2" mongosh --nodb --quiet --norc --file "$scratch/inventory.js"`;
/**
 * mongosh writes mongorestore's --config from the pod's credential files (mongodb-inventory.js, DUMP_CONFIG), then
 * mongorestore reads the archive from stdin; mongosh must not read stdin: it is the archive. --stopOnError: without
 * it mongorestore skips documents it cannot insert (a duplicate key, a full disk) and still exits 0.
 * $1 the inventory script, $2 host:port, $3 database, $4 "--drop" or "".
 */
const POD_RESTORE = `${POD_PRELUDE}
DUMP_CONFIG="$scratch/restore.yaml" MONGO_HOST="$2" DATABASE="$3" mongosh --nodb --quiet --norc --eval "$1" </dev/null >/dev/null
mongorestore --config="$scratch/restore.yaml" --archive --gzip --nsInclude="$3.*" --stopOnError \${4:+"$4"}`;

/** The value of a settled promise, or its error thrown. */
const settled = <T>(r: PromiseSettledResult<T>): T => {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
};
const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
const indexCount = (i: Inventory) => Object.values(i.indexes).reduce((a, l) => a + l.length, 0);
const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

/**
 * `bin/roomler migrate mongo`: streams `mongodump --archive --gzip` from the old Docker MongoDB straight into
 * `mongorestore` in the `mongodb-0` pod (no temp file), then checks that the target holds, per collection, the
 * documents mongodump read and the source's index definitions, and says how many documents reached the source after
 * its dump started. Passwords never appear in argv: the old one (MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD from the
 * environment or `.env`) goes to mongodump and the old shell on stdin; the new one never leaves the pod (its scripts
 * read the credential files named by $SECRET_DIR, MONGODB_CREDENTIALS).
 */
/** The instance a MongoDB command works on, by name or the first. */
export function mongoInstance(cfg: LoadedConfig, name?: string): InstanceConfig {
  const instance = name ? cfg.instances.find((i) => i.name === name) : cfg.instances[0];
  if (!instance)
    throw new UserError(`no instance named ${name} in the config (instances: ${cfg.instances.map((i) => i.name).join(', ')})`, 2);
  return instance;
}

/** The old MongoDB's root credentials: MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD from the environment or `.env`. */
export function oldCredentials(): { user: string; password: string } {
  const dir = projectDir();
  const dotenv = existsSync(join(dir, '.env')) ? parseDotenv(readFileSync(join(dir, '.env'))) : {};
  const secret = (name: string) => process.env[name] || dotenv[name];
  const missing = ['MONGO_ROOT_USERNAME', 'MONGO_ROOT_PASSWORD'].filter((n) => !secret(n));
  if (missing.length)
    throw new UserError(`missing ${missing.join(', ')} (the old MongoDB's root credentials) in the environment or ${join(dir, '.env')}`);
  return { user: secret('MONGO_ROOT_USERNAME')!, password: secret('MONGO_ROOT_PASSWORD')! };
}

/** The two MongoDBs of the migration: the old one in its container (source) and mongodb-0 (target). */
export function migrationSides(cfg: LoadedConfig, kubectl: Kubectl, instanceName?: string): { source: MongoSide; target: MongoSide } {
  const instance = mongoInstance(cfg, instanceName);
  const { user, password } = oldCredentials();
  const { container, port } = cfg.root.migrate.mongo;
  return {
    source: containerSide({ container, port, database: instance.mongodb.database, user, password }),
    target: podSide({
      kubectl,
      namespace: instance.namespace,
      pod: `${NAMES.mongodb}-0`,
      port: instance.mongodb.port,
      database: instance.mongodb.database,
    }),
  };
}

/**
 * `bin/roomler migrate mongo --sync`: the incremental sync (sync.ts) from the old MongoDB into mongodb-0: copies only
 * the documents that differ, then proves the two equal and prints both inventories.
 */
export async function syncMongo(o: { instance?: string; kubectl: Kubectl; yes: boolean }): Promise<number> {
  const cfg = config();
  const { source, target } = migrationSides(cfg, o.kubectl, o.instance);
  const instance = mongoInstance(cfg, o.instance);
  await o.kubectl.confirmChange('migrate mongo --sync', [instance.namespace], o.yes, [
    `database:        ${target.database} in ${target.label} (made equal to ${source.label}: only what differs is copied)`,
  ]);
  const log = (s: string) => void process.stderr.write(`migrate mongo: ${s}\n`);
  const report = await syncOnce(source, target, log);
  for (const l of inventoryLines(report, source.label, target.label)) process.stdout.write(`${l}\n`);
  process.stdout.write(
    `migrate mongo: OK ${report.collections.length} collections, ${report.documents} documents: ${target.label} equals ${source.label} (counts, indexes, fingerprints); ${report.changed} change(s) copied in ${(report.timings.total / 1000).toFixed(1)} s\n`,
  );
  return 0;
}

export async function migrateMongo(o: MigrateMongoOptions): Promise<number> {
  const { force, kubectl } = o;
  const cfg = config();
  const instance = mongoInstance(cfg, o.instance);
  const { user, password } = oldCredentials();
  const secrets = [password];

  const { container, port: sourcePort } = cfg.root.migrate.mongo;
  const db = instance.mongodb.database;
  const pod = `${NAMES.mongodb}-0`;
  const where = `${instance.namespace}/${pod}`;
  const targetHost = `127.0.0.1:${instance.mongodb.port}`;
  const kubectlExec = ['exec', '-i', '-n', instance.namespace, pod, '--'];
  const log = (s: string) => void process.stderr.write(`migrate mongo: ${s}\n`);
  const inventoryJs = readFileSync(INVENTORY_JS, 'utf8');

  const inventory = async (what: string, r: RunResult): Promise<Inventory> => {
    if (r.exitCode !== 0) throw new UserError(`cannot query ${what} ${failure(r, secrets)}`);
    const inv = parseInventory(r.stdout);
    if (!inv) throw new UserError(`no inventory from ${what}: ${r.stdout.trim().split('\n').pop()?.slice(0, 200) || '(no output)'}`);
    return inv;
  };
  const targetInventory = async () =>
    inventory(
      where,
      await kubectl.run([...kubectlExec, 'bash', '-c', POD_INVENTORY, 'roomler-inventory', targetHost, db], {
        input: inventoryJs,
        timeoutMs: 300_000,
      }),
    );
  const sourceParams = JSON.stringify({ host: `127.0.0.1:${sourcePort}`, database: db, user, password });
  const sourceInventory = async () =>
    inventory(
      `the old MongoDB in container ${container}`,
      await run('docker', ['exec', '-i', container, 'sh', '-c', SOURCE_SHELL], {
        input: `var ROOMLER_INVENTORY = ${sourceParams};\n${inventoryJs}`,
        timeoutMs: 300_000,
      }),
    );

  await kubectl.connect(); // a precise message when the cluster cannot be used, before any exec
  // Both inventories at once (each is a shell start plus a count of every collection): in the final sync they are
  // part of the write-free window. The target's answer is judged first: a refusal names the target.
  const [beforeR, sourceR] = await Promise.allSettled([targetInventory(), sourceInventory()]);
  const before = settled(beforeR);
  if (total(before.collections) > 0 && !force) {
    throw new UserError(
      `target ${db} in ${where} already holds ${total(before.collections)} documents in ${Object.keys(before.collections).length} collection(s); nothing was changed. Re-run with --force to replace them.`,
    );
  }
  const source = settled(sourceR);
  await kubectl.confirmChange('migrate mongo', [instance.namespace], o.yes, [
    `database:        ${db} in ${where}${force ? ' (replaced: --force)' : ''}`,
    `source:          container ${container}, ${total(source.collections)} documents`,
  ]);
  log(
    `source ${container}/${db}: ${Object.keys(source.collections).length} collections, ${total(source.collections)} documents, ${indexCount(source)} indexes`,
  );

  let bytes = 0;
  const counter = new PassThrough();
  counter.on('data', (chunk: Buffer) => (bytes += chunk.length));
  // mongo-tools read the password from stdin when --username comes without --password and stdin is no terminal
  // (a bare --password is a parse error). The 4.0 tools in the old container have no --config.
  const dump = start(
    'docker',
    [
      'exec',
      '-i',
      container,
      'mongodump',
      `--host=127.0.0.1:${sourcePort}`,
      `--username=${user}`,
      '--authenticationDatabase=admin',
      `--db=${db}`,
      '--archive',
      '--gzip',
    ],
    {
      input: `${password}\n`,
      captureStdout: false,
    },
  );
  const load = start(
    'kubectl',
    kubectl.argv([...kubectlExec, 'bash', '-c', POD_RESTORE, 'roomler-restore', inventoryJs, targetHost, db, force ? '--drop' : '']),
  );
  dump.child.stdout!.pipe(counter).pipe(load.child.stdin!);
  // A side that fails stops the other at once: a restore that died leaves mongodump blocked on a full pipe (and this
  // command printing progress forever); a dump that died must not be restored as if complete. Blame goes to the side
  // that failed on its own: a dump that fails ends its output first, so a restore that then fails on the truncated
  // archive is not the cause.
  let dumpOutputEnded = false;
  let dumpStopped = false;
  dump.child.stdout!.on('end', () => (dumpOutputEnded = true));
  void load.done.then(() => {
    if (!dumpOutputEnded) {
      dumpStopped = true;
      // mongodump blocked on the full pipe does not act on SIGTERM (it waits for that write): closing the pipe ends
      // the write with EPIPE; stop() still escalates to SIGKILL.
      dump.child.stdout!.unpipe();
      dump.child.stdout!.destroy();
      dump.stop();
    }
  });
  void dump.done.then((r) => {
    if (r.exitCode !== 0 && !dumpStopped) load.stop();
  });
  const stopInterrupt = onInterrupt(() =>
    log('interrupted; the target keeps what mongorestore inserted so far (re-run with --force to replace it)'),
  );
  const progress = setInterval(() => log(`streamed ${(bytes / 1e6).toFixed(1)} MB`), 5000);
  const [d, l] = await Promise.all([dump.done, load.done]).finally(() => {
    clearInterval(progress);
    stopInterrupt();
  });
  const partial = `; the target keeps what mongorestore inserted so far (re-run with --force to replace it)`;
  if (d.exitCode !== 0 && !dumpStopped)
    throw new UserError(`mongodump in container ${container} failed ${failure(d, secrets)}; mongorestore was stopped${partial}`);
  if (l.exitCode !== 0 || dumpStopped) {
    const why = l.exitCode === 0 ? 'ended before the dump was complete' : `failed ${failure(l, secrets)}`;
    throw new UserError(`mongorestore in ${where} ${why}${dumpStopped ? '; mongodump was stopped' : ''}${partial}`);
  }
  log(`streamed ${bytes} bytes; verifying counts and indexes`);

  const dumped = dumpedCounts(d.stderr, db);
  if (!Object.keys(dumped).length && Object.keys(source.collections).length) {
    throw new UserError(
      `mongodump in container ${container} reported no "done dumping … (N documents)" lines, so the restore cannot be verified; its last words: ${failure(d, secrets).replace(/^\(exit 0\): /, '')}`,
    );
  }
  const [afterR, sourceAfterR] = await Promise.allSettled([targetInventory(), sourceInventory()]);
  const [after, sourceAfter] = [settled(afterR), settled(sourceAfterR)];
  const diffs: string[] = [];
  for (const c of [...new Set([...Object.keys(dumped), ...Object.keys(after.collections)])].sort()) {
    if (dumped[c] !== after.collections[c])
      diffs.push(
        `${c}: mongodump read ${dumped[c] ?? 'nothing (no such collection in the dump)'}, target holds ${after.collections[c] ?? 'no such collection'}`,
      );
    const want = source.indexes[c] ?? sourceAfter.indexes[c];
    if (want && after.indexes[c] && JSON.stringify(want) !== JSON.stringify(after.indexes[c])) {
      diffs.push(`${c}: indexes differ: source ${JSON.stringify(want)}, target ${JSON.stringify(after.indexes[c])}`);
    }
  }
  if (diffs.length) throw new UserError(`the target does not match the dump:\n  ${diffs.join('\n  ')}`);
  process.stdout.write(
    `migrate mongo: OK ${Object.keys(after.collections).length} collections, ${total(after.collections)} documents and ${indexCount(after)} indexes in ${where} match what mongodump read from ${container}\n`,
  );

  // Writes during the migration: the target has what the dump read; whatever arrived later is the final sync's job.
  const arrived = [...new Set([...Object.keys(source.collections), ...Object.keys(sourceAfter.collections)])]
    .sort()
    .map((c) => [c, (sourceAfter.collections[c] ?? 0) - (source.collections[c] ?? 0)] as const)
    .filter(([, n]) => n !== 0);
  if (arrived.length) {
    const n = arrived.reduce((a, [, k]) => a + k, 0);
    process.stdout.write(
      `migrate mongo: ${n} documents arrived on the source after the dump started (count before the dump vs after the restore: ${arrived.map(([c, k]) => `${c} ${signed(k)}`).join(', ')}); ` +
        `the target may lack them: stop the writers and run a final sync (migrate mongo --force) before the cutover\n`,
    );
  }
  return 0;
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { parse as parseDotenv } from 'dotenv';

import { type InstanceConfig, type LoadedConfig, NAMES } from '../../../lib/config';
import { UserError } from '../cli';
import type { IO } from '../cli/io';
import type { Kubectl } from '../cluster/kubectl';
import { onInterrupt, type RunResult } from '../process/run';
import { containerSide, type MongoSide, podSide } from './sides';
import { inventoryLines, syncOnce } from './sync';
import { dumpedCounts, failure, type Inventory } from './tools';

export interface MigrateMongoOptions {
  /** Replace a non-empty target database. */
  readonly force: boolean;
  /** Instance name from the config; default the first. */
  readonly instance?: string;
  readonly kubectl: Kubectl;
  readonly yes: boolean;
  /** Where `.env` is (the old MongoDB's credentials). */
  readonly projectDir: string;
}

/** The value of a settled promise, or its error thrown. */
const settled = <T>(r: PromiseSettledResult<T>): T => {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
};
const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
const indexCount = (i: Inventory) => Object.values(i.indexes).reduce((a, l) => a + l.length, 0);
const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

/** The instance a MongoDB command works on, by name or the first. */
export function mongoInstance(cfg: LoadedConfig, name?: string): InstanceConfig {
  const instance = name ? cfg.instances.find((i) => i.name === name) : cfg.instances[0];
  if (!instance)
    throw new UserError(`no instance named ${name} in the config (instances: ${cfg.instances.map((i) => i.name).join(', ')})`, 2);
  return instance;
}

/** The old MongoDB's root credentials: MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD from the environment or `.env`. */
export function oldCredentials(projectDir: string): { user: string; password: string } {
  const dotenv = existsSync(join(projectDir, '.env')) ? parseDotenv(readFileSync(join(projectDir, '.env'))) : {};
  const secret = (name: string) => process.env[name] || dotenv[name];
  const missing = ['MONGO_ROOT_USERNAME', 'MONGO_ROOT_PASSWORD'].filter((n) => !secret(n));
  if (missing.length)
    throw new UserError(
      `missing ${missing.join(', ')} (the old MongoDB's root credentials) in the environment or ${join(projectDir, '.env')}`,
    );
  return { user: secret('MONGO_ROOT_USERNAME')!, password: secret('MONGO_ROOT_PASSWORD')! };
}

/** The two MongoDBs of the migration: the old one in its container (source) and mongodb-0 (target). */
export function migrationSides(
  cfg: LoadedConfig,
  o: { kubectl: Kubectl; projectDir: string; instance?: string },
): { source: MongoSide; target: MongoSide } {
  const instance = mongoInstance(cfg, o.instance);
  const { user, password } = oldCredentials(o.projectDir);
  const { container, port } = cfg.root.migrate.mongo;
  return {
    source: containerSide({ container, port, database: instance.mongodb.database, user, password }),
    target: podSide({
      kubectl: o.kubectl,
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
export async function syncMongo(
  cfg: LoadedConfig,
  o: { instance?: string; kubectl: Kubectl; yes: boolean; projectDir: string },
  io: IO,
): Promise<void> {
  const { source, target } = migrationSides(cfg, o);
  const instance = mongoInstance(cfg, o.instance);
  await o.kubectl.confirmChange('migrate mongo --sync', [instance.namespace], o.yes, [
    `database:        ${target.database} in ${target.label} (made equal to ${source.label}: only what differs is copied)`,
  ]);
  const report = await syncOnce(source, target, { out: (l) => io.out(l), err: (l) => io.err(`migrate mongo: ${l}`) });
  for (const l of inventoryLines(report, source.label, target.label)) io.out(l);
  io.out(
    `migrate mongo: OK ${report.collections.length} collections, ${report.documents} documents: ${target.label} equals ${source.label} (counts, indexes, fingerprints); ${report.changed} change(s) copied in ${(report.timings.total / 1000).toFixed(1)} s`,
  );
}

/** One bulk copy: both MongoDBs (the old container's, mongodb-0), and names for messages. */
interface BulkCopy {
  readonly kubectl: Kubectl;
  readonly sides: { readonly source: MongoSide; readonly target: MongoSide };
  readonly container: string;
  readonly db: string;
  /** namespace/mongodb-0. */
  readonly where: string;
}

function bulkCopy(cfg: LoadedConfig, o: MigrateMongoOptions): BulkCopy {
  const sides = migrationSides(cfg, o);
  return { kubectl: o.kubectl, sides, container: cfg.root.migrate.mongo.container, db: sides.target.database, where: sides.target.label };
}

/**
 * Both inventories at once (each is a shell start plus a count of every collection): in the final sync they are part
 * of the write-free window. The target's answer is judged first: a refusal names the target.
 */
async function inventories(x: BulkCopy): Promise<{ target: Inventory; source: () => Inventory }> {
  const [targetR, sourceR] = await Promise.allSettled([x.sides.target.inventory(), x.sides.source.inventory()]);
  return { target: settled(targetR), source: () => settled(sourceR) };
}

/** mongodump in the old container and mongorestore in the pod, started (not yet connected). */
const startPipe = (x: BulkCopy, force: boolean) => ({ dump: x.sides.source.dumpDatabase(), load: x.sides.target.restoreDatabase(force) });

/** Streams the dump into the restore (no temp file); the dump's result for the verification, or the side that failed. */
async function stream(x: BulkCopy, force: boolean, io: IO): Promise<RunResult> {
  const log = (s: string) => io.err(`migrate mongo: ${s}`);
  const { dump, load } = startPipe(x, force);
  let bytes = 0;
  const counter = new PassThrough();
  counter.on('data', (chunk: Buffer) => (bytes += chunk.length));
  dump.child.stdout!.pipe(counter).pipe(load.child.stdin!);
  // A side that fails stops the other at once: a restore that died leaves mongodump blocked on a full pipe (and this
  // command printing progress forever); a dump that died must not be restored as if complete. Blame goes to the side
  // that failed on its own: a dump that fails ends its output first, so a restore that then fails on the truncated
  // archive is not the cause.
  let dumpOutputEnded = false;
  let dumpStopped = false;
  dump.child.stdout!.on('end', () => (dumpOutputEnded = true));
  void load.done.then(() => {
    if (dumpOutputEnded) return;
    dumpStopped = true;
    // mongodump blocked on the full pipe does not act on SIGTERM (it waits for that write): closing the pipe ends
    // the write with EPIPE; stop() still escalates to SIGKILL.
    dump.child.stdout!.unpipe();
    dump.child.stdout!.destroy();
    dump.stop();
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
    throw new UserError(
      `mongodump in container ${x.container} failed ${failure(d, x.sides.source.secrets)}; mongorestore was stopped${partial}`,
    );
  if (l.exitCode !== 0 || dumpStopped) {
    const why = l.exitCode === 0 ? 'ended before the dump was complete' : `failed ${failure(l, x.sides.source.secrets)}`;
    throw new UserError(`mongorestore in ${x.where} ${why}${dumpStopped ? '; mongodump was stopped' : ''}${partial}`);
  }
  log(`streamed ${bytes} bytes; verifying counts and indexes`);
  return d;
}

/** What mongodump says it wrote, per collection: without it, the restore cannot be verified. */
function dumpedBy(x: BulkCopy, d: RunResult, source: Inventory): Record<string, number> {
  const dumped = dumpedCounts(d.stderr, x.db);
  if (!Object.keys(dumped).length && Object.keys(source.collections).length) {
    throw new UserError(
      `mongodump in container ${x.container} reported no "done dumping … (N documents)" lines, so the restore cannot be verified; its last words: ${failure(d, x.sides.source.secrets).replace(/^\(exit 0\): /, '')}`,
    );
  }
  return dumped;
}

/** Per collection, the target must hold what mongodump read, with the source's index definitions. */
function verifyCopy(dumped: Record<string, number>, before: Inventory, sourceAfter: Inventory, after: Inventory): void {
  const diffs: string[] = [];
  for (const c of [...new Set([...Object.keys(dumped), ...Object.keys(after.collections)])].sort()) {
    if (dumped[c] !== after.collections[c])
      diffs.push(
        `${c}: mongodump read ${dumped[c] ?? 'nothing (no such collection in the dump)'}, target holds ${after.collections[c] ?? 'no such collection'}`,
      );
    const want = before.indexes[c] ?? sourceAfter.indexes[c];
    if (want && after.indexes[c] && JSON.stringify(want) !== JSON.stringify(after.indexes[c])) {
      diffs.push(`${c}: indexes differ: source ${JSON.stringify(want)}, target ${JSON.stringify(after.indexes[c])}`);
    }
  }
  if (diffs.length) throw new UserError(`the target does not match the dump:\n  ${diffs.join('\n  ')}`);
}

/**
 * Writes during the migration: the target has what the dump read; whatever arrived later is the final sync's job.
 * The line that says so, or undefined.
 */
function arrivals(before: Inventory, after: Inventory): string | undefined {
  const arrived = [...new Set([...Object.keys(before.collections), ...Object.keys(after.collections)])]
    .sort()
    .map((c) => [c, (after.collections[c] ?? 0) - (before.collections[c] ?? 0)] as const)
    .filter(([, n]) => n !== 0);
  if (!arrived.length) return undefined;
  const n = arrived.reduce((a, [, k]) => a + k, 0);
  return (
    `migrate mongo: ${n} documents arrived on the source after the dump started (count before the dump vs after the restore: ${arrived.map(([c, k]) => `${c} ${signed(k)}`).join(', ')}); ` +
    `the target may lack them: stop the writers and run a final sync (migrate mongo --force) before the cutover`
  );
}

/**
 * `bin/roomler migrate mongo`: streams `mongodump --archive --gzip` from the old Docker MongoDB straight into
 * `mongorestore` in the `mongodb-0` pod (no temp file), then checks that the target holds, per collection, the
 * documents mongodump read and the source's index definitions, and says how many documents reached the source after
 * its dump started. Passwords never appear in argv: the old one (MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD from the
 * environment or `.env`) goes to mongodump and the old shell on stdin; the new one never leaves the pod (its scripts
 * read the credential files named by $SECRET_DIR, MONGODB_CREDENTIALS). Progress goes to `io.err`, the verdict to
 * `io.out`.
 */
export async function migrateMongo(cfg: LoadedConfig, o: MigrateMongoOptions, io: IO): Promise<void> {
  const x = bulkCopy(cfg, o);
  await x.kubectl.connect(); // a precise message when the cluster cannot be used, before any exec
  const first = await inventories(x);
  if (total(first.target.collections) > 0 && !o.force) {
    throw new UserError(
      `target ${x.db} in ${x.where} already holds ${total(first.target.collections)} documents in ${Object.keys(first.target.collections).length} collection(s); nothing was changed. Re-run with --force to replace them.`,
    );
  }
  const source = first.source();
  await x.kubectl.confirmChange('migrate mongo', [mongoInstance(cfg, o.instance).namespace], o.yes, [
    `database:        ${x.db} in ${x.where}${o.force ? ' (replaced: --force)' : ''}`,
    `source:          container ${x.container}, ${total(source.collections)} documents`,
  ]);
  io.err(
    `migrate mongo: source ${x.container}/${x.db}: ${Object.keys(source.collections).length} collections, ${total(source.collections)} documents, ${indexCount(source)} indexes`,
  );
  const dumped = dumpedBy(x, await stream(x, o.force, io), source);
  const second = await inventories(x);
  const [after, sourceAfter] = [second.target, second.source()];
  verifyCopy(dumped, source, sourceAfter, after);
  io.out(
    `migrate mongo: OK ${Object.keys(after.collections).length} collections, ${total(after.collections)} documents and ${indexCount(after)} indexes in ${x.where} match what mongodump read from ${x.container}`,
  );
  const arrived = arrivals(source, sourceAfter);
  if (arrived) io.out(arrived);
}

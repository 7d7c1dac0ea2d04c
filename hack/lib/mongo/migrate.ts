import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse as parseDotenv } from 'dotenv';
import { MONGODB_CREDENTIALS, NAMES } from '../../../lib/config';
import { config, projectDir, UserError } from '../cli';
import type { Kubectl } from '../cluster/kubectl';
import { onInterrupt, run, start } from '../process/run';

type Counts = Record<string, number>;

export interface MigrateMongoOptions {
  /** Replace a non-empty target database. */
  readonly force: boolean;
  /** Instance name from the config; default the first. */
  readonly instance?: string;
  readonly kubectl: Kubectl;
  readonly yes: boolean;
}

/** Counts per collection, printed as one JSON line by a shell script read from stdin (no credentials in argv). */
const countScript = (connect: string, database: string) => `
${connect}
const d = db.getSiblingDB(${JSON.stringify(database)});
const counts = {};
d.getCollectionNames().sort().forEach(function (n) {
  const c = d.getCollection(n);
  counts[n] = typeof c.countDocuments === 'function' ? c.countDocuments({}) : c.count();
});
print(JSON.stringify(counts));
`;

function parseCounts(what: string, stdout: string): Counts {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    const v = JSON.parse(line);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    /* fall through */
  }
  throw new UserError(`could not read document counts from ${what}: ${line.slice(0, 200) || '(no output)'}`);
}

const total = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0);

/**
 * `npm run migrate -- mongo`: streams `mongodump --archive --gzip` from the old Docker MongoDB straight into
 * `mongorestore` in the `mongodb-0` pod (no temp file), then compares per-collection counts. Passwords travel
 * on stdin only: the old one from `.env` (MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD), the new one stays inside
 * the pod, read from its credential files ($SECRET_DIR, MONGODB_CREDENTIALS) by the scripts run there.
 */
export async function migrateMongo(o: MigrateMongoOptions): Promise<number> {
  const { force, kubectl } = o;
  const cfg = config();
  const instance = o.instance ? cfg.instances.find((i) => i.name === o.instance) : cfg.instances[0];
  if (!instance) throw new UserError(`no instance named ${o.instance} in the config (instances: ${cfg.instances.map((i) => i.name).join(', ')})`, 2);
  const dir = projectDir();
  const dotenv = existsSync(join(dir, '.env')) ? parseDotenv(readFileSync(join(dir, '.env'))) : {};
  const secret = (name: string) => process.env[name] || dotenv[name];
  const missing = ['MONGO_ROOT_USERNAME', 'MONGO_ROOT_PASSWORD'].filter((n) => !secret(n));
  if (missing.length) throw new UserError(`missing ${missing.join(', ')} (the old MongoDB's root credentials) in the environment or ${join(dir, '.env')}`);
  const [user, password] = [secret('MONGO_ROOT_USERNAME')!, secret('MONGO_ROOT_PASSWORD')!];

  const container = cfg.root.migrate.mongo.container;
  const db = instance.mongodb.database;
  const pod = `${NAMES.mongodb}-0`;
  const kubectlExec = ['exec', '-i', '-n', instance.namespace, pod, '--'];
  const log = (s: string) => void process.stderr.write(`migrate mongo: ${s}\n`);
  // The pod's credentials are files (MONGODB_CREDENTIALS), named by $SECRET_DIR in its environment.
  const creds = MONGODB_CREDENTIALS;

  const targetCounts = async () => {
    const connect = `const read = (k) => require('fs').readFileSync(process.env.${creds.dirEnv} + '/' + k, 'utf8').replace(/\\n+$/, ''); db = connect('mongodb://' + encodeURIComponent(read('${creds.username}')) + ':' + encodeURIComponent(read('${creds.password}')) + '@127.0.0.1:${instance.mongodb.port}/admin');`;
    const r = await kubectl.run([...kubectlExec, 'mongosh', '--quiet', '--norc', '--nodb'], { input: countScript(connect, db), timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new UserError(`cannot query ${instance.namespace}/${pod} (kubectl exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop()}`);
    return parseCounts(`${instance.namespace}/${pod}`, r.stdout);
  };
  const sourceCounts = async () => {
    const connect = `db.getSiblingDB('admin').auth(${JSON.stringify(user)}, ${JSON.stringify(password)});`;
    const r = await run('docker', ['exec', '-i', container, 'mongo', '--quiet', '--norc'], { input: countScript(connect, db), timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new UserError(`cannot query the old MongoDB in container ${container} (docker exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop()}`);
    return parseCounts(`container ${container}`, r.stdout);
  };

  await kubectl.connect(); // a precise message when the cluster cannot be used, before any exec
  const before = await targetCounts();
  if (total(before) > 0 && !force) {
    throw new UserError(`target ${db} in ${instance.namespace}/${pod} already holds ${total(before)} documents in ${Object.keys(before).length} collection(s); nothing was changed. Re-run with --force to replace them.`);
  }
  const source = await sourceCounts();
  await kubectl.confirmChange('migrate mongo', [instance.namespace], o.yes, [`database:        ${db} in ${instance.namespace}/${pod}${force ? ' (replaced: --force)' : ''}`, `source:          container ${container}, ${total(source)} documents`]);
  log(`source ${container}/${db}: ${Object.keys(source).length} collections, ${total(source)} documents`);

  // mongorestore reads its password from a 0600 file in the pod's /tmp, written and removed by this script.
  const restore = [
    'set -eu',
    'umask 077',
    'f=$(mktemp)',
    `trap 'rm -f "$f"' EXIT`,
    `printf 'password: "%s"\\n' "$(cat "$${creds.dirEnv}/${creds.password}")" >"$f"`,
    `mongorestore --config="$f" --username="$(cat "$${creds.dirEnv}/${creds.username}")" --authenticationDatabase=admin --host=127.0.0.1:${instance.mongodb.port} --archive --gzip --nsInclude=${JSON.stringify(`${db}.*`)}${force ? ' --drop' : ''}`,
  ].join('\n');

  let bytes = 0;
  const counter = new PassThrough();
  counter.on('data', (chunk: Buffer) => (bytes += chunk.length));
  // mongodump (mongo-tools) reads the password from stdin when --password has no value and stdin is no terminal.
  const dump = start('docker', ['exec', '-i', container, 'mongodump', `--username=${user}`, '--password', '--authenticationDatabase=admin', `--db=${db}`, '--archive', '--gzip'], {
    input: `${password}\n`,
    captureStdout: false,
  });
  const load = start('kubectl', kubectl.argv([...kubectlExec, 'bash', '-c', restore]));
  dump.child.stdout!.pipe(counter).pipe(load.child.stdin!);
  const stopInterrupt = onInterrupt(() => {
    log('interrupted; the target keeps what mongorestore inserted so far (re-run with --force to replace it)');
  });
  const progress = setInterval(() => log(`streamed ${(bytes / 1e6).toFixed(1)} MB`), 5000);
  const [d, l] = await Promise.all([dump.done, load.done]).finally(() => {
    clearInterval(progress);
    stopInterrupt();
  });
  if (d.exitCode !== 0) throw new UserError(`mongodump in container ${container} failed (exit ${d.exitCode}): ${d.stderr.trim().split('\n').pop()}`);
  if (l.exitCode !== 0) throw new UserError(`mongorestore in ${instance.namespace}/${pod} failed (exit ${l.exitCode}): ${l.stderr.trim().split('\n').pop()}`);
  log(`streamed ${bytes} bytes; verifying counts`);

  const after = await targetCounts();
  const diffs = [...new Set([...Object.keys(source), ...Object.keys(after)])]
    .sort()
    .filter((c) => source[c] !== after[c])
    .map((c) => `${c}: source ${source[c] ?? 'missing'}, target ${after[c] ?? 'missing'}`);
  if (diffs.length) throw new UserError(`count mismatch after restore:\n  ${diffs.join('\n  ')}`);
  process.stdout.write(`migrate mongo: OK ${Object.keys(source).length} collections, ${total(source)} documents in ${instance.namespace}/${pod} match ${container}\n`);
  return 0;
}

import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../../../lib/config';
import { PROJECT_ROOT, projectDir } from '../cli';
import { UserError } from '../cli/errors';
import { installSchedule, runBackups, verifyBackups } from '../backups/commands';
import { localStats, shq, sshRun } from '../backups/rsync';
import { backupSets } from '../backups/snapshots';
import { migrateUploads } from '../backups/uploads';
import { deploy, readDist, requiredSecrets } from '../cluster/deploy';
import type { Kubectl } from '../cluster/kubectl';
import { applySecrets } from '../cluster/secrets';
import { apply as cutoverApply, drain as cutoverDrain } from '../cutover/commands';
import { NginxControl } from '../cutover/nginx';
import { judged, oldHostsOf, plan as cutoverPlan } from '../cutover/plan';
import { splitHostPort } from '../cutover/probes';
import { runChecks } from '../cutover/verify';
import { clusterChecks, dnsChecks, probeChecks, turnChecks, type Line } from '../doctor/checks';
import { buildSecrets, secretSource } from '../cluster/secrets';
import { migrateMongo } from '../mongo/migrate';
import { run } from '../process/run';
import { checkDirs, hostDirs, prepareDirs } from './node';
import type { RunState } from './state';

// The migration day, step by step (docs/migration.md). Each step is one of the existing commands, or a few of them,
// with the checks before and after that make the next step safe. Steps that change something say what and where
// and ask first (or need --yes); their sub-commands then run without asking again.

export interface RunContext {
  readonly cfg: LoadedConfig;
  readonly projectDir: string;
  readonly kubectl: Kubectl;
  readonly yes: boolean;
  readonly log: (line: string) => void;
}

export interface StepResult {
  readonly outcome: string;
  readonly verified: string[];
  readonly manual: string[];
  readonly figures?: Record<string, number>;
}

export interface Step {
  readonly id: string;
  readonly title: string;
  /** What it changes and where; undefined for a read-only step. `state` holds the steps that ran before. */
  readonly changes?: (cfg: LoadedConfig, state?: RunState) => string[];
  /** The commands and hosts it touches. */
  readonly touches: (cfg: LoadedConfig) => string[];
  readonly checks: readonly string[];
  /** What must hold before the next step starts. */
  readonly gate: string;
  /** How to go back if it is the last thing that ran. */
  readonly rollback: string;
  readonly run: (ctx: RunContext) => Promise<StepResult>;
}

/** The containers of the old stack, by role: Docker names as the host nginx and `docker exec` know them. */
export function oldContainers(cfg: LoadedConfig): { app: string[]; janus: string[]; mongo: string } {
  const hostsTo = (match: (to: string) => boolean) => [...new Set(cfg.root.cutover.routes.filter((r) => match(r.to)).map((r) => splitHostPort(r.from).host))];
  return { app: hostsTo((to) => to.startsWith('roomler/')), janus: hostsTo((to) => !to.startsWith('roomler/')), mongo: cfg.root.migrate.mongo.container };
}

const docker = (args: string[]) => run('docker', args, { timeoutMs: 120_000 });
const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';

async function dockerStop(names: readonly string[], log: RunContext['log']): Promise<void> {
  for (const name of names) {
    const r = await docker(['stop', name]);
    if (r.exitCode !== 0) throw new UserError(`docker stop ${name} failed: ${lastLine(r.stderr)}`);
    log(`stopped container ${name}`);
  }
}

const linesFailed = (lines: readonly Line[]) => lines.filter((l) => l.status === 'fail');
const show = (l: Line) => `${l.status} ${l.check}: ${l.detail}`;

const bin = join(PROJECT_ROOT, 'bin', 'roomler');
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export const STEPS: readonly Step[] = [
  {
    id: 'prerequisites',
    title: 'Prerequisites: cluster, node, nginx, the old containers, disk space, versions',
    touches: (cfg) => [
      'kubectl config view / get --raw /api (the cluster and its credentials)',
      `ssh ${cfg.root.ssh.user}@${cfg.root.ssh.host}: rsync --version, df at the data paths`,
      `${[...cfg.root.cutover.nginx.exec, ...cfg.root.cutover.nginx.command].join(' ')} -t, and its master's workers`,
      `docker inspect ${[...new Set([...oldContainers(cfg).app, ...oldContainers(cfg).janus, oldContainers(cfg).mongo])].join(' ')}`,
    ],
    checks: ['kubectl, its context and the API server accepting the credentials', 'ssh to the node with rsync there', 'nginx -t passes and nginx runs', 'each old container exists and runs', 'free space on the node for the uploads, here for their backups', 'the Secrets deploy needs beyond .env (coturn-tls)'],
    gate: 'every check passes',
    rollback: 'nothing to undo: read-only',
    run: async ({ cfg, kubectl, log }) => {
      const verified: string[] = [];
      const problems: string[] = [];
      const manual: string[] = [];
      try {
        const t = await kubectl.connect();
        verified.push(`cluster: context ${t.context}, API server ${t.server}`);
        const v = await kubectl.run(['version', '-o', 'json'], { timeoutMs: 20_000 });
        if (v.exitCode === 0) {
          const j = JSON.parse(v.stdout);
          verified.push(`kubectl ${j.clientVersion?.gitVersion}, server ${j.serverVersion?.gitVersion}`);
        }
      } catch (e) {
        problems.push((e as Error).message);
      }
      const ssh = cfg.root.ssh;
      const uploads = cfg.root.migrate.uploads.source;
      const here = localStats(uploads);
      const nodePath = cfg.instances[0].app.uploads.hostPath;
      const r = await sshRun(ssh, `rsync --version | sed -n 1p; p=${shq(nodePath)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -1`, 30_000);
      if (r.exitCode !== 0) problems.push(`ssh ${ssh.user}@${ssh.host}:${ssh.port}: ${lastLine(r.stderr)}`);
      else {
        const [rsyncVersion, df] = r.stdout.trim().split('\n');
        const free = Number(df?.split(/\s+/)[3] ?? 0) * 1024;
        verified.push(`node ${ssh.host}: ${rsyncVersion}; ${Math.round(free / 2 ** 20)} MiB free at ${nodePath}`);
        if (free < here.bytes * 1.1) problems.push(`node ${ssh.host} has ${Math.round(free / 2 ** 20)} MiB free at ${nodePath}, the uploads need ${Math.round(here.bytes / 2 ** 20)} MiB`);
      }
      const backupFree = (() => {
        try {
          const s = statfsSync(cfg.root.backup.basePath.replace(/\/[^/]*$/, '') || '/');
          return s.bavail * s.bsize;
        } catch {
          return undefined;
        }
      })();
      if (backupFree !== undefined && backupFree < here.bytes * 1.1) problems.push(`${cfg.root.backup.basePath}: ${Math.round(backupFree / 2 ** 20)} MiB free here, the uploads' first snapshot needs ${Math.round(here.bytes / 2 ** 20)} MiB`);
      verified.push(`uploads here: ${here.files} files, ${Math.round(here.bytes / 2 ** 20)} MiB in ${uploads}`);
      const nginx = new NginxControl(cfg.root.cutover.nginx);
      const t = await nginx.test();
      if (!t.ok) problems.push(`nginx -t: ${t.output.split('\n').pop()}`);
      else verified.push('nginx -t passes');
      try {
        verified.push(`nginx master with ${(await nginx.workers()).length} workers`);
      } catch (e) {
        problems.push((e as Error).message);
      }
      const { app, janus, mongo } = oldContainers(cfg);
      for (const name of [...new Set([...app, ...janus, mongo])]) {
        const d = await docker(['inspect', '--format', '{{.State.Running}}', name]);
        if (d.exitCode !== 0) problems.push(`container ${name}: ${lastLine(d.stderr) || 'docker inspect failed'}`);
        else if (d.stdout.trim() !== 'true') problems.push(`container ${name} exists but is not running`);
        else verified.push(`container ${name} runs`);
      }
      // Secrets deploy needs that .env cannot provide (the TLS certificate).
      const coturn = cfg.root.coturn;
      if (coturn.enabled) {
        const s = await kubectl.run(['get', 'secret', coturn.tlsSecretName, '-n', coturn.namespace, '-o', 'name'], { timeoutMs: 20_000 });
        if (s.exitCode !== 0) problems.push(`Secret ${coturn.namespace}/${coturn.tlsSecretName} (coturn's TLS certificate) is missing: kubectl -n ${coturn.namespace} create secret tls ${coturn.tlsSecretName} --cert=fullchain.pem --key=privkey.pem`);
        else verified.push(`Secret ${coturn.namespace}/${coturn.tlsSecretName} exists`);
      }
      // Every value the Secrets need, as secrets apply will build them (the same code).
      try {
        verified.push(`${buildSecrets(cfg, secretSource(cfgDir(cfg))).length} Secrets can be built from .env and the environment`);
      } catch (e) {
        problems.push((e as Error).message);
      }
      for (const l of verified) log(`  ok ${l}`);
      if (problems.length) throw new UserError(`prerequisites not met:\n  - ${problems.join('\n  - ')}`);
      return { outcome: `${verified.length} checks passed`, verified, manual };
    },
  },
  {
    id: 'prepare-node',
    title: 'Prepare the node: every hostPath directory the manifests use, owned by the uid/gid that writes it',
    changes: (cfg) => hostDirs(readDist(join(cfgDir(cfg), 'dist'))).map((d) => `${d.node} ${d.path}: install -d -o ${d.uid} -g ${d.gid} (${d.volume}, written by ${d.writers.join(', ')})`),
    touches: (cfg) => [`ssh ${cfg.root.ssh.user}@${cfg.root.ssh.host}: install -d, chown, stat`],
    checks: ['after: each directory exists with the owner its writers run as (MongoDB 999, the backup jobs, the app)'],
    gate: 'every directory has the right owner (a hostPath volume ignores fsGroup: MongoDB would crash-loop)',
    rollback: 'the directories stay; they are empty until the copies',
    run: async ({ cfg, log }) => {
      const dirs = hostDirs(readDist(join(cfgDir(cfg), 'dist')));
      const manual = [...new Set(dirs.map((d) => d.node))].length > 1 ? ['directories on other nodes than the one ssh reaches must be created by hand with the owners above'] : [];
      await prepareDirs(cfg, dirs);
      const c = await checkDirs(cfg, dirs);
      for (const l of c.lines) log(`  ${l}`);
      if (!c.ok) throw new UserError(`the node's directories are not as the pods need them:\n  ${c.lines.filter((l) => !l.startsWith('ok ')).join('\n  ')}`);
      return { outcome: `${dirs.length} directories ready`, verified: c.lines, manual };
    },
  },
  {
    id: 'copy-uploads',
    title: 'Copy the uploads to the node (resumable), verify counts, bytes and checksums',
    changes: (cfg) => [`${cfg.root.ssh.user}@${cfg.root.ssh.host}:${cfg.instances[0].app.uploads.hostPath}/ (files added and updated; nothing deleted)`],
    touches: (cfg) => [`rsync -aHAX --numeric-ids --sparse ${cfg.root.migrate.uploads.source}/ -> the node over ssh`, 'rsync --checksum --dry-run (verification)'],
    checks: ['after: file count, total bytes and checksums match'],
    gate: 'the verification passes',
    rollback: 'nothing: the old container still serves its own copy; re-running resumes',
    run: async () => {
      await migrateUploads({ dryRun: false, yes: true });
      return { outcome: 'copied and verified', verified: ['file count, bytes and checksums match'], manual: [] };
    },
  },
  {
    id: 'deploy',
    title: 'Create the Secrets and deploy dist/ (wave by wave, waiting for every workload)',
    changes: (cfg) => [`the cluster: namespaces ${[...new Set([...cfg.instances.map((i) => i.namespace), ...(cfg.root.coturn.enabled ? [cfg.root.coturn.namespace] : [])])].join(', ')}`],
    touches: () => ['bin/roomler secrets apply', 'bin/roomler deploy'],
    checks: ['before: no Secret the pods need is missing', 'after: every Deployment/StatefulSet ready as kubectl judges it'],
    gate: 'every workload is ready',
    rollback: 'bin/roomler deploy rollback, or delete the namespaces (the data volumes are retained)',
    run: async ({ cfg, projectDir, kubectl, log }) => {
      await applySecrets(cfg, projectDir, kubectl.context, true, log);
      const objects = readDist(join(projectDir, 'dist'));
      await deploy(cfg, { dist: join(projectDir, 'dist'), projectDir, dryRun: false, yes: true, context: kubectl.context, pruneData: [], log });
      return { outcome: `${objects.length} objects applied, every workload ready`, verified: [`${requiredSecrets(objects).length} Secrets present`, 'every workload ready'], manual: [] };
    },
  },
  {
    id: 'copy-mongo',
    title: 'Bulk-copy MongoDB while the old stack serves (mongodump | mongorestore, verified)',
    changes: (cfg) => [`the database ${cfg.instances[0].mongodb.database} in ${cfg.instances[0].namespace}/mongodb-0 (replaced)`],
    touches: (cfg) => [`docker exec ${cfg.root.migrate.mongo.container} mongodump | kubectl exec mongodb-0 mongorestore`],
    checks: ['after: per collection, the target holds what mongodump read, with the source\'s indexes', 'reported: documents written to the source meanwhile (the final sync takes them)'],
    gate: 'the copy verifies',
    rollback: 'nothing: the old database is only read',
    run: async ({ kubectl }) => {
      const t0 = Date.now();
      await migrateMongo({ force: true, kubectl, yes: true });
      // The final copy in `switch` repeats this one while nothing writes: its duration is the write-free window's estimate.
      const copyMs = Date.now() - t0;
      return { outcome: `copied and verified in ${(copyMs / 1000).toFixed(1)} s (writes after the dump are taken by the final sync)`, verified: ['counts and index definitions per collection'], manual: [], figures: { copyMs } };
    },
  },
  {
    id: 'test-internal',
    title: 'Test internally: probes, pods, NodePorts from the nginx host, TURN, DNS of the app\'s URLs',
    touches: () => ['bin/roomler doctor checks: DNS, TURN (allocation at TURN_URL), probes, pods, NodePorts'],
    checks: ['every public name in the app\'s URLs resolves (a wildcard-only answer is named as such)', 'TURN_URL allocates with the app\'s credential, also for a coturn this project does not deploy', 'pods ready, NodePorts answer from here'],
    gate: 'no check fails (warnings are reported for the operator)',
    rollback: 'nothing: read-only',
    run: async ({ cfg, projectDir, kubectl, log }) => {
      const lines = [...(await dnsChecks(cfg)), ...(await turnChecks(cfg, secretSource(projectDir))), ...probeChecks(cfg), ...(await clusterChecks(cfg, kubectl))].filter((l) => !/^mongodb /.test(l.check));
      for (const l of lines) log(`  ${show(l)}`);
      const failed = linesFailed(lines);
      if (failed.length) throw new UserError(`internal tests failed:\n  ${failed.map(show).join('\n  ')}`);
      return { outcome: `${lines.filter((l) => l.status === 'ok').length} ok, ${lines.filter((l) => l.status === 'warn').length} warn`, verified: lines.filter((l) => l.status === 'ok').map(show), manual: lines.filter((l) => l.status === 'warn' || l.status === 'skipped').map(show) };
    },
  },
  {
    id: 'switch',
    title: 'Final sync and switch: stop the old app (writes stop), re-copy MongoDB, cut nginx over',
    changes: (cfg, state) => {
      const copyMs = state?.steps['copy-mongo']?.figures?.copyMs;
      return [
        `docker stop ${oldContainers(cfg).app.join(' ')} (the old app: nothing writes to the old database any more)`,
        `the database in ${cfg.instances[0].namespace}/mongodb-0 (replaced by the final copy)`,
        `nginx under ${cfg.root.cutover.nginx.confDir} (the proxy targets move to the NodePorts)`,
        copyMs === undefined
          ? `${cfg.instances[0].domains.app} answers 502 from the stop until the cutover is verified (the write-free window)`
          : `${cfg.instances[0].domains.app} answers 502 for about ${Math.ceil(copyMs / 1000) + 2} s (the write-free window: the bulk copy took ${(copyMs / 1000).toFixed(1)} s, the cutover ~1 s)`,
      ];
    },
    touches: (cfg) => [`docker stop ${oldContainers(cfg).app.join(' ')}`, 'migrate mongo --force', 'cutover apply'],
    checks: ['the final copy verifies (counts and indexes)', 'the cutover verifies every route through nginx'],
    gate: 'nginx serves the new stack; the write-free window is reported',
    rollback: 'on any failure the old app is started again and nginx stays (or is restored) on it; afterwards: cutover rollback',
    run: async ({ cfg, kubectl, log }) => {
      const { app } = oldContainers(cfg);
      const t0 = Date.now();
      log(`write-free window opens at ${new Date(t0).toISOString()}: stopping ${app.join(', ')}`);
      await dockerStop(app, log);
      try {
        await migrateMongo({ force: true, kubectl, yes: true });
        const code = await cutoverApply(cfg, { yes: true, stopped: app }, log);
        if (code !== 0) throw new UserError(`cutover apply exited ${code}`);
      } catch (e) {
        for (const name of app) {
          const r = await docker(['start', name]);
          log(r.exitCode === 0 ? `started ${name} again: the old stack serves` : `COULD NOT START ${name} again (${lastLine(r.stderr)}): start it by hand`);
        }
        log(`write-free window closes at ${new Date().toISOString()} (aborted after ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        throw new UserError(`${(e as Error).message}\n(the old app runs again; nginx is on the old backends; run migrate run again to retry the switch)`);
      }
      const windowMs = Date.now() - t0;
      log(`write-free window closes at ${new Date().toISOString()} (${(windowMs / 1000).toFixed(1)} s)`);
      return { outcome: `switched; write-free window ${(windowMs / 1000).toFixed(1)} s`, verified: ['final copy verified', 'every route verified through nginx'], manual: [], figures: { writeFreeWindowMs: windowMs } };
    },
  },
  {
    id: 'test-external',
    title: 'Test externally: every route through nginx, as browsers reach it',
    touches: (cfg) => [`requests through nginx (${cfg.instances[0].domains.app}, ${cfg.instances[0].domains.janus})`],
    checks: ['every location that proxied to the old stack answers from the new one'],
    gate: 'every request passes',
    rollback: 'cutover rollback (the old Janus still runs until drained; the old app must be started again: docker start)',
    run: async ({ cfg, log }) => {
      const p = cutoverPlan(cfg);
      const v = await runChecks(judged(p.checks), { nginx: new NginxControl(cfg.root.cutover.nginx), timeoutMs: cfg.root.cutover.requestTimeoutMs });
      for (const l of v.passed) log(`  ok ${l}`);
      if (v.failed.length) throw new UserError(`external tests failed:\n  ${v.failed.join('\n  ')}`);
      return { outcome: `${v.passed.length} requests through nginx pass`, verified: v.passed, manual: ['from outside: open the site in a browser and make a test call (media paths and TURN from the internet cannot be checked from here)'] };
    },
  },
  {
    id: 'drain',
    title: 'Drain the old Janus (calls end on their own), prove nginx -t without the old hosts, stop the old containers',
    changes: (cfg) => [`docker stop ${[...oldContainers(cfg).janus, oldContainers(cfg).mongo].join(' ')} once drained`],
    touches: (cfg) => ['cutover drain', `docker stop ${[...oldContainers(cfg).janus, oldContainers(cfg).mongo].join(' ')}`],
    checks: ['no connection from nginx to any port of the old hosts', 'nginx -t passes with the old hosts unresolvable'],
    gate: 'drain says safe to stop',
    rollback: 'docker start the containers (nginx no longer uses them)',
    run: async ({ cfg, log }) => {
      const code = await cutoverDrain(cfg, {}, log);
      if (code !== 0) throw new UserError(code === 3 ? 'calls are still open on the old Janus: run migrate run again later to keep draining' : 'drain says it is not safe to stop the old containers (see above)');
      const { janus, mongo } = oldContainers(cfg);
      const kept = new Set(cfgKeptHosts(cfg));
      const names = [...new Set([...janus, mongo])].filter((n) => !kept.has(n));
      await dockerStop(names, log);
      return { outcome: `drained; stopped ${names.join(', ')}`, verified: ['no connections left', 'nginx -t passes without the old hosts'], manual: [`remove the stopped containers when you no longer need them: docker rm ${[...oldContainers(cfg).app, ...names].join(' ')}`] };
    },
  },
  {
    id: 'backups',
    title: 'Backups: install the host schedule, check the CronJobs, take the first backup and verify it',
    changes: () => ['this user\'s crontab on this host (the backup schedule)', 'a first backup Job in the cluster, and the first off-node snapshots here'],
    touches: (cfg) => ['bin/roomler backup install', 'kubectl create job --from=cronjob/mongodb-backup', `ssh ${cfg.root.ssh.host}: the new archive`, 'bin/roomler backup run, backup verify'],
    checks: ['the backup CronJobs exist', 'the first backup Job writes an archive on the node', 'backup verify passes'],
    gate: 'backup verify passes',
    rollback: 'backup install again with another config; the snapshots can be deleted',
    run: async ({ cfg, projectDir, kubectl, log }) => {
      await installSchedule(cfg, { entry: bin, projectDir, dryRun: false, yes: true }, log);
      const i = cfg.instances[0];
      const verified: string[] = ['schedule installed'];
      if (i.backups.enabled) {
        const cj = await kubectl.must('listing the backup CronJobs', ['get', 'cronjobs', '-n', i.namespace, '-o', 'name']);
        for (const name of ['mongodb-backup', 'mongodb-backup-verify']) if (!cj.stdout.includes(`cronjob.batch/${name}`)) throw new UserError(`CronJob ${i.namespace}/${name} is missing: deploy again`);
        verified.push('CronJobs mongodb-backup and mongodb-backup-verify exist');
        const job = `mongodb-backup-first-${stamp().toLowerCase()}`;
        const since = stamp();
        await kubectl.must('starting the first backup Job', ['create', 'job', job, '--from=cronjob/mongodb-backup', '-n', i.namespace]);
        log(`waiting for job ${i.namespace}/${job} and its archive on the node`);
        await kubectl.must(`waiting for job ${job}`, ['wait', '--for=condition=complete', `job/${job}`, '-n', i.namespace, '--timeout=900s'], { timeoutMs: 930_000 });
        // The Job's success is not enough: the archive must be on the node, newer than the Job.
        const dir = backupSets(cfg).find((s) => s.mongo)?.source;
        if (dir) {
          const deadline = Date.now() + 300_000;
          for (;;) {
            const ls = await sshRun(cfg.root.ssh, `ls -1 ${shq(dir)}`, 30_000);
            const archives = ls.stdout.split('\n').filter((n) => /\.archive\.gz$/.test(n) && (/(\d{8}T\d{6}Z)/.exec(n)?.[1] ?? '') >= since);
            if (archives.length) {
              verified.push(`first archive on the node: ${archives.pop()}`);
              break;
            }
            if (Date.now() > deadline) throw new UserError(`job ${job} completed but no new archive appeared in ${dir} on ${cfg.root.ssh.host}: kubectl -n ${i.namespace} logs job/${job}`);
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      }
      if ((await runBackups(cfg, { allowEmpty: false })) !== 0) throw new UserError('backup run failed (see above)');
      if ((await verifyBackups(cfg, {})) !== 0) throw new UserError('backup verify failed (see above)');
      verified.push('backup run and backup verify pass');
      return { outcome: 'schedule installed; first backups taken and verified', verified, manual: [] };
    },
  },
];

/** The project directory the config was loaded from (its dist/ is what deploy applies). */
const cfgDir = (_cfg: LoadedConfig) => projectDir();
/** Hosts of the old stack that stay on purpose (cutover.kept): never stopped by the runbook. */
const cfgKeptHosts = (cfg: LoadedConfig) => cfg.root.cutover.kept.map((k) => splitHostPort(k.target.includes(':') ? k.target : `${k.target}:0`).host).filter((h) => oldHostsOf(cfg).includes(h));

/** What the runbook cannot check from here, for plan and the final report. */
export const CANNOT_CHECK = [
  'what browsers on the internet see: TLS certificates, HTTP/3, the CDN or firewall in front of the host',
  'media: RTP to Janus and TURN relays from outside NAT (test a call by hand after the switch)',
  'the Docker host\'s own start-up: that the stopped containers do not come back at reboot (restart policies)',
  'DNS caches and TTLs at clients after a DNS change',
];

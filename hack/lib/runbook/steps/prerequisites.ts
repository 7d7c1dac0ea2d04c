import { statfsSync, statSync } from 'node:fs';

import { localStats, shq, sshRun } from '../../backups/rsync';
import { UserError } from '../../cli/errors';
import { buildSecrets, secretSource } from '../../cluster/secrets';
import { NginxControl } from '../../cutover/nginx';
import { plan as cutoverPlan } from '../../cutover/plan';
import { docker, lastLine, oldContainers, type RunContext, type Step } from './common';

/** Free bytes where `path` would be created (its nearest existing ancestor); undefined when that cannot be read. */
function freeBytes(path: string): number | undefined {
  for (let p = path; ; p = p.replace(/\/[^/]*$/, '') || '/') {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize;
    } catch {
      if (p === '/') return undefined;
    }
  }
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

/** What the checks found: each passing check's line, each problem (all reported at once), what is left by hand. */
interface Findings {
  readonly verified: string[];
  readonly problems: string[];
  readonly manual: string[];
}

/** kubectl, its context and the API server accepting the credentials. */
async function clusterCheck({ kubectl }: RunContext, f: Findings): Promise<void> {
  try {
    const t = await kubectl.connect();
    f.verified.push(`cluster: context ${t.context}, API server ${t.server}`);
    const v = await kubectl.run(['version', '-o', 'json'], { timeoutMs: 20_000 });
    if (v.exitCode === 0) {
      const j = JSON.parse(v.stdout);
      f.verified.push(`kubectl ${j.clientVersion?.gitVersion}, server ${j.serverVersion?.gitVersion}`);
    }
  } catch (e) {
    f.problems.push((e as Error).message);
  }
}

/** The uploads here; ssh to the node with rsync there, and room for the uploads on the node and for their snapshots here. */
async function uploadsCheck({ cfg }: RunContext, f: Findings): Promise<void> {
  const ssh = cfg.root.ssh;
  const uploads = cfg.root.migrate.uploads.source;
  let here: { files: number; bytes: number } | undefined;
  try {
    if (!statSync(uploads).isDirectory()) throw new Error('is not a directory');
    here = localStats(uploads);
    f.verified.push(`uploads here: ${here.files} files, ${mib(here.bytes)} in ${uploads}`);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
    f.problems.push(`migrate.uploads.source (DOCKER_UPLOADS_PATH) ${uploads} ${why}: the uploads cannot be copied`);
  }
  const nodePath = cfg.instances[0].app.uploads.hostPath;
  const r = await sshRun(
    ssh,
    `rsync --version | sed -n 1p; p=${shq(nodePath)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -1`,
    30_000,
  );
  if (r.exitCode !== 0) f.problems.push(`ssh ${ssh.user}@${ssh.host}:${ssh.port}: ${lastLine(r.stderr)}`);
  else {
    const [rsyncVersion, df] = r.stdout.trim().split('\n');
    const free = Number(df?.split(/\s+/)[3] ?? 0) * 1024;
    f.verified.push(`node ${ssh.host}: ${rsyncVersion}; ${mib(free)} free at ${nodePath}`);
    if (here && free < here.bytes * 1.1)
      f.problems.push(`node ${ssh.host} has ${mib(free)} free at ${nodePath}, the uploads need ${mib(here.bytes)}`);
  }
  const backupFree = freeBytes(cfg.root.backup.basePath);
  if (here && backupFree !== undefined && backupFree < here.bytes * 1.1)
    f.problems.push(`${cfg.root.backup.basePath}: ${mib(backupFree)} free here, the uploads' first snapshot needs ${mib(here.bytes)}`);
}

/** nginx -t passes and nginx runs; the cutover as the switch will run it: what happens to every location, known now. */
async function nginxCheck({ cfg, io }: RunContext, f: Findings): Promise<void> {
  const nginx = new NginxControl(cfg.root.cutover.nginx);
  const t = await nginx.test();
  if (!t.ok) f.problems.push(`nginx -t: ${t.output.split('\n').pop()}`);
  else f.verified.push('nginx -t passes');
  try {
    f.verified.push(`nginx master with ${(await nginx.workers()).length} workers`);
  } catch (e) {
    f.problems.push((e as Error).message);
  }
  try {
    const p = cutoverPlan(cfg);
    f.problems.push(...p.problems.map((x) => `cutover plan: ${x}`));
    for (const n of p.notes) io.out(`  note: ${n}`);
    for (const w of p.warnings) io.out(`  warning: ${w}`);
    f.manual.push(...p.warnings);
    if (!p.problems.length)
      f.verified.push(
        `cutover plan: ${p.changes.reduce((n, x) => n + x.replacements.length, 0)} proxy target(s) in ${p.changes.length} file(s), every old backend routed, retired or kept`,
      );
  } catch (e) {
    f.problems.push(`cutover plan: ${(e as Error).message}`);
  }
}

/** Each old container exists and runs. */
async function containersCheck({ cfg }: RunContext, f: Findings): Promise<void> {
  const { app, janus, mongo } = oldContainers(cfg);
  for (const name of [...new Set([...app, ...janus, mongo])]) {
    const d = await docker(['inspect', '--format', '{{.State.Running}}', name]);
    if (d.exitCode !== 0) f.problems.push(`container ${name}: ${lastLine(d.stderr) || 'docker inspect failed'}`);
    else if (d.stdout.trim() !== 'true') f.problems.push(`container ${name} exists but is not running`);
    else f.verified.push(`container ${name} runs`);
  }
}

/** The Secrets deploy needs: what .env cannot provide (the TLS certificate), and every value as secrets apply builds it. */
async function secretsCheck({ cfg, kubectl, projectDir }: RunContext, f: Findings): Promise<void> {
  const coturn = cfg.root.coturn;
  if (coturn.enabled) {
    const s = await kubectl.run(['get', 'secret', coturn.tlsSecretName, '-n', coturn.namespace, '-o', 'name'], { timeoutMs: 20_000 });
    if (s.exitCode !== 0)
      f.problems.push(
        `Secret ${coturn.namespace}/${coturn.tlsSecretName} (coturn's TLS certificate) is missing: kubectl -n ${coturn.namespace} create secret tls ${coturn.tlsSecretName} --cert=fullchain.pem --key=privkey.pem`,
      );
    else f.verified.push(`Secret ${coturn.namespace}/${coturn.tlsSecretName} exists`);
  }
  try {
    f.verified.push(`${buildSecrets(cfg, secretSource(projectDir)).length} Secrets can be built from .env and the environment`);
  } catch (e) {
    f.problems.push((e as Error).message);
  }
}

export const prerequisites: Step = {
  id: 'prerequisites',
  title: 'Prerequisites: cluster, node, nginx and the cutover plan, the old containers, disk space, versions',
  touches: (cfg) => [
    'kubectl config view / get --raw /api (the cluster and its credentials)',
    `ssh ${cfg.root.ssh.user}@${cfg.root.ssh.host}: rsync --version, df at the data paths`,
    `${[...cfg.root.cutover.nginx.exec, ...cfg.root.cutover.nginx.command].join(' ')} -t, and its master's workers; the cutover plan of the files under ${cfg.root.cutover.nginx.confDir}`,
    `docker inspect ${[...new Set([...oldContainers(cfg).app, ...oldContainers(cfg).janus, oldContainers(cfg).mongo])].join(' ')}`,
  ],
  checks: [
    'kubectl, its context and the API server accepting the credentials',
    'ssh to the node with rsync there',
    'nginx -t passes and nginx runs; the cutover plan accounts for every old backend (what happens to each location is printed)',
    'each old container exists and runs',
    'the uploads source exists; free space on the node for the uploads, here for their snapshots',
    'the Secrets deploy needs beyond .env (coturn-tls)',
  ],
  gate: 'every check passes (every problem is listed at once)',
  rollback: 'nothing to undo: read-only',
  run: async (ctx) => {
    const f: Findings = { verified: [], problems: [], manual: [] };
    for (const check of [clusterCheck, uploadsCheck, nginxCheck, containersCheck, secretsCheck]) await check(ctx, f);
    for (const l of f.verified) ctx.io.out(`  ok ${l}`);
    if (f.problems.length) throw new UserError(`prerequisites not met:\n  - ${f.problems.join('\n  - ')}`);
    return { outcome: `${f.verified.length} checks passed`, verified: f.verified, manual: f.manual };
  },
};

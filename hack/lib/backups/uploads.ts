import { existsSync, statSync } from 'node:fs';

import type { InstanceConfig } from '../../../lib/config';
import { config, UserError } from '../cli';
import { confirm } from '../cli/confirm';
import { onInterrupt, run } from '../process/run';
import { ARCHIVE_FLAGS, classifyRsync, compareChecksums, localStats, remote, remoteStats, rsyncShell, rsyncWithProgress } from './rsync';

export interface MigrateUploadsOptions {
  /** List what would change; copy nothing. */
  readonly dryRun: boolean;
  /** Verify checksums of exactly min(this, total) files spread over the tree (0 = every file); default from config. */
  readonly checksumSample?: number;
  readonly instance?: string;
  readonly yes: boolean;
}

/**
 * `npm run migrate -- uploads`: rsync the Docker uploads directory to the data node's uploads path over ssh.
 * Resumable (partial files are kept in a hidden directory and reused), with a dry-run that lists what would
 * change, and a verification pass that compares file count, total bytes and checksums and fails loudly.
 */
export async function migrateUploads(o: MigrateUploadsOptions): Promise<number> {
  const dryRun = o.dryRun;
  const cfg = config();
  const instance: InstanceConfig | undefined = o.instance ? cfg.instances.find((i) => i.name === o.instance) : cfg.instances[0];
  if (!instance)
    throw new UserError(`no instance named ${o.instance} in the config (instances: ${cfg.instances.map((i) => i.name).join(', ')})`, 2);
  const sample = o.checksumSample ?? cfg.root.migrate.uploads.checksumSample;
  if (!Number.isInteger(sample) || sample < 0) throw new UserError(`--checksum-sample must be a whole number (0 = every file)`, 2);

  const source = cfg.root.migrate.uploads.source.replace(/\/+$/, '');
  if (!existsSync(source) || !statSync(source).isDirectory())
    throw new UserError(`migrate.uploads.source (DOCKER_UPLOADS_PATH) ${source} is not a directory`);
  const ssh = cfg.root.ssh;
  const target = instance.app.uploads.hostPath.replace(/\/+$/, '');
  const dest = remote(ssh, `${target}/`);
  const common = [...ARCHIVE_FLAGS, '-e', rsyncShell(ssh), '--mkpath'];
  const timeoutMs = cfg.root.backup.timeoutMinutes * 60_000;

  if (dryRun) {
    const r = await run('rsync', [...common, '--dry-run', '--itemize-changes', '--8-bit-output', `${source}/`, dest], { timeoutMs });
    const c = classifyRsync(r, 'migrate uploads (dry run)');
    if (!c.ok) throw new UserError(c.message);
    const changes = r.stdout.split('\n').filter((l) => /^[<>ch.*][fdLDS]/.test(l));
    process.stdout.write(
      changes.map((l) => `${l}\n`).join('') + `migrate uploads: dry run, ${changes.length} change(s) would be made to ${dest}\n`,
    );
    return 0;
  }

  await confirm(
    'migrate uploads will change',
    [
      `node:     ${ssh.user}@${ssh.host}:${ssh.port}`,
      `target:   ${target}/ (files are added and updated; nothing is deleted there)`,
      `source:   ${source}/`,
    ],
    o.yes,
  );
  const stop = onInterrupt(() => {
    process.stderr.write('migrate uploads: interrupted; re-run to resume (partial files are kept)\n');
  });
  // Resumable: an interrupted file's data waits in .rsync-partial on the node and is reused by the next run.
  const r = await rsyncWithProgress(
    [...common, '--partial-dir=.rsync-partial', '--stats', `${source}/`, dest],
    'migrate uploads',
    timeoutMs,
  );
  stop();
  const c = classifyRsync(r, 'migrate uploads');
  if (!c.ok) throw new UserError(c.message);
  const transferred = /Number of regular files transferred: ([\d,]+)/.exec(r.stdout)?.[1] ?? '?';

  // Verification: counts and bytes on both sides, and checksums of every file (or a sample) compared by rsync
  // itself; the node's count runs while rsync compares, so it costs no time of its own.
  const here = localStats(source);
  const [there, cmp] = await Promise.all([
    remoteStats(ssh, target),
    compareChecksums(ssh, source, target, { sample, timeoutMs, what: 'migrate uploads (verify)' }),
  ]);
  const problems: string[] = [];
  if (here.files !== there.files) problems.push(`file count: ${here.files} here, ${there.files} on ${ssh.host}`);
  if (here.bytes !== there.bytes) problems.push(`total bytes: ${here.bytes} here, ${there.bytes} on ${ssh.host}`);
  const checked = cmp.checked;
  if (cmp.checked !== cmp.asked) problems.push(`rsync compared ${cmp.checked} file(s), ${cmp.asked} were asked for`);
  const differing = cmp.differing.map((d) => d.name);
  if (differing.length)
    problems.push(
      `checksums differ for ${differing.length} file(s): ${differing.slice(0, 10).join(', ')}${differing.length > 10 ? ', …' : ''}`,
    );
  if (problems.length) throw new UserError(`verification FAILED after copying to ${dest}:\n  ${problems.join('\n  ')}`);
  process.stdout.write(
    `migrate uploads: OK ${here.files} files, ${here.bytes} bytes in ${dest} (${transferred} transferred this run; checksums of ${checked} file(s) match)\n`,
  );
  return 0;
}

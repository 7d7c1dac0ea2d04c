import { existsSync, statSync } from 'node:fs';

import type { InstanceConfig, LoadedConfig } from '../../../lib/config';
import { config, UserError } from '../cli';
import { confirm } from '../cli/confirm';
import { type IO, stdio } from '../cli/io';
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

/** Where the uploads go, and how rsync reaches them. */
interface UploadsCopy {
  readonly cfg: LoadedConfig;
  readonly source: string;
  /** The uploads path on the data node. */
  readonly target: string;
  /** rsync's destination: user@host:target/. */
  readonly dest: string;
  readonly common: string[];
  readonly timeoutMs: number;
}

/** `--dry-run`: rsync's itemized list of what would change, and how many. */
async function listChanges(c: UploadsCopy, io: IO): Promise<void> {
  const args = [...c.common, '--dry-run', '--itemize-changes', '--8-bit-output', `${c.source}/`, c.dest];
  const r = await run('rsync', args, { timeoutMs: c.timeoutMs });
  const classified = classifyRsync(r, 'migrate uploads (dry run)');
  if (!classified.ok) throw new UserError(classified.message);
  const changes = r.stdout.split('\n').filter((l) => /^[<>ch.*][fdLDS]/.test(l));
  for (const l of changes) io.out(l);
  io.out(`migrate uploads: dry run, ${changes.length} change(s) would be made to ${c.dest}`);
}

/**
 * Verification: counts and bytes on both sides, and checksums of every file (or a sample) compared by rsync itself;
 * the node's count runs while rsync compares, so it costs no time of its own.
 */
async function verifyCopy(c: UploadsCopy, sample: number): Promise<{ files: number; bytes: number; checked: number }> {
  const ssh = c.cfg.root.ssh;
  const here = localStats(c.source);
  const [there, cmp] = await Promise.all([
    remoteStats(ssh, c.target),
    compareChecksums(ssh, c.source, c.target, { sample, timeoutMs: c.timeoutMs, what: 'migrate uploads (verify)' }),
  ]);
  const problems: string[] = [];
  if (here.files !== there.files) problems.push(`file count: ${here.files} here, ${there.files} on ${ssh.host}`);
  if (here.bytes !== there.bytes) problems.push(`total bytes: ${here.bytes} here, ${there.bytes} on ${ssh.host}`);
  if (cmp.checked !== cmp.asked) problems.push(`rsync compared ${cmp.checked} file(s), ${cmp.asked} were asked for`);
  const differing = cmp.differing.map((d) => d.name);
  if (differing.length)
    problems.push(
      `checksums differ for ${differing.length} file(s): ${differing.slice(0, 10).join(', ')}${differing.length > 10 ? ', …' : ''}`,
    );
  if (problems.length) throw new UserError(`verification FAILED after copying to ${c.dest}:\n  ${problems.join('\n  ')}`);
  return { files: here.files, bytes: here.bytes, checked: cmp.checked };
}

/** The copy itself, after asking: resumable (an interrupted file's data waits in .rsync-partial on the node). */
async function copyUploads(c: UploadsCopy, yes: boolean, io: IO): Promise<string> {
  const ssh = c.cfg.root.ssh;
  await confirm(
    'migrate uploads will change',
    [
      `node:     ${ssh.user}@${ssh.host}:${ssh.port}`,
      `target:   ${c.target}/ (files are added and updated; nothing is deleted there)`,
      `source:   ${c.source}/`,
    ],
    yes,
  );
  const stop = onInterrupt(() => io.err('migrate uploads: interrupted; re-run to resume (partial files are kept)'));
  const args = [...c.common, '--partial-dir=.rsync-partial', '--stats', `${c.source}/`, c.dest];
  const r = await rsyncWithProgress(args, 'migrate uploads', c.timeoutMs, { progress: (l) => io.err(l) });
  stop();
  const classified = classifyRsync(r, 'migrate uploads');
  if (!classified.ok) throw new UserError(classified.message);
  return /Number of regular files transferred: ([\d,]+)/.exec(r.stdout)?.[1] ?? '?';
}

/**
 * `bin/roomler migrate uploads`: rsync the Docker uploads directory to the data node's uploads path over ssh.
 * Resumable (partial files are kept in a hidden directory and reused), with a dry-run that lists what would
 * change, and a verification pass that compares file count, total bytes and checksums and fails loudly.
 */
export function migrateUploads(cfg: LoadedConfig, o: MigrateUploadsOptions, io: IO): Promise<number>;
/** @deprecated the call of `migrate uploads` and the migration day until they pass the config and an IO. */
export function migrateUploads(o: MigrateUploadsOptions): Promise<number>;
export async function migrateUploads(a: LoadedConfig | MigrateUploadsOptions, b?: MigrateUploadsOptions, c?: IO): Promise<number> {
  const [cfg, o, io] = b ? [a as LoadedConfig, b, c!] : [config(), a as MigrateUploadsOptions, stdio];
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
  const common = [...ARCHIVE_FLAGS, '-e', rsyncShell(ssh), '--mkpath'];
  const copy = { cfg, source, target, dest: remote(ssh, `${target}/`), common, timeoutMs: cfg.root.backup.timeoutMinutes * 60_000 };
  if (o.dryRun) {
    await listChanges(copy, io);
    return 0;
  }
  const transferred = await copyUploads(copy, o.yes, io);
  const v = await verifyCopy(copy, sample);
  io.out(
    `migrate uploads: OK ${v.files} files, ${v.bytes} bytes in ${copy.dest} (${transferred} transferred this run; checksums of ${v.checked} file(s) match)`,
  );
  return 0;
}

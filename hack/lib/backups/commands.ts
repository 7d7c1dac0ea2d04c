import { mkdirSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { ENV_PATHS } from '../../../lib/config/env';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import { type IO, stdio } from '../cli/io';
import { logIO } from '../cli/legacy';
import { acquireLock } from '../process/lock';
import { onInterrupt, run } from '../process/run';
import { type BackupIO, backupIO } from './report';
import { shq } from './rsync';
import { type BackupSet, backupSets, checkLine, prune, snapshot, type VerifyOptions, verifySet } from './snapshots';

const BEGIN = '# BEGIN roomler-backup (managed by `bin/roomler backup install`)';
const END = '# END roomler-backup';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** One set's snapshot, then the retention; says how it went (a failure is said and returned, never thrown). */
async function backupOne(cfg: LoadedConfig, set: BackupSet, allowEmpty: boolean, io: BackupIO): Promise<boolean> {
  const base = cfg.root.backup.basePath;
  try {
    const stamp = await snapshot(cfg, set, { allowEmpty, progress: (l) => io.progress(l) });
    const { pruned, future } = prune(join(base, set.name), cfg.root.backup.keep);
    const notes = [
      ...(pruned.length ? [`pruned ${pruned.join(', ')}`] : []),
      ...(future.length ? [`left out of retention, stamped in the future (clock skew?): ${future.join(', ')}`] : []),
    ];
    io.out(`ok   ${set.name} -> ${join(base, set.name, stamp)} (latest)${notes.length ? `; ${notes.join('; ')}` : ''}`);
    return true;
  } catch (e) {
    io.err(`FAIL ${set.name}: ${messageOf(e)}`);
    return false;
  }
}

/**
 * `backup run`: one snapshot per set under the lock. Sets are independent: one that fails (its source missing,
 * the disk full) is reported and the others still run; the exit status is 1 when any failed. Ctrl-C kills
 * rsync's group; the .partial goes next run.
 */
export function runBackups(cfg: LoadedConfig, o: { allowEmpty: boolean }, io: BackupIO): Promise<number>;
/** @deprecated the migration day's call until its steps pass an IO: the process's own streams. */
export function runBackups(cfg: LoadedConfig, o: { allowEmpty: boolean }): Promise<number>;
export async function runBackups(cfg: LoadedConfig, o: { allowEmpty: boolean }, io: BackupIO = backupIO(stdio)): Promise<number> {
  const base = cfg.root.backup.basePath;
  let release: () => Promise<void>;
  try {
    mkdirSync(base, { recursive: true });
    release = await acquireLock(join(base, '.lock'), 'another backup run');
  } catch (e) {
    io.err(`backup run: ${messageOf(e)}`);
    return e instanceof UserError ? e.exitCode : 1;
  }
  const stop = onInterrupt(() => io.err('backup run: interrupted; latest and older snapshots are untouched'));
  const failed: string[] = [];
  const sets = backupSets(cfg);
  try {
    for (const set of sets) if (!(await backupOne(cfg, set, o.allowEmpty, io))) failed.push(set.name);
  } finally {
    stop();
    await release();
  }
  if (failed.length)
    io.err(
      `backup run: ${failed.length} of ${sets.length} set(s) FAILED (${failed.join(', ')})${failed.length < sets.length ? '; the others are backed up' : ''}`,
    );
  else io.out(`backup run: all ${sets.length} set(s) backed up`);
  return failed.length ? 1 : 0;
}

/** `backup verify`: every check of every set, one line each; exit 1 when any failed. */
export function verifyBackups(cfg: LoadedConfig, o: VerifyOptions, io: BackupIO): Promise<number>;
/** @deprecated the migration day's call until its steps pass an IO: the process's own streams. */
export function verifyBackups(cfg: LoadedConfig, o: VerifyOptions): Promise<number>;
export async function verifyBackups(cfg: LoadedConfig, o: VerifyOptions, io: BackupIO = backupIO(stdio)): Promise<number> {
  const checks = (await Promise.all(backupSets(cfg).map((s) => verifySet(cfg, s, o)))).flat();
  for (const c of checks) {
    if (c.ok) io.out(checkLine(c));
    else io.err(checkLine(c));
  }
  const failed = checks.filter((c) => !c.ok).length;
  if (failed) io.err(`backup verify: ${failed} check(s) FAILED`);
  else io.out('backup verify: all checks passed');
  return failed ? 1 : 0;
}

/** Log files of the scheduled commands, next to the snapshots. */
export const scheduleLog = (cfg: LoadedConfig, what: 'run' | 'verify') => join(cfg.root.backup.basePath, `backup-${what}.log`);

export interface ScheduleOptions {
  /** The entry point the schedule runs: this checkout's bin/roomler. */
  readonly entry: string;
  readonly projectDir: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
}

/**
 * The managed crontab block. It runs what the operator just ran: the project's own entry point by absolute
 * path, with the config file, the project directory, this shell's overrides of config values (the .env names
 * of lib/config/env.ts) and PATH pinned, since cron starts with a near-empty environment and HOME as the working
 * directory. No `|| retry`: the run holds the backup lock itself, so an overlapping start is refused (and
 * mailed), never run twice; with --log the commands are quiet on success and print only failures, which cron
 * mails to `backup.mailto`.
 */
export function scheduleBlock(
  cfg: LoadedConfig,
  o: { entry: string; projectDir: string; env: NodeJS.ProcessEnv; nodeBin: string },
): string[] {
  const pinned: [string, string][] = [['ROOMLER_PROJECT_DIR', resolve(o.projectDir)]];
  if (cfg.file) pinned.push(['ROOMLER_CONFIG', resolve(cfg.file)]);
  for (const name of Object.keys(ENV_PATHS)) if (o.env[name]) pinned.push([name, o.env[name]!]);
  // node first (bin/roomler runs the node on PATH), then the installing shell's PATH without npm's additions.
  const path = [dirname(o.nodeBin), ...(o.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)].filter(
    (p, n, all) => p && !p.includes('node_modules/.bin') && all.indexOf(p) === n,
  );
  pinned.push(['PATH', path.join(delimiter)]);
  for (const [name, value] of pinned) {
    if (/[\n\r\0]/.test(value))
      throw new UserError(`backup install: ${name} holds a line break, which a crontab line cannot carry; nothing was changed`);
  }
  // cron turns an unescaped % into a newline, even inside quotes.
  const cron = (s: string) => s.replace(/%/g, '\\%');
  const line = (schedule: string, what: 'run' | 'verify') =>
    `${schedule} ${cron([...pinned.map(([k, v]) => `${k}=${shq(v)}`), shq(o.entry), 'backup', what, '--log', shq(scheduleLog(cfg, what))].join(' '))}`;
  const b = cfg.root.backup;
  return [
    BEGIN,
    '# Kept last in the table: cron applies MAILTO to every line below it.',
    ...(b.mailto !== undefined ? [`MAILTO=${b.mailto === '' ? '""' : b.mailto}`] : []),
    line(b.schedule, 'run'),
    line(b.verifySchedule, 'verify'),
    END,
  ];
}

/** `backup install`: the managed block in this user's crontab, shown as a diff first. */
export function installSchedule(cfg: LoadedConfig, o: ScheduleOptions, io: IO): Promise<number>;
/** @deprecated the migration day's call until its steps pass an IO (hack/lib/cli/legacy.ts). */
export function installSchedule(cfg: LoadedConfig, o: ScheduleOptions, log: (line: string) => void): Promise<number>;
export async function installSchedule(cfg: LoadedConfig, o: ScheduleOptions, to: IO | ((line: string) => void)): Promise<number> {
  const io = typeof to === 'function' ? logIO(to) : to;
  const block = scheduleBlock(cfg, { entry: o.entry, projectDir: o.projectDir, env: process.env, nodeBin: process.execPath });
  const current = await run('crontab', ['-l']);
  if (current.exitCode !== 0 && !/no crontab/i.test(current.stderr)) throw new UserError(`crontab -l failed: ${current.stderr.trim()}`);
  const lines =
    current.exitCode === 0
      ? current.stdout
          .replace(/\n$/, '')
          .split('\n')
          .filter((l, n, a) => !(a.length === 1 && l === ''))
      : [];
  const start = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  const kept = start >= 0 && end > start ? [...lines.slice(0, start), ...lines.slice(end + 1)] : lines;
  const next = [...kept, ...block].join('\n') + '\n';
  if (current.exitCode === 0 && current.stdout === next) {
    io.out('backup install: crontab already up to date');
    return 0;
  }
  const old = start >= 0 ? lines.slice(start, end + 1) : [];
  io.out([...old.map((l) => `- ${l}`), ...block.map((l) => `+ ${l}`)].join('\n'));
  if (o.dryRun) {
    io.out('backup install: dry run, crontab not changed');
    return 0;
  }
  await confirm(
    'backup install will change',
    [`the crontab of user ${process.env.USER ?? process.getuid?.()} on this host (the lines above)`],
    o.yes,
  );
  const w = await run('crontab', ['-'], { input: next });
  if (w.exitCode !== 0) throw new UserError(`crontab - refused the new table, nothing was changed: ${w.stderr.trim()}`);
  io.out('backup install: crontab updated');
  return 0;
}

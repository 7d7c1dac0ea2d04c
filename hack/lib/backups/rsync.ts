import { lstatSync, readdirSync, type Stats } from 'node:fs';

import cliProgress from 'cli-progress';

import type { RootConfig } from '../../../lib/config';
import { UserError } from '../cli';
import { LOCK_TAKEN, underLock } from '../process/lock';
import { run, type RunResult, start } from '../process/run';

type Ssh = RootConfig['ssh'];

/** rsync's `-e` value: ssh without a password prompt, with a bounded connect time and a pinned host key. */
export function sshArgs(ssh: Ssh): string[] {
  return [
    '-p',
    String(ssh.port),
    ...(ssh.keyPath ? ['-i', ssh.keyPath, '-o', 'IdentitiesOnly=yes'] : []),
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${ssh.connectTimeoutSeconds}`,
    '-o',
    `StrictHostKeyChecking=${ssh.strictHostKeyChecking}`,
    ...(ssh.knownHostsFile ? ['-o', `UserKnownHostsFile=${ssh.knownHostsFile}`] : []),
  ];
}

/** rsync splits `-e` on spaces but honours single quotes. */
export const rsyncShell = (ssh: Ssh) =>
  ['ssh', ...sshArgs(ssh)].map((a) => (/[\s']/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');

export const remote = (ssh: Ssh, path: string) => `${ssh.user}@${ssh.host}:${path}`;

/** Single-quotes a word for the remote shell that ssh hands its command to. */
export const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a command on the node over ssh. */
export const sshRun = (ssh: Ssh, command: string, timeoutMs = 120_000) =>
  run('ssh', [...sshArgs(ssh), `${ssh.user}@${ssh.host}`, command], { timeoutMs });

/**
 * -aHAX --numeric-ids: hard links, ACLs, xattrs and ids survive (docs/reference-topology.md). --sparse: runs of zeros are
 * written as holes, so a sparse file (a 200 MB one holding 1 MB of data in the hostile-tree test) stays sparse on
 * the node and in every snapshot instead of becoming 200 MB of disk. Not --preallocate: it allocates every byte
 * up front, which is exactly what must not happen to a sparse file, and buys nothing on ext4/xfs for write-once
 * files.
 */
export const ARCHIVE_FLAGS = ['-aHAX', '--numeric-ids', '--sparse'];

/** At most this many of rsync's error lines go into a message; the rest are counted. */
const MAX_ERROR_LINES = 20;

/**
 * rsync's own error lines: every `rsync: …` line names a file and the reason (`send_files failed to open
 * "/x/a.jpg": Permission denied (13)`), plus ssh's and other diagnostics; not the closing `rsync error: … (see
 * previous errors)` summary, which names nothing. rsync already escapes control characters in names (a newline
 * is printed as `\#012`), so each stays one line.
 */
export function errorLines(stderr: string): string[] {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/\(see previous errors\)/.test(l));
  return lines.length > MAX_ERROR_LINES
    ? [...lines.slice(0, MAX_ERROR_LINES), `… and ${lines.length - MAX_ERROR_LINES} more error line(s)`]
    : lines;
}

const DISK_FULL = /No space left on device|Disk quota exceeded/;

/** What an rsync exit code means; 0 and 24 (files vanished while copying) are success. */
export function classifyRsync(r: RunResult, what: string): { ok: true } | { ok: false; message: string } {
  if (r.exitCode === 0 || r.exitCode === 24) return { ok: true };
  const err = r.stderr;
  const lines = errorLines(err);
  const tail = lines[lines.length - 1] ?? '';
  const detail = lines.length ? `:\n  ${lines.join('\n  ')}` : '';
  if (r.timedOut) return { ok: false, message: `${what}: timed out; rsync and ssh were killed${detail}` };
  if (r.exitCode === 255 || /ssh: /.test(err)) {
    if (/Permission denied \(publickey/.test(err))
      return {
        ok: false,
        message: `${what}: ssh refused the key (Permission denied (publickey)); check ssh.keyPath (SSH_KEY_PATH) and the node's authorized_keys`,
      };
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(err))
      return { ok: false, message: `${what}: the node's ssh host key is unknown or changed; check ssh.knownHostsFile` };
    const sshLine = err.split('\n').find((l) => l.startsWith('ssh: ')) ?? tail;
    if (/Connection refused|Connection timed out|No route to host|Could not resolve|Network is unreachable/.test(err))
      return { ok: false, message: `${what}: cannot reach the node over ssh (${sshLine})` };
    return { ok: false, message: `${what}: ssh failed (exit 255)${detail}` };
  }
  if (DISK_FULL.test(err)) return { ok: false, message: `${what}: disk full (rsync exit ${r.exitCode ?? r.signal})${detail}` };
  // Sources are always directories given with a trailing slash, which rsync enters with change_dir.
  const noSource = lines.find((l) => /change_dir .* failed: No such file or directory/.test(l));
  if (noSource) return { ok: false, message: `${what}: the source path does not exist (${noSource})` };
  const known: Record<number, string> = {
    1: 'syntax or usage error',
    2: 'protocol incompatibility',
    3: 'errors selecting input/output files or directories',
    5: 'error starting the client-server protocol',
    10: 'socket I/O error',
    11: 'file I/O error',
    12: 'error in the rsync protocol stream (is rsync installed on the node?)',
    20: 'interrupted',
    23: 'some files could not be transferred',
    25: 'the --max-delete limit stopped deletions',
    30: 'timeout in data send/receive',
    [LOCK_TAKEN]: 'another transfer holds the lock',
  };
  return { ok: false, message: `${what}: rsync exit ${r.exitCode ?? r.signal}: ${known[r.exitCode ?? -1] ?? 'failed'}${detail}` };
}

export interface TreeStats {
  readonly files: number;
  readonly bytes: number;
}

/**
 * Calls `visit` for every regular file under a local directory (symlinks not followed) with its path relative
 * to `dir`. Paths are Buffers: a name is bytes, and one that is not valid UTF-8 must still be found again.
 */
export function walkFiles(dir: string, visit: (rel: Buffer, st: Stats) => void, prefix?: Buffer): void {
  const here = prefix ? Buffer.concat([Buffer.from(`${dir}/`), prefix]) : Buffer.from(dir);
  for (const name of readdirSync(here, { encoding: 'buffer' })) {
    const rel = prefix ? Buffer.concat([prefix, SLASH, name]) : name;
    const st = lstatSync(Buffer.concat([Buffer.from(`${dir}/`), rel]));
    if (st.isDirectory()) walkFiles(dir, visit, rel);
    else if (st.isFile()) visit(rel, st);
  }
}
const SLASH = Buffer.from('/');

/** Regular files and their total size under a local directory (symlinks not followed). */
export function localStats(dir: string): TreeStats {
  let files = 0;
  let bytes = 0;
  walkFiles(dir, (_, st) => {
    files++;
    bytes += st.size;
  });
  return { files, bytes };
}

/** Relative paths of the regular files under a local directory, sorted bytewise. */
export function localFiles(dir: string): Buffer[] {
  const out: Buffer[] = [];
  walkFiles(dir, (rel) => out.push(rel));
  return out.sort(Buffer.compare);
}

/** `n` items spread evenly over `items` (all of them when n is 0 or at least their number): exactly min(n, total). */
export function evenSample<T>(items: readonly T[], n: number): T[] {
  if (n <= 0 || n >= items.length) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]);
}

/** rsync's --files-from list with --from0: NUL-separated, so any byte but NUL may be in a name. */
export const nulList = (files: readonly Buffer[]) => Buffer.concat(files.flatMap((f) => [f, NUL]));
const NUL = Buffer.from([0]);

/** The same on the node, with find over ssh. */
export async function remoteStats(ssh: Ssh, dir: string): Promise<TreeStats> {
  const r = await sshRun(ssh, `find ${shq(dir)} -type f -printf '%s\\n'`);
  if (r.exitCode !== 0) throw new UserError(`cannot list ${dir} on ${ssh.host}: ${r.stderr.trim().split('\n').pop()}`);
  const sizes = r.stdout.split('\n').filter(Boolean).map(Number);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** `--stats`: regular files in the sender's list and their total size, as rsync itself counted them. */
export function rsyncStats(stdout: string): TreeStats | undefined {
  const files = /^Number of files: [\d,]+(?: \((?:.*\b)?reg: ([\d,]+))?/m.exec(stdout);
  const bytes = /^Total file size: ([\d,]+) bytes/m.exec(stdout);
  if (!files || !bytes) return undefined;
  const n = (s: string | undefined) => Number((s ?? '0').replace(/,/g, ''));
  return { files: n(files[1]), bytes: n(bytes[1]) };
}

/** One line of `--itemize-changes` for a regular file: YXcstpoguax flags and the (rsync-escaped) name. */
export interface ItemChange {
  readonly flags: string;
  readonly name: string;
}

/** Different content under the same size and mtime: corruption on one side, not a change by the application. */
export const isSilentCorruption = (i: ItemChange) => i.flags[2] === 'c' && i.flags[3] === '.' && i.flags[4] === '.';

export interface ChecksumComparison {
  /** Regular files rsync compared, from its own --stats: exactly what it read, not what was asked. */
  readonly checked: number;
  /** The files asked for: min(sample, total), or every file. */
  readonly asked: number;
  /** Files whose content (or size, mtime, or presence on the node) differs. */
  readonly differing: readonly ItemChange[];
}

/**
 * Has rsync compare content checksums of `localDir` against `remoteDir` on the node without changing anything
 * (`--dry-run --checksum`): every file, or `sample` files spread evenly over the sorted list, given to rsync as a
 * NUL-separated --files-from. Used by `migrate uploads` after copying and by `backup verify --deep`.
 */
export async function compareChecksums(
  ssh: Ssh,
  localDir: string,
  remoteDir: string,
  o: { sample: number; timeoutMs: number; what: string },
): Promise<ChecksumComparison> {
  const all = o.sample > 0 ? localFiles(localDir) : undefined;
  const chosen = all && o.sample < all.length ? evenSample(all, o.sample) : undefined;
  const r = await run(
    'rsync',
    [
      ...ARCHIVE_FLAGS,
      '-e',
      rsyncShell(ssh),
      '--dry-run',
      '--checksum',
      '--itemize-changes',
      '--8-bit-output',
      '--stats',
      '--exclude=.rsync-partial',
      ...(chosen ? ['--files-from=-', '--from0'] : []),
      `${localDir.replace(/\/+$/, '')}/`,
      remote(ssh, `${remoteDir.replace(/\/+$/, '')}/`),
    ],
    { timeoutMs: o.timeoutMs, ...(chosen ? { input: nulList(chosen) } : {}) },
  );
  const c = classifyRsync(r, o.what);
  if (!c.ok) throw new UserError(c.message);
  const stats = rsyncStats(r.stdout);
  if (!stats) throw new UserError(`${o.what}: rsync printed no statistics; cannot tell how many files it compared`);
  const differing = r.stdout
    .split('\n')
    .filter((l) => /^[<>]f/.test(l))
    .map((l) => ({ flags: l.slice(0, 11), name: l.slice(12) }));
  return { checked: stats.files, asked: chosen ? chosen.length : all ? all.length : stats.files, differing };
}

/** Parses `--info=progress2` lines: bytes so far, percent, rate, files transferred, files left to check. */
export function parseProgress(line: string): { bytes: number; percent: number; rate: string; transferred?: number } | undefined {
  const m = /^\s*([\d,]+)\s+(\d+)%\s+(\S+\/s)\s+\S+(?:\s+\(xfr#(\d+))?/.exec(line);
  if (!m) return undefined;
  return { bytes: Number(m[1].replace(/,/g, '')), percent: Number(m[2]), rate: m[3], transferred: m[4] ? Number(m[4]) : undefined };
}

/**
 * Starts rsync and reports progress: a bar when stderr is a terminal, otherwise a line to `progress` every 5 s. With
 * `lockFile`, rsync runs holding that lock itself (see underLock), so a transfer that somehow outlived its command
 * still keeps the next run away from what it is writing.
 */
export async function rsyncWithProgress(
  args: string[],
  label: string,
  timeoutMs: number,
  o: { lockFile?: string; progress: (line: string) => void },
): Promise<RunResult> {
  const progress = o.progress;
  const rsyncArgs = ['--info=progress2', '--no-inc-recursive', ...args];
  const [file, argv] = o.lockFile ? underLock(o.lockFile, 'rsync', rsyncArgs) : ['rsync', rsyncArgs];
  const child = start(file, argv, { timeoutMs });
  let last: ReturnType<typeof parseProgress>;
  let buffer = '';
  const tty = process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: `${label} [{bar}] {percentage}% | {size} | {rate} | {files} files`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(100, 0, { size: '0 B', rate: '-', files: 0 });
  child.child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split(/[\r\n]/);
    buffer = parts.pop() ?? '';
    for (const p of parts) {
      const progress = parseProgress(p);
      if (progress) {
        last = progress;
        bar?.update(progress.percent, {
          size: `${(progress.bytes / 1e6).toFixed(1)} MB`,
          rate: progress.rate,
          files: progress.transferred ?? 0,
        });
      }
    }
  });
  const ticker = tty
    ? undefined
    : setInterval(
        () =>
          last &&
          progress(`${label}: ${last.percent}% ${(last.bytes / 1e6).toFixed(1)} MB at ${last.rate}, ${last.transferred ?? 0} files`),
        5000,
      );
  const r = await child.done;
  if (ticker) clearInterval(ticker);
  bar?.stop();
  return r;
}

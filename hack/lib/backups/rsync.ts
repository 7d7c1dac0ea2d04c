import { readdirSync, lstatSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { join } from 'node:path';
import type { RootConfig } from '../../../lib/config';
import { UserError } from '../cli';
import { run, start, type RunResult } from '../process/run';

type Ssh = RootConfig['ssh'];

/** rsync's `-e` value: ssh without a password prompt, with a bounded connect time and a pinned host key. */
export function sshArgs(ssh: Ssh): string[] {
  return [
    '-p', String(ssh.port),
    ...(ssh.keyPath ? ['-i', ssh.keyPath, '-o', 'IdentitiesOnly=yes'] : []),
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${ssh.connectTimeoutSeconds}`,
    '-o', `StrictHostKeyChecking=${ssh.strictHostKeyChecking}`,
    ...(ssh.knownHostsFile ? ['-o', `UserKnownHostsFile=${ssh.knownHostsFile}`] : []),
  ];
}

/** rsync splits `-e` on spaces but honours single quotes. */
export const rsyncShell = (ssh: Ssh) => ['ssh', ...sshArgs(ssh)].map((a) => (/[\s']/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');

export const remote = (ssh: Ssh, path: string) => `${ssh.user}@${ssh.host}:${path}`;

/** Single-quotes a word for the remote shell that ssh hands its command to. */
export const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a command on the node over ssh. */
export const sshRun = (ssh: Ssh, command: string, timeoutMs = 120_000) => run('ssh', [...sshArgs(ssh), `${ssh.user}@${ssh.host}`, command], { timeoutMs });

/** -aHAX --numeric-ids: hard links, ACLs, xattrs and ids survive (FIELD-NOTES). */
export const ARCHIVE_FLAGS = ['-aHAX', '--numeric-ids'];

/** What an rsync exit code means; 0 and 24 (files vanished while copying) are success. */
export function classifyRsync(r: RunResult, what: string): { ok: true } | { ok: false; message: string } {
  if (r.exitCode === 0 || r.exitCode === 24) return { ok: true };
  const err = r.stderr;
  const tail = err.trim().split('\n').filter(Boolean).pop() ?? '';
  if (r.timedOut) return { ok: false, message: `${what}: timed out; rsync and ssh were killed` };
  if (r.exitCode === 255 || /ssh: /.test(err)) {
    if (/Permission denied \(publickey/.test(err)) return { ok: false, message: `${what}: ssh refused the key (Permission denied (publickey)); check ssh.keyPath (SSH_KEY_PATH) and the node's authorized_keys` };
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(err)) return { ok: false, message: `${what}: the node's ssh host key is unknown or changed; check ssh.knownHostsFile` };
    const sshLine = err.split('\n').find((l) => l.startsWith('ssh: ')) ?? tail;
    if (/Connection refused|Connection timed out|No route to host|Could not resolve|Network is unreachable/.test(err)) return { ok: false, message: `${what}: cannot reach the node over ssh (${sshLine})` };
    return { ok: false, message: `${what}: ssh failed (exit 255): ${tail}` };
  }
  if (/change_dir .* failed: No such file or directory|link_stat .* failed: No such file or directory/.test(err)) {
    return { ok: false, message: `${what}: the source path does not exist (${tail})` };
  }
  const known: Record<number, string> = {
    1: 'syntax or usage error',
    2: 'protocol incompatibility',
    3: 'errors selecting input/output files or directories',
    5: 'error starting the client-server protocol',
    10: 'socket I/O error',
    11: 'file I/O error (disk full?)',
    12: 'error in the rsync protocol stream (is rsync installed on the node?)',
    20: 'interrupted',
    23: 'some files could not be transferred (unreadable file or missing source)',
    25: 'the --max-delete limit stopped deletions',
    30: 'timeout in data send/receive',
  };
  return { ok: false, message: `${what}: rsync exit ${r.exitCode ?? r.signal}: ${known[r.exitCode ?? -1] ?? 'failed'} (${tail})` };
}

export interface TreeStats {
  readonly files: number;
  readonly bytes: number;
}

/** Regular files and their total size under a local directory (symlinks not followed). */
export function localStats(dir: string): TreeStats {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const s = lstatSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) {
        files++;
        bytes += s.size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/** Relative paths of the regular files under a local directory, sorted. */
export function localFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix))
    .sort()
    .flatMap((name) => {
      const rel = prefix ? `${prefix}/${name}` : name;
      const s = lstatSync(join(dir, rel));
      return s.isDirectory() ? localFiles(dir, rel) : s.isFile() ? [rel] : [];
    });
}

/** The same on the node, with find over ssh. */
export async function remoteStats(ssh: Ssh, dir: string): Promise<TreeStats> {
  const r = await sshRun(ssh, `find ${shq(dir)} -type f -printf '%s\\n'`);
  if (r.exitCode !== 0) throw new UserError(`cannot list ${dir} on ${ssh.host}: ${r.stderr.trim().split('\n').pop()}`);
  const sizes = r.stdout.split('\n').filter(Boolean).map(Number);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** Parses `--info=progress2` lines: bytes so far, percent, rate, files transferred, files left to check. */
export function parseProgress(line: string): { bytes: number; percent: number; rate: string; transferred?: number } | undefined {
  const m = /^\s*([\d,]+)\s+(\d+)%\s+(\S+\/s)\s+\S+(?:\s+\(xfr#(\d+))?/.exec(line);
  if (!m) return undefined;
  return { bytes: Number(m[1].replace(/,/g, '')), percent: Number(m[2]), rate: m[3], transferred: m[4] ? Number(m[4]) : undefined };
}

/** Starts rsync and reports progress: a bar on a TTY, a plain line every 5 s otherwise. */
export async function rsyncWithProgress(args: string[], label: string, timeoutMs: number): Promise<RunResult> {
  const child = start('rsync', ['--info=progress2', '--no-inc-recursive', ...args], { timeoutMs });
  let last: ReturnType<typeof parseProgress>;
  let buffer = '';
  const tty = process.stderr.isTTY;
  const bar = tty ? new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% | {size} | {rate} | {files} files`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(100, 0, { size: '0 B', rate: '-', files: 0 });
  child.child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split(/[\r\n]/);
    buffer = parts.pop() ?? '';
    for (const p of parts) {
      const progress = parseProgress(p);
      if (progress) {
        last = progress;
        bar?.update(progress.percent, { size: `${(progress.bytes / 1e6).toFixed(1)} MB`, rate: progress.rate, files: progress.transferred ?? 0 });
      }
    }
  });
  const ticker = tty
    ? undefined
    : setInterval(() => last && process.stderr.write(`${label}: ${last.percent}% ${(last.bytes / 1e6).toFixed(1)} MB at ${last.rate}, ${last.transferred ?? 0} files\n`), 5000);
  const r = await child.done;
  if (ticker) clearInterval(ticker);
  bar?.stop();
  return r;
}

import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { emptyDir } from '../support/files';
import { roomler, type RoomlerOptions, type RoomlerResult } from '../support/roomler';
import type { Sshd } from '../support/sshd';

// The pieces every rsync test shares: a "world" (Docker host source, the node's directories, the backup host's
// base path, a project with its roomler.yaml), and `bin/roomler` run in it.

export const stamp = (hoursAgo: number) =>
  new Date(Date.now() - hoursAgo * 3600_000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
export const STAMP = /^\d{8}T\d{6}Z$/;

/** A tree like the uploads: nested dirs, a symlink, a hard-link pair, a name with spaces and unicode. */
export function makeTree(dir: string, files = 300) {
  for (let n = 0; n < files; n++) {
    const sub = join(dir, `room-${n % 12}`, `2026-${(n % 3) + 1}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `upload-${n}.bin`), randomBytes(200 + ((n * 37) % 3000)));
  }
  writeFileSync(join(dir, 'ünïcødé name with spaces.txt'), 'hello\n');
  writeFileSync(join(dir, 'original.jpg'), randomBytes(4096));
  linkSync(join(dir, 'original.jpg'), join(dir, 'hardlink.jpg'));
  symlinkSync('original.jpg', join(dir, 'avatar.jpg'));
}

/** A finished MongoDB archive and manifest, as the backup CronJob leaves them on the node. */
export function mongoArchive(dir: string, hoursAgo: number, bytes = 20000) {
  mkdirSync(dir, { recursive: true });
  const gz = spawnSync('bash', ['-c', `head -c ${bytes} /dev/urandom | base64 -w0 | gzip -1`]).stdout;
  const base = `roomlerdb-${stamp(hoursAgo)}`;
  writeFileSync(join(dir, `${base}.archive.gz`), gz);
  writeFileSync(
    join(dir, `${base}.manifest.json`),
    JSON.stringify({ database: 'roomlerdb', collections: {}, bytes: gz.length, sha256: createHash('sha256').update(gz).digest('hex') }),
  );
  return base;
}

export interface World {
  readonly project: string;
  readonly source: string;
  readonly nodeUploads: string;
  readonly nodeBackup: string;
  readonly base: string;
  configure(extra?: string, ssh?: Partial<{ port: number; keyPath: string }>): void;
}

export function world(sshd: Sshd): World {
  const dir = emptyDir('roomler-world-');
  const w = {
    project: join(dir, 'project'),
    source: join(dir, 'docker', 'uploads'),
    nodeUploads: join(dir, 'node', 'data', 'uploads'),
    nodeBackup: join(dir, 'node', 'data', 'backup'),
    base: join(dir, 'backups'),
    configure(extra = '', ssh: Partial<{ port: number; keyPath: string }> = {}) {
      writeFileSync(
        join(w.project, 'roomler.yaml'),
        [
          `app: { uploads: { hostPath: "${w.nodeUploads}" } }`,
          `backups: { volume: { hostPath: "${w.nodeBackup}" } }`,
          `ssh: { user: root, host: 127.0.0.1, port: ${ssh.port ?? sshd.port}, keyPath: "${ssh.keyPath ?? sshd.keyPath}", knownHostsFile: "${sshd.knownHostsFile}", connectTimeoutSeconds: 3 }`,
          `migrate: { uploads: { source: "${w.source}" } }`,
          `backup: { basePath: "${w.base}", keep: 3${extra} }`,
        ].join('\n') + '\n',
      );
    },
  };
  for (const d of [w.project, w.source]) mkdirSync(d, { recursive: true });
  w.configure();
  return w;
}

export const snapshotsOf = (w: World, set: string) =>
  readdirSync(join(w.base, set))
    .filter((n) => STAMP.test(n))
    .sort();

const MUTATING = new Set(['migrate uploads', 'backup install']);

/** `bin/roomler script args…` in the world (with --yes for the commands that ask). */
export function cli(w: World, script: string, args: readonly string[] = [], o: RoomlerOptions = {}): RoomlerResult {
  const yes = MUTATING.has(`${script} ${args[0]}`) && !args.includes('--dry-run') ? ['--yes'] : [];
  return roomler([script, ...args, ...yes], { project: w.project, ...o });
}

/**
 * Runs with root's DAC override dropped from the capability bounding set, so a mode-0000 file is unreadable
 * even to root (tests run as root): the real EACCES an operator meets on a file another user locked down.
 */
export const WITHOUT_DAC_OVERRIDE = ['setpriv', '--bounding-set=-dac_override,-dac_read_search'] as const;

/**
 * A private crontab spool for Debian's real crontab(1): bin/roomler runs in a new mount namespace with
 * /var/spool/cron/crontabs bind-mounted from a temp directory, so root's real crontab on this machine is never
 * read or written. crontab needs no daemon for -l and -; nothing here runs cron itself.
 */
export function crontabSpool() {
  const spool = emptyDir('roomler-crontabs-');
  chownSync(spool, 0, Number(spawnSync('getent', ['group', 'crontab'], { encoding: 'utf8' }).stdout.split(':')[2]));
  spawnSync('chmod', ['1730', spool]);
  const wrap = ['unshare', '--mount', 'sh', '-c', 'mount --bind "$0" /var/spool/cron/crontabs && exec "$@"', spool];
  return {
    wrap,
    /** The table as `crontab -l` prints it ('' when there is none). */
    read(): string {
      const r = spawnSync(wrap[0], [...wrap.slice(1), 'crontab', '-l'], { encoding: 'utf8' });
      return r.status === 0 ? r.stdout : '';
    },
    write(table: string): void {
      const r = spawnSync(wrap[0], [...wrap.slice(1), 'crontab', '-'], { input: table, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`crontab -: ${r.stderr}`);
    },
  };
}

/** Processes whose command line mentions `text` (e.g. an rsync writing below a backup base path). */
export function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
        const state = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.[0];
        return cmd.includes(text) && state !== 'Z' ? [`${p} ${cmd}`] : [];
      } catch {
        return [];
      }
    });
}

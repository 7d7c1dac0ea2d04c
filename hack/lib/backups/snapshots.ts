import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LoadedConfig } from '../../../lib/config';
import { ARCHIVE_NAME, type ArchiveManifest } from '../../../lib/config/mongo-backup';
import { UserError } from '../cli';
import { run } from '../process/run';
import { ARCHIVE_FLAGS, classifyRsync, localStats, remote, rsyncShell, rsyncWithProgress } from './rsync';

/** A snapshot's directory name: its UTC stamp, the only age that counts (rsync copies directory mtimes). */
export const STAMP = /^\d{8}T\d{6}Z$/;
export const stampNow = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
export const stampTime = (s: string) => Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15));

export interface BackupSet {
  /** Directory name under backup.basePath. */
  readonly name: string;
  /** Directory on the data node. */
  readonly source: string;
  /** Whether it holds MongoDB archives to check. */
  readonly mongo: boolean;
}

/** What is pulled off the node: each instance's uploads and MongoDB backup directories. */
export function backupSets(cfg: LoadedConfig): BackupSet[] {
  const one = cfg.instances.length === 1;
  return cfg.instances.flatMap((i) => {
    const prefix = one ? '' : `${i.name}-`;
    const sets: BackupSet[] = [{ name: `${prefix}uploads`, source: i.app.uploads.hostPath, mongo: false }];
    if (i.backups.enabled && !i.backups.volume.existingClaim) {
      sets.push({ name: `${prefix}mongodb`, source: i.backups.volume.hostPath ?? `/data/${i.namespace}/backup`, mongo: true });
    }
    return sets;
  });
}

export const snapshots = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => STAMP.test(n)).sort() : []);
export const latestOf = (dir: string) => {
  try {
    const target = readlinkSync(join(dir, 'latest'));
    return STAMP.test(target) && existsSync(join(dir, target)) ? target : undefined;
  } catch {
    return undefined;
  }
};

/** Pulls one snapshot of `set` into `<base>/<set>/<stamp>` with hard links to the previous one. */
export async function snapshot(cfg: LoadedConfig, set: BackupSet, options: { allowEmpty: boolean }): Promise<string> {
  const b = cfg.root.backup;
  const dir = join(b.basePath, set.name);
  mkdirSync(dir, { recursive: true });
  // Never resume into a half-written snapshot: rsync would chmod inodes shared with older ones (FIELD-NOTES).
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.partial'))) rmSync(join(dir, n), { recursive: true, force: true });
  let stamp = stampNow();
  while (existsSync(join(dir, stamp))) {
    await new Promise((r) => setTimeout(r, 250));
    stamp = stampNow();
  }
  const partial = join(dir, `${stamp}.partial`);
  const previous = latestOf(dir);
  const args = [
    ...ARCHIVE_FLAGS,
    '--delete',
    '-e',
    rsyncShell(cfg.root.ssh),
    ...(b.bwlimitKiBps ? [`--bwlimit=${b.bwlimitKiBps}`] : []),
    // Absolute: a relative --link-dest resolves against the destination and silently links nothing.
    ...(previous ? [`--link-dest=${resolve(dir, previous)}`] : []),
    remote(cfg.root.ssh, `${set.source.replace(/\/+$/, '')}/`),
    `${partial}/`,
  ];
  const r = await rsyncWithProgress(args, `backup ${set.name}`, b.timeoutMinutes * 60_000);
  const c = classifyRsync(r, `backup ${set.name}`);
  if (!c.ok) throw new UserError(`${c.message}; ${previous ? `latest still points to ${previous}` : 'no snapshot was promoted'}`);
  const stats = localStats(partial);
  if (stats.files === 0 && !options.allowEmpty) {
    rmSync(partial, { recursive: true, force: true });
    throw new UserError(`backup ${set.name}: ${set.source} on the node is empty; refusing to promote an empty snapshot (pass --allow-empty if that is right)`);
  }
  writeFileSync(join(dir, `${stamp}.meta.json`), JSON.stringify({ set: set.name, source: set.source, stamp, ...stats }) + '\n');
  renameSync(partial, join(dir, stamp));
  const link = join(dir, `.latest.${process.pid}`);
  rmSync(link, { force: true });
  symlinkSync(stamp, link);
  renameSync(link, join(dir, 'latest')); // atomic swap
  return stamp;
}

/** Keeps the newest `keep` snapshots by the stamp in their names, and always the one `latest` points to. */
export function prune(dir: string, keep: number): string[] {
  const all = snapshots(dir);
  const latest = latestOf(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keep)).filter((s) => s !== latest);
  for (const s of doomed) {
    rmSync(join(dir, s), { recursive: true, force: true });
    rmSync(join(dir, `${s}.meta.json`), { force: true });
  }
  return doomed;
}

export interface Check {
  readonly ok: boolean;
  readonly line: string;
}

/** Files of `a` that have the same relative path, size and mtime in `b`, and how many share the inode. */
function linkSharing(a: string, b: string): { candidates: number; shared: number } {
  let candidates = 0;
  let shared = 0;
  const walk = (rel: string) => {
    for (const name of readdirSync(join(a, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const sa = lstatSync(join(a, r));
      if (sa.isDirectory()) walk(r);
      else if (sa.isFile()) {
        let sb;
        try {
          sb = lstatSync(join(b, r));
        } catch {
          continue;
        }
        if (!sb.isFile() || sb.size !== sa.size || sb.mtimeMs !== sa.mtimeMs) continue;
        candidates++;
        if (sb.ino === sa.ino && sb.dev === sa.dev) shared++;
      }
    }
  };
  walk('');
  return { candidates, shared };
}

const sha256 = (file: string) =>
  new Promise<string>((res, rej) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => res(h.digest('hex'))).on('error', rej);
  });

/** The checks of `backup verify` for one set, one line each. */
export async function verifySet(cfg: LoadedConfig, set: BackupSet): Promise<Check[]> {
  const dir = join(cfg.root.backup.basePath, set.name);
  const out: Check[] = [];
  const ok = (line: string) => out.push({ ok: true, line: `ok   ${set.name}: ${line}` });
  const fail = (line: string) => out.push({ ok: false, line: `FAIL ${set.name}: ${line}` });
  const latest = latestOf(dir);
  if (!latest) {
    fail(`no snapshot: ${join(dir, 'latest')} is missing or dangling`);
    return out;
  }
  const ageH = (Date.now() - stampTime(latest)) / 3_600_000;
  const limit = cfg.root.backup.maxAgeHours;
  (ageH < limit ? ok : fail)(`newest snapshot ${latest} is ${ageH.toFixed(1)}h old (limit ${limit}h)`);

  const snap = join(dir, latest);
  const stats = localStats(snap);
  const metaFile = join(dir, `${latest}.meta.json`);
  if (existsSync(metaFile)) {
    const recorded = JSON.parse(readFileSync(metaFile, 'utf8')).files;
    (stats.files === recorded ? ok : fail)(`${stats.files} files in the snapshot, ${recorded} recorded at backup time`);
  } else fail(`no record of the file count (${metaFile} missing)`);

  const older = snapshots(dir).filter((s) => s < latest);
  if (older.length) {
    const prev = older[older.length - 1];
    const { candidates, shared } = linkSharing(snap, join(dir, prev));
    (shared === candidates ? ok : fail)(`${shared} of ${candidates} unchanged files share their inode with ${prev}${shared === candidates ? '' : ' (hard links not shared: was --link-dest wrong?)'}`);
  } else ok('first snapshot: no previous one to share links with');

  if (set.mongo) {
    const instance = cfg.instances.find((i) => set.source === (i.backups.volume.hostPath ?? `/data/${i.namespace}/backup`));
    const archives = readdirSync(snap).filter((f) => ARCHIVE_NAME.test(f)).sort();
    const newest = archives[archives.length - 1];
    if (!newest) {
      fail('no MongoDB archive in the snapshot');
      return out;
    }
    const m = ARCHIVE_NAME.exec(newest)!;
    const archiveAge = (Date.now() - stampTime(m[2])) / 3_600_000;
    const maxAge = instance?.backups.maxAgeHours ?? 25;
    (archiveAge < maxAge ? ok : fail)(`newest archive ${newest} is ${archiveAge.toFixed(1)}h old (limit ${maxAge}h)`);
    const gz = await run('gzip', ['-t', join(snap, newest)]);
    (gz.exitCode === 0 ? ok : fail)(`gzip -t ${newest}: ${gz.exitCode === 0 ? 'complete' : 'truncated or corrupt'}`);
    const manifestFile = join(snap, newest.replace(/\.archive\.gz$/, '.manifest.json'));
    if (!existsSync(manifestFile)) fail(`no manifest for ${newest}`);
    else {
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as ArchiveManifest;
      const actual = await sha256(join(snap, newest));
      (actual === manifest.sha256 ? ok : fail)(`sha256 of ${newest} ${actual === manifest.sha256 ? 'matches' : `is ${actual.slice(0, 12)}…, manifest says ${String(manifest.sha256).slice(0, 12)}…`}`);
    }
  }
  return out;
}

export const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { LoadedConfig } from '../../../lib/config';
import { ARCHIVE_NAME, type ArchiveManifest } from '../../../lib/config/mongo-backup';
import { UserError } from '../cli';
import { acquireLock } from '../process/lock';
import { run } from '../process/run';
import {
  ARCHIVE_FLAGS,
  classifyRsync,
  compareChecksums,
  isSilentCorruption,
  localStats,
  remote,
  rsyncShell,
  rsyncStats,
  rsyncWithProgress,
  walkFiles,
} from './rsync';

/** A snapshot's directory name: its UTC stamp, the only age that counts (rsync copies directory mtimes). */
export const STAMP = /^\d{8}T\d{6}Z$/;
export const stampNow = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
export const stampTime = (s: string) =>
  Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15));

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

export const snapshots = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => STAMP.test(n))
        .sort()
    : [];
export const latestOf = (dir: string) => {
  try {
    const target = readlinkSync(join(dir, 'latest'));
    return STAMP.test(target) && existsSync(join(dir, target)) ? target : undefined;
  } catch {
    return undefined;
  }
};

/** Taken by every rsync that writes a snapshot of this set, and held by that rsync itself (underLock). */
export const transferLock = (dir: string) => join(dir, '.transfer.lock');

/** Pulls one snapshot of `set` into `<base>/<set>/<stamp>` with hard links to the previous one. */
export async function snapshot(
  cfg: LoadedConfig,
  set: BackupSet,
  options: { allowEmpty: boolean; progress: (line: string) => void },
): Promise<string> {
  const b = cfg.root.backup;
  const dir = join(b.basePath, set.name);
  mkdirSync(dir, { recursive: true });
  const partials = readdirSync(dir).filter((x) => x.endsWith('.partial'));
  if (partials.length) {
    // An rsync that outlived its run (its guard gone too, or started by hand) still holds the transfer lock and
    // is still writing its .partial: wait the guard's TERM-then-KILL out, then refuse. (With no .partial there is
    // nothing to protect; a transfer that has not created one yet makes our rsync's own flock refuse.)
    await (
      await acquireLock(transferLock(dir), `an rsync of an earlier run (still writing ${set.name}/*.partial)`, { waitSeconds: 5 })
    )();
  }
  // Never resume into a half-written snapshot: rsync would chmod inodes shared with older ones (docs/backups.md).
  for (const n of partials) rmSync(join(dir, n), { recursive: true, force: true });
  let stamp = stampNow();
  while (existsSync(join(dir, stamp))) {
    await sleep(250);
    stamp = stampNow();
  }
  const partial = join(dir, `${stamp}.partial`);
  const previous = latestOf(dir);
  const args = [
    ...ARCHIVE_FLAGS,
    '--delete',
    '--stats',
    '-e',
    rsyncShell(cfg.root.ssh),
    ...(b.bwlimitKiBps ? [`--bwlimit=${b.bwlimitKiBps}`] : []),
    // Absolute: a relative --link-dest resolves against the destination and silently links nothing.
    ...(previous ? [`--link-dest=${resolve(dir, previous)}`] : []),
    remote(cfg.root.ssh, `${set.source.replace(/\/+$/, '')}/`),
    `${partial}/`,
  ];
  const r = await rsyncWithProgress(args, `backup ${set.name}`, b.timeoutMinutes * 60_000, {
    lockFile: transferLock(dir),
    progress: options.progress,
  });
  const c = classifyRsync(r, `pulling ${set.source} from the node`);
  if (!c.ok) {
    // Never resumed anyway; removing it now gives the space back to the other sets (a full disk is one way to get here).
    rmSync(partial, { recursive: true, force: true });
    throw new UserError(`${c.message}\n  ${previous ? `latest still points to ${previous}` : 'no snapshot was promoted'}`);
  }
  // rsync's own count of what it listed on the node: the same as walking the copy, without a second walk.
  const stats = rsyncStats(r.stdout) ?? localStats(partial);
  if (stats.files === 0 && !options.allowEmpty) {
    rmSync(partial, { recursive: true, force: true });
    throw new UserError(`${set.source} on the node is empty; refusing to promote an empty snapshot (pass --allow-empty if that is right)`);
  }
  writeFileSync(join(dir, `${stamp}.meta.json`), JSON.stringify({ set: set.name, source: set.source, stamp, ...stats }) + '\n');
  renameSync(partial, join(dir, stamp));
  const link = join(dir, `.latest.${process.pid}`);
  rmSync(link, { force: true });
  symlinkSync(stamp, link);
  renameSync(link, join(dir, 'latest')); // atomic swap
  return stamp;
}

/** Snapshots whose stamp lies ahead of this host's clock: written while a clock was wrong. */
export const futureSnapshots = (dir: string, now = Date.now()) => snapshots(dir).filter((s) => stampTime(s) > now);

/**
 * Keeps the newest `keep` snapshots by the stamp in their names, and always the one `latest` points to. A stamp
 * in the future (clock skew) would outrank every real snapshot for as long as the skew lasts, so those are left
 * out of the count, kept, and returned for the caller to report.
 */
export function prune(dir: string, keep: number, now = Date.now()): { pruned: string[]; future: string[] } {
  const future = futureSnapshots(dir, now);
  const all = snapshots(dir).filter((s) => !future.includes(s));
  const latest = latestOf(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keep)).filter((s) => s !== latest);
  for (const s of doomed) {
    rmSync(join(dir, s), { recursive: true, force: true });
    rmSync(join(dir, `${s}.meta.json`), { force: true });
  }
  return { pruned: doomed, future };
}

/** One check of `backup verify`. */
export interface Check {
  readonly ok: boolean;
  /** The backup set it is about. */
  readonly set: string;
  /** What was found, in words. */
  readonly detail: string;
}

/** A check as `backup verify` prints it: `ok   uploads: …` or `FAIL uploads: …`. */
export const checkLine = (c: Check) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.set}: ${c.detail}`;

/** Files of `a` that have the same relative path, size and mtime in `b`, and how many share the inode. */
function linkSharing(a: string, b: string): { candidates: number; shared: number } {
  let candidates = 0;
  let shared = 0;
  const inB = Buffer.from(`${b}/`);
  walkFiles(a, (rel, sa) => {
    let sb;
    try {
      sb = lstatSync(Buffer.concat([inB, rel]));
    } catch {
      return;
    }
    if (!sb.isFile() || sb.size !== sa.size || sb.mtimeMs !== sa.mtimeMs) return;
    candidates++;
    if (sb.ino === sa.ino && sb.dev === sa.dev) shared++;
  });
  return { candidates, shared };
}

const sha256 = (file: string) =>
  new Promise<string>((res, rej) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });

export interface VerifyOptions {
  /** Also compare content checksums of `sample` files of the newest snapshot with the node (0 = every file). */
  readonly deep?: { readonly sample: number };
}

/** The checks of `backup verify` for one set, one line each. */
export async function verifySet(cfg: LoadedConfig, set: BackupSet, o: VerifyOptions = {}): Promise<Check[]> {
  const dir = join(cfg.root.backup.basePath, set.name);
  const out: Check[] = [];
  const ok = (detail: string) => out.push({ ok: true, set: set.name, detail });
  const fail = (detail: string) => out.push({ ok: false, set: set.name, detail });
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
    (shared === candidates ? ok : fail)(
      `${shared} of ${candidates} unchanged files share their inode with ${prev}${shared === candidates ? '' : ' (hard links not shared: was --link-dest wrong?)'}`,
    );
  } else ok('first snapshot: no previous one to share links with');

  const future = futureSnapshots(dir);
  if (future.length) fail(`${future.length} snapshot(s) stamped in the future (clock skew?), left out of retention: ${future.join(', ')}`);

  if (o.deep) out.push(...(await deepCheck(cfg, set, snap, latest, o.deep.sample)));

  if (set.mongo) {
    const instance = cfg.instances.find((i) => set.source === (i.backups.volume.hostPath ?? `/data/${i.namespace}/backup`));
    const archives = readdirSync(snap)
      .filter((f) => ARCHIVE_NAME.test(f))
      .sort();
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
      (actual === manifest.sha256 ? ok : fail)(
        `sha256 of ${newest} ${actual === manifest.sha256 ? 'matches' : `is ${actual.slice(0, 12)}…, manifest says ${String(manifest.sha256).slice(0, 12)}…`}`,
      );
    }
  }
  return out;
}

/**
 * `verify --deep`: rsync compares content checksums of a sample of the newest snapshot with the node. Different
 * content under the same size and mtime is corruption on one side (disk, memory, a bad copy), which neither the
 * file count nor hard-link sharing can see; a file the application changed or removed since the snapshot has a
 * new size or mtime, or is gone, and is counted, not failed.
 */
async function deepCheck(cfg: LoadedConfig, set: BackupSet, snap: string, latest: string, sample: number): Promise<Check[]> {
  const line = (ok: boolean, detail: string): Check => ({ ok, set: set.name, detail });
  let cmp;
  try {
    cmp = await compareChecksums(cfg.root.ssh, snap, set.source, {
      sample,
      timeoutMs: cfg.root.backup.timeoutMinutes * 60_000,
      what: `deep check of ${latest} against the node`,
    });
  } catch (e) {
    return [line(false, (e as Error).message)];
  }
  const corrupt = cmp.differing.filter(isSilentCorruption);
  const changed = cmp.differing.length - corrupt.length;
  const since = changed ? `; ${changed} changed or removed on the node since the snapshot, not compared` : '';
  if (cmp.checked !== cmp.asked) return [line(false, `deep: rsync compared ${cmp.checked} file(s), ${cmp.asked} were asked for`)];
  if (corrupt.length) {
    const names =
      corrupt
        .slice(0, 10)
        .map((c) => c.name)
        .join(', ') + (corrupt.length > 10 ? ', …' : '');
    return [
      line(
        false,
        `deep: content differs from the node under the same size and mtime for ${corrupt.length} of ${cmp.checked} file(s) (silent corruption in ${latest} or on the node): ${names}${since}`,
      ),
    ];
  }
  return [line(true, `deep: content checksums of ${cmp.checked - changed} of ${cmp.checked} sampled file(s) match the node${since}`)];
}

export const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

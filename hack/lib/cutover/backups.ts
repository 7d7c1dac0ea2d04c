import { createHash } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { UserError } from '../cli';

// Backup sets of the nginx files a cutover changes: <backupDir>/<STAMP>/ with the original bytes under files/,
// manifest.json (sha256, mode and owner per file, and the outcome) and SHA256SUMS for `sha256sum -c`. A set is
// written as .<STAMP>.partial and renamed when complete, so a set either exists whole or not at all.

/** Config files are handled as latin1 text: one char per byte, so every byte round-trips exactly. */
export const BYTES = 'latin1';

export const sha256 = (text: string) => createHash('sha256').update(Buffer.from(text, BYTES)).digest('hex');

export interface ManifestFile {
  /** The path as nginx includes it, and where its bytes live (through a symlink). */
  readonly path: string;
  readonly real: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** What the cutover wrote, once it succeeded: rollback refuses to discard edits made since. */
  readonly sha256After?: string;
}

export interface Manifest {
  readonly stamp: string;
  /** apply or rollback (cutover), switch (the migration day's maintenance answer, then the cutover). */
  readonly kind: 'apply' | 'rollback' | 'switch';
  readonly created: string;
  readonly routes: readonly { readonly from: string; readonly to: string; readonly target: string }[];
  readonly files: readonly ManifestFile[];
  /** pending (running or killed), applied, or `failed at <step>; restored`. */
  readonly outcome: string;
}

export interface BackupSet {
  readonly dir: string;
  readonly manifest: Manifest;
}

/** Set names: UTC to the millisecond, so an apply and a rollback in the same second never wait for a name. */
export const SET_STAMP = /^\d{8}T\d{6}\.\d{3}Z$/;
const stampNow = () => new Date().toISOString().replace(/[-:]/g, '');

const backupPath = (set: string, f: ManifestFile) => join(set, 'files', f.real);

function fsyncDir(dir: string) {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `text` to `file` through a temporary file and a rename, keeping `like`'s mode and owner. */
export function atomicWrite(file: string, text: string, like: { mode: number; uid: number; gid: number }): void {
  const tmp = join(dirname(file), `.${basename(file)}.roomler-cutover.tmp`);
  const fd = openSync(tmp, 'w', like.mode & 0o7777);
  try {
    writeSync(fd, Buffer.from(text, BYTES));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, like.mode & 0o7777);
    if (process.getuid?.() === 0) chownSync(tmp, like.uid, like.gid);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(file));
}

/** Why `file` cannot be rewritten in place, or undefined. Root ignores mode bits, so they are checked too. */
export function notWritable(file: string): string | undefined {
  const st = statSync(file);
  if ((st.mode & 0o222) === 0) return `is read-only (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`;
  for (const [p, what] of [
    [file, 'the file'],
    [dirname(file), 'its directory (needed for the atomic rename)'],
  ]) {
    try {
      accessSync(p, constants.W_OK);
    } catch (e) {
      return `cannot be written: ${what} says ${(e as NodeJS.ErrnoException).code}`;
    }
  }
  return undefined;
}

/** Refuses a backup directory nginx would read: a backup matching an include glob keeps old server blocks live. */
export function checkBackupDir(backupDir: string, includeDirs: readonly string[]): void {
  const b = resolve(backupDir);
  const inside = includeDirs.map((d) => resolve(d)).find((d) => b === d || b.startsWith(`${d}/`));
  if (inside)
    throw new UserError(
      `cutover.backupDir ${backupDir} is inside ${inside}, which nginx includes from: nginx would load the backups (a backup matching an include glob keeps the old server blocks live). Choose a directory outside it`,
    );
}

export async function createSet(
  backupDir: string,
  kind: Manifest['kind'],
  routes: Manifest['routes'],
  files: readonly { path: string; real: string; text: string }[],
): Promise<BackupSet> {
  mkdirSync(backupDir, { recursive: true, mode: 0o700 });
  for (const n of readdirSync(backupDir).filter((x) => x.endsWith('.partial')))
    rmSync(join(backupDir, n), { recursive: true, force: true });
  let stamp = stampNow();
  while (existsSync(join(backupDir, stamp))) {
    await sleep(2);
    stamp = stampNow();
  }
  const partial = join(backupDir, `.${stamp}.partial`);
  const entries: ManifestFile[] = files.map((f) => {
    const st = statSync(f.real);
    const entry = {
      path: f.path,
      real: f.real,
      sha256: sha256(f.text),
      bytes: Buffer.byteLength(f.text, BYTES),
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
    };
    const copy = backupPath(partial, entry);
    mkdirSync(dirname(copy), { recursive: true });
    writeFileSync(copy, Buffer.from(f.text, BYTES), { mode: 0o600 });
    if (sha256(readFileSync(copy, BYTES)) !== entry.sha256)
      throw new UserError(`backup: the copy of ${f.path} in ${partial} does not read back identical`);
    return entry;
  });
  const manifest: Manifest = { stamp, kind, created: new Date().toISOString(), routes, files: entries, outcome: 'pending' };
  writeManifest(partial, manifest);
  renameSync(partial, join(backupDir, stamp));
  fsyncDir(backupDir);
  return { dir: join(backupDir, stamp), manifest };
}

function writeManifest(dir: string, manifest: Manifest) {
  const tmp = join(dir, '.manifest.json.tmp');
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, 'manifest.json'));
  writeFileSync(join(dir, 'SHA256SUMS'), manifest.files.map((f) => `${f.sha256}  files${f.real}\n`).join(''), { mode: 0o600 });
  fsyncDir(dir);
}

export function updateSet(set: BackupSet, patch: Partial<Pick<Manifest, 'outcome' | 'files'>>): BackupSet {
  const manifest = { ...set.manifest, ...patch };
  writeManifest(set.dir, manifest);
  return { dir: set.dir, manifest };
}

/** Complete sets, oldest first. */
export function listSets(backupDir: string): BackupSet[] {
  if (!existsSync(backupDir)) return [];
  return readdirSync(backupDir)
    .filter((n) => SET_STAMP.test(n) && existsSync(join(backupDir, n, 'manifest.json')))
    .sort()
    .map((n) => ({ dir: join(backupDir, n), manifest: JSON.parse(readFileSync(join(backupDir, n, 'manifest.json'), 'utf8')) as Manifest }));
}

/** A backed-up original, checked against its manifest sha256. */
export function original(set: BackupSet, f: ManifestFile): string {
  const text = readFileSync(backupPath(set.dir, f), BYTES);
  if (sha256(text) !== f.sha256)
    throw new UserError(
      `backup set ${set.manifest.stamp} is damaged: ${backupPath(set.dir, f)} does not match its sha256 in manifest.json`,
    );
  return text;
}

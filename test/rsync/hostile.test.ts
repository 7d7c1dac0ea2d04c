import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir } from '../support/files';
import { type Sshd, startSshd } from '../support/sshd';
import { cli, makeTree, mongoArchive, snapshotsOf, stamp, WITHOUT_DAC_OVERRIDE, world as worldOf } from './world';

// Issue 18: a realistic, hostile uploads tree and injected faults, against real rsync and a real sshd. The node's
// sshd (and so its rsync) runs without root's DAC override, like a node whose files are not all root's to read.
let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd(emptyDir('roomler-hostile-sshd-'), { wrap: WITHOUT_DAC_OVERRIDE });
});
afterAll(() => {
  sshd?.stop();
  cleanupDirs();
});
const world = () => worldOf(sshd);

const SPARSE_BYTES = 200 * 1024 * 1024;
const NFC = 'caf\u00e9.txt';
const NFD = 'cafe\u0301.txt';
const NEWLINE = 'line\nbreak.txt';
const LATIN1 = Buffer.from('latin1-\xe9t\xe9.txt', 'latin1'); // not valid UTF-8: a name is bytes

/**
 * 2,000 files as uploads really look after years: nested rooms, Unicode names in both normal forms (two
 * distinct files on Linux), a newline and shell metacharacters in names, a name that is not UTF-8, a 200 MB
 * sparse file holding 1 MB of data, hard links, and ACLs.
 */
function hostileTree(dir: string): void {
  const odd = join(dir, 'odd');
  mkdirSync(odd, { recursive: true });
  writeFileSync(join(odd, NFC), 'composed\n');
  writeFileSync(join(odd, NFD), 'decomposed\n');
  writeFileSync(join(odd, NEWLINE), 'a name with a newline\n');
  writeFileSync(Buffer.concat([Buffer.from(`${odd}/`), LATIN1]), 'latin-1 bytes\n');
  for (const name of ['-rf', '$(id) `id`.txt', 'it\'s "quoted".txt', 'back\\slash*?[].txt', ' leading and trailing '])
    writeFileSync(join(odd, name), name);
  const fd = openSync(join(dir, 'sparse.img'), 'w');
  ftruncateSync(fd, SPARSE_BYTES);
  writeSync(fd, randomBytes(512 * 1024), 0, 512 * 1024, 0);
  writeSync(fd, randomBytes(512 * 1024), 0, 512 * 1024, SPARSE_BYTES / 2);
  closeSync(fd);
  writeFileSync(join(dir, 'photo.jpg'), randomBytes(8192));
  linkSync(join(dir, 'photo.jpg'), join(odd, 'photo-link-1.jpg'));
  linkSync(join(dir, 'photo.jpg'), join(odd, 'photo-link-2.jpg'));
  writeFileSync(join(dir, 'acl.txt'), 'readable by nobody too\n');
  setfacl(['-m', 'u:nobody:r--', join(dir, 'acl.txt')]);
  setfacl(['-d', '-m', 'u:nobody:rwx', odd]);
  const specials = readdirSync(odd).length + 3; // + sparse.img, photo.jpg, acl.txt
  for (let n = 0; n < 2000 - specials; n++) {
    const sub = join(dir, `room-${n % 25}`, `2026-${(n % 12) + 1}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `upload-${n}.bin`), randomBytes(500 + ((n * 131) % 4000)));
  }
}
const setfacl = (args: string[]) => expect(spawnSync('setfacl', args, { encoding: 'utf8' }).status).toBe(0);
const getfacl = (path: string) => spawnSync('getfacl', ['--omit-header', '--absolute-names', path], { encoding: 'utf8' }).stdout;
const diskBytes = (path: string) => statSync(path).blocks * 512;

/** The hostile tree arrived intact in `dir`: names, contents, links, ACLs, and a sparse file that stayed sparse. */
function expectIntact(dir: string): void {
  const odd = join(dir, 'odd');
  expect(readFileSync(join(odd, NFC), 'utf8')).toBe('composed\n');
  expect(readFileSync(join(odd, NFD), 'utf8')).toBe('decomposed\n');
  expect(readFileSync(join(odd, NEWLINE), 'utf8')).toBe('a name with a newline\n');
  expect(readFileSync(Buffer.concat([Buffer.from(`${odd}/`), LATIN1]), 'utf8')).toBe('latin-1 bytes\n');
  expect(readFileSync(join(odd, '-rf'), 'utf8')).toBe('-rf');
  expect(statSync(join(odd, 'photo-link-2.jpg')).ino).toBe(statSync(join(dir, 'photo.jpg')).ino);
  expect(getfacl(join(dir, 'acl.txt'))).toMatch(/^user:nobody:r--$/m);
  expect(getfacl(odd)).toMatch(/^default:user:nobody:rwx$/m);
  const sparse = join(dir, 'sparse.img');
  expect(statSync(sparse).size).toBe(SPARSE_BYTES);
  expect(diskBytes(sparse)).toBeLessThan(8 * 1024 * 1024); // 1 MB of data, not 200 MB of disk
}

/** Changes a file's content while keeping its size and mtime: what bit rot or a bad disk does. */
function corrupt(file: string): void {
  const st = statSync(file);
  const bytes = readFileSync(file);
  bytes[0] ^= 0xff;
  writeFileSync(file, bytes);
  utimesSync(file, st.atime, st.mtime);
}

describe('the hostile tree (2,000 files) over real rsync and sshd', () => {
  it('migrate uploads copies it exactly, keeps the sparse file sparse, and verifies every file by checksum', () => {
    const w = world();
    hostileTree(w.source);
    const r = cli(w, 'migrate', ['uploads']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/migrate uploads: OK 2000 files, \d+ bytes .*checksums of 2000 file\(s\) match/);
    expectIntact(w.nodeUploads);
    const sampled = cli(w, 'migrate', ['uploads', '--checksum-sample', '50']);
    expect(sampled.stdout, sampled.stderr).toMatch(/\(0 transferred this run; checksums of 50 file\(s\) match\)/);
  });

  it('backup run snapshots it intact and sparse; verify --deep finds silent corruption on the node and in the snapshot', async () => {
    const w = world();
    hostileTree(w.nodeUploads);
    mongoArchive(w.nodeBackup, 1);
    const r = cli(w, 'backup', ['run']);
    expect(r.code, r.stderr).toBe(0);
    const snap = () => join(w.base, 'uploads', readlinkSync(join(w.base, 'uploads', 'latest')));
    expectIntact(snap());
    await new Promise((res) => setTimeout(res, 1100));
    expect(cli(w, 'backup', ['run']).code).toBe(0);
    expectIntact(snap()); // the second, hard-linked snapshot too
    const [first, second] = snapshotsOf(w, 'uploads');
    expect(statSync(join(w.base, 'uploads', second, 'sparse.img')).ino).toBe(statSync(join(w.base, 'uploads', first, 'sparse.img')).ino);

    const clean = cli(w, 'backup', ['verify', '--deep', '--sample', '0']);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/ok {3}uploads: deep: content checksums of 2000 of 2000 sampled file\(s\) match the node$/m);

    // The application changed one file (new mtime): not corruption. The node's disk flipped bits in another.
    writeFileSync(join(w.nodeUploads, 'room-1', '2026-2', 'upload-1.bin'), 'edited by the app');
    corrupt(join(w.nodeUploads, 'room-3', '2026-4', 'upload-3.bin'));
    const onNode = cli(w, 'backup', ['verify', '--deep', '--sample', '0']);
    expect(onNode.code).toBe(1);
    expect(onNode.stderr).toMatch(
      /FAIL uploads: deep: content differs from the node under the same size and mtime for 1 of 2000 file\(s\) .*: room-3\/2026-4\/upload-3\.bin; 1 changed or removed on the node since the snapshot/,
    );

    // Corruption in the snapshot is found the same way, the file with a newline in its name included.
    corrupt(join(w.nodeUploads, 'room-3', '2026-4', 'upload-3.bin')); // flipped back
    corrupt(join(snap(), 'odd', NEWLINE));
    const inSnapshot = cli(w, 'backup', ['verify', '--deep', '--sample', '0']);
    expect(inSnapshot.code).toBe(1);
    expect(inSnapshot.stderr).toMatch(
      /for 1 of 2000 file\(s\) \(silent corruption in \d{8}T\d{6}Z or on the node\): odd\/line\\#012break\.txt/,
    );

    const sampled = cli(w, 'backup', ['verify', '--deep']);
    expect(sampled.stdout + sampled.stderr).toMatch(/uploads: deep: .* of 100 (sampled )?file\(s\)/);
  });
});

describe('--checksum-sample', () => {
  it('checks exactly min(N, total) files spread over the tree, a name with a newline included', () => {
    const w = world();
    // 11 files; the newline name sorts first, so an even spread of 7 must include it (indices 0,1,3,4,6,7,9).
    writeFileSync(join(w.source, `0${NEWLINE}`), 'newline\n');
    for (let n = 1; n <= 10; n++) writeFileSync(join(w.source, `file-${String(n).padStart(2, '0')}.bin`), randomBytes(1000 + n));
    expect(cli(w, 'migrate', ['uploads']).code).toBe(0);
    const seven = cli(w, 'migrate', ['uploads', '--checksum-sample', '7']);
    expect(seven.code, seven.stderr).toBe(0);
    expect(seven.stdout).toMatch(/checksums of 7 file\(s\) match/);
    expect(cli(w, 'migrate', ['uploads', '--checksum-sample', '20']).stdout).toMatch(/checksums of 11 file\(s\) match/);
    corrupt(join(w.nodeUploads, `0${NEWLINE}`));
    const caught = cli(w, 'migrate', ['uploads', '--checksum-sample', '7']);
    expect(caught.code).toBe(1);
    expect(caught.stderr).toMatch(/checksums differ for 1 file\(s\): 0line\\#012break\.txt/);
  });
});

describe('faults', () => {
  it('an unreadable file is named, with the reason rsync gave: migrate uploads and backup run', () => {
    const w = world();
    makeTree(w.source, 20);
    mkdirSync(join(w.source, 'locked'));
    writeFileSync(join(w.source, 'locked', 'secret.bin'), 'x');
    chmodSync(join(w.source, 'locked', 'secret.bin'), 0o000);
    // migrate's rsync reads the source here: run the command without root's DAC override, too.
    const m = cli(w, 'migrate', ['uploads'], { wrap: WITHOUT_DAC_OVERRIDE });
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(
      /rsync exit 23: some files could not be transferred:\n\s+rsync: \[sender\] send_files failed to open ".*\/locked\/secret\.bin": Permission denied \(13\)/,
    );

    // What did arrive on the node (all but the secret) is backed up once, then files there become unreadable.
    mongoArchive(w.nodeBackup, 1);
    expect(cli(w, 'backup', ['run']).code).toBe(0);
    const latest = readlinkSync(join(w.base, 'uploads', 'latest'));
    // 30 unreadable files on the node: every one is a line of rsync's, 20 are shown and the rest counted.
    for (let n = 0; n < 30; n++) {
      writeFileSync(join(w.nodeUploads, `private-${n}.bin`), 'x');
      chmodSync(join(w.nodeUploads, `private-${n}.bin`), 0o000);
    }
    const b = cli(w, 'backup', ['run']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/FAIL uploads: pulling .* from the node: rsync exit 23: some files could not be transferred:\n/);
    expect(b.stderr.match(/send_files failed to open ".*\/private-\d+\.bin": Permission denied \(13\)/g)).toHaveLength(20);
    expect(b.stderr).toMatch(/… and 10 more error line\(s\)\n\s+latest still points to /);
    expect(b.stdout).toMatch(/ok {3}mongodb -> /);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(latest);
    expect(readdirSync(join(w.base, 'uploads')).filter((n) => n.endsWith('.partial'))).toEqual([]);
  });

  it('disk full says disk full; the failed set leaves no partial behind and the other set still runs', () => {
    const w = world();
    mkdirSync(w.nodeUploads, { recursive: true });
    writeFileSync(join(w.nodeUploads, 'big.bin'), randomBytes(4 * 1024 * 1024));
    mongoArchive(w.nodeBackup, 1);
    mkdirSync(w.base, { recursive: true });
    // backup.basePath on a 2 MiB tmpfs, private to this command (its own mount namespace); listed before it goes.
    const r = cli(w, 'backup', ['run'], {
      wrap: [
        'unshare',
        '--mount',
        'sh',
        '-c',
        'mount -t tmpfs -o size=2m none "$0" || exit 99; "$@"; code=$?; echo "--- uploads:" >&2; ls -A "$0/uploads" >&2; exit $code',
        w.base,
      ],
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /FAIL uploads: pulling .* from the node: disk full \(rsync exit \d+\):\n.*write failed on ".*big\.bin": No space left on device/,
    );
    expect(r.stdout).toMatch(/ok {3}mongodb -> /);
    const listing = r.stderr.split('--- uploads:\n')[1];
    expect(listing).toMatch(/^\.transfer\.lock$/m);
    expect(listing).not.toMatch(/\.partial|^\d{8}T\d{6}Z$/m);
  });

  it('sets are independent: with the uploads directory missing on the node, the MongoDB archives still leave it', () => {
    const w = world();
    mongoArchive(w.nodeBackup, 1);
    const r = cli(w, 'backup', ['run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^FAIL uploads: pulling .* from the node: the source path does not exist/m);
    expect(r.stdout).toMatch(/^ok {3}mongodb -> .*\(latest\)$/m);
    expect(r.stderr).toMatch(/backup run: 1 of 2 set\(s\) FAILED \(uploads\); the others are backed up/);
    expect(existsSync(join(w.base, 'mongodb', 'latest'))).toBe(true);
  });

  it('retention leaves out, keeps and reports snapshots stamped in the future; verify flags them', () => {
    const w = world();
    makeTree(w.nodeUploads, 5);
    mongoArchive(w.nodeBackup, 1);
    const future = stamp(-48);
    const stamps = [200, 100, 50].map(stamp);
    for (const s of [...stamps, future]) {
      mkdirSync(join(w.base, 'uploads', s), { recursive: true });
      writeFileSync(join(w.base, 'uploads', s, 'x'), 'x');
    }
    const r = cli(w, 'backup', ['run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`ok {3}uploads -> .*; pruned ${stamps[0]}; left out of retention, stamped in the future \\(clock skew\\?\\): ${future}`),
    );
    // keep: 3 real ones (the future one would have pushed out the 100 h old one).
    const latest = readlinkSync(join(w.base, 'uploads', 'latest'));
    expect(snapshotsOf(w, 'uploads')).toEqual([stamps[1], stamps[2], latest, future]);
    const v = cli(w, 'backup', ['verify']);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(
      new RegExp(`FAIL uploads: 1 snapshot\\(s\\) stamped in the future \\(clock skew\\?\\), left out of retention: ${future}`),
    );
  });
});

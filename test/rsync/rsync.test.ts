import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../hack/lib/process/ports';
import { cleanupDirs, emptyDir } from '../support/files';
import { startRoomler } from '../support/roomler';
import { type Sshd, startSshd } from '../support/sshd';
import {
  cli as cliIn,
  crontabSpool,
  makeTree,
  mongoArchive,
  processesMentioning,
  snapshotsOf,
  stamp,
  type World,
  world as worldOf,
} from './world';

// Real rsync and a real sshd (Debian's openssh-server) on 127.0.0.1 as "the data node"; the Docker host and
// the backup host are temp directories on this machine.
let sshd: Sshd;
let tmp: string;
beforeAll(async () => {
  tmp = emptyDir('roomler-rsync-');
  sshd = await startSshd(tmp);
});
afterAll(() => {
  sshd?.stop();
  cleanupDirs();
});

const world = () => worldOf(sshd);
const cli = (w: World, script: string, ...args: string[]) => cliIn(w, script, args);

describe('npm run migrate -- uploads (real rsync over real sshd)', () => {
  it('copies everything (links, symlink, unicode), verifies, and a re-run transfers nothing', () => {
    const w = world();
    makeTree(w.source);
    const r = cli(w, 'migrate', 'uploads');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/migrate uploads: OK 303 files, \d+ bytes .*checksums of 303 file\(s\) match/);
    expect(readFileSync(join(w.nodeUploads, 'ünïcødé name with spaces.txt'), 'utf8')).toBe('hello\n');
    expect(readlinkSync(join(w.nodeUploads, 'avatar.jpg'))).toBe('original.jpg');
    expect(statSync(join(w.nodeUploads, 'hardlink.jpg')).ino).toBe(statSync(join(w.nodeUploads, 'original.jpg')).ino);
    const again = cli(w, 'migrate', 'uploads');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/\(0 transferred this run/);
  });

  it('the verification catches a corrupted file that size and mtime cannot', () => {
    const w = world();
    makeTree(w.source, 40);
    expect(cli(w, 'migrate', 'uploads').code).toBe(0);
    const victim = join(w.nodeUploads, 'room-1', '2026-2', 'upload-1.bin');
    const st = statSync(victim);
    writeFileSync(victim, randomBytes(st.size));
    utimesSync(victim, st.atime, st.mtime);
    const r = cli(w, 'migrate', 'uploads');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/verification FAILED .*\n\s+checksums differ for 1 file\(s\): room-1\/2026-2\/upload-1\.bin/);
    const sampled = cli(w, 'migrate', 'uploads', '--checksum-sample', '5');
    expect(sampled.stdout + sampled.stderr).toMatch(/checksums of 5 file\(s\) match|checksums differ/);
  });

  it('--dry-run lists what would change and writes nothing', () => {
    const w = world();
    makeTree(w.source, 10);
    const r = cli(w, 'migrate', 'uploads', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/<f\+{9} ünïcødé name with spaces\.txt/);
    expect(r.stdout).toMatch(/dry run, \d+ change\(s\) would be made/);
    expect(existsSync(w.nodeUploads)).toBe(false);
  });

  it('says clearly when the node is unreachable, the key is refused, or the source is missing', async () => {
    const w = world();
    makeTree(w.source, 3);
    w.configure('', { port: await freePort() });
    const refused = cli(w, 'migrate', 'uploads');
    expect(refused.stderr, refused.stderr).toMatch(/cannot reach the node over ssh \(.*Connection refused/);
    w.configure('', { keyPath: sshd.wrongKeyPath });
    expect(cli(w, 'migrate', 'uploads').stderr).toMatch(/ssh refused the key \(Permission denied \(publickey\)\)/);
    w.configure();
    rmSync(w.source, { recursive: true });
    const r = cli(w, 'migrate', 'uploads');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/migrate\.uploads\.source \(DOCKER_UPLOADS_PATH\) .* is not a directory/);
  });
});

describe('npm run backup (real rsync over real sshd)', () => {
  const du = (...paths: string[]) =>
    Number(
      spawnSync('du', ['-sk', '-c', ...paths], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')
        .pop()!
        .split('\t')[0],
    );

  it('two runs without changes share every file and use almost no extra disk; a changed file is copied', async () => {
    const w = world();
    makeTree(w.nodeUploads, 300);
    writeFileSync(join(w.nodeUploads, 'big.bin'), randomBytes(2_000_000));
    mongoArchive(w.nodeBackup, 2);
    expect(cli(w, 'backup', 'run').code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const second = cli(w, 'backup', 'run');
    expect(second.code, second.stderr).toBe(0);
    const [a, b] = snapshotsOf(w, 'uploads').map((s) => join(w.base, 'uploads', s));
    expect(statSync(join(b, 'big.bin')).ino).toBe(statSync(join(a, 'big.bin')).ino);
    expect(statSync(join(b, 'room-3', '2026-1', 'upload-3.bin')).nlink).toBe(2);
    const extraKb = du(a, b) - du(a);
    expect(extraKb).toBeLessThan(du(a) * 0.1); // directories only; the bench measures the ratio on a bigger tree
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(b.split('/').pop());

    const verify = cli(w, 'backup', 'verify');
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/ok {3}uploads: \d+ of \d+ unchanged files share their inode/);
    expect(verify.stdout).toMatch(/ok {3}mongodb: sha256 of roomlerdb-.* matches/);

    writeFileSync(join(w.nodeUploads, 'big.bin'), randomBytes(2_000_000));
    await new Promise((r) => setTimeout(r, 1100));
    expect(cli(w, 'backup', 'run').code).toBe(0);
    const c = snapshotsOf(w, 'uploads').pop()!;
    expect(statSync(join(w.base, 'uploads', c, 'big.bin')).ino).not.toBe(statSync(join(b, 'big.bin')).ino);
  });

  it('kill -9 of the command in the middle: its rsync dies with it, latest and older snapshots are intact, the next run starts clean', async () => {
    const w = world();
    makeTree(w.nodeUploads, 50);
    mongoArchive(w.nodeBackup, 1);
    expect(cli(w, 'backup', 'run').code).toBe(0);
    const before = readlinkSync(join(w.base, 'uploads', 'latest'));
    writeFileSync(join(w.nodeUploads, 'slow.bin'), randomBytes(3_000_000));
    // ~30 s at this rate: far longer than the 10 s allowed below for the transfer to be gone.
    w.configure(', bwlimitKiBps: 100');
    await new Promise((r) => setTimeout(r, 1100));
    const { child } = startRoomler(['backup', 'run'], { project: w.project });
    const partialNow = () => readdirSync(join(w.base, 'uploads')).some((n) => n.endsWith('.partial'));
    const deadline = Date.now() + 20_000;
    while (!partialNow() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    expect(processesMentioning(w.base).length).toBeGreaterThan(0); // rsync is really writing
    // A crash of the command alone: nothing of ours gets to run, no signal handler, no cleanup.
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    // Its transfer must not outlive it: the parent-death guard kills rsync's process group.
    const gone = Date.now() + 10_000;
    while (processesMentioning(w.base).length && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
    expect(processesMentioning(w.base)).toEqual([]);
    expect(partialNow()).toBe(true);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(before);
    expect(snapshotsOf(w, 'uploads')).toEqual([before]);
    w.configure();
    const next = cli(w, 'backup', 'run');
    expect(next.code, next.stderr).toBe(0);
    expect(readdirSync(join(w.base, 'uploads')).filter((n) => n.endsWith('.partial'))).toEqual([]);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).not.toBe(before);
    expect(existsSync(join(w.base, 'uploads', readlinkSync(join(w.base, 'uploads', 'latest')), 'slow.bin'))).toBe(true);
  });

  it('a transfer that outlived its run keeps its lock: the next run leaves its .partial alone and still backs up the other sets', async () => {
    const w = world();
    makeTree(w.nodeUploads, 5);
    mongoArchive(w.nodeBackup, 1);
    const dir = join(w.base, 'uploads');
    const partial = join(dir, `${stamp(0)}.partial`);
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, 'being-written.bin'), 'x');
    // Stands for an orphaned rsync that holds the transfer lock it inherited (what underLock gives every rsync).
    const orphan = spawn('flock', [join(dir, '.transfer.lock'), 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = cli(w, 'backup', 'run');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAIL uploads: an rsync of an earlier run \(still writing uploads\/\*\.partial\) holds .*\.transfer\.lock/);
      expect(r.stdout).toMatch(/ok {3}mongodb -> /);
      expect(readFileSync(join(partial, 'being-written.bin'), 'utf8')).toBe('x');
    } finally {
      orphan.kill('SIGKILL');
    }
  });

  it('keeps exactly `keep` snapshots by the stamp in the name even when directory mtimes are old', () => {
    const w = world();
    makeTree(w.nodeUploads, 5);
    mongoArchive(w.nodeBackup, 1);
    const stamps = [200, 100, 50, 30].map(stamp);
    for (const s of stamps) {
      const d = join(w.base, 'uploads', s);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'x'), 'x');
    }
    // rsync copies source mtimes: a new snapshot can look years old. The name is what counts.
    utimesSync(w.nodeUploads, new Date('2001-01-01'), new Date('2001-01-01'));
    expect(cli(w, 'backup', 'run').code).toBe(0);
    const kept = snapshotsOf(w, 'uploads');
    expect(kept).toHaveLength(3);
    expect(kept).toEqual([stamps[2], stamps[3], readlinkSync(join(w.base, 'uploads', 'latest'))].sort());
  });

  it('refuses to promote an empty source, and reports a missing remote path, keeping latest', () => {
    const w = world();
    makeTree(w.nodeUploads, 5);
    mongoArchive(w.nodeBackup, 1);
    expect(cli(w, 'backup', 'run').code).toBe(0);
    const latest = readlinkSync(join(w.base, 'uploads', 'latest'));
    rmSync(w.nodeUploads, { recursive: true });
    mkdirSync(w.nodeUploads);
    const empty = cli(w, 'backup', 'run');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/FAIL uploads: .* on the node is empty; refusing to promote an empty snapshot/);
    rmSync(w.nodeUploads, { recursive: true });
    const missing = cli(w, 'backup', 'run');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/FAIL uploads: pulling .* from the node: the source path does not exist .*\n\s+latest still points to/);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(latest);
  });

  describe('verify fails, one line per check (on stderr; the ok lines on stdout)', () => {
    function backedUp() {
      const w = world();
      makeTree(w.nodeUploads, 20);
      mongoArchive(w.nodeBackup, 1);
      expect(cli(w, 'backup', 'run').code).toBe(0);
      return w;
    }
    const latestDir = (w: World, set: string) => join(w.base, set, readlinkSync(join(w.base, set, 'latest')));

    it('for a stale snapshot', () => {
      const w = backedUp();
      const old = stamp(30);
      const dir = join(w.base, 'uploads');
      spawnSync('mv', [latestDir(w, 'uploads'), join(dir, old)]);
      spawnSync('mv', [join(dir, `${readlinkSync(join(dir, 'latest'))}.meta.json`), join(dir, `${old}.meta.json`)]);
      rmSync(join(dir, 'latest'));
      symlinkSync(old, join(dir, 'latest'));
      const r = cli(w, 'backup', 'verify');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAIL uploads: newest snapshot \d{8}T\d{6}Z is 30\.\d+h old \(limit 25h\)/);
    });

    it('for a missing snapshot', () => {
      const w = backedUp();
      rmSync(join(w.base, 'mongodb'), { recursive: true });
      const r = cli(w, 'backup', 'verify');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAIL mongodb: no snapshot/);
    });

    it('for a file count that differs from the one recorded at backup time', () => {
      const w = backedUp();
      rmSync(join(latestDir(w, 'uploads'), 'original.jpg'));
      expect(cli(w, 'backup', 'verify').stderr).toMatch(/FAIL uploads: 22 files in the snapshot, 23 recorded at backup time/);
    });

    it('for hard links that are not shared with the previous snapshot', async () => {
      const w = backedUp();
      await new Promise((r) => setTimeout(r, 1100));
      expect(cli(w, 'backup', 'run').code).toBe(0);
      const dir = latestDir(w, 'uploads');
      spawnSync('cp', ['-a', dir, `${dir}.copy`]); // same content and mtimes, new inodes
      rmSync(dir, { recursive: true });
      spawnSync('mv', [`${dir}.copy`, dir]);
      const r = cli(w, 'backup', 'verify');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAIL uploads: 0 of 23 unchanged files share their inode with .*hard links not shared/);
    });

    it('for a truncated MongoDB archive', () => {
      const w = backedUp();
      const dir = latestDir(w, 'mongodb');
      const archive = readdirSync(dir).find((f) => f.endsWith('.archive.gz'))!;
      writeFileSync(join(dir, archive), readFileSync(join(dir, archive)).subarray(0, 3000));
      const r = cli(w, 'backup', 'verify');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAIL mongodb: gzip -t roomlerdb-.*: truncated or corrupt/);
      expect(r.stderr).toMatch(/FAIL mongodb: sha256 of roomlerdb-.* manifest says/);
    });
  });

  it("install writes an idempotent crontab block with real crontab(1), and the installed line runs the same backup under cron's environment", () => {
    const w = world();
    makeTree(w.nodeUploads, 5);
    mongoArchive(w.nodeBackup, 1);
    // The operator's shell: a config file named by ROOMLER_CONFIG outside the project, and a .env name that
    // overrides a config value. Both exist only in this shell; cron would not have them.
    const elsewhere = join(emptyDir('roomler-etc-'), 'backup.yaml');
    writeFileSync(
      elsewhere,
      readFileSync(join(w.project, 'roomler.yaml'), 'utf8').replace(/keep: 3/, 'keep: 3, mailto: "ops@roomler.live,root"'),
    );
    rmSync(join(w.project, 'roomler.yaml'));
    const base = join(emptyDir('roomler-base-'), 'from-env');
    const env = { ROOMLER_CONFIG: elsewhere, BACKUP_BASE_PATH: base };
    const cron = crontabSpool();
    cron.write('MAILTO=someone@example.org\n0 1 * * * /usr/local/bin/other-job\n');

    const dry = cliIn(w, 'backup', ['install', '--dry-run'], { wrap: cron.wrap, env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^\+ MAILTO=ops@roomler\.live,root$/m);
    expect(dry.stdout).toMatch(
      /^\+ 30 3 \* \* \* ROOMLER_PROJECT_DIR='.*' ROOMLER_CONFIG='.*backup\.yaml' BACKUP_BASE_PATH='.*from-env' PATH='[^']*\/usr\/bin[^']*' '.*\/bin\/roomler' backup run --log '.*from-env\/backup-run\.log'$/m,
    );
    expect(dry.stdout).toMatch(/backup verify --log/);
    expect(dry.stdout).not.toMatch(/\|\|/); // no blind re-run
    expect(cron.read()).not.toContain('roomler-backup');

    const installed = cliIn(w, 'backup', ['install'], { wrap: cron.wrap, env });
    expect(installed.code, installed.stderr).toBe(0);
    const table = cron.read();
    expect(table).toMatch(/^MAILTO=someone@example\.org\n0 1 \* \* \* \/usr\/local\/bin\/other-job\n# BEGIN roomler-backup/);
    expect(table).toMatch(/# END roomler-backup\n$/); // last: its MAILTO applies to no one else's lines
    expect(cliIn(w, 'backup', ['install'], { wrap: cron.wrap, env }).stdout).toMatch(/already up to date/);
    expect(cron.read()).toBe(table);

    // Run the installed line as cron does: /bin/sh -c, a bare environment, HOME as the working directory.
    const line = table.split('\n').find((l) => / backup run /.test(l))!;
    const command = line.split(' ').slice(5).join(' ').replace(/\\%/g, '%');
    const asCron = () =>
      spawnSync('/bin/sh', ['-c', command], {
        cwd: '/',
        env: { HOME: '/root', LOGNAME: 'root', SHELL: '/bin/sh', PATH: '/usr/bin:/bin' },
        encoding: 'utf8',
      });
    const ok = asCron();
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).toBe(''); // nothing for cron to mail
    expect(readlinkSync(join(base, 'uploads', 'latest'))).toMatch(/^\d{8}T\d{6}Z$/);
    expect(readFileSync(join(base, 'backup-run.log'), 'utf8')).toMatch(
      /ok {3}uploads -> .*\n.*ok {3}mongodb -> .*\n.*backup run: all 2 set\(s\) backed up/,
    );
    rmSync(w.nodeUploads, { recursive: true });
    const failing = asCron();
    expect(failing.status).toBe(1);
    expect(failing.stderr).toMatch(/^FAIL uploads: .* the source path does not exist/m); // what cron mails
    expect(failing.stdout + failing.stderr).not.toMatch(/ok {3}mongodb/);
    expect(readFileSync(join(base, 'backup-run.log'), 'utf8')).toMatch(
      /FAIL uploads: [^]*ok {3}mongodb -> [^]*1 of 2 set\(s\) FAILED \(uploads\)/,
    );
  });

  it('--log: lines go to the file, timestamped; only failures reach stderr; a full log is rotated first', () => {
    const w = world();
    makeTree(w.nodeUploads, 5);
    mongoArchive(w.nodeBackup, 1);
    const log = join(w.base, 'backup-run.log');
    mkdirSync(w.base, { recursive: true });
    writeFileSync(log, 'old line\n'.repeat(150_000)); // 1.3 MB: past the 1 MiB rotation size
    writeFileSync(`${log}.1`, 'older\n');
    const r = cli(w, 'backup', 'run', '--log', log);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    expect(readFileSync(`${log}.2`, 'utf8')).toBe('older\n');
    expect(readFileSync(`${log}.1`, 'utf8')).toMatch(/^old line\n/);
    expect(readFileSync(log, 'utf8')).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z ok {3}uploads -> .*\n.*ok {3}mongodb -> .*\n.*backup run: all 2 set\(s\) backed up\n$/,
    );
  });

  it('verify: --sample without --deep, or not a whole number, is a usage error naming the option', () => {
    const w = world();
    const alone = cli(w, 'backup', 'verify', '--sample', '3');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/^backup: --sample applies only with --deep$/m);
    const half = cli(w, 'backup', 'verify', '--deep', '--sample', '1.5');
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--sample must be a whole number \(0 = every file\), got 1\.5/);
  });

  it('install: a bad mailto, or a schedule that crontab(1) refuses, changes nothing', () => {
    const w = world();
    const cron = crontabSpool();
    cron.write('0 1 * * * /usr/local/bin/other-job\n');
    w.configure(', mailto: "ops@roomler.live; rm -rf /"');
    const bad = cliIn(w, 'backup', ['install'], { wrap: cron.wrap });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/roomler\.yaml:\d+:\d+: backup\.mailto: must be e-mail addresses or user names separated by commas/);
    w.configure(', schedule: "61 3 * * *"');
    const r = cliIn(w, 'backup', ['install'], { wrap: cron.wrap });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/crontab - refused the new table, nothing was changed: .*bad minute/);
    expect(cron.read()).toBe('0 1 * * * /usr/local/bin/other-job\n');
  });
});

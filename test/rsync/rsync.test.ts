import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOMLER } from '../support/cli';
import { cleanupDirs, emptyDir } from '../support/synth';
import { freePort, startSshd, type Sshd } from './sshd';

// Real rsync and a real sshd (Debian's openssh-server) on 127.0.0.1 as "the data node"; the Docker host and
// the backup host are temp directories on this machine.
const ROOT = join(__dirname, '..', '..');
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

const stamp = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** A tree like the uploads: nested dirs, a symlink, a hard-link pair, a name with spaces and unicode. */
function makeTree(dir: string, files = 300) {
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
function mongoArchive(dir: string, hoursAgo: number, bytes = 20000) {
  mkdirSync(dir, { recursive: true });
  const gz = spawnSync('bash', ['-c', `head -c ${bytes} /dev/urandom | base64 -w0 | gzip -1`]).stdout;
  const base = `roomlerdb-${stamp(hoursAgo)}`;
  writeFileSync(join(dir, `${base}.archive.gz`), gz);
  writeFileSync(join(dir, `${base}.manifest.json`), JSON.stringify({ database: 'roomlerdb', collections: {}, bytes: gz.length, sha256: createHash('sha256').update(gz).digest('hex') }));
  return base;
}

interface World {
  readonly project: string;
  readonly source: string;
  readonly nodeUploads: string;
  readonly nodeBackup: string;
  readonly base: string;
  readonly state: string;
  configure(extra?: string, ssh?: Partial<{ port: number; keyPath: string }>): void;
}

function world(): World {
  const dir = emptyDir('roomler-world-');
  const w = {
    project: join(dir, 'project'),
    source: join(dir, 'docker', 'uploads'),
    nodeUploads: join(dir, 'node', 'data', 'uploads'),
    nodeBackup: join(dir, 'node', 'data', 'backup'),
    base: join(dir, 'backups'),
    state: join(dir, 'state'),
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
  for (const d of [w.project, w.source, w.state]) mkdirSync(d, { recursive: true });
  w.configure();
  return w;
}

const MUTATING = new Set(['migrate uploads', 'backup install']);
function cli(w: World, script: string, ...args: string[]) {
  const r = spawnSync(ROOMLER, [script, ...args, ...(MUTATING.has(`${script} ${args[0]}`) ? ['--yes'] : [])], {
    cwd: ROOT,
    env: { ...process.env, ROOMLER_PROJECT_DIR: w.project, STANDIN_STATE: w.state, PATH: `${join(__dirname, 'standins')}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('npm run migrate -- uploads (real rsync over real sshd)', () => {
  it('copies everything (links, symlink, unicode), verifies, and a re-run transfers nothing', () => {
    const w = world();
    makeTree(w.source);
    const r = cli(w, 'migrate', 'uploads');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/migrate uploads: OK 303 files, \d+ bytes .*checksums of 303 file\(s\) match/);
    expect(readFileSync(join(w.nodeUploads, 'ünïcødé name with spaces.txt'), 'utf8')).toBe('hello\n');
    expect(readlinkSync(join(w.nodeUploads, 'avatar.jpg'))).toBe('original.jpg');
    expect(statSync(join(w.nodeUploads, 'hardlink.jpg')).ino).toBe(statSync(join(w.nodeUploads, 'original.jpg')).ino);
    const again = cli(w, 'migrate', 'uploads');
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/\(0 transferred this run/);
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
    expect(r.err).toMatch(/verification FAILED .*\n\s+checksums differ for 1 file\(s\): room-1\/2026-2\/upload-1\.bin/);
    const sampled = cli(w, 'migrate', 'uploads', '--checksum-sample', '5');
    expect(sampled.out + sampled.err).toMatch(/checksums of 5 file\(s\) match|checksums differ/);
  });

  it('--dry-run lists what would change and writes nothing', () => {
    const w = world();
    makeTree(w.source, 10);
    const r = cli(w, 'migrate', 'uploads', '--dry-run');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/<f\+{9} ünïcødé name with spaces\.txt/);
    expect(r.out).toMatch(/dry run, \d+ change\(s\) would be made/);
    expect(existsSync(w.nodeUploads)).toBe(false);
  });

  it('says clearly when the node is unreachable, the key is refused, or the source is missing', async () => {
    const w = world();
    makeTree(w.source, 3);
    w.configure('', { port: await freePort() });
    const refused = cli(w, 'migrate', 'uploads');
    expect(refused.err, refused.err).toMatch(/cannot reach the node over ssh \(.*Connection refused/);
    w.configure('', { keyPath: sshd.wrongKeyPath });
    expect(cli(w, 'migrate', 'uploads').err).toMatch(/ssh refused the key \(Permission denied \(publickey\)\)/);
    w.configure();
    rmSync(w.source, { recursive: true });
    const r = cli(w, 'migrate', 'uploads');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/migrate\.uploads\.source \(DOCKER_UPLOADS_PATH\) .* is not a directory/);
  });
});

describe('npm run backup (real rsync over real sshd)', () => {
  const snapshotsOf = (w: World, set: string) => readdirSync(join(w.base, set)).filter((n) => /^\d{8}T\d{6}Z$/.test(n)).sort();
  const du = (...paths: string[]) => Number(spawnSync('du', ['-sk', '-c', ...paths], { encoding: 'utf8' }).stdout.trim().split('\n').pop()!.split('\t')[0]);

  it('two runs without changes share every file and use almost no extra disk; a changed file is copied', async () => {
    const w = world();
    makeTree(w.nodeUploads, 300);
    writeFileSync(join(w.nodeUploads, 'big.bin'), randomBytes(2_000_000));
    mongoArchive(w.nodeBackup, 2);
    expect(cli(w, 'backup', 'run').code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const second = cli(w, 'backup', 'run');
    expect(second.code, second.err).toBe(0);
    const [a, b] = snapshotsOf(w, 'uploads').map((s) => join(w.base, 'uploads', s));
    expect(statSync(join(b, 'big.bin')).ino).toBe(statSync(join(a, 'big.bin')).ino);
    expect(statSync(join(b, 'room-3', '2026-1', 'upload-3.bin')).nlink).toBe(2);
    const extraKb = du(a, b) - du(a);
    expect(extraKb).toBeLessThan(du(a) * 0.1); // directories only; the bench measures the ratio on a bigger tree
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(b.split('/').pop());

    const verify = cli(w, 'backup', 'verify');
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toMatch(/ok {3}uploads: \d+ of \d+ unchanged files share their inode/);
    expect(verify.out).toMatch(/ok {3}mongodb: sha256 of roomlerdb-.* matches/);

    writeFileSync(join(w.nodeUploads, 'big.bin'), randomBytes(2_000_000));
    await new Promise((r) => setTimeout(r, 1100));
    expect(cli(w, 'backup', 'run').code).toBe(0);
    const c = snapshotsOf(w, 'uploads').pop()!;
    expect(statSync(join(w.base, 'uploads', c, 'big.bin')).ino).not.toBe(statSync(join(b, 'big.bin')).ino);
  });

  it('SIGKILL in the middle leaves latest and older snapshots intact; the next run discards the partial and succeeds', async () => {
    const w = world();
    makeTree(w.nodeUploads, 50);
    mongoArchive(w.nodeBackup, 1);
    expect(cli(w, 'backup', 'run').code).toBe(0);
    const before = readlinkSync(join(w.base, 'uploads', 'latest'));
    writeFileSync(join(w.nodeUploads, 'slow.bin'), randomBytes(3_000_000));
    w.configure(', bwlimitKiBps: 500');
    await new Promise((r) => setTimeout(r, 1100));
    const child = spawn(ROOMLER, ['backup', 'run'], { cwd: ROOT, env: { ...process.env, ROOMLER_PROJECT_DIR: w.project } });
    const deadline = Date.now() + 20_000;
    while (!readdirSync(join(w.base, 'uploads')).some((n) => n.endsWith('.partial')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    // A crash: the command and its rsync die at once.
    child.kill('SIGKILL');
    spawnSync('pkill', ['-KILL', '-f', `rsync.*${w.base}`]);
    await new Promise((r) => child.on('exit', r));
    expect(readdirSync(join(w.base, 'uploads')).some((n) => n.endsWith('.partial'))).toBe(true);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(before);
    expect(snapshotsOf(w, 'uploads')).toEqual([before]);
    w.configure();
    const next = cli(w, 'backup', 'run');
    expect(next.code, next.err).toBe(0);
    expect(readdirSync(join(w.base, 'uploads')).filter((n) => n.endsWith('.partial'))).toEqual([]);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).not.toBe(before);
    expect(existsSync(join(w.base, 'uploads', readlinkSync(join(w.base, 'uploads', 'latest')), 'slow.bin'))).toBe(true);
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
    expect(empty.err).toMatch(/is empty; refusing to promote an empty snapshot/);
    rmSync(w.nodeUploads, { recursive: true });
    const missing = cli(w, 'backup', 'run');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/backup uploads: the source path does not exist .*; latest still points to/);
    expect(readlinkSync(join(w.base, 'uploads', 'latest'))).toBe(latest);
  });

  describe('verify fails, one line per check', () => {
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
      expect(r.out).toMatch(/FAIL uploads: newest snapshot \d{8}T\d{6}Z is 30\.\d+h old \(limit 25h\)/);
    });

    it('for a missing snapshot', () => {
      const w = backedUp();
      rmSync(join(w.base, 'mongodb'), { recursive: true });
      const r = cli(w, 'backup', 'verify');
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/FAIL mongodb: no snapshot/);
    });

    it('for a file count that differs from the one recorded at backup time', () => {
      const w = backedUp();
      rmSync(join(latestDir(w, 'uploads'), 'original.jpg'));
      expect(cli(w, 'backup', 'verify').out).toMatch(/FAIL uploads: 22 files in the snapshot, 23 recorded at backup time/);
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
      expect(r.out).toMatch(/FAIL uploads: 0 of 23 unchanged files share their inode with .*hard links not shared/);
    });

    it('for a truncated MongoDB archive', () => {
      const w = backedUp();
      const dir = latestDir(w, 'mongodb');
      const archive = readdirSync(dir).find((f) => f.endsWith('.archive.gz'))!;
      writeFileSync(join(dir, archive), readFileSync(join(dir, archive)).subarray(0, 3000));
      const r = cli(w, 'backup', 'verify');
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/FAIL mongodb: gzip -t roomlerdb-.*: truncated or corrupt/);
      expect(r.out).toMatch(/FAIL mongodb: sha256 of roomlerdb-.* manifest says/);
    });
  });

  it('install writes an idempotent crontab block (stand-in crontab)', () => {
    const w = world();
    writeFileSync(join(w.state, 'crontab'), 'MAILTO=ops@roomler.live\n0 1 * * * /usr/local/bin/other-job\n');
    const dry = cli(w, 'backup', 'install', '--dry-run');
    expect(dry.out).toMatch(/\+ 30 3 \* \* \* cd .* npm run -s backup -- run/);
    expect(readFileSync(join(w.state, 'crontab'), 'utf8')).not.toContain('roomler-backup');
    expect(cli(w, 'backup', 'install').out).toMatch(/crontab updated/);
    const table = readFileSync(join(w.state, 'crontab'), 'utf8');
    expect(table).toMatch(/^MAILTO=ops@roomler\.live\n0 1 \* \* \* \/usr\/local\/bin\/other-job\n# BEGIN roomler-backup/);
    expect(table).toMatch(/30 4 \* \* \* .*backup -- verify/);
    expect(cli(w, 'backup', 'install').out).toMatch(/already up to date/);
    expect(readFileSync(join(w.state, 'crontab'), 'utf8')).toBe(table);
  });
});

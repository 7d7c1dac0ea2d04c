import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startSshd } from '../test/rsync/sshd';

// The backup wrapper against plain rsync with the same flags on the same tree, over a real sshd on loopback.
const ROOT = join(__dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function bench(): Promise<{ name: string; value: string; target?: string }[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-rsync-'));
  const sshd = await startSshd(tmp);
  try {
    const uploads = join(tmp, 'node', 'uploads');
    const backupDir = join(tmp, 'node', 'backup');
    mkdirSync(backupDir, { recursive: true });
    // ~200 MB in 1,000 files: the shape of the production uploads (768 MB, 745 files), scaled down.
    for (let n = 0; n < 1000; n++) {
      const d = join(uploads, `room-${n % 20}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${n}.bin`), randomBytes(100_000 + (n % 7) * 50_000));
    }
    const project = join(tmp, 'project');
    mkdirSync(project);
    const ssh = `ssh: { user: root, host: 127.0.0.1, port: ${sshd.port}, keyPath: "${sshd.keyPath}", knownHostsFile: "${sshd.knownHostsFile}" }`;
    const configFor = (base: string) =>
      writeFileSync(join(project, 'roomler.yaml'), `app: { uploads: { hostPath: "${uploads}" } }\nbackups: { enabled: false }\n${ssh}\nbackup: { basePath: "${base}", keep: 10 }\n`);
    const sshCmd = `ssh -p ${sshd.port} -i ${sshd.keyPath} -o BatchMode=yes -o UserKnownHostsFile=${sshd.knownHostsFile}`;
    const time = (cmd: string, args: string[]) => {
      const t = performance.now();
      const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ROOMLER_PROJECT_DIR: project }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
      return performance.now() - t;
    };
    const wrapper: number[] = [];
    const plain: number[] = [];
    for (let run = 0; run < 3; run++) {
      const base = join(tmp, `wrapped-${run}`);
      configFor(base);
      wrapper.push(time('node', ['lib/bundle-run.cjs', 'hack/backup.ts', 'run']));
      const dest = join(tmp, `plain-${run}`);
      plain.push(time('rsync', ['-aHAX', '--numeric-ids', '--delete', '-e', sshCmd, `root@127.0.0.1:${uploads}/`, `${dest}/`]));
    }
    // An unchanged second snapshot: what it costs on disk beyond the first (du counts shared inodes once).
    const base = join(tmp, 'wrapped-0');
    configFor(base);
    await new Promise((r) => setTimeout(r, 1100));
    time('node', ['lib/bundle-run.cjs', 'hack/backup.ts', 'run']);
    const du = (...p: string[]) => Number(spawnSync('du', ['-sk', '-c', ...p], { encoding: 'utf8' }).stdout.trim().split('\n').pop()!.split('\t')[0]);
    const snaps = spawnSync('ls', [join(base, 'uploads')], { encoding: 'utf8' }).stdout.split('\n').filter((n) => /^\d{8}T\d{6}Z$/.test(n)).sort().map((n) => join(base, 'uploads', n));
    const extra = (du(...snaps) - du(snaps[0])) / du(snaps[0]);
    return [
      { name: 'backup run (wrapper) vs plain rsync, same flags, 200 MB / 1,000 files over ssh', value: `${(median(wrapper) / 1000).toFixed(2)} s vs ${(median(plain) / 1000).toFixed(2)} s = ${(median(wrapper) / median(plain)).toFixed(3)}`, target: '<= 1.05' },
      { name: 'extra disk of an unchanged second snapshot', value: `${(extra * 100).toFixed(3)} % of the tree`, target: '< 1 %' },
    ];
  } finally {
    sshd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ARCHIVE_FLAGS } from '../hack/lib/backups/rsync';
import { type Sshd, startSshd } from '../test/support/sshd';
import type { Row } from './run';

// The rsync tooling against plain rsync on the same tree, over a real sshd on loopback, side by side in one run:
// `migrate uploads` including its verification against plain `rsync -aHAX --numeric-ids` followed by
// `rsync --checksum --dry-run`, and `backup run` against plain rsync with the same flags. The two sides of a
// comparison run back to back, in alternating order, after a `sync`.
const ROOT = join(__dirname, '..');
const ROOMLER = join(ROOT, 'bin', 'roomler');
const ROUNDS = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** 200 MB in 2,000 files (50-150 KB): the shape of the production uploads (768 MB, 745 files), scaled. */
function makeTree(source: string): void {
  for (let n = 0; n < 2000; n++) {
    const d = join(source, `room-${n % 20}`, `2026-${(n % 12) + 1}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${n}.bin`), randomBytes(50_000 + ((n * 7919) % 100_001)));
  }
}

/** The lab: the uploads tree, a project whose config names where it goes, and how to run either side. */
interface RsyncLab {
  readonly tmp: string;
  readonly source: string;
  /** What backup pulls: the first migration's result. */
  readonly nodeUploads: string;
  readonly configure: (o: { nodeUploads: string; base: string }) => void;
  /** The same ssh command as the tooling's, so only what rsync and the tooling do differs. */
  readonly ssh: string;
  readonly time: (cmd: string, args: string[], o?: { sync: boolean }) => number;
}

function rsyncLab(tmp: string, sshd: Sshd): RsyncLab {
  const source = join(tmp, 'docker', 'uploads');
  makeTree(source);
  const project = join(tmp, 'project');
  mkdirSync(project);
  mkdirSync(join(tmp, 'node'));
  const configure = (o: { nodeUploads: string; base: string }) =>
    writeFileSync(
      join(project, 'roomler.yaml'),
      [
        `app: { uploads: { hostPath: "${o.nodeUploads}" } }`,
        'backups: { enabled: false }',
        `ssh: { user: root, host: 127.0.0.1, port: ${sshd.port}, keyPath: "${sshd.keyPath}", knownHostsFile: "${sshd.knownHostsFile}" }`,
        `migrate: { uploads: { source: "${source}" } }`,
        `backup: { basePath: "${o.base}", keep: 10 }`,
      ].join('\n') + '\n',
    );
  const ssh = `ssh -p ${sshd.port} -i ${sshd.keyPath} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${sshd.knownHostsFile}`;
  const time = (cmd: string, args: string[], o = { sync: true }) => {
    // The previous step's writes are flushed first, so whichever side runs second does not pay for them.
    if (o.sync) spawnSync('sync');
    const t = performance.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ROOMLER_PROJECT_DIR: project }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    return performance.now() - t;
  };
  return { tmp, source, nodeUploads: join(tmp, 'node', 'uploads'), configure, ssh, time };
}

type Sides = { tool: number[]; plain: number[] };

/** One round: the tool's and plain rsync's migration and backup, back to back; the four times. */
function round(lab: RsyncLab, n: number): Record<'tm' | 'pm' | 'tb' | 'pb', number> {
  const { tmp, source, nodeUploads, configure, ssh, time } = lab;
  const node = (path: string) => `root@127.0.0.1:${path}/`;
  const target = n === 0 ? nodeUploads : join(tmp, 'node', `migrated-${n}`);
  const plainTarget = join(tmp, 'node', `plain-${n}`);
  const base = join(tmp, `backups-${n}`);
  const steps = {
    tm: () => {
      configure({ nodeUploads: target, base: join(tmp, 'unused') });
      return time(ROOMLER, ['migrate', 'uploads', '--yes']);
    },
    pm: () =>
      time('rsync', ['-aHAX', '--numeric-ids', '-e', ssh, `${source}/`, node(plainTarget)]) +
      time('rsync', ['-aHAX', '--numeric-ids', '--checksum', '--dry-run', '-e', ssh, `${source}/`, node(plainTarget)], { sync: false }),
    tb: () => {
      configure({ nodeUploads, base });
      return time(ROOMLER, ['backup', 'run']);
    },
    pb: () => time('rsync', [...ARCHIVE_FLAGS, '--delete', '-e', ssh, node(nodeUploads), `${join(tmp, `plain-backup-${n}`)}/`]),
  };
  // Tool first in odd rounds, plain first in even ones: neither side always gets the warmer machine. (Round 0
  // runs the tool's migration before either backup: it creates what they pull.)
  const order: (keyof typeof steps)[] = n % 2 ? ['tm', 'pm', 'tb', 'pb'] : ['pm', 'tm', 'pb', 'tb'];
  const t = { tm: 0, pm: 0, tb: 0, pb: 0 };
  for (const step of order) t[step] = steps[step]();
  return t;
}

/** ROUNDS rounds after a warm-up (page cache, the CLI's bundle), each round's copies removed after it. */
function rounds(lab: RsyncLab): { migrate: Sides; backup: Sides } {
  const migrate: Sides = { tool: [], plain: [] };
  const backup: Sides = { tool: [], plain: [] };
  for (let n = 0; n <= ROUNDS; n++) {
    const t = round(lab, n);
    if (n === 0) continue;
    migrate.tool.push(t.tm);
    migrate.plain.push(t.pm);
    backup.tool.push(t.tb);
    backup.plain.push(t.pb);
    for (const d of [join(lab.tmp, 'node', `migrated-${n}`), join(lab.tmp, 'node', `plain-${n}`), join(lab.tmp, `plain-backup-${n}`)])
      rmSync(d, { recursive: true, force: true });
    if (n > 1) rmSync(join(lab.tmp, `backups-${n}`), { recursive: true, force: true });
  }
  return { migrate, backup };
}

/** An unchanged second snapshot: what it costs on disk beyond the first (du counts shared inodes once). */
async function secondSnapshotExtra(lab: RsyncLab): Promise<number> {
  const base = join(lab.tmp, 'backups-1');
  lab.configure({ nodeUploads: lab.nodeUploads, base });
  await sleep(1100);
  lab.time(ROOMLER, ['backup', 'run']);
  const du = (...p: string[]) =>
    Number(
      spawnSync('du', ['-sk', '-c', ...p], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')
        .pop()!
        .split('\t')[0],
    );
  const snaps = readdirSync(join(base, 'uploads'))
    .filter((n) => /^\d{8}T\d{6}Z$/.test(n))
    .sort()
    .map((n) => join(base, 'uploads', n));
  return (du(...snaps) - du(snaps[0])) / du(snaps[0]);
}

export async function bench(): Promise<Row[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-rsync-'));
  const sshd = await startSshd(tmp);
  try {
    const lab = rsyncLab(tmp, sshd);
    const { migrate, backup } = rounds(lab);
    const extra = await secondSnapshotExtra(lab);
    // The ratio is the median of each round's own ratio: a round's two sides ran back to back, under the same
    // load from whatever else this shared machine was doing, which a ratio of overall medians would mix up.
    const ratio = (a: number[], b: number[]) =>
      `${secs(median(a))} vs ${secs(median(b))}, median ratio of ${a.length} rounds ${median(a.map((x, n) => x / b[n])).toFixed(3)}`;
    return [
      {
        name: 'migrate uploads incl. verification vs plain rsync -aHAX --numeric-ids + rsync --checksum --dry-run, 200 MB / 2,000 files over ssh',
        value: ratio(migrate.tool, migrate.plain),
        target: '<= 1.3',
      },
      {
        name: `backup run vs plain rsync with the same flags (${[...ARCHIVE_FLAGS, '--delete'].join(' ')}), 200 MB / 2,000 files over ssh`,
        value: ratio(backup.tool, backup.plain),
        target: '<= 1.1',
      },
      { name: 'extra disk of an unchanged second snapshot', value: `${(extra * 100).toFixed(3)} % of the tree`, target: '< 1 %' },
    ];
  } finally {
    sshd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// `node --require tsx/cjs bench/rsync.ts`: just these figures (npm run bench runs them with everything else).
if (require.main === module) {
  void bench().then((rows) => {
    for (const r of rows) process.stdout.write(`${r.name}: ${r.value}${r.target ? ` (target ${r.target})` : ''}\n`);
  });
}

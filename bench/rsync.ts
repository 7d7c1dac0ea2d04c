import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ARCHIVE_FLAGS } from '../hack/lib/backups/rsync';
import { startSshd } from '../test/rsync/sshd';

// The rsync tooling against plain rsync on the same tree, over a real sshd on loopback, side by side in one run
// (issue 18): `migrate uploads` including its verification against plain `rsync -aHAX --numeric-ids` followed by
// `rsync --checksum --dry-run`, and `backup run` against plain rsync with the same flags. The two sides of a
// comparison run back to back, in alternating order, after a `sync`.
const ROOT = join(__dirname, '..');
const ROOMLER = join(ROOT, 'bin', 'roomler');
const ROUNDS = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export async function bench(): Promise<{ name: string; value: string; target?: string }[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'roomler-bench-rsync-'));
  const sshd = await startSshd(tmp);
  try {
    // 200 MB in 2,000 files (50-150 KB): the shape of the production uploads (768 MB, 745 files), scaled.
    const source = join(tmp, 'docker', 'uploads');
    for (let n = 0; n < 2000; n++) {
      const d = join(source, `room-${n % 20}`, `2026-${(n % 12) + 1}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${n}.bin`), randomBytes(50_000 + ((n * 7919) % 100_001)));
    }
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
    // The same ssh command as the tooling's, so only what rsync and the tooling do differs.
    const ssh = `ssh -p ${sshd.port} -i ${sshd.keyPath} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${sshd.knownHostsFile}`;
    const node = (path: string) => `root@127.0.0.1:${path}/`;
    const time = (cmd: string, args: string[], o = { sync: true }) => {
      // The previous step's writes are flushed first, so whichever side runs second does not pay for them.
      if (o.sync) spawnSync('sync');
      const t = performance.now();
      const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ROOMLER_PROJECT_DIR: project }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
      return performance.now() - t;
    };

    const migrate = { tool: [] as number[], plain: [] as number[] };
    const backup = { tool: [] as number[], plain: [] as number[] };
    const nodeUploads = join(tmp, 'node', 'uploads'); // what backup pulls: the first migration's result
    // Round 0 is the warm-up (page cache, the CLI's bundle); it is not counted.
    for (let round = 0; round <= ROUNDS; round++) {
      const target = round === 0 ? nodeUploads : join(tmp, 'node', `migrated-${round}`);
      const plainTarget = join(tmp, 'node', `plain-${round}`);
      const base = join(tmp, `backups-${round}`);
      const plainDest = join(tmp, `plain-backup-${round}`);
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
        pb: () => time('rsync', [...ARCHIVE_FLAGS, '--delete', '-e', ssh, node(nodeUploads), `${plainDest}/`]),
      };
      // Tool first in odd rounds, plain first in even ones: neither side always gets the warmer machine. (Round 0
      // runs the tool's migration before either backup: it creates what they pull.)
      const order: (keyof typeof steps)[] = round % 2 ? ['tm', 'pm', 'tb', 'pb'] : ['pm', 'tm', 'pb', 'tb'];
      const t: Record<string, number> = {};
      for (const step of order) t[step] = steps[step]();
      const [tm, pm, tb, pb] = [t.tm, t.pm, t.tb, t.pb];
      if (round > 0) {
        migrate.tool.push(tm);
        migrate.plain.push(pm);
        backup.tool.push(tb);
        backup.plain.push(pb);
        for (const d of [target, plainTarget, plainDest]) rmSync(d, { recursive: true, force: true });
        if (round > 1) rmSync(base, { recursive: true, force: true });
      }
    }

    // An unchanged second snapshot: what it costs on disk beyond the first (du counts shared inodes once).
    const base = join(tmp, 'backups-1');
    configure({ nodeUploads, base });
    await new Promise((r) => setTimeout(r, 1100));
    time(ROOMLER, ['backup', 'run']);
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
    const extra = (du(...snaps) - du(snaps[0])) / du(snaps[0]);
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
  bench().then((rows) => {
    for (const r of rows) process.stdout.write(`${r.name}: ${r.value}${r.target ? ` (target ${r.target})` : ''}\n`);
  });
}

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { config, main, PROJECT_ROOT, UserError } from './lib/cli';
import { acquireLock } from './lib/lock';
import { onInterrupt, run } from './lib/run';
import { backupSets, prune, snapshot, verifySet } from './lib/snapshots';

const usage = 'usage: npm run backup -- run [--allow-empty] | verify | install [--dry-run]';
const BEGIN = '# BEGIN roomler-backup (managed by `npm run backup -- install`)';
const END = '# END roomler-backup';

// `npm run backup -- <run|verify|install>`: off-node snapshots of the data node's uploads and MongoDB archives.
main('backup', async (argv) => {
  const [command, ...rest] = argv;
  const cfg = config();
  const base = cfg.root.backup.basePath;
  const sets = backupSets(cfg);

  if (command === 'run') {
    mkdirSync(base, { recursive: true });
    const release = await acquireLock(join(base, '.lock'), 'another backup run');
    // Ctrl-C: rsync's process group is killed; the .partial directory is removed by the next run.
    const stop = onInterrupt(() => {
      process.stderr.write('backup: interrupted; latest and older snapshots are untouched\n');
    });
    try {
      for (const set of sets) {
        const stamp = await snapshot(cfg, set, { allowEmpty: rest.includes('--allow-empty') });
        const pruned = prune(join(base, set.name), cfg.root.backup.keep);
        process.stdout.write(`backup: ${set.name} -> ${join(base, set.name, stamp)} (latest)${pruned.length ? `; pruned ${pruned.join(', ')}` : ''}\n`);
      }
    } finally {
      stop();
      release();
    }
    return 0;
  }

  if (command === 'verify') {
    const checks = (await Promise.all(sets.map((s) => verifySet(cfg, s)))).flat();
    for (const c of checks) process.stdout.write(`${c.line}\n`);
    const failed = checks.filter((c) => !c.ok).length;
    process.stdout.write(`backup verify: ${failed ? `${failed} check(s) FAILED` : 'all checks passed'}\n`);
    return failed ? 1 : 0;
  }

  if (command === 'install') {
    const project = process.env.ROOMLER_PROJECT_DIR ?? PROJECT_ROOT;
    const b = cfg.root.backup;
    const npm = (what: string) => `cd '${project}' && npm run -s backup -- ${what} >>'${join(base, 'backup.log')}' 2>&1 || npm run -s backup -- ${what}`;
    // A failing run or verify prints to cron's mail (MAILTO) through the second, unredirected attempt.
    const block = [BEGIN, `${b.schedule} ${npm('run')}`, `${b.verifySchedule} ${npm('verify')}`, END];
    const current = await run('crontab', ['-l']);
    if (current.exitCode !== 0 && !/no crontab/i.test(current.stderr)) throw new UserError(`crontab -l failed: ${current.stderr.trim()}`);
    const lines = current.exitCode === 0 ? current.stdout.replace(/\n$/, '').split('\n').filter((l, n, a) => !(a.length === 1 && l === '')) : [];
    const start = lines.indexOf(BEGIN);
    const end = lines.indexOf(END);
    const kept = start >= 0 && end > start ? [...lines.slice(0, start), ...lines.slice(end + 1)] : lines;
    const next = [...kept, ...block].join('\n') + '\n';
    if (current.exitCode === 0 && current.stdout === next) {
      process.stdout.write('backup install: crontab already up to date\n');
      return 0;
    }
    const old = start >= 0 ? lines.slice(start, end + 1) : [];
    process.stdout.write([...old.map((l) => `- ${l}`), ...block.map((l) => `+ ${l}`)].join('\n') + '\n');
    if (rest.includes('--dry-run')) {
      process.stdout.write('backup install: dry run, crontab not changed\n');
      return 0;
    }
    const w = await run('crontab', ['-'], { input: next });
    if (w.exitCode !== 0) throw new UserError(`crontab - failed: ${w.stderr.trim()}`);
    process.stdout.write('backup install: crontab updated\n');
    return 0;
  }
  throw new UserError(usage, 2);
});

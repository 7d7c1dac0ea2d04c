import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../../../lib/config';
import { UserError } from '../cli/errors';
import { confirm } from '../cli/confirm';
import { acquireLock } from '../process/lock';
import { onInterrupt, run } from '../process/run';
import { backupSets, prune, snapshot, verifySet } from './snapshots';

const BEGIN = '# BEGIN roomler-backup (managed by `bin/roomler backup install`)';
const END = '# END roomler-backup';

/** `backup run`: one snapshot per set under the lock; Ctrl-C kills rsync's group, the .partial goes next run. */
export async function runBackups(cfg: LoadedConfig, o: { allowEmpty: boolean }, log: (line: string) => void): Promise<number> {
  const base = cfg.root.backup.basePath;
  mkdirSync(base, { recursive: true });
  const release = await acquireLock(join(base, '.lock'), 'another backup run');
  const stop = onInterrupt(() => {
    process.stderr.write('backup: interrupted; latest and older snapshots are untouched\n');
  });
  try {
    for (const set of backupSets(cfg)) {
      const stamp = await snapshot(cfg, set, { allowEmpty: o.allowEmpty });
      const pruned = prune(join(base, set.name), cfg.root.backup.keep);
      log(`backup: ${set.name} -> ${join(base, set.name, stamp)} (latest)${pruned.length ? `; pruned ${pruned.join(', ')}` : ''}`);
    }
  } finally {
    stop();
    release();
  }
  return 0;
}

/** `backup verify`: every check of every set, one line each; exit 1 when any failed. */
export async function verifyBackups(cfg: LoadedConfig, log: (line: string) => void): Promise<number> {
  const checks = (await Promise.all(backupSets(cfg).map((s) => verifySet(cfg, s)))).flat();
  for (const c of checks) log(c.line);
  const failed = checks.filter((c) => !c.ok).length;
  log(`backup verify: ${failed ? `${failed} check(s) FAILED` : 'all checks passed'}`);
  return failed ? 1 : 0;
}

/** `backup install`: the managed block in this user's crontab, shown as a diff first. */
export async function installSchedule(cfg: LoadedConfig, projectDir: string, o: { dryRun: boolean; yes: boolean }, log: (line: string) => void): Promise<number> {
  const base = cfg.root.backup.basePath;
  const b = cfg.root.backup;
  const npm = (what: string) => `cd '${projectDir}' && npm run -s backup -- ${what} >>'${join(base, 'backup.log')}' 2>&1 || npm run -s backup -- ${what}`;
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
    log('backup install: crontab already up to date');
    return 0;
  }
  const old = start >= 0 ? lines.slice(start, end + 1) : [];
  log([...old.map((l) => `- ${l}`), ...block.map((l) => `+ ${l}`)].join('\n'));
  if (o.dryRun) {
    log('backup install: dry run, crontab not changed');
    return 0;
  }
  await confirm('backup install will change', [`the crontab of user ${process.env.USER ?? process.getuid?.()} on this host (the lines above)`], o.yes);
  const w = await run('crontab', ['-'], { input: next });
  if (w.exitCode !== 0) throw new UserError(`crontab - failed: ${w.stderr.trim()}`);
  log('backup install: crontab updated');
  return 0;
}

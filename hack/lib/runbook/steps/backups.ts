import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { installSchedule, runBackups, verifyBackups } from '../../backups/commands';
import { shq, sshRun } from '../../backups/rsync';
import { backupSets } from '../../backups/snapshots';
import { PROJECT_ROOT } from '../../cli';
import { UserError } from '../../cli/errors';
import type { Step } from './common';

const bin = join(PROJECT_ROOT, 'bin', 'roomler');
const stamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export const backupsStep: Step = {
  id: 'backups',
  title: 'Backups: install the host schedule, check the CronJobs, take the first backup and verify it',
  changes: () => [
    "this user's crontab on this host (the backup schedule)",
    'a first backup Job in the cluster, and the first off-node snapshots here',
  ],
  touches: (cfg) => [
    'bin/roomler backup install',
    'kubectl create job --from=cronjob/mongodb-backup',
    `ssh ${cfg.root.ssh.host}: the new archive`,
    'bin/roomler backup run, backup verify',
  ],
  checks: ['the backup CronJobs exist', 'the first backup Job writes an archive on the node', 'backup verify passes'],
  gate: 'backup verify passes',
  rollback: 'backup install again with another config; the snapshots can be deleted',
  run: async ({ cfg, projectDir, kubectl, io }) => {
    await installSchedule(cfg, { entry: bin, projectDir, dryRun: false, yes: true }, (line) => io.out(line));
    const i = cfg.instances[0];
    const verified: string[] = ['schedule installed'];
    if (i.backups.enabled) {
      const cj = await kubectl.must('listing the backup CronJobs', ['get', 'cronjobs', '-n', i.namespace, '-o', 'name']);
      for (const name of ['mongodb-backup', 'mongodb-backup-verify'])
        if (!cj.stdout.includes(`cronjob.batch/${name}`)) throw new UserError(`CronJob ${i.namespace}/${name} is missing: deploy again`);
      verified.push('CronJobs mongodb-backup and mongodb-backup-verify exist');
      const job = `mongodb-backup-first-${stamp().toLowerCase()}`;
      const since = stamp();
      await kubectl.must('starting the first backup Job', ['create', 'job', job, '--from=cronjob/mongodb-backup', '-n', i.namespace]);
      io.out(`waiting for job ${i.namespace}/${job} and its archive on the node`);
      await kubectl.must(
        `waiting for job ${job}`,
        ['wait', '--for=condition=complete', `job/${job}`, '-n', i.namespace, '--timeout=900s'],
        { timeoutMs: 930_000 },
      );
      // The Job's success is not enough: the archive must be on the node, newer than the Job.
      const dir = backupSets(cfg).find((s) => s.mongo)?.source;
      if (dir) {
        const deadline = Date.now() + 300_000;
        for (;;) {
          const ls = await sshRun(cfg.root.ssh, `ls -1 ${shq(dir)}`, 30_000);
          const archives = ls.stdout.split('\n').filter((n) => /\.archive\.gz$/.test(n) && (/(\d{8}T\d{6}Z)/.exec(n)?.[1] ?? '') >= since);
          if (archives.length) {
            verified.push(`first archive on the node: ${archives.pop()}`);
            break;
          }
          if (Date.now() > deadline)
            throw new UserError(
              `job ${job} completed but no new archive appeared in ${dir} on ${cfg.root.ssh.host}: kubectl -n ${i.namespace} logs job/${job}`,
            );
          await sleep(1000);
        }
      }
    }
    if ((await runBackups(cfg, { allowEmpty: false })) !== 0) throw new UserError('backup run failed (see above)');
    if ((await verifyBackups(cfg, {})) !== 0) throw new UserError('backup verify failed (see above)');
    verified.push('backup run and backup verify pass');
    return { outcome: 'schedule installed; first backups taken and verified', verified, manual: [] };
  },
};

import { join } from 'node:path';

import { installSchedule, runBackups, verifyBackups } from '../lib/backups/commands';
import { backupIO } from '../lib/backups/report';
import { command, config, group, PROJECT_ROOT, projectDir, UserError } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { stdio } from '../lib/cli/io';

const LOG = {
  type: 'string',
  value: 'FILE',
  description:
    'append every line, timestamped, to FILE (rotated at 1 MiB, 5 kept) and print only failures: what the schedule uses, so cron mails only what went wrong',
} as const;

// `bin/roomler backup <run|verify|install>`: off-node snapshots of the data node's uploads and MongoDB archives.
export default group({
  subcommands: {
    run: command({
      summary: 'pull a hard-linked snapshot of each backup set from the data node (what the schedule runs)',
      description:
        'Writes only below backup.basePath on this host, under a lock; it is what cron runs, so it does not ask. Each set is independent: a failing one is reported and the others still run; the exit status is 1 if any failed.',
      options: {
        'allow-empty': {
          type: 'boolean',
          description: 'accept a source directory with no files (refused by default: an empty mount looks like data loss)',
        },
        log: LOG,
      },
      examples: ['bin/roomler backup run'],
      run: ({ values }) => {
        const cfg = config();
        return runBackups(cfg, { allowEmpty: values['allow-empty'] }, backupIO(stdio, values.log));
      },
    }),
    verify: command({
      summary: 'check the newest snapshots: age, file count, hard-link sharing, MongoDB archive integrity',
      options: {
        deep: {
          type: 'boolean',
          description:
            'also compare content checksums of a sample of the newest snapshot with the node (finds silent corruption on either side)',
        },
        sample: {
          type: 'number',
          value: 'N',
          defaultText: '100',
          description: 'files per set that --deep compares, spread over the tree (0 = every file)',
        },
        log: LOG,
      },
      examples: ['bin/roomler backup verify', 'bin/roomler backup verify --deep --sample 500'],
      run: ({ values }) => {
        if (values.sample !== undefined && !values.deep) throw new UserError('--sample applies only with --deep', 2);
        if (values.sample !== undefined && !Number.isInteger(values.sample))
          throw new UserError(`--sample must be a whole number (0 = every file), got ${values.sample}`, 2);
        const cfg = config();
        return verifyBackups(cfg, { deep: values.deep ? { sample: values.sample ?? 100 } : undefined }, backupIO(stdio, values.log));
      },
    }),
    install: command({
      summary: "install the schedule (run and verify) in this user's crontab",
      description:
        "The schedule runs this checkout's bin/roomler with the config file, project directory, PATH and this shell's config overrides pinned, logs to backup.basePath, and mails failures to backup.mailto.",
      options: { 'dry-run': { type: 'boolean', description: 'show the crontab change; change nothing' }, yes: YES_OPTION },
      examples: ['bin/roomler backup install --dry-run'],
      run: ({ values }) =>
        installSchedule(
          config(),
          { entry: join(PROJECT_ROOT, 'bin', 'roomler'), projectDir: projectDir(), dryRun: values['dry-run'], yes: values.yes },
          stdio,
        ),
    }),
  },
  examples: ['bin/roomler backup run', 'bin/roomler backup verify --deep', 'bin/roomler backup install --dry-run'],
});

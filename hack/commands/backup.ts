import { command, config, group, projectDir } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { installSchedule, runBackups, verifyBackups } from '../lib/backups/commands';

const out = (line: string) => void process.stdout.write(`${line}\n`);

// `bin/roomler backup <run|verify|install>`: off-node snapshots of the data node's uploads and MongoDB archives.
export default group({
  subcommands: {
    run: command({
      summary: "pull a hard-linked snapshot of each backup set from the data node (what the schedule runs)",
      description: 'Writes only below backup.basePath on this host, under a lock; it is what cron runs, so it does not ask.',
      options: { 'allow-empty': { type: 'boolean', description: 'accept a source directory with no files (refused by default: an empty mount looks like data loss)' } },
      examples: ['bin/roomler backup run'],
      run: ({ values }) => runBackups(config(), { allowEmpty: values['allow-empty'] }, out),
    }),
    verify: command({
      summary: 'check the newest snapshots: age, file count, hard-link sharing, MongoDB archive integrity',
      examples: ['bin/roomler backup verify'],
      run: () => verifyBackups(config(), out),
    }),
    install: command({
      summary: "install the schedule (run and verify) in this user's crontab",
      options: { 'dry-run': { type: 'boolean', description: 'show the crontab change; change nothing' }, yes: YES_OPTION },
      examples: ['bin/roomler backup install --dry-run'],
      run: ({ values }) => installSchedule(config(), projectDir(), { dryRun: values['dry-run'], yes: values.yes }, out),
    }),
  },
  examples: ['bin/roomler backup run', 'bin/roomler backup install --dry-run'],
});

import { command, group } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { CONTEXT_OPTION, Kubectl } from '../lib/cluster/kubectl';
import { migrateUploads } from '../lib/backups/uploads';
import { migrateMongo } from '../lib/mongo/migrate';

const INSTANCE = { type: 'string', value: 'NAME', description: 'which instance of the config', defaultText: 'the first' } as const;

// `bin/roomler migrate <mongo|uploads>`: one-time moves off the old Docker host.
export default group({
  subcommands: {
    mongo: command({
      summary: "stream the Docker MongoDB into the cluster's mongodb-0 (mongodump | mongorestore) and verify",
      description: 'Passwords travel on stdin only. Refuses a non-empty target unless --force.',
      options: { force: { type: 'boolean', description: 'replace a target database that already holds documents' }, instance: INSTANCE, context: CONTEXT_OPTION, yes: YES_OPTION },
      examples: ['bin/roomler migrate mongo --context production'],
      run: ({ values }) => migrateMongo({ force: values.force, instance: values.instance, kubectl: new Kubectl(values.context), yes: values.yes }),
    }),
    uploads: command({
      summary: "rsync the Docker uploads directory to the data node over ssh (resumable) and verify",
      options: {
        'dry-run': { type: 'boolean', description: 'list what would change; copy nothing' },
        'checksum-sample': { type: 'number', value: 'N', description: 'verify checksums of N files spread over the tree (0 = every file)', defaultText: 'migrate.uploads.checksumSample' },
        instance: INSTANCE,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler migrate uploads --dry-run', 'bin/roomler migrate uploads --checksum-sample 100'],
      run: ({ values }) => migrateUploads({ dryRun: values['dry-run'], checksumSample: values['checksum-sample'], instance: values.instance, yes: values.yes }),
    }),
  },
  examples: ['bin/roomler migrate uploads', 'bin/roomler migrate mongo --context production'],
});

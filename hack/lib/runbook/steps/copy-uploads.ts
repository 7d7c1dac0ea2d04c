import { migrateUploads } from '../../backups/uploads';
import type { Step } from './common';

export const copyUploads: Step = {
  id: 'copy-uploads',
  title: 'Copy the uploads to the node (resumable), verify counts, bytes and checksums',
  changes: (cfg) => [
    `${cfg.root.ssh.user}@${cfg.root.ssh.host}:${cfg.instances[0].app.uploads.hostPath}/ (files added and updated; nothing deleted)`,
  ],
  touches: (cfg) => [
    `rsync -aHAX --numeric-ids --sparse ${cfg.root.migrate.uploads.source}/ -> the node over ssh`,
    'rsync --checksum --dry-run (verification)',
  ],
  checks: ['after: file count, total bytes and checksums match'],
  gate: 'the verification passes',
  rollback: 'nothing: the old container still serves its own copy; re-running resumes',
  run: async () => {
    await migrateUploads({ dryRun: false, yes: true });
    return { outcome: 'copied and verified', verified: ['file count, bytes and checksums match'], manual: [] };
  },
};

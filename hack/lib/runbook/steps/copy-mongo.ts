import { migrateMongo } from '../../mongo/migrate';
import type { Step } from './common';

export const copyMongo: Step = {
  id: 'copy-mongo',
  title: 'Bulk-copy MongoDB while the old stack serves (mongodump | mongorestore, verified)',
  changes: (cfg) => [`the database ${cfg.instances[0].mongodb.database} in ${cfg.instances[0].namespace}/mongodb-0 (replaced)`],
  touches: (cfg) => [`docker exec ${cfg.root.migrate.mongo.container} mongodump | kubectl exec mongodb-0 mongorestore`],
  checks: [
    "after: per collection, the target holds what mongodump read, with the source's indexes",
    'reported: documents written to the source meanwhile (the final sync takes them)',
  ],
  gate: 'the copy verifies',
  rollback: 'nothing: the old database is only read',
  run: async ({ cfg, projectDir, kubectl, io }) => {
    const t0 = Date.now();
    await migrateMongo(cfg, { force: true, kubectl, yes: true, projectDir }, io);
    // The final copy in `switch` repeats this one while nothing writes: its duration is the write-free window's estimate.
    const copyMs = Date.now() - t0;
    return {
      outcome: `copied and verified in ${(copyMs / 1000).toFixed(1)} s (writes after the dump are taken by the final sync)`,
      verified: ['counts and index definitions per collection'],
      manual: [],
      figures: { copyMs },
    };
  },
};

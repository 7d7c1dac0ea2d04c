import { join } from 'node:path';

import { deploy, readDist, requiredSecrets } from '../../cluster/deploy';
import { applySecrets } from '../../cluster/secrets';
import type { Step } from './common';

export const deployStep: Step = {
  id: 'deploy',
  title: 'Create the Secrets and deploy dist/ (wave by wave, waiting for every workload)',
  changes: (cfg) => [
    `the cluster: namespaces ${[...new Set([...cfg.instances.map((i) => i.namespace), ...(cfg.root.coturn.enabled ? [cfg.root.coturn.namespace] : [])])].join(', ')}`,
  ],
  touches: () => ['bin/roomler secrets apply', 'bin/roomler deploy'],
  checks: ['before: no Secret the pods need is missing', 'after: every Deployment/StatefulSet ready as kubectl judges it'],
  gate: 'every workload is ready',
  rollback: 'bin/roomler deploy rollback, or delete the namespaces (the data volumes are retained)',
  run: async ({ cfg, projectDir, kubectl, io }) => {
    const log = (line: string) => io.out(line);
    await applySecrets(cfg, projectDir, kubectl.context, true, log);
    const objects = readDist(join(projectDir, 'dist'));
    await deploy(cfg, {
      dist: join(projectDir, 'dist'),
      projectDir,
      dryRun: false,
      yes: true,
      context: kubectl.context,
      pruneData: [],
      log,
    });
    return {
      outcome: `${objects.length} objects applied, every workload ready`,
      verified: [`${requiredSecrets(objects).length} Secrets present`, 'every workload ready'],
      manual: [],
    };
  },
};

import { join } from 'node:path';

import { UserError } from '../../cli/errors';
import { readDist } from '../../cluster/deploy';
import { checkDirs, hostDirs, prepareDirs } from '../node';
import { cfgDir, type Step } from './common';

export const prepareNode: Step = {
  id: 'prepare-node',
  title: 'Prepare the node: every hostPath directory the manifests use, owned by the uid/gid that writes it',
  changes: (cfg) =>
    hostDirs(readDist(join(cfgDir(cfg), 'dist'))).map(
      (d) => `${d.node} ${d.path}: install -d -o ${d.uid} -g ${d.gid} (${d.volume}, written by ${d.writers.join(', ')})`,
    ),
  touches: (cfg) => [`ssh ${cfg.root.ssh.user}@${cfg.root.ssh.host}: install -d, chown, stat`],
  checks: ['after: each directory exists with the owner its writers run as (MongoDB 999, the backup jobs, the app)'],
  gate: 'every directory has the right owner (a hostPath volume ignores fsGroup: MongoDB would crash-loop)',
  rollback: 'the directories stay; they are empty until the copies',
  run: async ({ cfg, projectDir, io }) => {
    const dirs = hostDirs(readDist(join(projectDir, 'dist')));
    const manual =
      [...new Set(dirs.map((d) => d.node))].length > 1
        ? ['directories on other nodes than the one ssh reaches must be created by hand with the owners above']
        : [];
    await prepareDirs(cfg, dirs);
    const c = await checkDirs(cfg, dirs);
    for (const l of c.lines) io.out(`  ${l}`);
    if (!c.ok)
      throw new UserError(
        `the node's directories are not as the pods need them:\n  ${c.lines.filter((l) => !l.startsWith('ok ')).join('\n  ')}`,
      );
    return { outcome: `${dirs.length} directories ready`, verified: c.lines, manual };
  },
};

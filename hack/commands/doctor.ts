import { join } from 'node:path';

import { command, config, projectDir } from '../lib/cli';
import { operatorEnv } from '../lib/cli/dotenv';
import { stdio } from '../lib/cli/io';
import { CONTEXT_OPTION, contextFor, Kubectl } from '../lib/cluster/kubectl';
import { argocdChecks } from '../lib/doctor/argocd';
import { clusterChecks, dnsChecks, hostChecks, type Line, nodeChecks, probeChecks, turnChecks } from '../lib/doctor/checks';
import { formatDoctor } from './tables';

// `bin/roomler doctor`: read-only health checks, one line each (ok / warn / fail / skipped), exit 1 on any fail.
export default command({
  description: 'Changes nothing anywhere. Each check prints ok, warn, fail or "skipped" with the reason; exit 1 on any fail.',
  options: { context: CONTEXT_OPTION },
  examples: ['bin/roomler doctor --context production'],
  run: async ({ values }) => {
    const cfg = config();
    const secret = operatorEnv(projectDir());
    const lines: Line[] = [
      ...(await dnsChecks(cfg)),
      ...(await turnChecks(cfg, secret)),
      ...probeChecks(cfg),
      ...(await clusterChecks(cfg, new Kubectl(contextFor(cfg, cfg.instances[0], values.context)), values.context)),
      ...(await argocdChecks(cfg, new Kubectl(contextFor(cfg, cfg.instances[0], values.context)))),
      ...(await nodeChecks(cfg, join(projectDir(), 'dist'))),
      ...(await hostChecks(cfg)),
    ];
    for (const line of formatDoctor(lines)) stdio.out(line);
    return lines.some((l) => l.status === 'fail') ? 1 : 0;
  },
});

import { join } from 'node:path';

import { command, config, projectDir } from '../lib/cli';
import { CONTEXT_OPTION, contextFor, Kubectl } from '../lib/cluster/kubectl';
import { secretSource } from '../lib/cluster/secrets';
import { argocdChecks } from '../lib/doctor/argocd';
import { clusterChecks, dnsChecks, hostChecks, type Line, nodeChecks, probeChecks, turnChecks } from '../lib/doctor/checks';

// `bin/roomler doctor`: read-only health checks, one line each (ok / warn / fail / skipped), exit 1 on any fail.
export default command({
  description: 'Changes nothing anywhere. Each check prints ok, warn, fail or "skipped" with the reason; exit 1 on any fail.',
  options: { context: CONTEXT_OPTION },
  examples: ['bin/roomler doctor --context production'],
  run: async ({ values }) => {
    const cfg = config();
    const secret = secretSource(projectDir());
    const lines: Line[] = [
      ...(await dnsChecks(cfg)),
      ...(await turnChecks(cfg, secret)),
      ...probeChecks(cfg),
      ...(await clusterChecks(cfg, new Kubectl(contextFor(cfg, cfg.instances[0], values.context)), values.context)),
      ...(await argocdChecks(cfg, new Kubectl(contextFor(cfg, cfg.instances[0], values.context)))),
      ...(await nodeChecks(cfg, join(projectDir(), 'dist'))),
      ...(await hostChecks(cfg)),
    ];
    const width = Math.max(...lines.map((l) => l.check.length));
    for (const l of lines) process.stdout.write(`${l.status.padEnd(7)} ${l.check.padEnd(width)}  ${l.detail}\n`);
    const count = (s: Line['status']) => lines.filter((l) => l.status === s).length;
    process.stdout.write(`doctor: ${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail, ${count('skipped')} skipped\n`);
    return count('fail') ? 1 : 0;
  },
});

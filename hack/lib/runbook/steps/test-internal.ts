import { UserError } from '../../cli/errors';
import { secretSource } from '../../cluster/secrets';
import { clusterChecks, dnsChecks, probeChecks, turnChecks } from '../../doctor/checks';
import { linesFailed, show, type Step } from './common';

export const testInternal: Step = {
  id: 'test-internal',
  title: "Test internally: probes, pods, NodePorts from the nginx host, TURN, DNS of the app's URLs",
  touches: () => ['bin/roomler doctor checks: DNS, TURN (allocation at TURN_URL), probes, pods, NodePorts'],
  checks: [
    "every public name in the app's URLs resolves (a wildcard-only answer is named as such)",
    "TURN_URL allocates with the app's credential, also for a coturn this project does not deploy",
    'pods ready, NodePorts answer from here',
  ],
  gate: 'no check fails (warnings are reported for the operator)',
  rollback: 'nothing: read-only',
  run: async ({ cfg, projectDir, kubectl, io }) => {
    const lines = [
      ...(await dnsChecks(cfg)),
      ...(await turnChecks(cfg, secretSource(projectDir))),
      ...probeChecks(cfg),
      ...(await clusterChecks(cfg, kubectl)),
    ].filter((l) => !/^mongodb /.test(l.check));
    for (const l of lines) io.out(`  ${show(l)}`);
    const failed = linesFailed(lines);
    if (failed.length) throw new UserError(`internal tests failed:\n  ${failed.map(show).join('\n  ')}`);
    return {
      outcome: `${lines.filter((l) => l.status === 'ok').length} ok, ${lines.filter((l) => l.status === 'warn').length} warn`,
      verified: lines.filter((l) => l.status === 'ok').map(show),
      manual: lines.filter((l) => l.status === 'warn' || l.status === 'skipped').map(show),
    };
  },
};

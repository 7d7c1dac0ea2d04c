import { UserError } from '../../cli/errors';
import { judged } from '../../cutover/checks';
import { NginxControl } from '../../cutover/nginx';
import { plan as cutoverPlan } from '../../cutover/plan';
import { runChecks } from '../../cutover/verify';
import type { Step } from './common';

export const testExternal: Step = {
  id: 'test-external',
  title: 'Test externally: every route through nginx, as browsers reach it',
  touches: (cfg) => [`requests through nginx (${cfg.instances[0].domains.app}, ${cfg.instances[0].domains.janus})`],
  checks: ['every location that proxied to the old stack answers from the new one'],
  gate: 'every request passes',
  rollback: 'cutover rollback (the old Janus still runs until drained; the old app must be started again: docker start)',
  run: async ({ cfg, io }) => {
    const p = cutoverPlan(cfg);
    const v = await runChecks(judged(p.checks), {
      nginx: new NginxControl(cfg.root.cutover.nginx),
      timeoutMs: cfg.root.cutover.requestTimeoutMs,
    });
    for (const l of v.passed) io.out(`  ok ${l}`);
    if (v.failed.length) throw new UserError(`external tests failed:\n  ${v.failed.join('\n  ')}`);
    return {
      outcome: `${v.passed.length} requests through nginx pass`,
      verified: v.passed,
      manual: [
        'from outside: open the site in a browser and make a test call (media paths and TURN from the internet cannot be checked from here)',
      ],
    };
  },
};

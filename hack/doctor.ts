import { config, main, PROJECT_ROOT } from './lib/cli';
import { clusterChecks, dnsChecks, hostChecks, probeChecks, turnChecks, type Line } from './lib/doctor';
import { secretSource } from './lib/secrets';

// `npm run doctor`: read-only health checks, one line each (ok / warn / fail / skipped), exit 1 on any fail.
main('doctor', async () => {
  const cfg = config();
  const secret = secretSource(process.env.ROOMLER_PROJECT_DIR ?? PROJECT_ROOT);
  const lines: Line[] = [
    ...(await dnsChecks(cfg)),
    ...(await turnChecks(cfg, secret)),
    ...probeChecks(cfg),
    ...(await clusterChecks(cfg)),
    ...(await hostChecks(cfg)),
  ];
  const width = Math.max(...lines.map((l) => l.check.length));
  for (const l of lines) process.stdout.write(`${l.status.padEnd(7)} ${l.check.padEnd(width)}  ${l.detail}\n`);
  const count = (s: Line['status']) => lines.filter((l) => l.status === s).length;
  process.stdout.write(`doctor: ${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail, ${count('skipped')} skipped\n`);
  return count('fail') ? 1 : 0;
});

import { config, main, UserError } from './lib/cli';
import { plan, routeStatus, unifiedDiff } from './lib/cutover';

const usage = 'usage: npm run cutover -- plan | status   (apply, rollback and drain are not built yet: issue #4)';

main('cutover', async (argv) => {
  const cfg = config();
  const confDir = cfg.root.cutover.nginx.confDir;
  const command = argv[0];
  if (command === 'plan') {
    const { planned, problems, alreadyDone } = plan(cfg);
    if (alreadyDone) {
      process.stdout.write('cutover plan: already cut over; nothing would change\n');
      return 0;
    }
    for (const p of planned) process.stdout.write(unifiedDiff(p, confDir));
    const count = planned.reduce((n, p) => n + p.replacements.length, 0);
    process.stdout.write(`cutover plan: ${count} proxy target(s) in ${planned.filter((p) => p.replacements.length).length} file(s); every other byte stays identical\n`);
    if (problems.length) throw new UserError(`the plan does not match the configured expectations; apply would abort before writing:\n  ${problems.join('\n  ')}`);
    return 0;
  }
  if (command === 'status') {
    for (const r of routeStatus(cfg)) process.stdout.write(`${r.state.padEnd(6)} ${r.line}\n`);
    return 0;
  }
  throw new UserError(usage, 2);
});

import { config, main, UserError } from './lib/cli';
import { apply, drain, printPlan, rollback, status } from './lib/cutover/commands';

const usage = `usage: npm run cutover -- <command>
  plan                          the exact proxy_pass diff and the checks apply would run; changes nothing
  apply                         preflight, back up, rewrite, nginx -t, reload, confirm, verify (restores on any failure)
  rollback [--to STAMP] [--force]  restore a backup set (default: the last applied cutover), test, reload, verify
  status                        where each route points now, and the backup sets
  drain [--timeout SECONDS] [--interval SECONDS]
                                wait until nginx holds no connections to the old backends (exit 3 on timeout)`;

const log = (line: string) => process.stdout.write(`${line}\n`);

/** `--name value` from argv; undefined when absent. */
function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  if (at === -1) return undefined;
  const value = argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new UserError(`${name} needs a value\n${usage}`, 2);
  return value;
}

function seconds(argv: string[], name: string): number | undefined {
  const v = option(argv, name);
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UserError(`${name} must be a number of seconds, got ${v}`, 2);
  return Number(v) * 1000;
}

main('cutover', async (argv) => {
  const [command, ...rest] = argv;
  const known: Record<string, string[]> = { plan: [], apply: [], status: [], rollback: ['--to', '--force'], drain: ['--timeout', '--interval'] };
  if (!command || !(command in known)) throw new UserError(usage, 2);
  const unknown = rest.filter((a, n) => a.startsWith('--') ? !known[command].includes(a) : !rest[n - 1]?.startsWith('--') || rest[n - 1] === '--force');
  if (unknown.length) throw new UserError(`cutover ${command}: unexpected ${unknown.join(' ')}\n${usage}`, 2);
  const cfg = config();
  switch (command) {
    case 'plan':
      return printPlan(cfg, log);
    case 'apply':
      return apply(cfg, log);
    case 'rollback':
      return rollback(cfg, { to: option(rest, '--to'), force: rest.includes('--force') }, log);
    case 'status':
      return status(cfg, log);
    default:
      return drain(cfg, { timeoutMs: seconds(rest, '--timeout'), intervalMs: seconds(rest, '--interval') }, log);
  }
});

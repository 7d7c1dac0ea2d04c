import { command, config, group } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { apply, drain, printPlan, rollback, status } from '../lib/cutover/commands';

const log = (line: string) => void process.stdout.write(`${line}\n`);

// `bin/roomler cutover <plan|apply|status|drain|rollback>`: the host nginx, from the Docker backends to the NodePorts.
export default group({
  subcommands: {
    plan: command({
      summary: 'the exact proxy_pass diff and every check apply would run; changes nothing',
      examples: ['bin/roomler cutover plan'],
      run: async () => printPlan(config(), log),
    }),
    apply: command({
      summary: 'preflight, back up, rewrite, nginx -t, reload, confirm, verify (restored byte-identical on any failure)',
      options: { yes: YES_OPTION },
      examples: ['bin/roomler cutover apply', 'bin/roomler cutover apply --yes'],
      run: ({ values }) => apply(config(), { yes: values.yes }, log),
    }),
    status: command({
      summary: 'where each route points now, and the backup sets',
      examples: ['bin/roomler cutover status'],
      run: async () => status(config(), log),
    }),
    drain: command({
      summary: 'wait until nginx holds no connections to the old backends (exit 3 on timeout)',
      options: {
        timeout: { type: 'number', value: 'SECONDS', description: 'give up after this long', defaultText: 'cutover.drain.timeoutMinutes' },
        interval: { type: 'number', value: 'SECONDS', description: 'time between counts', defaultText: 'cutover.drain.intervalSeconds' },
      },
      examples: ['bin/roomler cutover drain --timeout 3600'],
      run: ({ values }) =>
        drain(
          config(),
          {
            timeoutMs: values.timeout === undefined ? undefined : values.timeout * 1000,
            intervalMs: values.interval === undefined ? undefined : values.interval * 1000,
          },
          log,
        ),
    }),
    rollback: command({
      summary: 'restore a backup set (default: the last applied cutover), test, reload, verify',
      options: {
        to: {
          type: 'string',
          value: 'STAMP',
          description: 'the backup set to restore (see status)',
          defaultText: 'the last applied cutover',
        },
        force: { type: 'boolean', description: 'also discard edits made to the files after the cutover' },
        yes: YES_OPTION,
      },
      examples: ['bin/roomler cutover rollback', 'bin/roomler cutover rollback --to 20261126T101500Z'],
      run: ({ values }) => rollback(config(), { to: values.to, force: values.force, yes: values.yes }, log),
    }),
  },
  examples: ['bin/roomler cutover plan', 'bin/roomler cutover apply'],
});

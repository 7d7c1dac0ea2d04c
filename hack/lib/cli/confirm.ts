import { createInterface } from 'node:readline/promises';

import { UserError } from './errors';

export const YES_OPTION = {
  type: 'boolean',
  short: 'y',
  description: 'proceed without asking (required when there is no terminal to ask on)',
} as const;

/**
 * Every command that changes a cluster or a host calls this first with what it will change and where: the lines
 * are printed, then on a terminal the operator is asked; without one, `--yes` is required. Declining or a missing
 * `--yes` changes nothing.
 */
export async function confirm(
  what: string,
  lines: readonly string[],
  yes: boolean,
  io = { stdin: process.stdin, stdout: process.stdout },
): Promise<void> {
  io.stdout.write(`${what}:\n${lines.map((l) => `  ${l}\n`).join('')}`);
  if (yes) return;
  if (!io.stdin.isTTY) throw new UserError(`no terminal to ask on: re-run with --yes to proceed; nothing was changed`, 2);
  const rl = createInterface({ input: io.stdin, output: io.stdout });
  try {
    const answer = await rl.question('Proceed? [y/N] ');
    if (!/^y(es)?$/i.test(answer.trim())) throw new UserError('not confirmed; nothing was changed', 1);
  } finally {
    rl.close();
  }
}

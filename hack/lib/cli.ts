import { resolve } from 'node:path';
import { ConfigError, loadConfig, type LoadedConfig } from '../../lib/config';

/** The project root: config file and `.env` are looked up here unless ROOMLER_CONFIG says otherwise. */
export const PROJECT_ROOT = resolve(__dirname, '..', '..');

/** An expected failure: printed as one clear message, exit code non-zero, no stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function config(): LoadedConfig {
  return loadConfig({ cwd: process.env.ROOMLER_PROJECT_DIR ?? PROJECT_ROOT });
}

/** Runs a command's main function: prints UserError/ConfigError as `<tool>: message` and sets the exit code. */
export function main(tool: string, fn: (argv: string[]) => Promise<number | void>): void {
  fn(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (e: unknown) => {
      if (e instanceof UserError || e instanceof ConfigError) {
        process.stderr.write(`${tool}: ${e.message}\n`);
        process.exitCode = e instanceof UserError ? e.exitCode : 1;
      } else {
        process.stderr.write(`${tool}: unexpected error: ${e instanceof Error ? e.stack : String(e)}\n`);
        process.exitCode = 70;
      }
    },
  );
}

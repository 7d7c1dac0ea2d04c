import { join } from 'node:path';

import { parse as parseDotenv } from 'dotenv';

import { exists, FileProblem, readUtf8 } from '../../../lib/config/files';
import { UserError } from './errors';

// The one reader of the operator's `.env` on the host side (the old stack's names: MONGO_ROOT_PASSWORD,
// COTURN_AUTH_SECRET, …; docs/reference-topology.md), for the commands that need its values: secrets, doctor,
// the MongoDB migration. Synth reads it through lib/config.

/**
 * `<projectDir>/.env` as name → value, `{}` when there is none. A .env that exists in any form is read or refused
 * (a dangling symlink is no "no .env"); UTF-8 only, so a secret value never silently gains U+FFFD.
 */
export function readDotenv(projectDir: string): Record<string, string> {
  const file = join(projectDir, '.env');
  try {
    return exists(file) ? parseDotenv(readUtf8(file)) : {};
  } catch (e) {
    if (e instanceof FileProblem) throw new UserError(`.env: ${e.message}`);
    throw e;
  }
}

/** The operator's values by their `.env` name: the environment first, then `.env`; an empty value is no value. */
export function operatorEnv(projectDir: string, env: NodeJS.ProcessEnv = process.env): (name: string) => string | undefined {
  const dotenv = readDotenv(projectDir);
  return (name) => env[name] || dotenv[name] || undefined;
}

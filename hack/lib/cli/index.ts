import { resolve } from 'node:path';

import { loadConfig, type LoadedConfig } from '../../../lib/config';

export { type Command, command, type Group, group, type Parsed } from './args';
export { UserError } from './errors';

/** The project root: config file and `.env` are looked up here unless ROOMLER_PROJECT_DIR says otherwise. */
export const PROJECT_ROOT = resolve(__dirname, '..', '..', '..');

/** Where the operator's `roomler.yaml`, `.env` and `dist/` are. */
export const projectDir = () => process.env.ROOMLER_PROJECT_DIR ?? PROJECT_ROOT;

export function config(): LoadedConfig {
  return loadConfig({ cwd: projectDir() });
}

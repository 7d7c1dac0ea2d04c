import { spawn, type SpawnOptions, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { join } from 'node:path';

/** The project's root, and the documented entry point of every command: exactly what the README tells users to run. */
export const ROOT = join(__dirname, '..', '..');
export const ROOMLER = join(ROOT, 'bin', 'roomler');

/** `bin/roomler ...args` to completion. */
export function roomler(args: readonly string[], options: SpawnSyncOptions & { env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(ROOMLER, args, { cwd: ROOT, encoding: 'utf8', ...options, env: { ...process.env, ...options.env } }) as ReturnType<
    typeof spawnSync
  > & { stdout: string; stderr: string };
}

/** `bin/roomler ...args` in the background. */
export function spawnRoomler(args: readonly string[], options: SpawnOptions & { env?: NodeJS.ProcessEnv } = {}) {
  return spawn(ROOMLER, args, { cwd: ROOT, ...options, env: { ...process.env, ...options.env } });
}

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';

// Where a migration run stands: one small JSON file next to the backups (backup.basePath), written atomically after
// every step, so `migrate run` resumes where it stopped and `migrate status` can show it from any shell.

export interface StepRecord {
  readonly status: 'done' | 'failed' | 'running';
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly durationMs?: number;
  /** One line: what it did or why it failed. */
  readonly outcome: string;
  /** What it verified, and what is left for the operator by hand. */
  readonly verified?: readonly string[];
  readonly manual?: readonly string[];
  /** Measurements worth keeping, e.g. the write-free window. */
  readonly figures?: Record<string, number>;
  /** The switch's write-free window as it happened, recorded the moment each thing happens (a kill -9 keeps it). */
  readonly window?: {
    /** When the app's locations started answering 503 (maintenance), ISO. */
    readonly openedAt?: string;
    /** When `docker stop` of the old app began, ISO. */
    readonly appStoppedAt?: string;
    /** What the switch announced before it began, ms. */
    readonly announcedMs?: number;
  };
}

export interface RunState {
  readonly startedAt: string;
  readonly steps: Record<string, StepRecord>;
}

export const stateFile = (cfg: LoadedConfig) => join(cfg.root.backup.basePath, 'migration', 'state.json');

export function readState(file: string): RunState | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunState) : undefined;
}

export function writeState(file: string, state: RunState): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

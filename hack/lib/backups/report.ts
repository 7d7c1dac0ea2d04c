import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

import type { IO } from '../cli/io';

/** A log file is rotated when it reaches this size at the start of a command; LOG_KEEP old ones are kept. */
export const LOG_ROTATE_BYTES = 1024 * 1024;
export const LOG_KEEP = 5;

/** Where `backup run` and `backup verify` say what they did: outcome lines (out), failures (err) and progress. */
export interface BackupIO extends IO {
  /** rsync's progress every few seconds. */
  progress(line: string): void;
}

/**
 * Without a log file: outcome lines to `io.out`, failures and progress to `io.err`. With one (what the installed
 * schedule passes as --log): every line goes to the file, timestamped, and only failures also to `io.err`, so
 * cron's mail (MAILTO) holds what went wrong and nothing when all went well. The file is rotated first when it
 * has grown past LOG_ROTATE_BYTES: FILE.1 … FILE.LOG_KEEP, the oldest dropped.
 */
export function backupIO(io: IO, logFile?: string): BackupIO {
  if (!logFile) return { out: (l) => io.out(l), err: (l) => io.err(l), progress: (l) => io.err(l) };
  mkdirSync(dirname(logFile), { recursive: true });
  if (existsSync(logFile) && statSync(logFile).size >= LOG_ROTATE_BYTES) {
    for (let n = LOG_KEEP - 1; n >= 1; n--) if (existsSync(`${logFile}.${n}`)) renameSync(`${logFile}.${n}`, `${logFile}.${n + 1}`);
    renameSync(logFile, `${logFile}.1`);
  }
  const write = (l: string) => appendFileSync(logFile, `${new Date().toISOString()} ${l}\n`);
  return {
    out: write,
    err: (l) => {
      write(l);
      io.err(l);
    },
    progress: write,
  };
}

import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** A log file is rotated when it reaches this size at the start of a command; LOG_KEEP old ones are kept. */
export const LOG_ROTATE_BYTES = 1024 * 1024;
export const LOG_KEEP = 5;

/** Where `backup run` and `backup verify` say what they did. */
export interface Reporter {
  /** A line of the outcome (`ok …`, the summary of a success). */
  info(line: string): void;
  /** Something went wrong: always reaches stderr, so cron mails it. */
  fail(line: string): void;
  /** rsync's progress every few seconds. */
  progress(line: string): void;
}

/**
 * Without a log file: outcome lines on stdout, failures and progress on stderr. With one (what the installed
 * schedule passes as --log): every line goes to the file, timestamped, and only failures also to stderr, so
 * cron's mail (MAILTO) holds what went wrong and nothing when all went well. The file is rotated first when it
 * has grown past LOG_ROTATE_BYTES: FILE.1 … FILE.LOG_KEEP, the oldest dropped.
 */
export function reporter(
  logFile?: string,
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
  },
): Reporter {
  if (!logFile) return { info: (l) => io.out(`${l}\n`), fail: (l) => io.err(`${l}\n`), progress: (l) => io.err(`${l}\n`) };
  mkdirSync(dirname(logFile), { recursive: true });
  if (existsSync(logFile) && statSync(logFile).size >= LOG_ROTATE_BYTES) {
    for (let n = LOG_KEEP - 1; n >= 1; n--) if (existsSync(`${logFile}.${n}`)) renameSync(`${logFile}.${n}`, `${logFile}.${n + 1}`);
    renameSync(logFile, `${logFile}.1`);
  }
  const write = (l: string) => appendFileSync(logFile, `${new Date().toISOString()} ${l}\n`);
  return {
    info: write,
    fail: (l) => {
      write(l);
      io.err(`${l}\n`);
    },
    progress: write,
  };
}

// Interruptions of a command that changes something: SIGINT (Ctrl-C), SIGTERM (a supervisor, npm going away) and
// SIGPIPE (the reader of `command | head` went away; Node ignores the signal itself, so it shows as EPIPE on stdout).
// Each becomes an `Interrupted` error at the command's next await or checkpoint, so the command can finish what must
// be finished (restore files, write its record) and exit with the signal's status instead of dying half-way.

import type { IO } from '../cli/io';

export type InterruptSignal = 'SIGINT' | 'SIGTERM' | 'SIGPIPE';

/** The shell's status for a command ended by a signal: 128 + its number. */
export const SIGNAL_EXIT: Record<InterruptSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGPIPE: 141 };

export class Interrupted extends Error {
  constructor(readonly signal: InterruptSignal) {
    super(`interrupted by ${signal}${signal === 'SIGPIPE' ? ' (the reader of its output went away)' : ''}`);
  }

  get exitCode(): number {
    return SIGNAL_EXIT[this.signal];
  }
}

const active = new Set<Guard>();

/**
 * Called when writing to stdout failed with EPIPE: true when a guard took it as an interruption (the command goes on
 * to its checkpoint and ends with 141), false when nothing is guarded (a read-only command just ends quietly).
 */
export function stdoutClosed(): boolean {
  if (!active.size) return false;
  for (const g of active) g.interrupt('SIGPIPE');
  return true;
}

/** Whether stdout's reader went away (EPIPE seen while a guard was active). */
let stdoutGone = false;

/**
 * `io` for a command that changes something: its results go to `io.out` while someone reads stdout, and to `io.err`
 * once stdout's reader went away (`… | head`), where the outcome is still seen.
 */
export function withStdoutFallback(io: IO): IO {
  return { out: (line) => (stdoutGone ? io.err(line) : io.out(line)), err: (line) => io.err(line) };
}

/**
 * Turns SIGINT/SIGTERM (and EPIPE on stdout, as SIGPIPE) into an `Interrupted` error at the next await, aborting
 * requests in flight. Once `holdForRestore` was called (restoring files, writing a record), further signals are
 * reported and otherwise ignored: that step must finish. A child process in flight (a kubectl apply) is not killed:
 * the command decides at its next checkpoint.
 */
export class Guard {
  private readonly controller = new AbortController();
  private received: InterruptSignal | undefined;
  /** What must finish before a signal counts again (restoring the original files, writing the record). */
  private restoring: string | undefined;
  private readonly interrupted: Promise<never>;
  private readonly handler = (signal: NodeJS.Signals) => this.interrupt(signal as InterruptSignal);

  constructor(private readonly log: (line: string) => void) {
    this.interrupted = new Promise<never>((_, reject) =>
      this.controller.signal.addEventListener('abort', () => reject(new Interrupted(this.received!))),
    );
    this.interrupted.catch(() => undefined);
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
    active.add(this);
  }

  interrupt(signal: InterruptSignal): void {
    if (signal === 'SIGPIPE') stdoutGone = true;
    if (this.restoring) {
      if (signal !== 'SIGPIPE') this.log(`${signal} received: still ${this.restoring}; please wait`);
      return;
    }
    this.received ??= signal;
    this.controller.abort();
  }

  /** The first interruption, if any. */
  get signalReceived(): InterruptSignal | undefined {
    return this.received;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.interrupted]);
  }

  check(): void {
    if (this.received) throw new Interrupted(this.received);
  }

  holdForRestore(what = 'restoring the original files'): void {
    this.restoring = what;
  }

  /** After the step that had to finish: signals interrupt again. */
  endHold(): void {
    this.restoring = undefined;
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
    active.delete(this);
  }
}

import { execa, type Options, type ResultPromise } from 'execa';

export interface RunOptions {
  /** Kill the whole process group after this many ms. @default no timeout */
  readonly timeoutMs?: number;
  /** Bytes or text for standard input. */
  readonly input?: string | Uint8Array;
  /** Extra environment (merged over process.env). */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Inherit stdio instead of capturing (for progress output). @default false */
  readonly inherit?: boolean;
}

export interface RunResult {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

const running = new Set<ResultPromise>();

/** Kills every child started through `start`/`run` (their whole process groups). */
export function killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of running) killGroup(child, signal);
}

function killGroup(child: ResultPromise, signal: NodeJS.Signals) {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * Starts a program without a shell (arguments as an array), in its own process group, so a timeout or
 * Ctrl-C kills the grandchildren too: execa's own timeout waits for grandchildren that hold the pipes
 * (FIELD-NOTES: a 500 ms timeout settled after 6.3 s).
 */
export function start(file: string, args: readonly string[], options: RunOptions & Options = {}): ResultPromise {
  const { timeoutMs, input, env, inherit, ...rest } = options;
  const child = execa(file, args, {
    detached: true,
    reject: false,
    stripFinalNewline: false,
    env: env ? { ...process.env, ...env } : undefined,
    ...(input !== undefined ? { input } : {}),
    ...(inherit ? { stdio: 'inherit' } : {}),
    ...rest,
  } as Options) as ResultPromise;
  running.add(child);
  let timer: NodeJS.Timeout | undefined;
  if (timeoutMs) {
    timer = setTimeout(() => {
      (child as any).__timedOut = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 2000).unref();
    }, timeoutMs);
  }
  const settle = () => {
    if (timer) clearTimeout(timer);
    running.delete(child);
  };
  child.then(settle, settle);
  return child;
}

/** Runs a program to completion; never throws for a non-zero exit: classify `exitCode` yourself. */
export async function run(file: string, args: readonly string[], options: RunOptions & Options = {}): Promise<RunResult> {
  const child = start(file, args, options);
  const r = await child;
  return {
    command: [file, ...args].join(' '),
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: Boolean((child as any).__timedOut),
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
  };
}

/** On Ctrl-C or SIGTERM: run `cleanup`, kill the children's process groups, exit 130/143. */
export function onInterrupt(cleanup: () => void | Promise<void>): () => void {
  const handler = (signal: NodeJS.Signals) => {
    killAll('SIGTERM');
    Promise.resolve()
      .then(cleanup)
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';

// Every child process of the hack/ commands starts here: no shell (arguments as an array), its own process
// group, and a timeout that kills the whole group. execa 9 was the first choice, but it is ESM-only and its
// error path fails under this CommonJS project's require (`unicorn-magic` has no CJS export); and its
// timeout waits for grandchildren holding the pipes (FIELD-NOTES). This is the small precise piece instead.

export interface RunOptions {
  /** Kill the whole process group after this many ms (SIGTERM, then SIGKILL 2 s later). @default none */
  readonly timeoutMs?: number;
  /** Bytes or text written to standard input, which is then closed. @default stdin is a pipe left to the caller */
  readonly input?: string | Uint8Array;
  /** Extra environment (merged over process.env). */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Collect stdout into the result. Turn off to pipe it elsewhere. @default true */
  readonly captureStdout?: boolean;
  /** Leave it out of `killAll`: a lock holder must outlive the cleanup an interrupt starts. @default false */
  readonly untracked?: boolean;
}

export interface RunResult {
  readonly command: string;
  /** Exit code, or undefined when killed by a signal or never started. */
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Started {
  readonly child: ChildProcess;
  readonly done: Promise<RunResult>;
  /** SIGTERM to the child's whole process group, SIGKILL 2 s later if it is still there (nothing once it ended). */
  stop(): void;
}

const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Kills every child started here (their whole process groups). */
export function killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of running) killGroup(child, signal);
}

export function start(file: string, args: readonly string[], options: RunOptions = {}): Started {
  const child = spawn(file, args, {
    detached: true,
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (!options.untracked) running.add(child);
  let stdout = '';
  let stderr = '';
  if (options.captureStdout !== false) child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.on('error', () => undefined); // the child may exit before reading everything
  if (options.input !== undefined) child.stdin!.end(options.input);
  let timedOut = false;
  const stop = () => {
    killGroup(child, 'SIGTERM');
    setTimeout(() => killGroup(child, 'SIGKILL'), 2000).unref();
  };
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs)
    : undefined;
  const command = [file, ...args].join(' ');
  const done = new Promise<RunResult>((resolve) => {
    child.on('error', (e) => {
      stderr += `${e.message}\n`;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      running.delete(child);
      resolve({ command, exitCode: code ?? undefined, signal: signal ?? undefined, timedOut, stdout, stderr });
    });
  });
  return { child, done, stop };
}

/** Runs a program to completion; never throws for a non-zero exit: classify `exitCode` yourself. */
export const run = (file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> => start(file, args, options).done;

/** On Ctrl-C or SIGTERM: kill the children's process groups, run `cleanup`, exit 130/143. */
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

/**
 * A long-running server (etcd, kube-apiserver, …) in its own process group, its output appended to `logFile`
 * rather than held in memory. It outlives this process unless stopped with `stopGroup`.
 */
export function daemon(file: string, args: readonly string[], options: { logFile: string; env?: Record<string, string | undefined>; cwd?: string }): ChildProcess {
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(file, args, { detached: true, cwd: options.cwd, env: options.env ? { ...process.env, ...options.env } : process.env, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => appendFileSync(options.logFile, `${file}: ${e.message}\n`));
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM to a process group, SIGKILL after `graceMs` if it is still there; resolves when it is gone. */
export async function stopGroup(pid: number, graceMs = 5000): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(-pid, 'SIGKILL');
  while (alive()) await new Promise((r) => setTimeout(r, 20));
}

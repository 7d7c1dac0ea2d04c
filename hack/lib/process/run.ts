import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// Every child process of the hack/ commands starts here: no shell (arguments as an array), its own process
// group, a timeout that kills the whole group, and a guard that kills the group when this process dies. execa 9
// was the first choice, but it is ESM-only and its error path fails under this CommonJS project's require
// (`unicorn-magic` has no CJS export); and its timeout waits for grandchildren holding the pipes
// (docs/reference-topology.md). This is the small precise piece instead.

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
  /**
   * Leave it out of `killAll` and of the parent-death guard: a lock holder must outlive the cleanup an interrupt
   * starts (it ends by itself when its stdin, a pipe from this process, closes). @default false
   */
  readonly untracked?: boolean;
}

export interface RunResult {
  readonly command: string;
  /** Exit code, or undefined when killed by a signal or never started. */
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all, e.g. ENOENT (not on PATH) or EACCES. */
  readonly spawnError?: string;
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

// Each child leads its own process group (so a timeout reaches ssh under rsync), which also means it outlives
// this process: `kill -9` of a command left its rsync running, orphaned, past its timeout. Node has
// no prctl(PR_SET_PDEATHSIG), so one small guard per process does it: a shell reading "+PGID"/"-PGID" lines on a
// pipe from us. The kernel closes that pipe however we end (kill -9 included); on EOF the guard sends SIGTERM to
// every group still registered, and SIGKILL 2 s later to any that is still there (the same steps as a timeout).
// It leads its own group too, so a terminal's Ctrl-C reaches the command's handler, not the guard.
const GUARD = `groups=' '
while read -r line; do
  case $line in
    +*) groups="$groups\${line#+} " ;;
    -*) left=' '; for g in $groups; do [ "$g" = "\${line#-}" ] || left="$left$g "; done; groups=$left ;;
  esac
done
alive=''
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null && alive="$alive $g"; done
[ -n "$alive" ] || exit 0
sleep 2
for g in $alive; do kill -s KILL -- "-$g" 2>/dev/null; done`;

let guard: ChildProcess | undefined;
function guardWrite(line: string): void {
  if (!guard) {
    guard = spawn('sh', ['-c', GUARD], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    guard.stdin!.on('error', () => undefined);
    // Neither the guard nor its pipe keeps this process alive; our exit is exactly what it waits for.
    guard.unref();
    (guard.stdin as unknown as { unref(): void }).unref();
  }
  guard.stdin!.write(`${line}\n`);
}

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
  if (!options.untracked) {
    running.add(child);
    if (child.pid !== undefined) guardWrite(`+${child.pid}`);
  }
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
  let spawnError: string | undefined;
  const done = new Promise<RunResult>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      stderr += `${e.message}\n`;
      if (child.pid === undefined) spawnError = e.code ?? e.message;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (running.delete(child) && child.pid !== undefined) guardWrite(`-${child.pid}`);
      resolve({
        command,
        exitCode: spawnError ? undefined : (code ?? undefined),
        signal: signal ?? undefined,
        timedOut,
        spawnError,
        stdout,
        stderr,
      });
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
    void Promise.resolve()
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
export function daemon(
  file: string,
  args: readonly string[],
  options: { logFile: string; env?: Record<string, string | undefined>; cwd?: string },
): ChildProcess {
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(file, args, {
      detached: true,
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: ['ignore', fd, fd],
    });
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
  while (alive() && Date.now() < deadline) await sleep(50);
  if (alive()) process.kill(-pid, 'SIGKILL');
  while (alive()) await sleep(20);
}

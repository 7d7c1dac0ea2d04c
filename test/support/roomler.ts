import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// The one way tests run `bin/roomler`: the documented entry point of every command, exactly what the README tells
// users to run. `roomler` runs a command to its end; `startRoomler` runs it in the background, its output collected
// as it comes (lines to `onLine`, patterns awaited with `waitFor`).

/** The project's root. */
export const ROOT = join(__dirname, '..', '..');
export const ROOMLER = join(ROOT, 'bin', 'roomler');

export interface RoomlerOptions {
  /** The project the command works on (ROOMLER_PROJECT_DIR): its roomler.yaml, .env and dist/. */
  readonly project?: string;
  /** Environment over the test process's own; a variable given as undefined is removed. */
  readonly env?: NodeJS.ProcessEnv;
  /** A command (and its arguments) that runs bin/roomler, e.g. setpriv, unshare, or `script` for a terminal. */
  readonly wrap?: readonly string[];
  /** Another checkout's bin/roomler (a copy of the project that runs its own code). @default this checkout's */
  readonly bin?: string;
  /** @default the project's root */
  readonly cwd?: string;
  /** Written to its standard input, which is then closed. @default nothing (stdin closed at once) */
  readonly input?: string;
}

export interface RoomlerResult {
  /** Exit status, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface BackgroundResult extends RoomlerResult {
  /** Every line of stdout and stderr, in the order they arrived. */
  readonly output: string;
}

function command(args: readonly string[], o: RoomlerOptions): [string, string[], NodeJS.ProcessEnv] {
  const [file, ...rest] = [...(o.wrap ?? []), o.bin ?? ROOMLER, ...args];
  const env: NodeJS.ProcessEnv = { ...process.env, ...(o.project ? { ROOMLER_PROJECT_DIR: o.project } : {}), ...o.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return [file, rest, env];
}

/** `bin/roomler ...args` to its end. */
export function roomler(args: readonly string[], o: RoomlerOptions = {}): RoomlerResult {
  const [file, rest, env] = command(args, o);
  const r = spawnSync(file, rest, { cwd: o.cwd ?? ROOT, env, input: o.input ?? '', encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export interface BackgroundOptions extends RoomlerOptions {
  /** Its own process group, as a terminal starts a command: `kill(-pid)` reaches whatever it started. */
  readonly detached?: boolean;
  /** Each line of stdout and stderr as it arrives. */
  readonly onLine?: (line: string, child: ChildProcess) => void;
}

/** A command running in the background. */
export interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Both streams' lines so far, in the order they arrived. */
  output(): string;
  /** Resolves once stdout or stderr matches `re`; rejects when the command ends first, or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  readonly done: Promise<BackgroundResult>;
  /** Closes our end of its stdout: its next line meets a closed pipe, as `… | head` does. */
  closeStdout(): void;
}

/** `bin/roomler ...args` in the background. */
export function startRoomler(args: readonly string[], o: BackgroundOptions = {}): Running {
  const [file, rest, env] = command(args, o);
  const child = spawn(file, rest, { cwd: o.cwd ?? ROOT, env, detached: o.detached });
  if (o.input !== undefined) child.stdin!.end(o.input);
  else child.stdin!.end();
  child.stdin!.on('error', () => undefined);
  child.stdout!.on('error', () => undefined);
  let [stdout, stderr, output] = ['', '', ''];
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (d) => ((stdout += d), changed()));
  child.stderr!.on('data', (d) => ((stderr += d), changed()));
  for (const stream of [child.stdout!, child.stderr!])
    createInterface({ input: stream }).on('line', (line) => {
      output += `${line}\n`;
      o.onLine?.(line, child);
    });
  let ended = false;
  const done = new Promise<BackgroundResult>((resolve) =>
    child.on('close', (code, signal) => {
      ended = true;
      changed();
      resolve({ code, signal, stdout, stderr, output });
    }),
  );
  return {
    child,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    done,
    closeStdout: () => child.stdout!.destroy(),
    waitFor: (re, ms = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no ${re} within ${ms} ms:\n${stdout}\n${stderr}`)), ms);
        const finish = (e?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (e) reject(e);
          else resolve();
        };
        const check = () => {
          if (re.test(stdout) || re.test(stderr)) finish();
          else if (ended) finish(new Error(`${args.join(' ')} ended before ${re}:\n${stdout}\n${stderr}`));
        };
        waiters.add(check);
        check();
      }),
  };
}

/** `bin/roomler ...args` in the background, to its end. */
export const roomlerAsync = (args: readonly string[], o: BackgroundOptions = {}): Promise<BackgroundResult> => startRoomler(args, o).done;

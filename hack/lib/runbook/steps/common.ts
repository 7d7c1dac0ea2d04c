import type { LoadedConfig } from '../../../../lib/config';
import { projectDir } from '../../cli';
import { UserError } from '../../cli/errors';
import type { IO } from '../../cli/io';
import type { Kubectl } from '../../cluster/kubectl';
import { oldHostsOf } from '../../cutover/inventory';
import { splitHostPort } from '../../cutover/probes';
import type { Line } from '../../doctor/checks';
import { run } from '../../process/run';
import type { RunState, StepRecord } from '../state';

// What every step of the migration day shares: how it is described and run, the old stack's containers, docker.

export interface RunContext {
  readonly cfg: LoadedConfig;
  readonly projectDir: string;
  readonly kubectl: Kubectl;
  readonly yes: boolean;
  /** The day's record: every line on `out` (progress included). */
  readonly io: IO;
  /** The run's state so far (the steps before this one, and this one's record if it ran before). */
  readonly state: RunState;
  /** Records facts of the running step at once (they survive a kill -9): e.g. when the write-free window opened. */
  readonly note: (patch: Partial<Pick<StepRecord, 'window' | 'figures'>>) => void;
}

export interface StepResult {
  readonly outcome: string;
  readonly verified: string[];
  readonly manual: string[];
  readonly figures?: Record<string, number>;
}

export interface Step {
  readonly id: string;
  readonly title: string;
  /** What it changes and where; undefined for a read-only step. `state` holds the steps that ran before. */
  readonly changes?: (cfg: LoadedConfig, state?: RunState) => string[];
  /**
   * The step asks for itself, once it has proven what it can (the switch: the confirmation names the measured
   * window), instead of before it starts.
   */
  readonly confirmsItself?: boolean;
  /** The commands and hosts it touches. */
  readonly touches: (cfg: LoadedConfig) => string[];
  readonly checks: readonly string[];
  /** What must hold before the next step starts. */
  readonly gate: string;
  /** How to go back if it is the last thing that ran. */
  readonly rollback: string;
  readonly run: (ctx: RunContext) => Promise<StepResult>;
}

/** The containers of the old stack, by role: Docker names as the host nginx and `docker exec` know them. */
export function oldContainers(cfg: LoadedConfig): { app: string[]; janus: string[]; mongo: string } {
  const hostsTo = (match: (to: string) => boolean) => [
    ...new Set(cfg.root.cutover.routes.filter((r) => match(r.to)).map((r) => splitHostPort(r.from).host)),
  ];
  return {
    app: hostsTo((to) => to.startsWith('roomler/')),
    janus: hostsTo((to) => !to.startsWith('roomler/')),
    mongo: cfg.root.migrate.mongo.container,
  };
}

export const docker = (args: string[]) => run('docker', args, { timeoutMs: 120_000 });
export const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';

export async function dockerStop(names: readonly string[], io: IO): Promise<void> {
  for (const name of names) {
    const r = await docker(['stop', name]);
    if (r.exitCode !== 0) throw new UserError(`docker stop ${name} failed: ${lastLine(r.stderr)}`);
    io.out(`stopped container ${name}`);
  }
}

/** Starts the containers again; one line each for the report (never throws: it runs while something else failed). */
export async function dockerStart(names: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const name of names) {
    const r = await docker(['start', name]);
    lines.push(
      r.exitCode === 0
        ? `started ${name} again: the old stack serves`
        : `COULD NOT START ${name} again (${lastLine(r.stderr)}): start it by hand`,
    );
  }
  return lines;
}

export const linesFailed = (lines: readonly Line[]) => lines.filter((l) => l.status === 'fail');
export const show = (l: Line) => `${l.status} ${l.check}: ${l.detail}`;

/** The project directory the config was loaded from (its dist/ is what deploy applies). */
export const cfgDir = (_cfg: LoadedConfig) => projectDir();
/** Hosts of the old stack that stay on purpose (cutover.kept): never stopped by the runbook. */
export const cfgKeptHosts = (cfg: LoadedConfig) =>
  cfg.root.cutover.kept
    .map((k) => splitHostPort(k.target.includes(':') ? k.target : `${k.target}:0`).host)
    .filter((h) => oldHostsOf(cfg).includes(h));

/**
 * The day's record is one stream (`io.out`): what a sub-action reports as progress (`err`), such as a sync pass,
 * goes there too, each line after `prefix`.
 */
export const progressTo = (io: IO, prefix: string): IO => ({ out: (l) => io.out(l), err: (l) => io.out(`${prefix}${l}`) });

export const seconds = (ms?: number) =>
  ms === undefined
    ? ''
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;

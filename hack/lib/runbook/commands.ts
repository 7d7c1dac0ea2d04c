import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { contextFor, Kubectl } from '../cluster/kubectl';
import { acquireLock } from '../process/lock';
import { readState, type RunState, stateFile, type StepRecord, writeState } from './state';
import { CANNOT_CHECK, interruptedSwitch, type Step, STEPS } from './steps';
import { seconds } from './steps/common';

// `migrate run` and `migrate status`: the day's steps in order, resumable, each step's outcome and duration kept in
// the state file the moment it ends.

/** Where the day stands, for `migrate status`: the state file, its records, and a switch a killed run left half-done. */
export interface DayStatus {
  readonly file: string;
  readonly state?: RunState;
  readonly interrupted?: string;
}

export async function dayStatus(cfg: LoadedConfig): Promise<DayStatus> {
  const file = stateFile(cfg);
  const state = readState(file);
  return { file, state, interrupted: await interruptedSwitch(cfg, state) };
}

export interface DayOptions {
  readonly projectDir: string;
  readonly context?: string;
  readonly yes: boolean;
  /** Start at this step, re-running it and those after it. */
  readonly from?: string;
  /** Stop after this step. */
  readonly to?: string;
}

/** The final report: each step with its duration and what it verified, then what is left to do by hand. */
export function reportLines(state: RunState): string[] {
  const lines = ['', 'migration report:'];
  for (const s of STEPS) {
    const r = state.steps[s.id];
    lines.push(
      `  ${s.id.padEnd(14)} ${(r?.status ?? 'pending').padEnd(8)} ${seconds(r?.durationMs).padEnd(10)} ${r?.outcome ?? ''}`.trimEnd(),
    );
  }
  const window = state.steps.switch?.figures?.writeFreeWindowMs;
  const announced = state.steps.switch?.figures?.announcedWindowMs;
  if (window !== undefined)
    lines.push(
      `  write-free window: ${seconds(window)} (the app answered 503 with Retry-After until nginx served the new one${announced ? `; announced about ${seconds(announced)}` : ''})`,
    );
  const manual = STEPS.flatMap((s: Step) => state.steps[s.id]?.manual ?? []);
  const allDone = STEPS.every((s) => state.steps[s.id]?.status === 'done');
  lines.push(manual.length || allDone ? 'by hand:' : '');
  for (const m of [...new Set(manual)]) lines.push(`  - ${m}`);
  if (allDone) for (const c of CANNOT_CHECK) lines.push(`  - check yourself: ${c}`);
  return lines;
}

/** The first step to run: the interrupted switch (the site is waiting), `from`, or the first one not done. */
function firstStep(state: RunState, interrupted: string | undefined, from: string | undefined): number {
  if (interrupted) return STEPS.findIndex((s) => s.id === 'switch');
  if (from) return STEPS.findIndex((s) => s.id === from);
  return STEPS.findIndex((s) => state.steps[s.id]?.status !== 'done');
}

/** One line per step before `start`: done (not repeated), or skipped and why. */
function skippedLines(state: RunState, start: number, interrupted: string | undefined, from: string | undefined): string[] {
  return STEPS.slice(0, start).map((s) => {
    const r = state.steps[s.id];
    const why = interrupted ? 'the interrupted switch comes first' : `--from ${from}`;
    return r?.status === 'done'
      ? `step ${s.id}: done ${r.finishedAt ?? ''} (not repeated; --from ${s.id} re-runs it)`
      : `step ${s.id}: ${r?.status ?? 'not run'} (skipped: ${why})`;
  });
}

type Noted = Partial<Pick<StepRecord, 'window' | 'figures'>>;

/** Runs one step: asks first when it changes something, records it as running, then done or failed. The new state. */
async function runStep(
  cfg: LoadedConfig,
  o: DayOptions & { readonly file: string; readonly kubectl: Kubectl },
  step: Step,
  before: RunState,
  io: IO,
): Promise<RunState> {
  let state = before;
  const changes = step.changes?.(cfg, state);
  if (changes && !step.confirmsItself) await confirm(`step ${step.id} will change`, changes, o.yes);
  const t0 = Date.now();
  // A resumed switch keeps the window its killed run opened.
  let noted: Noted = step.id === 'switch' && before.steps.switch?.window ? { window: before.steps.switch.window } : {};
  const record = (r: Omit<StepRecord, 'startedAt' | 'finishedAt' | 'durationMs'>) => {
    const times = { startedAt: new Date(t0).toISOString(), finishedAt: new Date().toISOString(), durationMs: Date.now() - t0 };
    state = { ...state, steps: { ...state.steps, [step.id]: { ...noted, ...r, ...times } } };
    writeState(o.file, state);
  };
  record({ status: 'running', outcome: 'running' });
  const note = (patch: Noted) => {
    noted = { ...noted, ...patch };
    record({ status: 'running', outcome: 'running' });
  };
  try {
    const result = await step.run({ cfg, projectDir: o.projectDir, kubectl: o.kubectl, yes: o.yes, io, state: before, note });
    const { outcome, verified, manual } = result;
    record({ status: 'done', outcome, verified, manual, figures: { ...noted.figures, ...result.figures } });
    io.out(`step ${step.id}: done in ${seconds(Date.now() - t0)}: ${result.outcome}`);
    return state;
  } catch (e) {
    const why = (e as Error).message;
    record({ status: 'failed', outcome: why.split('\n')[0] });
    io.out(`step ${step.id}: FAILED after ${seconds(Date.now() - t0)}`);
    for (const line of reportLines(state)) io.out(line);
    throw new UserError(`step ${step.id} failed: ${why}\nfix what it says, then bin/roomler migrate run resumes at ${step.id}`);
  }
}

/** The steps from `start`, in order, until `last`; the state after them. */
async function runSteps(cfg: LoadedConfig, o: DayOptions & { readonly file: string }, state: RunState, start: number, io: IO) {
  const last = o.to ? STEPS.findIndex((s) => s.id === o.to) : STEPS.length - 1;
  const kubectl = new Kubectl(contextFor(cfg, cfg.instances[0], o.context));
  for (const [n, step] of STEPS.entries()) {
    if (n < start) continue;
    if (n > last) {
      io.out('');
      io.out(`migrate run: stopped after step ${o.to} (--to); bin/roomler migrate run continues at ${step.id}`);
      return undefined;
    }
    io.out('');
    io.out(`== step ${n + 1}/${STEPS.length} ${step.id}: ${step.title}`);
    state = await runStep(cfg, { ...o, kubectl }, step, state, io);
  }
  return state;
}

/**
 * `migrate run`: the steps in order from the first one not done (or from `from`, re-running it and those after).
 * Each step's outcome and duration go to the state file as it ends; a failure stops the run, and the next run
 * resumes at that step.
 */
export async function runDay(cfg: LoadedConfig, o: DayOptions, io: IO): Promise<void> {
  const file = stateFile(cfg);
  for (const [flag, id] of [
    ['--from', o.from],
    ['--to', o.to],
  ] as const) {
    if (id && !STEPS.some((s) => s.id === id))
      throw new UserError(`${flag} ${id} is no step (steps: ${STEPS.map((s) => s.id).join(', ')})`, 2);
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const release = await acquireLock(join(dirname(file), '.lock'), 'another migrate run');
  try {
    const state: RunState = readState(file) ?? { startedAt: new Date().toISOString(), steps: {} };
    // A switch a kill -9 left inside its write-free window comes first: the site has been waiting since.
    const interrupted = await interruptedSwitch(cfg, state);
    if (interrupted) io.out(interrupted);
    const start = firstStep(state, interrupted, o.from);
    if (start === -1) {
      io.out('migrate run: every step is done (bin/roomler migrate status; --from STEP re-runs one)');
      for (const line of reportLines(state)) io.out(line);
      return;
    }
    for (const line of skippedLines(state, start, interrupted, o.from)) io.out(line);
    const after = await runSteps(cfg, { ...o, file }, state, start, io);
    if (after) for (const line of reportLines(after)) io.out(line);
  } finally {
    await release();
  }
}

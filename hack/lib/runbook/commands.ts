import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { LoadedConfig } from '../../../lib/config';
import { confirm } from '../cli/confirm';
import { UserError } from '../cli/errors';
import { contextFor, Kubectl } from '../cluster/kubectl';
import { acquireLock } from '../process/lock';
import { readState, type RunState, stateFile, type StepRecord, writeState } from './state';
import { CANNOT_CHECK, interruptedSwitch, type Step, STEPS } from './steps';
import { seconds } from './steps/common';

type Log = (line: string) => void;

/** `migrate plan`: the whole day for the current config, changing nothing. */
export function printPlan(cfg: LoadedConfig, log: Log): number {
  const state = readState(stateFile(cfg));
  log(
    `The migration day for this config: ${STEPS.length} steps. \`bin/roomler migrate run\` runs them in order, asking before each step that changes something (--yes for automation); the state is kept in ${stateFile(cfg)}.`,
  );
  STEPS.forEach((s, n) => {
    log('');
    log(`${n + 1}. ${s.id}: ${s.title}`);
    const changes = s.changes?.(cfg, state);
    log(changes ? `   changes (asks first):` : '   changes: nothing (read-only)');
    for (const c of changes ?? []) log(`     - ${c}`);
    log('   runs:');
    for (const t of s.touches(cfg)) log(`     - ${t}`);
    log('   checks:');
    for (const c of s.checks) log(`     - ${c}`);
    log(`   gate: ${s.gate}`);
    log(`   if it fails: ${s.rollback}`);
  });
  log('');
  log('What cannot be checked from here:');
  for (const c of CANNOT_CHECK) log(`  - ${c}`);
  return 0;
}

/** `migrate status`: where a run stands; first of all, a switch a killed run left half-done. */
export async function printStatus(cfg: LoadedConfig, log: Log): Promise<number> {
  const file = stateFile(cfg);
  const state = readState(file);
  const interrupted = await interruptedSwitch(cfg, state);
  if (interrupted) log(interrupted);
  if (!state) {
    log(`no migration run yet (${file} does not exist): bin/roomler migrate plan shows the day, migrate run starts it`);
    return 0;
  }
  log(`migration started ${state.startedAt} (${file})`);
  for (const [n, s] of STEPS.entries()) {
    const r = state.steps[s.id];
    log(
      `${String(n + 1).padStart(2)}. ${s.id.padEnd(14)} ${(r?.status ?? 'pending').padEnd(8)} ${r ? `${seconds(r.durationMs).padEnd(10)} ${r.outcome}` : ''}`.trimEnd(),
    );
  }
  const next = STEPS.find((s) => state.steps[s.id]?.status !== 'done');
  log(next ? `next: ${next.id} (bin/roomler migrate run)` : 'every step is done');
  return 0;
}

/**
 * `migrate run`: the steps in order from the first one not done (or from `from`, re-running it and those after).
 * Each step's outcome and duration go to the state file as it ends; a failure stops the run, and the next run
 * resumes at that step.
 */
export async function runDay(
  cfg: LoadedConfig,
  o: { projectDir: string; context?: string; yes: boolean; from?: string; to?: string; log: Log },
): Promise<number> {
  const file = stateFile(cfg);
  for (const [flag, id] of [
    ['--from', o.from],
    ['--to', o.to],
  ] as const) {
    if (id && !STEPS.some((s) => s.id === id))
      throw new UserError(`${flag} ${id} is no step (steps: ${STEPS.map((s) => s.id).join(', ')})`, 2);
  }
  const last = o.to ? STEPS.findIndex((s) => s.id === o.to) : STEPS.length - 1;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const release = await acquireLock(join(dirname(file), '.lock'), 'another migrate run');
  try {
    let state: RunState = readState(file) ?? { startedAt: new Date().toISOString(), steps: {} };
    // A switch a kill -9 left inside its write-free window comes first: the site has been waiting since.
    const interrupted = await interruptedSwitch(cfg, state);
    if (interrupted) o.log(interrupted);
    // Inside an interrupted switch's window the switch comes first, whatever else is pending: the site is waiting.
    const start = interrupted
      ? STEPS.findIndex((s) => s.id === 'switch')
      : o.from
        ? STEPS.findIndex((s) => s.id === o.from)
        : STEPS.findIndex((s) => state.steps[s.id]?.status !== 'done');
    if (start === -1) {
      o.log('migrate run: every step is done (bin/roomler migrate status; --from STEP re-runs one)');
      return report(state, o.log);
    }
    for (const s of STEPS.slice(0, start)) {
      const r = state.steps[s.id];
      const why = interrupted ? 'the interrupted switch comes first' : `--from ${o.from}`;
      o.log(
        r?.status === 'done'
          ? `step ${s.id}: done ${r.finishedAt ?? ''} (not repeated; --from ${s.id} re-runs it)`
          : `step ${s.id}: ${r?.status ?? 'not run'} (skipped: ${why})`,
      );
    }
    const kubectl = new Kubectl(contextFor(cfg, cfg.instances[0], o.context));
    for (const [n, step] of STEPS.entries()) {
      if (n < start) continue;
      if (n > last) {
        o.log('');
        o.log(`migrate run: stopped after step ${o.to} (--to); bin/roomler migrate run continues at ${step.id}`);
        return 0;
      }
      o.log('');
      o.log(`== step ${n + 1}/${STEPS.length} ${step.id}: ${step.title}`);
      const changes = step.changes?.(cfg, state);
      if (changes && !step.confirmsItself) await confirm(`step ${step.id} will change`, changes, o.yes);
      const t0 = Date.now();
      const before = state;
      let noted: Partial<Pick<StepRecord, 'window' | 'figures'>> = {};
      const record = (r: Omit<StepRecord, 'startedAt' | 'finishedAt' | 'durationMs'>) => {
        state = {
          ...state,
          steps: {
            ...state.steps,
            [step.id]: {
              ...noted,
              ...r,
              startedAt: new Date(t0).toISOString(),
              finishedAt: new Date().toISOString(),
              durationMs: Date.now() - t0,
            },
          },
        };
        writeState(file, state);
      };
      // A resumed switch keeps the window its killed run opened.
      if (step.id === 'switch' && before.steps.switch?.window) noted = { window: before.steps.switch.window };
      record({ status: 'running', outcome: 'running' });
      const note = (patch: Partial<Pick<StepRecord, 'window' | 'figures'>>) => {
        noted = { ...noted, ...patch };
        record({ status: 'running', outcome: 'running' });
      };
      try {
        const result = await step.run({ cfg, projectDir: o.projectDir, kubectl, yes: o.yes, log: o.log, state: before, note });
        record({
          status: 'done',
          outcome: result.outcome,
          verified: result.verified,
          manual: result.manual,
          figures: { ...noted.figures, ...result.figures },
        });
        o.log(`step ${step.id}: done in ${seconds(Date.now() - t0)}: ${result.outcome}`);
      } catch (e) {
        const why = (e as Error).message;
        record({ status: 'failed', outcome: why.split('\n')[0] });
        o.log(`step ${step.id}: FAILED after ${seconds(Date.now() - t0)}`);
        report(state, o.log);
        throw new UserError(`step ${step.id} failed: ${why}\nfix what it says, then bin/roomler migrate run resumes at ${step.id}`);
      }
    }
    return report(state, o.log);
  } finally {
    release();
  }
}

/** The final report: each step with its duration and what it verified, then what is left to do by hand. */
function report(state: RunState, log: Log): number {
  log('');
  log('migration report:');
  for (const s of STEPS) {
    const r = state.steps[s.id];
    log(`  ${s.id.padEnd(14)} ${(r?.status ?? 'pending').padEnd(8)} ${seconds(r?.durationMs).padEnd(10)} ${r?.outcome ?? ''}`.trimEnd());
  }
  const window = state.steps.switch?.figures?.writeFreeWindowMs;
  const announced = state.steps.switch?.figures?.announcedWindowMs;
  if (window !== undefined)
    log(
      `  write-free window: ${seconds(window)} (the app answered 503 with Retry-After until nginx served the new one${announced ? `; announced about ${seconds(announced)}` : ''})`,
    );
  const manual = STEPS.flatMap((s: Step) => state.steps[s.id]?.manual ?? []);
  log(manual.length || STEPS.every((s) => state.steps[s.id]?.status === 'done') ? 'by hand:' : '');
  for (const m of [...new Set(manual)]) log(`  - ${m}`);
  if (STEPS.every((s) => state.steps[s.id]?.status === 'done')) for (const c of CANNOT_CHECK) log(`  - check yourself: ${c}`);
  return 0;
}

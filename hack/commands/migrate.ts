import type { LoadedConfig } from '../../lib/config';
import { migrateUploads } from '../lib/backups/uploads';
import { command, config, group, projectDir } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { UserError } from '../lib/cli/errors';
import { stdio } from '../lib/cli/io';
import { CONTEXT_OPTION, contextFor, Kubectl } from '../lib/cluster/kubectl';
import { ensureDistCurrent } from '../lib/gitops/fresh';
import { migrateMongo, mongoInstance, syncMongo } from '../lib/mongo/migrate';
import { goBack } from '../lib/runbook/back';
import { type DayStatus, dayStatus, runDay } from '../lib/runbook/commands';
import { readState, stateFile } from '../lib/runbook/state';
import { CANNOT_CHECK, STEPS } from '../lib/runbook/steps';
import { seconds } from '../lib/runbook/steps/common';

/**
 * `migrate plan`: the whole day for this config, step by step: what each runs and changes, its checks and gate. Lines
 * come as each step is read, so a step that cannot say what it changes (no dist/ yet) stops the plan there.
 */
function* formatDayPlan(cfg: LoadedConfig): Generator<string> {
  const state = readState(stateFile(cfg));
  yield `The migration day for this config: ${STEPS.length} steps. \`bin/roomler migrate run\` runs them in order, asking before each step that changes something (--yes for automation); the state is kept in ${stateFile(cfg)}.`;
  for (const [n, s] of STEPS.entries()) {
    yield '';
    yield `${n + 1}. ${s.id}: ${s.title}`;
    const changes = s.changes?.(cfg, state);
    yield changes ? `   changes (asks first):` : '   changes: nothing (read-only)';
    yield* (changes ?? []).map((c) => `     - ${c}`);
    yield '   runs:';
    yield* s.touches(cfg).map((t) => `     - ${t}`);
    yield '   checks:';
    yield* s.checks.map((c) => `     - ${c}`);
    yield `   gate: ${s.gate}`;
    yield `   if it fails: ${s.rollback}`;
  }
  yield '';
  yield 'What cannot be checked from here:';
  yield* CANNOT_CHECK.map((c) => `  - ${c}`);
}

/** `migrate status`: a switch a killed run left half-done first; then each step, its outcome and duration. */
function formatDayStatus({ file, state, interrupted }: DayStatus): string[] {
  const lines = interrupted ? [interrupted] : [];
  if (!state)
    return [...lines, `no migration run yet (${file} does not exist): bin/roomler migrate plan shows the day, migrate run starts it`];
  lines.push(`migration started ${state.startedAt} (${file})`);
  for (const [n, s] of STEPS.entries()) {
    const r = state.steps[s.id];
    lines.push(
      `${String(n + 1).padStart(2)}. ${s.id.padEnd(14)} ${(r?.status ?? 'pending').padEnd(8)} ${r ? `${seconds(r.durationMs).padEnd(10)} ${r.outcome}` : ''}`.trimEnd(),
    );
  }
  const next = STEPS.find((s) => state.steps[s.id]?.status !== 'done');
  lines.push(next ? `next: ${next.id} (bin/roomler migrate run)` : 'every step is done');
  return lines;
}

const INSTANCE = { type: 'string', value: 'NAME', description: 'which instance of the config', defaultText: 'the first' } as const;

// `bin/roomler migrate <mongo|uploads>`: one-time moves off the old Docker host.
export default group({
  description:
    'The migration day as one command: `migrate plan` shows it, `migrate run` runs it (resumable), `migrate status` says where it stands, `migrate back` goes back after the switch (docs/migration.md). `migrate mongo` and `migrate uploads` are two of its steps, on their own.',
  subcommands: {
    plan: command({
      summary: 'print the whole migration day for this config: every step, what it runs and changes, its checks and gates',
      examples: ['bin/roomler migrate plan'],
      run: async () => {
        for (const line of formatDayPlan(config())) stdio.out(line);
      },
    }),
    run: command({
      summary: 'run the migration day step by step, asking before each change; resumes where a run stopped',
      options: {
        from: {
          type: 'string',
          value: 'STEP',
          description: 'start at this step, re-running it and the ones after it even if done',
          defaultText: 'the first step not done',
        },
        to: {
          type: 'string',
          value: 'STEP',
          description: 'stop after this step (e.g. to switch in one maintenance hour and drain in another)',
          defaultText: 'the last step',
        },
        context: CONTEXT_OPTION,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler migrate run', 'bin/roomler migrate run --yes --context production', 'bin/roomler migrate run --from switch'],
      run: ({ values }) => {
        ensureDistCurrent({ projectDir: projectDir(), log: (line) => stdio.out(line) });
        const { context, yes, from, to } = values;
        return runDay(config(), { projectDir: projectDir(), context, yes, from, to }, stdio);
      },
    }),
    back: command({
      summary: 'go back after the switch: nginx to its original files, the old containers serving; new writes copied back or refused',
      description:
        'Measures what the new MongoDB took since the switch. With any difference it refuses unless --reverse-copy (copy it back to the old MongoDB while the app answers 503 with Retry-After) or --discard-new-writes (lose it). Then restores the files nginx had before the switch and reloads; migrate run resumes at the switch afterwards.',
      options: {
        'reverse-copy': { type: 'boolean', description: 'copy what the new MongoDB took since the switch back to the old one first' },
        'discard-new-writes': { type: 'boolean', description: 'go back even though the new MongoDB took writes, losing them' },
        context: CONTEXT_OPTION,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler migrate back', 'bin/roomler migrate back --reverse-copy --yes'],
      run: ({ values }) =>
        goBack(
          config(),
          {
            context: values.context,
            yes: values.yes,
            reverseCopy: values['reverse-copy'],
            discardNewWrites: values['discard-new-writes'],
            projectDir: projectDir(),
          },
          stdio,
        ),
    }),
    status: command({
      summary: 'where the migration run stands: each step, its outcome and duration',
      examples: ['bin/roomler migrate status'],
      run: async () => {
        for (const line of formatDayStatus(await dayStatus(config()))) stdio.out(line);
      },
    }),
    mongo: command({
      summary: "stream the Docker MongoDB into the cluster's mongodb-0 (mongodump | mongorestore) and verify",
      description: 'Passwords travel on stdin only. Refuses a non-empty target unless --force.',
      options: {
        force: { type: 'boolean', description: 'replace a target database that already holds documents' },
        sync: { type: 'boolean', description: 'copy only what differs (every document digested on both sides), then prove both equal' },
        instance: INSTANCE,
        context: CONTEXT_OPTION,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler migrate mongo --context production', 'bin/roomler migrate mongo --sync'],
      run: ({ values }) => {
        if (values.sync && values.force)
          throw new UserError('--sync and --force exclude each other: --sync keeps what is equal, --force replaces everything', 2);
        const cfg = config();
        const kubectl = new Kubectl(contextFor(cfg, mongoInstance(cfg, values.instance), values.context));
        const o = { instance: values.instance, kubectl, yes: values.yes, projectDir: projectDir() };
        return values.sync ? syncMongo(cfg, o, stdio) : migrateMongo(cfg, { ...o, force: values.force }, stdio);
      },
    }),
    uploads: command({
      summary: 'rsync the Docker uploads directory to the data node over ssh (resumable) and verify',
      options: {
        'dry-run': { type: 'boolean', description: 'list what would change; copy nothing' },
        'checksum-sample': {
          type: 'number',
          value: 'N',
          description: 'verify checksums of N files spread over the tree (0 = every file)',
          defaultText: 'migrate.uploads.checksumSample',
        },
        instance: INSTANCE,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler migrate uploads --dry-run', 'bin/roomler migrate uploads --checksum-sample 100'],
      run: ({ values }) =>
        migrateUploads({
          dryRun: values['dry-run'],
          checksumSample: values['checksum-sample'],
          instance: values.instance,
          yes: values.yes,
        }),
    }),
  },
  examples: [
    'bin/roomler migrate plan',
    'bin/roomler migrate run',
    'bin/roomler migrate status',
    'bin/roomler migrate back --reverse-copy',
  ],
});

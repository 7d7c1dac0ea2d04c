import { join } from 'node:path';

import { command, config, group, projectDir, UserError } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { type IO, stdio } from '../lib/cli/io';
import { deploy, history, type ReleaseIO, rollback } from '../lib/cluster/deploy';
import { CONTEXT_OPTION, Kubectl } from '../lib/cluster/kubectl';
import { LOCK_OPTIONS } from '../lib/cluster/lock';
import { diffWithCluster, DIST_AS_IS_OPTION, EXIT_CODE_OPTION, SYNTH_OPTION, withDiffExitCodes } from '../lib/gitops/diff';
import { ensureDistCurrent } from '../lib/gitops/fresh';
import { renderReport } from '../lib/gitops/report';
import { withStdoutFallback } from '../lib/process/interrupt';
import { formatHistory, formatReleaseSummary } from './tables';

/** A release's output: results stay visible on stderr once stdout's reader went away; the summary as a table. */
const releaseIO = (io: IO): ReleaseIO => {
  const out = withStdoutFallback(io);
  return { out: out.out, err: out.err, summary: (s) => out.out(formatReleaseSummary(s)) };
};
const TIMEOUT = {
  type: 'number',
  value: 'SECONDS',
  description: 'how long each workload may take to become ready',
  defaultText: 'deploy.rolloutTimeoutSeconds (600)',
} as const;
const FORCE_WITH_ARGO = {
  type: 'boolean',
  description:
    'deploy even into namespaces an Argo CD Application manages, taking over its fields (Argo reverts them unless its automated sync is off)',
} as const;
const CONTEXT = {
  ...CONTEXT_OPTION,
  description: "kubeconfig context for every kubectl call (overrides the instances' context)",
  defaultText: "each instance's context:, else kubectl's current",
} as const;
// `bin/roomler deploy`: server-side apply of dist/ wave by wave, waiting for each wave's workloads, pruning what
// dist/ dropped, recording a revision; `history` and `rollback` work on those revisions.
export default group({
  default: 'apply',
  description:
    'Each deploy or rollback takes the cluster lock (a Lease in deploy.historyNamespace) and records one revision there: what was applied, the git commit, who, when and how it ended (succeeded, failed with its cause, or interrupted). Exit 0 only when it succeeded; 1 failed; 75 another run holds the lock; 130/143/141 interrupted by SIGINT/SIGTERM/a closed output pipe.',
  subcommands: {
    apply: command({
      summary: 'apply dist/ in sync-wave order, wait for each workload, delete what dist/ dropped, record a revision',
      description:
        'Refuses when dist/ is not what the current code, config and .env synthesize (--synth synthesizes first), when the user lacks a right it needs, while an Argo CD Application manages a namespace it would change (unless --force-with-argo), and while a Secret the pods reference is missing. Prints the context, API server and namespaces it will change, the objects it will delete, then asks (or needs --yes). PersistentVolumes, claims and namespaces are never deleted unless --prune-data names them; objects deploy did not create are never touched.',
      options: {
        context: CONTEXT,
        'dry-run': {
          type: 'string',
          choices: ['server'],
          value: 'server',
          description: 'let the API server validate every wave; change nothing',
          defaultText: 'off: apply for real',
        },
        timeout: TIMEOUT,
        'prune-data': {
          type: 'string',
          multiple: true,
          value: 'KIND/[NS/]NAME',
          description: 'also delete this data object dist/ dropped: pvc/<ns>/<name>, pv/<name>, namespace/<name>, or all (repeatable)',
          defaultText: 'none: data is kept',
        },
        atomic: {
          type: 'boolean',
          description: 'if the deploy fails, roll back to the last successful revision by itself (the exit status stays 1)',
        },
        'force-conflicts': {
          type: 'boolean',
          description: 'take over fields another field manager set to other values (server-side apply --force-conflicts)',
        },
        'force-with-argo': FORCE_WITH_ARGO,
        ...LOCK_OPTIONS,
        synth: SYNTH_OPTION,
        'dist-as-is': DIST_AS_IS_OPTION,
        yes: YES_OPTION,
      },
      examples: [
        'bin/roomler deploy --context production',
        'bin/roomler deploy --synth --dry-run=server',
        'bin/roomler deploy --yes --atomic --wait-lock 600',
        'bin/roomler deploy --prune-data pvc/roomler/mongodb-backup',
      ],
      run: ({ values }) => {
        if (values.synth && values['dist-as-is'])
          throw new UserError('--synth writes dist/ from the config, --dist-as-is deploys dist/ unchecked: give one of them', 2);
        const io = releaseIO(stdio);
        if (!values['dist-as-is']) for (const line of ensureDistCurrent({ projectDir: projectDir(), synth: values.synth })) io.out(line);
        return deploy(
          config(),
          {
            dist: join(projectDir(), 'dist'),
            projectDir: projectDir(),
            dryRun: values['dry-run'] === 'server',
            yes: values.yes,
            context: values.context,
            timeoutSeconds: values.timeout,
            pruneData: values['prune-data'],
            atomic: values.atomic,
            forceConflicts: values['force-conflicts'],
            forceWithArgo: values['force-with-argo'],
            waitLockSeconds: values['wait-lock'],
            forceUnlock: values['force-unlock'],
            sourceNote: values['dist-as-is'] ? '(--dist-as-is: not checked against synth)' : undefined,
          },
          io,
        );
      },
    }),
    diff: command({
      summary: 'what the next deploy would change in the cluster, object by object (= diff --live); secrets redacted',
      options: {
        context: CONTEXT_OPTION,
        format: { type: 'string', choices: ['text', 'markdown'], default: 'text', description: 'output format' },
        'exit-code': EXIT_CODE_OPTION,
        synth: SYNTH_OPTION,
        'dist-as-is': DIST_AS_IS_OPTION,
      },
      examples: ['bin/roomler deploy diff --context production', 'bin/roomler deploy diff --exit-code'],
      run: ({ values }) =>
        withDiffExitCodes(values['exit-code'], async () => {
          const io = stdio;
          if (values.synth && values['dist-as-is']) throw new UserError('give one of --synth and --dist-as-is', 2);
          if (!values['dist-as-is']) for (const line of ensureDistCurrent({ projectDir: projectDir(), synth: values.synth })) io.err(line);
          const r = await diffWithCluster(config(), { configDir: projectDir(), context: values.context }, io);
          io.out(renderReport(r, values.format as 'text' | 'markdown').replace(/\n$/, ''));
          return values['exit-code'] && r.changes.length ? 1 : 0;
        }),
    }),
    history: command({
      summary: 'list the recorded revisions (when, outcome, manifests digest, git commit, who) and who holds the lock',
      options: { context: CONTEXT_OPTION },
      examples: ['bin/roomler deploy history --context production'],
      run: async ({ values }) => {
        const cfg = config();
        for (const line of formatHistory(await history(cfg, new Kubectl(values.context ?? cfg.root.context)))) stdio.out(line);
        return 0;
      },
    }),
    rollback: command({
      summary: "re-apply a recorded revision's manifests with the same lock, waves, waits, pruning and record",
      description:
        'Default: the last successful revision before the current one. Existing PersistentVolumes and claims are never changed, so the data on them stays as it is; volumes and claims pruned since that revision are re-created (and said so), pointing at the same storage.',
      options: { context: CONTEXT_OPTION, timeout: TIMEOUT, 'force-with-argo': FORCE_WITH_ARGO, ...LOCK_OPTIONS, yes: YES_OPTION },
      positionals: [{ name: 'REVISION', description: 'the revision number (see deploy history)', optional: true }],
      examples: ['bin/roomler deploy rollback', 'bin/roomler deploy rollback 7 --context production'],
      run: ({ values, positionals }) => {
        const revision = positionals[0] === undefined ? undefined : Number(positionals[0]);
        if (revision !== undefined && !(Number.isInteger(revision) && revision > 0))
          throw new UserError(`deploy rollback: REVISION must be a revision number, got "${positionals[0]}"`, 2);
        return rollback(
          config(),
          {
            projectDir: projectDir(),
            yes: values.yes,
            context: values.context,
            timeoutSeconds: values.timeout,
            revision,
            waitLockSeconds: values['wait-lock'],
            forceUnlock: values['force-unlock'],
            forceWithArgo: values['force-with-argo'],
          },
          releaseIO(stdio),
        );
      },
    }),
  },
  examples: ['bin/roomler deploy --context production --yes', 'bin/roomler deploy history', 'bin/roomler deploy rollback'],
});

import { join } from 'node:path';
import { command, config, group, PROJECT_ROOT, projectDir, UserError } from '../lib/cli';
import { runDiff } from '../lib/gitops/diff';
import { YES_OPTION } from '../lib/cli/confirm';
import { deploy, history, rollback } from '../lib/cluster/deploy';
import { CONTEXT_OPTION, Kubectl } from '../lib/cluster/kubectl';

const out = (line: string) => void process.stdout.write(`${line}\n`);
const TIMEOUT = { type: 'number', value: 'SECONDS', description: 'how long each workload may take to become ready', defaultText: 'deploy.rolloutTimeoutSeconds (600)' } as const;
const FORCE_WITH_ARGO = {
  type: 'boolean',
  description: 'deploy even into namespaces an Argo CD Application manages (Argo reverts it unless its automated sync is off)',
} as const;
const CONTEXT = { ...CONTEXT_OPTION, description: "kubeconfig context for every kubectl call (overrides the instances' context)", defaultText: "each instance's context:, else kubectl's current" } as const;

// `bin/roomler deploy`: server-side apply of dist/ wave by wave, waiting for each wave's workloads, pruning what
// dist/ dropped, recording a revision; `history` and `rollback` work on those revisions.
export default group({
  default: 'apply',
  description: 'Each deploy is recorded as a revision in the cluster (namespace deploy.historyNamespace): what was applied, the git commit, who, when and how it ended.',
  subcommands: {
    apply: command({
      summary: 'apply dist/ in sync-wave order, wait for each workload, delete what dist/ dropped, record a revision',
      description:
        'Refuses while a Secret the pods reference is missing, and while an Argo CD Application manages a namespace it would change (unless --force-with-argo). Prints the context, API server and namespaces it will change, the objects it will delete, then asks (or needs --yes). PersistentVolumes, claims and namespaces are never deleted unless --prune-data names them; objects deploy did not create are never touched.',
      options: {
        context: CONTEXT,
        'dry-run': { type: 'string', choices: ['server'], value: 'server', description: 'let the API server validate every wave; change nothing', defaultText: 'off: apply for real' },
        timeout: TIMEOUT,
        'prune-data': { type: 'string', multiple: true, value: 'KIND/[NS/]NAME', description: 'also delete this data object dist/ dropped: pvc/<ns>/<name>, pv/<name>, namespace/<name>, or all (repeatable)', defaultText: 'none: data is kept' },
        'force-with-argo': FORCE_WITH_ARGO,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler deploy --context production', 'bin/roomler deploy --dry-run=server', 'bin/roomler deploy --prune-data pvc/roomler/mongodb-backup'],
      run: ({ values }) =>
        deploy(config(), { dist: join(projectDir(), 'dist'), projectDir: projectDir(), dryRun: values['dry-run'] === 'server', yes: values.yes, context: values.context, timeoutSeconds: values.timeout, pruneData: values['prune-data'], forceWithArgo: values['force-with-argo'], log: out }),
    }),
    diff: command({
      summary: 'what the next deploy would change in the cluster, object by object (= diff --live); secrets redacted',
      options: { context: CONTEXT_OPTION, format: { type: 'string', choices: ['text', 'markdown'], default: 'text', description: 'output format' } },
      examples: ['bin/roomler deploy diff --context production'],
      run: ({ values }) =>
        runDiff({ live: true, context: values.context, format: values.format as 'text' | 'markdown', codeRoot: PROJECT_ROOT, configDir: projectDir(), write: (s) => void process.stdout.write(s), note: (line) => void process.stderr.write(`${line}\n`) }),
    }),
    history: command({
      summary: 'list the recorded revisions: when, outcome, manifests digest, git commit, who',
      options: { context: CONTEXT_OPTION },
      examples: ['bin/roomler deploy history --context production'],
      run: ({ values }) => history(config(), new Kubectl(values.context ?? config().root.context), out),
    }),
    rollback: command({
      summary: "re-apply a recorded revision's manifests with the same waves, waits and pruning (volumes and data stay)",
      description: 'Default: the last successful revision before the current one. Data volumes are never rolled back: PersistentVolumes and claims stay as they are, and so do the MongoDB data and the uploads on them.',
      options: { context: CONTEXT_OPTION, timeout: TIMEOUT, 'force-with-argo': FORCE_WITH_ARGO, yes: YES_OPTION },
      positionals: [{ name: 'REVISION', description: 'the revision number (see deploy history)', optional: true }],
      examples: ['bin/roomler deploy rollback', 'bin/roomler deploy rollback 7 --context production'],
      run: ({ values, positionals }) => {
        const revision = positionals[0] === undefined ? undefined : Number(positionals[0]);
        if (revision !== undefined && !(Number.isInteger(revision) && revision > 0)) throw new UserError(`deploy rollback: REVISION must be a revision number, got "${positionals[0]}"`, 2);
        return rollback(config(), { projectDir: projectDir(), yes: values.yes, context: values.context, timeoutSeconds: values.timeout, revision, forceWithArgo: values['force-with-argo'], log: out });
      },
    }),
  },
  examples: ['bin/roomler deploy --context production --yes', 'bin/roomler deploy history', 'bin/roomler deploy rollback'],
});

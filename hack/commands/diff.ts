import { command, config, PROJECT_ROOT, projectDir, UserError } from '../lib/cli';
import { stdio } from '../lib/cli/io';
import { CONTEXT_OPTION } from '../lib/cluster/kubectl';
import { MAIN_BRANCHES } from '../lib/gitops/base';
import { diffWithBase, diffWithCluster, DIST_AS_IS_OPTION, EXIT_CODE_OPTION, SYNTH_OPTION, withDiffExitCodes } from '../lib/gitops/diff';
import { ensureDistCurrent } from '../lib/gitops/fresh';
import { renderReport } from '../lib/gitops/report';

// `bin/roomler diff`: the reviewer's view of a change to the manifests, object by object.
export default command({
  description: [
    "Without --live: synthesizes the base commit with its own code (its cdk8s.yaml app) and the working tree into temporary directories and compares them. Both sides use the operator's .env and any untracked roomler.yaml or sealed/ file; a roomler.yaml or sealed/ file tracked in git comes from each side. The base runs with the working tree's node_modules.",
    "With --live (= deploy diff): compares dist/ with the cluster as deploy would apply it (kubectl diff --server-side, deploy's field manager); the objects deploy would prune (it made them, dist/ dropped them) show as removed. A dist/ that is not what the current code, config and .env synthesize is refused, naming the file (--synth synthesizes first).",
    'Each object is added (+), removed (-), renamed (>: a delete and a create) or changed (~) with its field paths and old → new values. Secret and SealedSecret values are never printed. Exit 0 with or without changes ("no changes" when identical), 1 when a side cannot be synthesized or the cluster cannot be read; with --exit-code: 0 no changes, 1 changes, 2 the diff could not be made.',
  ].join('\n\n'),
  options: {
    base: {
      type: 'string',
      value: 'REF',
      description: 'the branch, tag or commit to compare the working tree with',
      defaultText: `the merge base of HEAD with ${MAIN_BRANCHES.slice(0, 2).join(' or ')}`,
    },
    format: {
      type: 'string',
      choices: ['text', 'markdown'],
      default: 'text',
      description: 'markdown: for a pull request (GitHub job summary)',
    },
    live: { type: 'boolean', description: 'compare dist/ with what the cluster holds instead of a git base' },
    context: { ...CONTEXT_OPTION, description: 'with --live: kubeconfig context for every kubectl call' },
    'exit-code': EXIT_CODE_OPTION,
    synth: { ...SYNTH_OPTION, description: `with --live: ${SYNTH_OPTION.description}` },
    'dist-as-is': { ...DIST_AS_IS_OPTION, description: `with --live: ${DIST_AS_IS_OPTION.description}` },
  },
  examples: [
    'bin/roomler diff',
    'bin/roomler diff --base origin/main --format markdown >> "$GITHUB_STEP_SUMMARY"',
    'bin/roomler diff --live --context production',
    'bin/roomler diff --exit-code',
  ],
  run: ({ values }) => {
    if (values.live && values.base !== undefined)
      throw new UserError('--base compares with git, --live with the cluster: give one of them', 2);
    for (const flag of ['context', 'synth', 'dist-as-is'] as const) {
      if (!values.live && values[flag] !== undefined && values[flag] !== false)
        throw new UserError(`--${flag} applies only with --live`, 2);
    }
    if (values.synth && values['dist-as-is']) throw new UserError('give one of --synth and --dist-as-is', 2);
    const io = stdio;
    return withDiffExitCodes(values['exit-code'], async () => {
      if (values.live && !values['dist-as-is'])
        for (const line of ensureDistCurrent({ projectDir: projectDir(), synth: values.synth })) io.err(line);
      const r = values.live
        ? await diffWithCluster(config(), { configDir: projectDir(), context: values.context }, io)
        : await diffWithBase({ base: values.base, codeRoot: PROJECT_ROOT, configDir: projectDir() }, io);
      io.out(renderReport(r, values.format as 'text' | 'markdown').replace(/\n$/, ''));
      return values['exit-code'] && r.changes.length ? 1 : 0;
    });
  },
});

import { join } from 'node:path';
import { command, config, group, projectDir } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { deploy } from '../lib/cluster/deploy';
import { CONTEXT_OPTION, Kubectl } from '../lib/cluster/kubectl';

const out = (line: string) => void process.stdout.write(`${line}\n`);

// `bin/roomler deploy`: server-side apply of dist/ wave by wave, waiting for each wave's workloads.
export default group({
  default: 'apply',
  subcommands: {
    apply: command({
      summary: 'apply dist/ in sync-wave order and wait for each workload to become ready',
      description: 'Refuses while a Secret the pods reference is missing. Prints the context, API server and namespaces it will change, then asks (or needs --yes).',
      options: {
        context: CONTEXT_OPTION,
        'dry-run': { type: 'string', choices: ['server'], value: 'server', description: 'let the API server validate every wave; change nothing', defaultText: 'off: apply for real' },
        timeout: { type: 'number', value: 'SECONDS', description: 'how long each workload may take to become ready', defaultText: 'deploy.rolloutTimeoutSeconds (600)' },
        yes: YES_OPTION,
      },
      examples: ['bin/roomler deploy --context production', 'bin/roomler deploy --dry-run=server'],
      run: ({ values }) => deploy(config(), new Kubectl(values.context), { dist: join(projectDir(), 'dist'), dryRun: values['dry-run'] === 'server', yes: values.yes, timeoutSeconds: values.timeout, log: out }),
    }),
  },
  examples: ['bin/roomler deploy --context production --yes'],
});

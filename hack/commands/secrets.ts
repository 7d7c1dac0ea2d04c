import { command, config, group, projectDir } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { CONTEXT_OPTION } from '../lib/cluster/kubectl';
import { applySecrets, printRedacted, sealSecrets } from '../lib/cluster/secrets';
import { say as out } from '../lib/process/interrupt';
import { LOCK_OPTIONS } from '../lib/cluster/lock';

// `bin/roomler secrets <apply|seal>`: Secrets from the operator's .env, never on disk in plain text, never in argv.
export default group({
  subcommands: {
    apply: command({
      summary: 'create or update the Secrets (and their namespaces) in the cluster from .env and the environment',
      description: 'The manifests go to kubectl on stdin: nothing on disk, nothing in any argv. Takes the same cluster lock as deploy while it applies (exit 75 naming the holder when another run has it).',
      options: {
        context: { ...CONTEXT_OPTION, description: "kubeconfig context for every kubectl call (overrides the instances' context)", defaultText: "each instance's context:, else kubectl's current" },
        'dry-run': { type: 'boolean', description: 'print the Secrets with every value redacted; touch no cluster' },
        ...LOCK_OPTIONS,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler secrets apply --context production', 'bin/roomler secrets apply --dry-run'],
      run: async ({ values }) => (values['dry-run'] ? printRedacted(config(), projectDir(), out) : applySecrets(config(), projectDir(), values.context, values.yes, out, { waitLockSeconds: values['wait-lock'], forceUnlock: values['force-unlock'] })),
    }),
    seal: command({
      summary: 'write SealedSecrets into sealed/ for GitOps (kubeseal-compatible, strict scope)',
      options: { cert: { type: 'string', value: 'PEM', required: true, description: "the sealed-secrets controller's certificate (kubeseal --fetch-cert)" } },
      examples: ['bin/roomler secrets seal --cert controller.pem'],
      run: async ({ values }) => sealSecrets(config(), projectDir(), values.cert, out),
    }),
  },
  examples: ['bin/roomler secrets apply --context production', 'bin/roomler secrets seal --cert controller.pem'],
});

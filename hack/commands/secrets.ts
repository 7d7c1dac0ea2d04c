import { command, config, group, projectDir } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { stdio } from '../lib/cli/io';
import { CONTEXT_OPTION } from '../lib/cluster/kubectl';
import { LOCK_OPTIONS } from '../lib/cluster/lock';
import { sealSecrets } from '../lib/cluster/sealing';
import { applySecrets, applyTlsSecret, redactedSecrets } from '../lib/cluster/secrets';

// `bin/roomler secrets <apply|seal>`: Secrets from the operator's .env, never on disk in plain text, never in argv.
export default group({
  subcommands: {
    apply: command({
      summary: 'create or update the Secrets (and their namespaces) in the cluster from .env and the environment',
      description:
        'The manifests go to kubectl on stdin: nothing on disk, nothing in any argv. Takes the same cluster lock as deploy while it applies (exit 75 naming the holder when another run has it). ' +
        'A Secret whose value changes (a rotation) reaches running Pods only when they restart: the workloads in dist/ that read one are named before it asks and restarted (kubectl rollout restart) after it applied.',
      options: {
        context: {
          ...CONTEXT_OPTION,
          description: "kubeconfig context for every kubectl call (overrides the instances' context)",
          defaultText: "each instance's context:, else kubectl's current",
        },
        'dry-run': { type: 'boolean', description: 'print the Secrets with every value redacted; touch no cluster' },
        ...LOCK_OPTIONS,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler secrets apply --context production', 'bin/roomler secrets apply --dry-run'],
      run: async ({ values }) => {
        const io = stdio;
        if (values['dry-run']) {
          io.out(redactedSecrets(config(), projectDir()).replace(/\n$/, ''));
          return 0;
        }
        const lock = { waitLockSeconds: values['wait-lock'], forceUnlock: values['force-unlock'] };
        return applySecrets(config(), { projectDir: projectDir(), context: values.context, yes: values.yes, ...lock }, io);
      },
    }),
    seal: command({
      summary: 'write SealedSecrets into sealed/ for GitOps (kubeseal-compatible, strict scope)',
      description:
        'Refuses, writing nothing, while sealed/ holds files for namespaces no configured instance renders (an instance ' +
        'removed from the config); --prune deletes those files and names them.',
      options: {
        cert: {
          type: 'string',
          value: 'PEM',
          required: true,
          description: "the sealed-secrets controller's certificate (kubeseal --fetch-cert)",
        },
        prune: { type: 'boolean', description: 'delete the sealed/ files of namespaces no configured instance renders' },
      },
      examples: ['bin/roomler secrets seal --cert controller.pem', 'bin/roomler secrets seal --cert controller.pem --prune'],
      run: async ({ values }) => sealSecrets(config(), { projectDir: projectDir(), certFile: values.cert, prune: values.prune }, stdio),
    }),
    tls: command({
      summary: "create or update coturn's TLS certificate Secret (coturn.tlsSecretName) from PEM files",
      description:
        'Checks that the key belongs to the certificate and that it has not expired, then pipes a kubernetes.io/tls Secret ' +
        'to kubectl (nothing in argv). Like every Secret made outside Git, Argo CD never adopts or prunes it.',
      options: {
        cert: { type: 'string', value: 'PEM', required: true, description: 'the certificate chain, e.g. fullchain.pem' },
        key: { type: 'string', value: 'PEM', required: true, description: 'its private key, e.g. privkey.pem' },
        context: { ...CONTEXT_OPTION, defaultText: "context: from the config, else kubectl's current" },
        ...LOCK_OPTIONS,
        yes: YES_OPTION,
      },
      examples: ['bin/roomler secrets tls --cert live/turn.roomler.live/fullchain.pem --key live/turn.roomler.live/privkey.pem'],
      run: async ({ values }) => {
        const lock = { waitLockSeconds: values['wait-lock'], forceUnlock: values['force-unlock'] };
        const o = { certFile: values.cert, keyFile: values.key, context: values.context, yes: values.yes, ...lock };
        return applyTlsSecret(config(), o, stdio);
      },
    }),
  },
  examples: [
    'bin/roomler secrets apply --context production',
    'bin/roomler secrets seal --cert controller.pem',
    'bin/roomler secrets tls --cert fullchain.pem --key privkey.pem',
  ],
});

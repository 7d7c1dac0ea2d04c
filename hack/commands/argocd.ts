import { command, config, group } from '../lib/cli';
import { YES_OPTION } from '../lib/cli/confirm';
import { stdio } from '../lib/cli/io';
import { retire } from '../lib/cluster/argocd';
import { CONTEXT_OPTION, Kubectl } from '../lib/cluster/kubectl';

// `bin/roomler argocd retire`: what the Argo CD Application keeps after Git dropped it (volumes, claims, a removed
// instance's Namespace carry Prune=false), listed, and deleted on purpose.
export default group({
  description:
    'Argo CD never prunes data: PersistentVolumes, claims and Namespaces carry Prune=false,Delete=false, so when Git drops ' +
    'one the sync skips its prune (PruneSkipped) and the Application stays OutOfSync, listing it. retire is the deliberate deletion.',
  subcommands: {
    retire: command({
      summary: 'list what the Application keeps although Git dropped it, or delete the named ones on purpose',
      description:
        'Without OBJECT: lists each kept object with the data it holds. With OBJECT (pvc/<ns>/<name>, pv/<name>, ' +
        'namespace/<name>, or all): says what goes with each, asks (or needs --yes), deletes claims, then Namespaces, then ' +
        'volumes, and waits for the Application to report Synced. A volume with reclaim Retain leaves its files on the node.',
      options: {
        context: { ...CONTEXT_OPTION, defaultText: "context: from the config, else kubectl's current" },
        wait: {
          type: 'number',
          value: 'SECONDS',
          default: 60,
          description: 'how long to wait for the Application to report Synced afterwards',
        },
        yes: YES_OPTION,
      },
      positionals: [
        { name: 'OBJECT', description: 'pvc/<ns>/<name>, pv/<name>, namespace/<name>, or all', optional: true, variadic: true },
      ],
      examples: [
        'bin/roomler argocd retire',
        'bin/roomler argocd retire namespace/staging pv/staging-mongodb-data pv/staging-uploads',
        'bin/roomler argocd retire all --yes',
      ],
      run: ({ values, positionals }) => {
        const cfg = config();
        return retire(
          cfg,
          new Kubectl(values.context ?? cfg.root.context),
          positionals,
          { yes: values.yes, waitSeconds: values.wait },
          stdio,
        );
      },
    }),
  },
  examples: ['bin/roomler argocd retire', 'bin/roomler argocd retire all --yes'],
});

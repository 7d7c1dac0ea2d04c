import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { command, config, group, projectDir, UserError } from '../lib/cli';
import { stdio } from '../lib/cli/io';
import { argocdDir, labBinDir, sealedSecretsDir } from '../lib/lab/binaries';
import { LAB_CONTEXT, readLabState, saveLabState, startLab, stopLab } from '../lib/lab/cluster';
import { applyLocalApplication, ARGOCD_VERSION, SEALED_SECRETS_VERSION, startGitops } from '../lib/lab/gitops';
import { configuredNodes } from '../lib/lab/nodes';
import { run } from '../lib/process/run';

const DIR = {
  type: 'string',
  value: 'DIR',
  description: "the lab's working directory (kubeconfig, logs, etcd data)",
  defaultText: '$ROOMLER_CACHE/lab-run, i.e. ~/.cache/roomler-k8s/lab-run',
} as const;
const defaultDir = () =>
  join(
    process.env.ROOMLER_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'), 'roomler-k8s'),
    'lab-run',
  );
const alive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

// `bin/roomler lab up|down|env`: a throw-away control plane on loopback to rehearse deploy before production.
export default group({
  description:
    'A real kube-apiserver, controller-manager, scheduler and etcd on loopback, with kwok playing the kubelet of the configured nodes: objects are validated, bound and scheduled as in a real cluster, Pods are reported Running, but NO CONTAINER RUNS. Needs Go and ~2 GB of build cache the first time (binaries cached afterwards).',
  subcommands: {
    up: command({
      summary: 'start the lab with the nodes the config pins to, and print how to use it',
      description:
        `--gitops adds the real Argo CD ${ARGOCD_VERSION} (repo-server and application controller, annotation tracking) and ` +
        `Sealed Secrets controller ${SEALED_SECRETS_VERSION}, a git daemon serving the GitOps repository on loopback, and the ` +
        "config's Application pointed at it (built from source the first time: ~10 min).",
      options: {
        dir: DIR,
        gitops: { type: 'boolean', description: 'also run Argo CD and the Sealed Secrets controller, syncing the GitOps repository' },
        repo: {
          type: 'string',
          value: 'DIR',
          description: 'the GitOps repository (a git checkout holding the committed dist/) for --gitops',
          defaultText: 'the project directory',
        },
      },
      examples: ['bin/roomler lab up && eval "$(bin/roomler lab env)" && bin/roomler deploy --yes', 'bin/roomler lab up --gitops'],
      run: async ({ values }) => {
        const dir = values.dir ?? defaultDir();
        const running = readLabState(dir);
        if (running && Object.values(running.pids).some(alive))
          throw new UserError(`a lab is already running in ${dir} (${running.server}); bin/roomler lab down first`);
        if (values.repo !== undefined && !values.gitops) throw new UserError('--repo is for --gitops', 2);
        const cfg = config();
        const repo = resolve(values.repo ?? projectDir());
        if (values.gitops) {
          const git = await run('git', ['-C', repo, 'rev-parse', '--verify', 'HEAD'], { timeoutMs: 10_000 });
          const why = git.stderr.trim().split('\n').pop();
          if (git.exitCode !== 0) {
            throw new UserError(`--gitops: ${repo} is not a git repository with a commit (Argo CD syncs what is committed): ${why}`, 2);
          }
        }
        const nodes = configuredNodes(cfg);
        const binDir = await labBinDir(stdio);
        // Built (or found) before the control plane starts, so a failed build leaves nothing running.
        const tools = values.gitops ? { argocd: await argocdDir(stdio), sealed: await sealedSecretsDir(stdio) } : undefined;
        const s = await startLab({ dir, binDir, nodes, io: stdio });
        stdio.out(`lab: up: API server ${s.server}, context ${LAB_CONTEXT}, nodes ${s.nodes.join(', ')}`);
        stdio.out('lab: no containers run here: kwok reports Pods Running/Ready; nothing listens on NodePorts');
        if (tools) {
          try {
            const kubectl = join(binDir, 'kubectl');
            const g = await startGitops({ lab: s, kubectl, argocdDir: tools.argocd, sealedSecretsDir: tools.sealed, repo, io: stdio });
            saveLabState({ ...s, pids: { ...s.pids, ...g.pids } });
            stdio.out(`lab: git daemon serves ${repo} as ${g.repoURL}`);
            stdio.out(`lab: seal for this controller with: bin/roomler secrets seal --cert ${g.certFile}`);
            stdio.out('lab: (SealedSecrets sealed for another controller do not decrypt here)');
            stdio.out(await applyLocalApplication(cfg, { lab: s, kubectl, repo, repoURL: g.repoURL }));
          } catch (e) {
            await stopLab(readLabState(dir) ?? s);
            throw e;
          }
        }
        stdio.out(`lab: use it with: eval "$(bin/roomler lab env${values.dir ? ` --dir ${dir}` : ''})"`);
        return 0;
      },
    }),
    down: command({
      summary: 'stop the lab and delete its working directory',
      options: { dir: DIR },
      examples: ['bin/roomler lab down'],
      run: async ({ values }) => {
        const dir = values.dir ?? defaultDir();
        const s = readLabState(dir);
        if (!s) throw new UserError(`no lab in ${dir}`);
        await stopLab(s, true);
        stdio.out(`lab: stopped and removed ${dir}`);
        return 0;
      },
    }),
    env: command({
      summary: 'print the shell lines that point kubectl (and this project) at the lab',
      options: { dir: DIR },
      examples: ['eval "$(bin/roomler lab env)"'],
      run: async ({ values }) => {
        const dir = values.dir ?? defaultDir();
        const s = readLabState(dir);
        if (!s || !existsSync(s.kubeconfig)) throw new UserError(`no lab in ${dir}: bin/roomler lab up first`);
        stdio.out(`export KUBECONFIG='${s.kubeconfig}'`);
        stdio.out(`export PATH='${await labBinDir(stdio)}':"$PATH"`);
        return 0;
      },
    }),
  },
  examples: ['bin/roomler lab up', 'bin/roomler lab down'],
});

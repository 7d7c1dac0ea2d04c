import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { command, config, group, UserError } from '../lib/cli';
import { labBinDir } from '../lib/lab/binaries';
import { LAB_CONTEXT, readLabState, startLab, stopLab } from '../lib/lab/cluster';
import { configuredNodes } from '../lib/lab/nodes';

const out = (line: string) => void process.stdout.write(`${line}\n`);
const DIR = {
  type: 'string',
  value: 'DIR',
  description: "the lab's working directory (kubeconfig, logs, etcd data)",
  defaultText: '$ROOMLER_CACHE/lab-run, i.e. ~/.cache/roomler-k8s/lab-run',
} as const;
const defaultDir = () => join(process.env.ROOMLER_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'), 'roomler-k8s'), 'lab-run');
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
      options: { dir: DIR },
      examples: ['bin/roomler lab up && eval "$(bin/roomler lab env)" && bin/roomler deploy --yes'],
      run: async ({ values }) => {
        const dir = values.dir ?? defaultDir();
        const running = readLabState(dir);
        if (running && Object.values(running.pids).some(alive)) throw new UserError(`a lab is already running in ${dir} (${running.server}); bin/roomler lab down first`);
        const nodes = configuredNodes(config());
        const binDir = await labBinDir();
        const s = await startLab({ dir, binDir, nodes, log: out });
        out(`lab: up: API server ${s.server}, context ${LAB_CONTEXT}, nodes ${s.nodes.join(', ')}`);
        out('lab: no containers run here: kwok reports Pods Running/Ready; nothing listens on NodePorts');
        out(`lab: use it with: eval "$(bin/roomler lab env${values.dir ? ` --dir ${dir}` : ''})"`);
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
        out(`lab: stopped and removed ${dir}`);
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
        out(`export KUBECONFIG='${s.kubeconfig}'`);
        out(`export PATH='${await labBinDir()}':"$PATH"`);
        return 0;
      },
    }),
  },
  examples: ['bin/roomler lab up', 'bin/roomler lab down'],
});

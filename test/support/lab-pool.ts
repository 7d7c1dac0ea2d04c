import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type LabNode, type LabState, readLabState, startLab, stopLab } from '../../hack/lib/lab/cluster';
import { run } from '../../hack/lib/process/run';
import type { K8sObject } from '../../lib/manifest';
import { labBin, runDir } from './toolchain';

// The lab control planes of one `vitest run`, shared by the test files one after another: a file takes a free lab
// from the pool (or starts one: ~4 s of CPU and 5-10 s), and gives it back when it ends, emptied: every namespace but
// the system ones, every PersistentVolume and every ClusterRole(Binding) a test made are deleted (the namespace
// controller, the PV protection controller and kwok do it as in any cluster). At most one lab per file running at the
// same time, so about one per vitest worker. A lab whose cluster-wide state a test changed beyond that (a node that
// stopped reporting, CRDs, webhooks, another StorageClass) is stopped instead, and the next file starts a fresh one.
// Outside a `vitest run` with the global setup (test/support/global-setup.ts), each file starts its own lab.

const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
/** What a lab holds cluster-wide, read in one kubectl call. */
const KINDS = [
  'namespaces',
  'persistentvolumes',
  'nodes',
  'clusterroles',
  'clusterrolebindings',
  'customresourcedefinitions.apiextensions.k8s.io',
  'storageclasses',
  'priorityclasses',
  'validatingwebhookconfigurations',
  'mutatingwebhookconfigurations',
].join(',');

export interface LabLease {
  readonly state: LabState;
  release(): Promise<void>;
}

const kubectl = (s: Pick<LabState, 'kubeconfig'>, args: readonly string[]) =>
  run(join(labBin(), 'kubectl'), ['--kubeconfig', s.kubeconfig, ...args], { timeoutMs: 60_000 });

/** What a test left behind that deleting removes, or why the lab cannot be emptied (then it is replaced). */
interface Leftovers {
  readonly foreign?: string;
  readonly namespaces: string[];
  readonly volumes: string[];
  readonly rbac: string[];
}

async function leftovers(s: LabState, nodes: readonly LabNode[]): Promise<Leftovers> {
  const r = await kubectl(s, ['get', KINDS, '-o', 'json']);
  if (r.exitCode !== 0) return { foreign: `kubectl get: ${r.stderr.trim()}`, namespaces: [], volumes: [], rbac: [] };
  const items: K8sObject[] = JSON.parse(r.stdout).items;
  const of = (kind: string) => items.filter((o) => o.kind === kind);
  const names = (list: K8sObject[]) => list.map((o) => o.metadata.name as string);
  const wanted = new Map(nodes.map((n) => [n.name, n]));
  const badNode = of('Node').find((n) => {
    const want = wanted.get(n.metadata.name);
    const ready = n.status?.conditions?.some((c: K8sObject) => c.type === 'Ready' && c.status === 'True');
    const labels = Object.entries(want?.labels ?? {}).every(([k, v]) => n.metadata.labels?.[k] === v);
    return (
      !want ||
      !ready ||
      !labels ||
      n.metadata.annotations?.['kwok.x-k8s.io/node'] !== 'fake' ||
      n.spec?.taints?.length ||
      n.spec?.unschedulable
    );
  });
  const extra = [
    ...(of('Node').length !== nodes.length || badNode ? [`nodes changed (${badNode?.metadata.name ?? 'count'})`] : []),
    ...names(of('CustomResourceDefinition')),
    ...names(of('StorageClass')),
    ...names(of('ValidatingWebhookConfiguration')),
    ...names(of('MutatingWebhookConfiguration')),
    ...names(of('PriorityClass')).filter((n) => !n.startsWith('system-')),
  ];
  const own = (o: K8sObject) => o.metadata.labels?.['kubernetes.io/bootstrapping'] !== 'rbac-defaults';
  return {
    foreign: extra.length ? extra.join(', ') : undefined,
    namespaces: names(of('Namespace')).filter((n) => !SYSTEM_NAMESPACES.has(n)),
    volumes: names(of('PersistentVolume')),
    rbac: [
      ...names(of('ClusterRole').filter(own)).map((n) => `clusterrole/${n}`),
      ...names(of('ClusterRoleBinding').filter(own)).map((n) => `clusterrolebinding/${n}`),
    ],
  };
}

/** Starts deleting what a test left behind (without waiting); false when the lab cannot be emptied. */
async function empty(s: LabState, nodes: readonly LabNode[]): Promise<Leftovers | undefined> {
  const l = await leftovers(s, nodes);
  if (l.foreign) return undefined;
  const deletes = [
    l.namespaces.length && ['delete', 'namespace', ...l.namespaces, '--wait=false', '--ignore-not-found'],
    l.volumes.length && ['delete', 'persistentvolume', ...l.volumes, '--wait=false', '--ignore-not-found'],
    l.rbac.length && ['delete', ...l.rbac, '--wait=false', '--ignore-not-found'],
  ].filter((a): a is string[] => Array.isArray(a));
  for (const r of await Promise.all(deletes.map((args) => kubectl(s, args)))) if (r.exitCode !== 0) return undefined;
  return l;
}

/** Waits until a lab holds nothing a test made; false when it does not get there in 60 s. */
async function emptied(s: LabState, nodes: readonly LabNode[]): Promise<boolean> {
  for (let n = 0; n < 3; n++) {
    const l = await empty(s, nodes);
    if (!l) return false;
    const gone = [...l.namespaces.map((x) => `namespace/${x}`), ...l.volumes.map((x) => `persistentvolume/${x}`), ...l.rbac];
    if (!gone.length) return true;
    await kubectl(s, ['wait', '--for=delete', ...gone, '--timeout=60s']);
  }
  return false;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Takes slot `dir` for this process (a directory made atomically); a slot whose holder died is taken over. */
function take(dir: string): boolean {
  const lock = `${dir}.taken`;
  try {
    mkdirSync(lock);
  } catch {
    const holder = Number(readFileSync(join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
    if (!holder || alive(holder)) return false;
    rmSync(lock, { recursive: true, force: true });
    return take(dir);
  }
  writeFileSync(join(lock, 'pid'), String(process.pid));
  return true;
}

const give = (dir: string) => rmSync(`${dir}.taken`, { recursive: true, force: true });

async function fresh(dir: string, nodes: readonly LabNode[]): Promise<LabState> {
  const old = readLabState(join(dir, 'lab'));
  if (old) await stopLab(old);
  rmSync(join(dir, 'lab'), { recursive: true, force: true });
  return startLab({ dir: join(dir, 'lab'), binDir: labBin(), nodes });
}

/** A lab for this file: a free one of the pool, emptied, or a new one. */
export async function acquireLab(nodes: readonly LabNode[]): Promise<LabLease> {
  const run = runDir();
  if (!run) {
    const state = await startLab({ dir: mkdtempSync(join(tmpdir(), 'roomler-lab-')), binDir: labBin(), nodes });
    return { state, release: () => stopLab(state, true) };
  }
  const pool = join(run, 'labs', nodes.map((n) => n.name).join('+'));
  mkdirSync(pool, { recursive: true });
  const slots = () =>
    readdirSync(pool)
      .filter((n) => /^\d+$/.test(n))
      .sort((a, b) => Number(a) - Number(b));
  let dir = slots()
    .map((n) => join(pool, n))
    .find(take);
  while (!dir) {
    const next = join(pool, String(slots().length));
    if (take(next)) dir = next;
  }
  mkdirSync(dir, { recursive: true });
  let state = readLabState(join(dir, 'lab'));
  if (!state || !alive(state.pids['kube-apiserver']) || !(await emptied(state, nodes))) state = await fresh(dir, nodes);
  const slot = dir;
  const taken = state;
  return {
    state: taken,
    release: async () => {
      // The file's own process may have restarted the API server: lab.json names its pid.
      const now = readLabState(join(slot, 'lab')) ?? taken;
      if (!alive(now.pids['kube-apiserver']) || !(await empty(now, nodes))) {
        await stopLab(now);
        rmSync(join(slot, 'lab'), { recursive: true, force: true });
      }
      give(slot);
    },
  };
}

/** Stops every lab of a run's pool (the global teardown, or the guard when the run was killed). */
export async function stopPool(run: string): Promise<void> {
  const labs = join(run, 'labs');
  if (!existsSync(labs)) return;
  const states = readdirSync(labs).flatMap((set) =>
    readdirSync(join(labs, set))
      .filter((n) => /^\d+$/.test(n))
      .map((n) => readLabState(join(labs, set, n, 'lab')))
      .filter((s): s is LabState => s !== undefined),
  );
  await Promise.all(states.map((s) => stopLab(s)));
}

import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { HOSTNAME_LABEL } from '../../../lib/config';
import type { K8sObject } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { freePorts } from '../process/ports';
import { daemon, run, type RunResult, stopGroup } from '../process/run';
import { labStages } from './stages';

// The lab: a real, throw-away Kubernetes control plane on loopback, the same one the tests use. etcd (Debian),
// kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.28.15 built from source, and kwok, which
// plays the kubelet for the configured nodes: Pods are scheduled, bound, and reported Running/Ready, but no
// container runs. What it proves: the API server's own validation (schemas, nodePort ranges and duplicates,
// immutable fields), PV/PVC binding, scheduling onto pinned nodes, host-port clashes, rollouts as kubectl sees them.

export interface LabNode {
  readonly name: string;
  readonly labels?: Record<string, string>;
}

export interface LabOptions {
  /** Working directory: certificates, etcd data, logs, kubeconfig, pid files. Created if missing. */
  readonly dir: string;
  /** Directory holding kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok. */
  readonly binDir: string;
  readonly nodes: readonly LabNode[];
  /** Where it says what is up (nothing when absent). */
  readonly io?: IO;
}

/** What a running lab is, saved in `<dir>/lab.json` so `lab down`/`lab env` find it from another process. */
export interface LabState {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly server: string;
  readonly pids: Record<string, number>;
  readonly nodes: readonly string[];
}

/** The admin token of the lab's static token file; a test's "refused credentials" uses any other value. */
const ADMIN_TOKEN = 'roomler-lab-admin';
/**
 * A second user of the static token file, in no group but system:authenticated: RBAC grants it nothing until a test
 * (or an operator rehearsing) binds a Role to "operator", to rehearse a deploy with partial rights.
 */
export const LAB_OPERATOR = { user: 'operator', token: 'roomler-lab-operator' } as const;
export const LAB_CONTEXT = 'roomler-lab';
/** What each lab node offers the scheduler. */
export const LAB_NODE_CAPACITY = { cpu: '8', memory: '32Gi', 'ephemeral-storage': '100Gi', pods: '110' } as const;

/** A kubeconfig for the lab's API server with `token` (the admin's by default). */
export function kubeconfigText(
  server: string,
  caFile: string,
  token = ADMIN_TOKEN,
  context = LAB_CONTEXT,
  user = `${context}-admin`,
): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${context}`,
    'clusters:',
    `- name: ${context}`,
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'contexts:',
    `- name: ${context}`,
    '  context:',
    `    cluster: ${context}`,
    `    user: ${user}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    '',
  ].join('\n');
}

function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** A lab being started: its directories, binaries and the processes started so far (saved in lab.json as they start). */
interface Starting {
  readonly dir: string;
  readonly pki: string;
  readonly logs: string;
  readonly kubeconfig: string;
  readonly server: string;
  readonly pids: Record<string, number>;
  bin(name: string): string;
  /** Writes lab.json, so `lab down` finds whatever has started. */
  save(): void;
  kubectl(args: string[], input?: string): Promise<RunResult>;
}

/** The service-account key (made once) and the static token file of the admin and the `operator` user. */
async function writeCredentials(lab: Starting): Promise<string> {
  const sa = join(lab.pki, 'sa.key');
  if (!existsSync(sa)) {
    const k = await run('openssl', ['genrsa', '-out', sa, '2048'], { timeoutMs: 30_000 });
    if (k.exitCode !== 0) throw new UserError(`openssl genrsa failed: ${k.stderr.trim()}`);
  }
  writeFileSync(
    join(lab.dir, 'tokens.csv'),
    `${ADMIN_TOKEN},admin,admin,"system:masters"\n${LAB_OPERATOR.token},${LAB_OPERATOR.user},${LAB_OPERATOR.user}\n`,
    { mode: 0o600 },
  );
  return sa;
}

function startEtcd(lab: Starting, clientPort: number, peerPort: number): void {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const etcd = daemon(
    'etcd',
    [
      ...['--name', 'lab', '--data-dir', join(lab.dir, 'etcd')],
      ...['--listen-client-urls', client, '--advertise-client-urls', client],
      ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `lab=${peer}`],
      ...['--log-level', 'warn', '--quota-backend-bytes', String(2 ** 30)],
    ],
    { logFile: join(lab.logs, 'etcd.log') },
  );
  lab.pids.etcd = etcd.pid!;
  lab.save();
}

/** kube-apiserver on `apiPort` (its arguments kept for restartApiServer), answered /readyz. */
async function startApiServer(lab: Starting, etcdPort: number, apiPort: number, sa: string): Promise<void> {
  const apiArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${lab.pki}`,
    `--token-auth-file=${join(lab.dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${sa}`,
    `--service-account-signing-key-file=${sa}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    // The kubelet-facing admission plugins have no kubelet to talk to; everything the API server checks on objects stays on.
    '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass,PersistentVolumeClaimResize,ResourceQuota,LimitRanger,PodSecurity,Priority',
  ];
  writeFileSync(join(lab.dir, 'kube-apiserver.args.json'), JSON.stringify([lab.bin('kube-apiserver'), ...apiArgs]));
  const api = daemon(lab.bin('kube-apiserver'), apiArgs, { logFile: join(lab.logs, 'kube-apiserver.log') });
  lab.pids['kube-apiserver'] = api.pid!;
  lab.save();
  // The self-signed serving certificate the API server writes into --cert-dir is the lab's CA.
  const ca = join(lab.pki, 'apiserver.crt');
  writeFileSync(lab.kubeconfig, kubeconfigText(lab.server, ca), { mode: 0o600 });
  for (let n = 0; ; n++) {
    if (existsSync(ca) && (await lab.kubectl(['get', '--raw', '/readyz', '--request-timeout=2s'])).exitCode === 0) break;
    if (api.exitCode !== null || n > 300)
      throw new UserError(`kube-apiserver did not become ready:\n${tail(join(lab.logs, 'kube-apiserver.log'))}`);
    await sleep(100);
  }
}

/** The controller-manager, the scheduler and kwok: what makes Pods scheduled, bound and reported Running. */
function startControllers(lab: Starting, sa: string): Record<string, ChildProcess> {
  const cm = daemon(
    lab.bin('kube-controller-manager'),
    [
      `--kubeconfig=${lab.kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${sa}`,
      `--root-ca-file=${join(lab.pki, 'apiserver.crt')}`,
      '--cluster-signing-duration=24h',
      // Node lifecycle must run: it removes the not-ready taint the API server puts on every new Node.
      '--controllers=*,-bootstrapsigner,-tokencleaner,-cloud-node-lifecycle,-service-lb-controller,-route,-node-ipam-controller',
      '--node-monitor-grace-period=40s',
      '--concurrent-deployment-syncs=5',
      // Bind static PVs within a second instead of the default 15 s sync period.
      '--pvclaimbinder-sync-period=1s',
    ],
    { logFile: join(lab.logs, 'kube-controller-manager.log') },
  );
  lab.pids['kube-controller-manager'] = cm.pid!;
  // Retry unschedulable Pods within a second (default backoff up to 10 s), so a PVC bound a moment later or a
  // freed host port shows up at once.
  writeFileSync(
    join(lab.dir, 'scheduler.yaml'),
    `apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: ${lab.kubeconfig}\nleaderElection:\n  leaderElect: false\npodInitialBackoffSeconds: 1\npodMaxBackoffSeconds: 1\n`,
  );
  const sched = daemon(lab.bin('kube-scheduler'), [`--config=${join(lab.dir, 'scheduler.yaml')}`, '--secure-port=0'], {
    logFile: join(lab.logs, 'kube-scheduler.log'),
  });
  lab.pids['kube-scheduler'] = sched.pid!;
  writeFileSync(join(lab.dir, 'kwok.yaml'), labStages());
  const kwok = daemon(
    lab.bin('kwok'),
    [
      `--kubeconfig=${lab.kubeconfig}`,
      `--config=${join(lab.dir, 'kwok.yaml')}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-lease-duration-seconds=40',
      '--cidr=10.244.0.0/16',
    ],
    { logFile: join(lab.logs, 'kwok.log') },
  );
  lab.pids.kwok = kwok.pid!;
  lab.save();
  return { 'kube-controller-manager': cm, 'kube-scheduler': sched, kwok };
}

/**
 * The configured nodes, kwok's to play. Each gets its own documentation-range address (TEST-NET-1): hostNetwork Pods
 * take their node's IP, and the EndpointSlice controller refuses loopback ones, as a real cluster would.
 */
async function createNodes(lab: Starting, nodes: readonly LabNode[]): Promise<void> {
  const objects = nodes.map((n, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
      labels: { [HOSTNAME_LABEL]: n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok', ...n.labels },
    },
    spec: {},
    // A modest worker: enough for the stack's requests (ephemeral storage included, which kwok's defaults lack),
    // so requests that no real worker could satisfy still leave a Pod Pending here.
    status: {
      addresses: [
        { type: 'InternalIP', address: `192.0.2.${11 + i}` },
        { type: 'Hostname', address: n.name },
      ],
      capacity: LAB_NODE_CAPACITY,
      allocatable: LAB_NODE_CAPACITY,
    },
  }));
  const r = await lab.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  if (r.exitCode !== 0) throw new UserError(`creating the lab nodes failed: ${r.stderr.trim()}`);
}

/**
 * Schedulable means: Ready (kwok), the not-ready taint gone (node lifecycle), and the default ServiceAccount there
 * (the serviceaccount controller), without which every Pod is refused.
 */
async function waitSchedulable(lab: Starting, count: number, controllers: Record<string, ChildProcess>): Promise<void> {
  for (let n = 0; ; n++) {
    const got = await lab.kubectl(['get', 'nodes', '-o', 'json']);
    const items: K8sObject[] = got.exitCode === 0 ? JSON.parse(got.stdout).items : [];
    const ready = items.filter(
      (x) => x.status?.conditions?.some((c: K8sObject) => c.type === 'Ready' && c.status === 'True') && !(x.spec?.taints ?? []).length,
    );
    const sa = await lab.kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']);
    if (ready.length === count && sa.exitCode === 0) return;
    for (const [name, p] of Object.entries(controllers)) {
      if (p.exitCode !== null) throw new UserError(`${name} exited (${p.exitCode}):\n${tail(join(lab.logs, `${name}.log`))}`);
    }
    if (n > 600)
      throw new UserError(
        `the lab nodes did not become Ready and schedulable in 60 s:\n${tail(join(lab.logs, 'kwok.log'))}\n${tail(join(lab.logs, 'kube-controller-manager.log'))}`,
      );
    await sleep(100);
  }
}

/** Starts the whole control plane and waits until the nodes are Ready and schedulable. */
export async function startLab(o: LabOptions): Promise<LabState> {
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const bin = (name: string) => join(o.binDir, name);
  for (const d of [o.dir, join(o.dir, 'pki'), join(o.dir, 'logs')]) mkdirSync(d, { recursive: true });
  for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kwok']) {
    if (!existsSync(bin(b))) throw new UserError(`${bin(b)} is missing: build the lab binaries with bash hack/toolchain/lab.sh`);
  }
  const [etcdPort, etcdPeer, apiPort] = await freePorts(3);
  const kubeconfig = join(o.dir, 'kubeconfig');
  const server = `https://127.0.0.1:${apiPort}`;
  const pids: Record<string, number> = {};
  const state = (): LabState => ({ dir: o.dir, kubeconfig, server, pids, nodes: o.nodes.map((n) => n.name) });
  const lab: Starting = {
    ...{ dir: o.dir, pki: join(o.dir, 'pki'), logs: join(o.dir, 'logs'), kubeconfig, server, pids, bin },
    save: () => saveLabState(state()),
    kubectl: (args, input) => run(bin('kubectl'), ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 30_000, input }),
  };
  try {
    const sa = await writeCredentials(lab);
    startEtcd(lab, etcdPort, etcdPeer);
    await startApiServer(lab, etcdPort, apiPort, sa);
    o.io?.out(`lab: kube-apiserver ready at ${server} after ${elapsed()}`);
    const controllers = startControllers(lab, sa);
    await createNodes(lab, o.nodes);
    await waitSchedulable(lab, o.nodes.length, controllers);
    o.io?.out(`lab: ${o.nodes.length} node(s) Ready (${o.nodes.map((n) => n.name).join(', ')}) after ${elapsed()}`);
    return state();
  } catch (e) {
    await stopLab(state());
    throw e;
  }
}

/** Stops every process of a lab (in reverse start order); `removeDir` also deletes its working directory. */
export async function stopLab(s: Pick<LabState, 'pids' | 'dir'>, removeDir = false): Promise<void> {
  // Throw-away state: no graceful shutdown needed (the API server alone would take seconds to drain).
  await Promise.all(Object.values(s.pids).map((pid) => stopGroup(pid, 500)));
  if (removeDir) rmSync(s.dir, { recursive: true, force: true });
}

/**
 * Starts the lab's kube-apiserver again with its original arguments (same port, certificates, etcd): after a test
 * killed it to rehearse an API server lost in the middle of a deploy. Resolves when it answers /readyz.
 */
export async function restartApiServer(s: LabState, binDir: string): Promise<void> {
  const [file, ...args] = JSON.parse(readFileSync(join(s.dir, 'kube-apiserver.args.json'), 'utf8')) as string[];
  const api = daemon(file, args, { logFile: join(s.dir, 'logs', 'kube-apiserver.log') });
  s.pids['kube-apiserver'] = api.pid!;
  saveLabState(s);
  for (let n = 0; ; n++) {
    const r = await run(join(binDir, 'kubectl'), ['--kubeconfig', s.kubeconfig, 'get', '--raw', '/readyz', '--request-timeout=2s'], {
      timeoutMs: 10_000,
    });
    if (r.exitCode === 0) return;
    if (api.exitCode !== null || n > 300)
      throw new UserError(`kube-apiserver did not come back:\n${tail(join(s.dir, 'logs', 'kube-apiserver.log'))}`);
    await sleep(100);
  }
}

/** A kubeconfig for this lab as the static user `operator` (RBAC grants it only what a test binds to it). */
export function operatorKubeconfig(s: LabState, file: string): string {
  writeFileSync(file, kubeconfigText(s.server, join(s.dir, 'pki', 'apiserver.crt'), LAB_OPERATOR.token, LAB_CONTEXT, LAB_OPERATOR.user), {
    mode: 0o600,
  });
  return file;
}

/** Writes `<dir>/lab.json`: what `lab down` and `lab env` read from another process. */
export function saveLabState(s: LabState): void {
  writeFileSync(join(s.dir, 'lab.json'), JSON.stringify(s, null, 2) + '\n');
}

export function readLabState(dir: string): LabState | undefined {
  const f = join(dir, 'lab.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as LabState) : undefined;
}

/** A kubeconfig for this lab whose token the API server refuses: for "refused credentials" checks. */
export function badCredentialsKubeconfig(s: LabState, file: string): string {
  writeFileSync(file, kubeconfigText(s.server, join(s.dir, 'pki', 'apiserver.crt'), 'not-a-valid-token'), { mode: 0o600 });
  return file;
}

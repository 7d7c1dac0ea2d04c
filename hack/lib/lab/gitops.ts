import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { parse } from 'yaml';

import type { LoadedConfig } from '../../../lib/config';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { freePorts } from '../process/ports';
import { daemon, run, stopGroup } from '../process/run';
import type { LabState } from './cluster';

// The GitOps side of the lab: the real Argo CD (v2.14.21: its repo-server and application-controller, the one
// `argocd` binary run as each through ARGOCD_BINARY_NAME) and the real Sealed Secrets controller (v0.27.1), both
// built from source into the toolchain cache, on the lab's control plane. What a cluster's Argo CD install
// provides is made by hand: its CRDs (from its own module), argocd-cm, argocd-rbac-cm, argocd-secret and the
// `default` AppProject (argocd-server would create that one; it does not run here, nor does the UI, Dex or the
// ApplicationSet controller). Redis is Debian's redis-server; repositories come from a `git daemon` on loopback.
//
// Argo CD runs out of cluster with ARGOCD_FAKE_IN_CLUSTER=true: the destination https://kubernetes.default.svc is
// the lab's API server through its kubeconfig. The Sealed Secrets controller accepts only in-cluster config, so it
// runs in a mount namespace of its own where a tmpfs over /run holds a service-account token (`kubectl create
// token`) and the lab's CA at /var/run/secrets/kubernetes.io/serviceaccount.

export const ARGOCD_VERSION = 'v2.14.21';
export const SEALED_SECRETS_VERSION = 'v0.27.1';

/** One Argo CD installation: its namespace (argocd-cm, Applications) and how it tracks what it applied. */
export interface ArgoInstallation {
  readonly namespace: string;
  /** `annotation` (recommended; Argo CD 3's default) or `label` (Argo CD 2.x's default, left unset in argocd-cm). */
  readonly trackingMethod: 'annotation' | 'label';
}

export interface GitopsOptions {
  readonly lab: Pick<LabState, 'dir' | 'kubeconfig' | 'server'>;
  /** The lab's kubectl. */
  readonly kubectl: string;
  /** Toolchain directories: hack/toolchain/argocd.sh and sealed-secrets.sh print them. */
  readonly argocdDir: string;
  readonly sealedSecretsDir: string;
  /** The git repository the daemon serves (a working tree or a bare repository): git://127.0.0.1:PORT/<its name>. */
  readonly repo: string;
  /** @default one installation in namespace argocd with annotation tracking */
  readonly installations?: readonly ArgoInstallation[];
  /**
   * Argo CD's pause between sync waves (ARGOCD_SYNC_WAVE_DELAY), which gives other controllers time to react to a
   * wave before its health is judged. @default Argo CD's own, 2 s
   */
  readonly syncWaveDelaySeconds?: number;
  /** Where it says what is up (nothing when absent). */
  readonly io?: IO;
}

export interface GitopsState {
  /** Process group of each component, for stopGroup (and the lab's own state, so `lab down` stops them). */
  readonly pids: Record<string, number>;
  /** The repository's URL for an Application's spec.source.repoURL. */
  readonly repoURL: string;
  /** The Sealed Secrets controller's certificate, for `bin/roomler secrets seal --cert`. */
  readonly certFile: string;
  readonly installations: readonly ArgoInstallation[];
}

const tail = (file: string, lines = 12) =>
  existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';

/** The objects an Argo CD install brings, for one installation. */
function argoObjects(i: ArgoInstallation): object[] {
  const part = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'argocd' });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: i.namespace } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'argocd-cm', namespace: i.namespace, labels: part('argocd-cm') },
      // `label` is Argo CD 2.x's behaviour without the key: left unset, as in a default install.
      data: i.trackingMethod === 'annotation' ? { 'application.resourceTrackingMethod': 'annotation' } : {},
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'argocd-rbac-cm', namespace: i.namespace, labels: part('argocd-rbac-cm') },
      data: {},
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'argocd-secret', namespace: i.namespace, labels: part('argocd-secret') },
      type: 'Opaque',
      stringData: { 'server.secretkey': randomBytes(24).toString('base64') },
    },
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: { name: 'default', namespace: i.namespace },
      spec: { sourceRepos: ['*'], destinations: [{ server: '*', namespace: '*' }], clusterResourceWhitelist: [{ group: '*', kind: '*' }] },
    },
  ];
}

/** The Sealed Secrets controller's identity: a service account with the rights its Helm chart grants (cluster-wide here). */
const SEALED_SECRETS_OBJECTS = [
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sealed-secrets-controller', namespace: 'kube-system' } },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'secrets-unsealer' },
    rules: [
      { apiGroups: ['bitnami.com'], resources: ['sealedsecrets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['bitnami.com'], resources: ['sealedsecrets/status'], verbs: ['update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'update', 'delete', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'sealed-secrets-controller' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'secrets-unsealer' },
    subjects: [{ kind: 'ServiceAccount', name: 'sealed-secrets-controller', namespace: 'kube-system' }],
  },
];

/** Polls an HTTP URL until it answers 200; returns the body. */
async function httpReady(url: string, what: string, alive: () => boolean, log: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return await r.text();
    } catch {
      /* not listening yet */
    }
    if (!alive()) throw new UserError(`${what} exited:\n${tail(log)}`);
    if (Date.now() > deadline) throw new UserError(`${what} did not answer ${url} within ${ms / 1000} s:\n${tail(log)}`);
    await sleep(200);
  }
}

/** The GitOps components being started: where they live, their ports, the processes started so far. */
interface Starting {
  readonly o: GitopsOptions;
  readonly dir: string;
  readonly logs: string;
  readonly argocd: string;
  readonly pids: Record<string, number>;
  readonly env: Record<string, string>;
  readonly ports: { redis: number; git: number; repo: number; repoMetrics: number; sealed: number; sealedMetrics: number };
  /** kubectl on the lab that must succeed; its stdout. */
  kubectl(args: string[], input?: string): Promise<string>;
}

/** The CRDs first (server-side: the Application CRD is too large for a client-side apply's last-applied annotation). */
async function installCrds(g: Starting): Promise<void> {
  const { o } = g;
  const crds = [
    join(o.argocdDir, 'crds', 'application-crd.yaml'),
    join(o.argocdDir, 'crds', 'appproject-crd.yaml'),
    join(o.sealedSecretsDir, 'crds', 'bitnami.com_sealedsecrets.yaml'),
  ];
  await g.kubectl(['apply', '--server-side', '--force-conflicts', ...crds.flatMap((f) => ['-f', f])]);
  // A CRD created a moment ago is not yet served: `kubectl wait --for condition=established` errors then, so poll.
  for (const crd of ['applications.argoproj.io', 'appprojects.argoproj.io', 'sealedsecrets.bitnami.com']) {
    for (let n = 0; ; n++) {
      const r = await run(
        o.kubectl,
        ['--kubeconfig', o.lab.kubeconfig, 'get', 'crd', crd, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'],
        { timeoutMs: 30_000 },
      );
      if (r.stdout.trim() === 'True') break;
      if (n > 100) throw new UserError(`CRD ${crd} did not become established: ${r.stderr.trim()}`);
      await sleep(100);
    }
  }
}

/** redis (Argo CD's cache), the git daemon serving the repository, and Argo CD's repo-server, answering its health check. */
async function startRepoServer(g: Starting): Promise<void> {
  const { o, ports, dir, logs, pids } = g;
  const redis = daemon(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(ports.redis), '--save', '', '--appendonly', 'no', '--dir', dir],
    { logFile: join(logs, 'redis.log') },
  );
  pids.redis = redis.pid!;
  const git = daemon(
    'git',
    ['daemon', '--reuseaddr', '--export-all', `--base-path=${dirname(o.repo)}`, '--listen=127.0.0.1', `--port=${ports.git}`, o.repo],
    { logFile: join(logs, 'git-daemon.log') },
  );
  pids['git-daemon'] = git.pid!;
  const repoServer = daemon(
    g.argocd,
    [
      ...['--port', String(ports.repo), '--address', '127.0.0.1'],
      ...['--metrics-port', String(ports.repoMetrics), '--metrics-address', '127.0.0.1'],
      ...['--redis', `127.0.0.1:${ports.redis}`, '--disable-tls', '--loglevel', 'warn'],
    ],
    { logFile: join(logs, 'argocd-repo-server.log'), env: { ...g.env, ARGOCD_BINARY_NAME: 'argocd-repo-server' } },
  );
  pids['argocd-repo-server'] = repoServer.pid!;
  const healthz = `http://127.0.0.1:${ports.repoMetrics}/healthz`;
  await httpReady(healthz, 'argocd-repo-server', () => repoServer.exitCode === null, join(logs, 'argocd-repo-server.log'), 60_000);
}

/** One Argo CD application controller per installation (its namespace's Applications); waited for afterwards. */
function startApplicationControllers(g: Starting, installations: readonly ArgoInstallation[], metricsPorts: readonly number[]) {
  const { o, ports, logs, pids } = g;
  return installations.map((i, n) => {
    const name = `argocd-application-controller-${i.namespace}`;
    const c = daemon(
      g.argocd,
      [
        ...['--kubeconfig', o.lab.kubeconfig, '--namespace', i.namespace],
        ...['--repo-server', `127.0.0.1:${ports.repo}`, '--repo-server-plaintext'],
        ...['--redis', `127.0.0.1:${ports.redis}`, '--metrics-port', String(metricsPorts[n])],
      ],
      {
        logFile: join(logs, `${name}.log`),
        env: {
          ...g.env,
          ARGOCD_BINARY_NAME: 'argocd-application-controller',
          ...(o.syncWaveDelaySeconds !== undefined ? { ARGOCD_SYNC_WAVE_DELAY: String(o.syncWaveDelaySeconds) } : {}),
        },
      },
    );
    pids[name] = c.pid!;
    return { name, c, port: metricsPorts[n] };
  });
}

/**
 * The Sealed Secrets controller, in a mount namespace of its own where its in-cluster identity (a token and the
 * lab's CA) sits at /var/run/secrets/kubernetes.io/serviceaccount. Returns the process.
 */
async function startSealedSecrets(g: Starting): Promise<ChildProcess> {
  const { o, dir, logs, pids, ports } = g;
  const controller = join(o.sealedSecretsDir, 'bin', 'sealed-secrets-controller');
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa, { recursive: true });
  const token = await g.kubectl(['create', 'token', 'sealed-secrets-controller', '-n', 'kube-system', '--duration=24h']);
  writeFileSync(join(sa, 'token'), token.trim(), { mode: 0o600 });
  writeFileSync(join(sa, 'ca.crt'), readFileSync(join(o.lab.dir, 'pki', 'apiserver.crt')));
  writeFileSync(join(sa, 'namespace'), 'kube-system');
  const api = new URL(o.lab.server);
  const mountSa = [
    'run=$(readlink -f /var/run)',
    'mount -t tmpfs -o size=1m,mode=0755 tmpfs "$run"',
    'mkdir -p "$run/secrets/kubernetes.io"',
    'cp -r "$0" "$run/secrets/kubernetes.io/serviceaccount"',
    'exec "$@"',
  ].join(' && ');
  // As root a mount namespace is enough; otherwise a user namespace maps us to root inside it.
  const unshare = [...(process.getuid?.() === 0 ? [] : ['--user', '--map-root-user']), '--mount', '--propagation', 'private'];
  const listen = ['--listen-addr', `127.0.0.1:${ports.sealed}`, '--listen-metrics-addr', `127.0.0.1:${ports.sealedMetrics}`];
  const sealed = daemon('unshare', [...unshare, '--', 'sh', '-c', mountSa, sa, controller, ...listen, '--key-renew-period', '0'], {
    logFile: join(logs, 'sealed-secrets-controller.log'),
    env: { KUBERNETES_SERVICE_HOST: api.hostname, KUBERNETES_SERVICE_PORT: api.port },
  });
  pids['sealed-secrets-controller'] = sealed.pid!;
  return sealed;
}

/**
 * Starts redis, the git daemon, Argo CD (per installation: its objects and an application controller) and the Sealed
 * Secrets controller.
 */
export async function startGitops(o: GitopsOptions): Promise<GitopsState> {
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const installations = o.installations ?? [{ namespace: 'argocd', trackingMethod: 'annotation' }];
  const dir = join(o.lab.dir, 'gitops');
  const logs = join(o.lab.dir, 'logs');
  for (const d of [dir, logs, join(dir, 'tmp'), join(dir, 'home')]) mkdirSync(d, { recursive: true });
  const argocd = join(o.argocdDir, 'bin', 'argocd');
  const controller = join(o.sealedSecretsDir, 'bin', 'sealed-secrets-controller');
  for (const b of [argocd, controller])
    if (!existsSync(b))
      throw new UserError(`${b} is missing: build it with bash hack/toolchain/${b === argocd ? 'argocd' : 'sealed-secrets'}.sh`);
  const [redis, git, repo, repoMetrics, sealed, sealedMetrics, ...controllerPorts] = await freePorts(6 + installations.length);
  const repoURL = `git://127.0.0.1:${git}/${basename(o.repo)}`;
  const pids: Record<string, number> = {};
  const state = (): GitopsState => ({ pids, repoURL, certFile: join(dir, 'sealed-secrets.pem'), installations });
  const g: Starting = {
    ...{ o, dir, logs, argocd, pids, ports: { redis, git, repo, repoMetrics, sealed, sealedMetrics } },
    // The repo-server clones into TMPDIR, keeps git's settings in HOME and serves git's credential helper on a
    // socket (/tmp/reposerver-ask-pass.sock by default, one per machine): all inside the lab's directory.
    env: {
      ...{ KUBECONFIG: o.lab.kubeconfig, ARGOCD_GPG_ENABLED: 'false', TMPDIR: join(dir, 'tmp'), HOME: join(dir, 'home') },
      ...{ ARGOCD_ASK_PASS_SOCK: join(dir, 'askpass.sock'), ARGOCD_FAKE_IN_CLUSTER: 'true' },
    },
    kubectl: async (args, input) => {
      const r = await run(o.kubectl, ['--kubeconfig', o.lab.kubeconfig, ...args], { input, timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new UserError(`kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`);
      return r.stdout;
    },
  };
  try {
    await installCrds(g);
    const objects = [...installations.flatMap(argoObjects), ...SEALED_SECRETS_OBJECTS];
    await g.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    await startRepoServer(g);
    const controllers = startApplicationControllers(g, installations, controllerPorts);
    const sealedSecrets = await startSealedSecrets(g);
    for (const { name, c, port } of controllers)
      await httpReady(`http://127.0.0.1:${port}/healthz`, name, () => c.exitCode === null, join(logs, `${name}.log`), 60_000);
    const what = installations.map((i) => `application controller for ${i.namespace} with ${i.trackingMethod} tracking`).join(', ');
    o.io?.out(`gitops: Argo CD ${ARGOCD_VERSION} (repo-server, ${what}) after ${elapsed()}`);
    const certURL = `http://127.0.0.1:${sealed}/v1/cert.pem`;
    const sealedLog = join(logs, 'sealed-secrets-controller.log');
    const cert = await httpReady(certURL, 'sealed-secrets-controller', () => sealedSecrets.exitCode === null, sealedLog, 60_000);
    writeFileSync(state().certFile, cert);
    o.io?.out(`gitops: Sealed Secrets controller ${SEALED_SECRETS_VERSION} ready (certificate ${state().certFile}) after ${elapsed()}`);
    return state();
  } catch (e) {
    await stopGitops(state());
    throw e;
  }
}

/** Stops every GitOps component. */
export async function stopGitops(s: Pick<GitopsState, 'pids'>): Promise<void> {
  await Promise.all(Object.values(s.pids).map((pid) => stopGroup(pid, 2000)));
}

/**
 * `lab up --gitops`: the config's Application as committed in the repository (its argocd.path at
 * argocd.targetRevision), applied with its repoURL pointed at the lab's git daemon. Returns what it did, in words.
 */
export async function applyLocalApplication(
  cfg: LoadedConfig,
  o: { lab: Pick<LabState, 'kubeconfig'>; kubectl: string; repo: string; repoURL: string },
): Promise<string> {
  const a = cfg.root.argocd;
  if (!a.enabled) return 'lab: argocd.enabled is false in the config: no Application applied; apply one whose repoURL is ' + o.repoURL;
  const file = `${a.path.replace(/\/+$/, '')}/argocd.k8s.yaml`;
  const shown = await run('git', ['-C', o.repo, 'show', `${a.targetRevision}:${file}`], { timeoutMs: 10_000 });
  if (shown.exitCode !== 0) {
    return (
      `lab: ${file} is not committed at ${a.targetRevision} in ${o.repo}: no Application applied ` +
      `(bin/roomler synth, commit, then kubectl apply it with repoURL ${o.repoURL})`
    );
  }
  const app = parse(shown.stdout, { version: '1.1' });
  const committed = app.spec.source.repoURL;
  app.spec.source.repoURL = o.repoURL;
  const r = await run(o.kubectl, ['--kubeconfig', o.lab.kubeconfig, 'apply', '-f', '-'], { input: JSON.stringify(app), timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new UserError(`applying Application ${a.namespace}/${a.name} failed: ${r.stderr.trim()}`);
  const synced = `${file.replace(/\/argocd\.k8s\.yaml$/, '/')} at ${a.targetRevision} from ${o.repoURL}`;
  return `lab: Application ${a.namespace}/${a.name} applied: syncs ${synced} (the committed one names ${committed})`;
}

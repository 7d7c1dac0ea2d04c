import { setTimeout as sleep } from 'node:timers/promises';

import type { LoadedConfig } from '../../../lib/config';
import { type K8sObject, objectKey } from '../../../lib/manifest';
import { SYNC_OPTIONS } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import type { Kubectl } from './kubectl';

// What this project needs to know about an Argo CD in the cluster: which Applications manage the namespaces a
// deploy would change (deploy and Argo must not fight over objects), how they stand (doctor), how Argo tracks
// resources, and what an Application keeps because Git dropped it but its sync options forbid the prune.

/** Argo CD's annotation tracking: `<app>:<group>/<kind>:<namespace>/<name>` on every object it applied. */
export const TRACKING_ID = 'argocd.argoproj.io/tracking-id';
/** Where the destination is this very cluster (the in-cluster names Argo CD gives it). */
const IN_CLUSTER = new Set(['https://kubernetes.default.svc', 'https://kubernetes.default.svc/']);

/** A managed resource as the Application's status lists it. */
export interface AppResource {
  readonly group?: string;
  readonly version?: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly status?: string;
  readonly requiresPruning?: boolean;
}

export interface AppSummary {
  readonly namespace: string;
  readonly name: string;
  readonly sync: string;
  readonly health: string;
  readonly revision?: string;
  readonly repo?: string;
  /** The last operation's phase and message (Succeeded, Running "waiting for …", Failed …). */
  readonly operation?: { readonly phase: string; readonly message?: string };
  readonly automated: boolean;
  readonly resources: readonly AppResource[];
  readonly destination: { readonly server?: string; readonly name?: string; readonly namespace?: string };
}

const summary = (a: K8sObject): AppSummary => ({
  namespace: a.metadata.namespace,
  name: a.metadata.name,
  sync: a.status?.sync?.status ?? 'Unknown',
  health: a.status?.health?.status ?? 'Unknown',
  revision: a.status?.sync?.revision,
  repo: a.spec?.source?.repoURL,
  operation: a.status?.operationState ? { phase: a.status.operationState.phase, message: a.status.operationState.message } : undefined,
  automated: a.spec?.syncPolicy?.automated !== undefined,
  resources: a.status?.resources ?? [],
  destination: a.spec?.destination ?? {},
});

export const appName = (a: Pick<AppSummary, 'namespace' | 'name'>) => `${a.namespace}/${a.name}`;
export const resourceName = (r: Pick<AppResource, 'kind' | 'namespace' | 'name'>) =>
  objectKey({ kind: r.kind, namespace: r.namespace || undefined, name: r.name });

/**
 * Every Argo CD Application in the cluster kubectl talks to. `none` when Argo CD is not installed there (no
 * Application CRD); `unknown` says why they could not be read (e.g. the user may not list them).
 */
export async function listApplications(kubectl: Kubectl): Promise<{ apps: AppSummary[] } | { none: true } | { unknown: string }> {
  const r = await kubectl.run(['get', 'applications.argoproj.io', '--all-namespaces', '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode === 0) return { apps: (JSON.parse(r.stdout).items as K8sObject[]).map(summary) };
  const err = r.stderr.trim().split('\n').pop() ?? '';
  if (/doesn't have a resource type|the server could not find the requested resource/.test(err)) return { none: true };
  return {
    unknown: /forbidden/i.test(err)
      ? `not allowed to list applications.argoproj.io in all namespaces (${err.replace(/^Error from server \(Forbidden\): /, '')})`
      : err,
  };
}

/** Whether an Application syncs into this cluster and touches `namespace` (the Namespace itself or anything in it). */
export function manages(app: AppSummary, namespace: string, server?: string): boolean {
  const d = app.destination;
  const here = d.name === 'in-cluster' || (d.server !== undefined && (IN_CLUSTER.has(d.server) || d.server === server));
  if (!here) return false;
  return (
    d.namespace === namespace || app.resources.some((r) => r.namespace === namespace || (r.kind === 'Namespace' && r.name === namespace))
  );
}

/**
 * The Applications (by `<namespace>/<name>`) that manage each of `namespaces` here, from the Applications and the
 * live Namespaces' tracking ids.
 */
export async function argoManaged(
  kubectl: Kubectl,
  namespaces: readonly string[],
  server?: string,
): Promise<{ owners: Map<string, string[]>; apps: AppSummary[]; unknown?: string }> {
  const owners = new Map<string, string[]>();
  const add = (ns: string, app: string) => owners.set(ns, [...new Set([...(owners.get(ns) ?? []), app])]);
  const listed = await listApplications(kubectl);
  const apps = 'apps' in listed ? listed.apps : [];
  for (const ns of namespaces) for (const a of apps) if (manages(a, ns, server)) add(ns, appName(a));
  // An Argo CD elsewhere (another cluster's) leaves its mark on what it applied, with annotation tracking.
  const live = await kubectl.run(['get', 'namespaces', '-o', 'json'], { timeoutMs: 30_000 });
  for (const n of live.exitCode === 0 ? (JSON.parse(live.stdout).items as K8sObject[]) : []) {
    const id: string | undefined = n.metadata?.annotations?.[TRACKING_ID];
    const app = id?.split(':')[0];
    if (app && namespaces.includes(n.metadata.name) && !owners.get(n.metadata.name)?.some((o) => o.endsWith(`/${app}`))) {
      add(n.metadata.name, `${app} (the tracking id on the Namespace; no such Application in this cluster: an Argo CD elsewhere)`);
    }
  }
  return { owners, apps, unknown: 'unknown' in listed ? listed.unknown : undefined };
}

/**
 * Deploy refuses namespaces an Argo CD Application manages: Argo's selfHeal would revert what deploy applies, and
 * deploy's prune would delete what Argo applied. `force` (--force-with-argo) proceeds with a warning; a dry run
 * only says what a real deploy would do.
 */
export async function refuseArgoManaged(
  kubectl: Kubectl,
  namespaces: readonly string[],
  server: string,
  o: { force: boolean; dryRun: boolean; io: IO },
): Promise<void> {
  const { owners, unknown } = await argoManaged(kubectl, namespaces, server);
  if (unknown) o.io.out(`deploy: cannot tell whether Argo CD manages ${namespaces.join(', ')}: ${unknown}`);
  if (!owners.size) return;
  const list = [...owners].map(([ns, apps]) => `namespace ${ns} by Application ${apps.join(', ')}`).join('; ');
  const why = 'Argo CD would revert what deploy applies and deploy would prune what Argo CD applied';
  if (o.force) {
    o.io.out(`deploy: --force-with-argo: deploying although Argo CD manages it (${list}); ${why}`);
    return;
  }
  const message =
    `Argo CD manages what this deploy would change: ${list}. ${why}: ` +
    'commit the change to the GitOps repository instead, or pass --force-with-argo';
  if (o.dryRun) {
    o.io.out(`dry run: a real deploy would refuse: ${message}`);
    return;
  }
  throw new UserError(`${message}; nothing was applied`);
}

/** Argo CD's tracking method from its argocd-cm (absent: label in Argo CD 2.x, annotation from 3.0). */
export async function trackingMethod(kubectl: Kubectl, namespace: string): Promise<{ method: string | undefined } | { unknown: string }> {
  const r = await kubectl.run(['get', 'configmap', 'argocd-cm', '-n', namespace, '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) return { unknown: r.stderr.trim().split('\n').pop() ?? `kubectl exit ${r.exitCode}` };
  return { method: JSON.parse(r.stdout).data?.['application.resourceTrackingMethod'] };
}

/** What an Application keeps although Git no longer has it: listed as requiresPruning, with its sync options. */
export async function keptResources(
  kubectl: Kubectl,
  app: AppSummary,
): Promise<{ resource: AppResource; options: string; data: string }[]> {
  const out: { resource: AppResource; options: string; data: string }[] = [];
  for (const r of app.resources.filter((x) => x.requiresPruning)) {
    const live = await getLive(kubectl, r);
    if (!live) continue;
    out.push({ resource: r, options: live.metadata?.annotations?.[SYNC_OPTIONS] ?? '', data: await dataHeld(kubectl, r, live) });
  }
  return out;
}

const resourceArg = (r: Pick<AppResource, 'kind' | 'group'>) => (r.group ? `${r.kind.toLowerCase()}.${r.group}` : r.kind.toLowerCase());
const nsArgs = (r: Pick<AppResource, 'namespace'>) => (r.namespace ? ['-n', r.namespace] : []);

async function getLive(kubectl: Kubectl, r: AppResource): Promise<K8sObject | undefined> {
  const g = await kubectl.run(['get', resourceArg(r), r.name, ...nsArgs(r), '-o', 'json'], { timeoutMs: 30_000 });
  return g.exitCode === 0 ? JSON.parse(g.stdout) : undefined;
}

/** The data an object holds, in words: what deleting it takes along and what stays on the node. */
async function dataHeld(kubectl: Kubectl, r: AppResource, live: K8sObject): Promise<string> {
  const volume = async (pvName?: string): Promise<string> => {
    if (!pvName) return 'no volume bound';
    const g = await kubectl.run(['get', 'pv', pvName, '-o', 'json'], { timeoutMs: 30_000 });
    if (g.exitCode !== 0) return `volume ${pvName}`;
    const pv = JSON.parse(g.stdout);
    const node = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
    const where = pv.spec?.hostPath ? `hostPath ${pv.spec.hostPath.path}${node ? ` on ${node}` : ''}` : 'its storage';
    const retained = pv.spec?.persistentVolumeReclaimPolicy === 'Retain';
    const fate = retained ? ' (the files stay on the node)' : ' (THE DATA IS DELETED)';
    return `volume ${pvName}: ${where}, reclaim ${pv.spec?.persistentVolumeReclaimPolicy}${fate}`;
  };
  if (r.kind === 'PersistentVolumeClaim') return volume(live.spec?.volumeName);
  if (r.kind === 'PersistentVolume') return (await volume(r.name)).replace(/^volume \S+: /, '');
  if (r.kind === 'Namespace') {
    const g = await kubectl.run(['get', 'pvc', '-n', r.name, '-o', 'json'], { timeoutMs: 30_000 });
    const claims: K8sObject[] = g.exitCode === 0 ? JSON.parse(g.stdout).items : [];
    const held = await Promise.all(claims.map(async (c) => `claim ${c.metadata.name} (${await volume(c.spec?.volumeName)})`));
    return `every object in it, whoever created it${held.length ? `, with ${held.join('; ')}` : ''}`;
  }
  return 'no data';
}

/** The Application the config names (argocd.namespace/argocd.name), as the cluster holds it. */
export async function configuredApplication(cfg: LoadedConfig, kubectl: Kubectl): Promise<AppSummary | undefined> {
  const a = cfg.root.argocd;
  const r = await kubectl.run(['get', 'applications.argoproj.io', a.name, '-n', a.namespace, '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode === 0) return summary(JSON.parse(r.stdout));
  if (/NotFound|doesn't have a resource type/.test(r.stderr)) return undefined;
  throw new UserError(`reading Application ${a.namespace}/${a.name} failed: ${r.stderr.trim().split('\n').pop()}`);
}

const SHORT: Record<string, string> = { PersistentVolumeClaim: 'pvc', PersistentVolume: 'pv', Namespace: 'namespace' };
/** How an object is named on the retire command line: pvc/<ns>/<name>, pv/<name>, namespace/<name>, <kind>/[<ns>/]<name>. */
export const retireName = (r: Pick<AppResource, 'kind' | 'namespace' | 'name'>) =>
  [SHORT[r.kind] ?? r.kind.toLowerCase(), r.namespace, r.name].filter(Boolean).join('/');

/** Deletion order: what lives in a namespace, then the Namespaces (their claims go with them), then the volumes. */
const RETIRE_ORDER = (kind: string) =>
  kind === 'PersistentVolume' ? 3 : kind === 'Namespace' ? 2 : kind === 'PersistentVolumeClaim' ? 1 : 0;

/** `argocd retire` without names: each kept object with the data it holds, and how to retire it. */
function listKept(app: AppSummary, id: string, kept: readonly { resource: AppResource; options: string; data: string }[], io: IO): void {
  if (!kept.length) io.out(`argocd: Application ${id} keeps nothing that Git dropped (sync ${app.sync}, health ${app.health})`);
  for (const k of kept)
    io.out(
      `argocd: ${id} keeps ${resourceName(k.resource)} (${k.options || 'no sync options'}): ${k.data}; ` +
        `retire it with bin/roomler argocd retire ${retireName(k.resource)}`,
    );
}

/** The kept objects `names` (or `all`) name, in deletion order; a name of anything not kept is refused (exit 2). */
function chosenForRetirement<K extends { resource: AppResource }>(names: readonly string[], kept: readonly K[], id: string): K[] {
  const chosen = names.includes('all') ? kept : names.map((n) => kept.find((k) => retireName(k.resource) === n) ?? n);
  const unknown = chosen.filter((c): c is string => typeof c === 'string');
  if (unknown.length) {
    const have = kept.map((k) => retireName(k.resource)).join(', ') || 'nothing';
    throw new UserError(
      `${unknown.join(', ')}: not kept by Application ${id} (it keeps: ${have}); ` +
        'only what Git dropped and Argo CD lists as requiring a prune can be retired; nothing was deleted',
      2,
    );
  }
  return (chosen as K[]).sort((a, b) => RETIRE_ORDER(a.resource.kind) - RETIRE_ORDER(b.resource.kind));
}

/** After the deletions: asks Argo CD to refresh, then waits up to `waitSeconds` for the Application to report Synced. */
async function waitForSynced(cfg: LoadedConfig, kubectl: Kubectl, app: AppSummary, waitSeconds: number, io: IO): Promise<void> {
  const id = appName(app);
  // Argo CD notices deletions by itself; a refresh makes it compare at once.
  await kubectl.run(
    ['annotate', 'applications.argoproj.io', app.name, '-n', app.namespace, '--overwrite', 'argocd.argoproj.io/refresh=normal'],
    { timeoutMs: 30_000 },
  );
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const now = await configuredApplication(cfg, kubectl);
    const left = now?.resources.filter((r) => r.requiresPruning) ?? [];
    if (now?.sync === 'Synced') {
      io.out(`argocd: Application ${id} is Synced (health ${now.health})`);
      return;
    }
    if (Date.now() > deadline) {
      io.out(
        `argocd: Application ${id} is ${now?.sync ?? 'gone'} after ${waitSeconds} s` +
          (left.length ? `; it still keeps ${left.map(resourceName).join(', ')}` : ''),
      );
      return;
    }
    await sleep(1000);
  }
}

/**
 * `argocd retire`: deletes, on purpose, what the Application keeps because Git dropped it but its sync options
 * (Prune=false) forbid Argo CD to prune it: a claim, a volume, a removed instance's Namespace. Without names it only
 * lists them. Then asks Argo CD to refresh and waits for the Application to report Synced.
 */
export async function retire(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  names: readonly string[],
  o: { yes: boolean; waitSeconds: number },
  io: IO,
): Promise<number> {
  if (!cfg.root.argocd.enabled) throw new UserError('argocd.enabled is false in the config: there is no Application to retire objects of');
  await kubectl.connect();
  const app = await configuredApplication(cfg, kubectl);
  const id = `${cfg.root.argocd.namespace}/${cfg.root.argocd.name}`;
  if (!app) throw new UserError(`Application ${id} does not exist in this cluster (apply dist/argocd.k8s.yaml first)`);
  const kept = await keptResources(kubectl, app);
  if (!names.length) {
    listKept(app, id, kept, io);
    return 0;
  }
  const retiring = chosenForRetirement(names, kept, id);
  if (!retiring.length) {
    io.out(`argocd: Application ${id} keeps nothing that Git dropped`);
    return 0;
  }
  const namespaces = [
    ...new Set(
      retiring.map((k) => (k.resource.kind === 'Namespace' ? k.resource.name : k.resource.namespace)).filter((x): x is string => !!x),
    ),
  ];
  const deletes = retiring.map((k) => `delete:          ${resourceName(k.resource)}: ${k.data}`);
  await kubectl.confirmChange('argocd retire', namespaces, o.yes, deletes);
  for (const k of retiring) {
    io.out(`argocd: deleting ${resourceName(k.resource)}`);
    await kubectl.must(
      `deleting ${resourceName(k.resource)}`,
      ['delete', resourceArg(k.resource), k.resource.name, ...nsArgs(k.resource), '--wait=true', '--timeout=300s'],
      { timeoutMs: 330_000 },
    );
  }
  await waitForSynced(cfg, kubectl, app, o.waitSeconds, io);
  return 0;
}

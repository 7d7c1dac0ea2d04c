import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import type { LoadedConfig } from '../../../lib/config';
import { SYNC_WAVE } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';
import { Guard, Interrupted } from '../process/interrupt';
import { refuseArgoManaged } from './argocd';
import { conflictAdvice, conflictsOf, describeRight, explainKubectlError, missingRights, resourceOf, type Right } from './causes';
import { type ClusterTarget, clusterTargets, Kubectl } from './kubectl';
import { ClusterLock, describeHolder, type LockOptions, readLock } from './lock';
import {
  createRevision,
  digestOf,
  ensureHistoryNamespace,
  finishRevision,
  gitState,
  keyOf,
  listRevisions,
  type Managed,
  manifestsText,
  objectKey,
  type Revision,
  type RevisionMeta,
  statusOf,
  type StoredRevision,
  whoami,
} from './releases';
import { waitForRollout } from './rollout';

type Obj = Record<string, any>;
type Log = (line: string) => void;
const ROLLOUT_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
/** Never deleted by pruning unless --prune-data names them: their deletion can take data with it. */
const DATA_KINDS = new Set(['PersistentVolume', 'PersistentVolumeClaim', 'Namespace']);
/** Data objects a rollback never changes while they exist, and re-creates when they were pruned since. */
const VOLUME_KINDS = new Set(['PersistentVolume', 'PersistentVolumeClaim']);

const waveOf = (o: Obj) => Number(o.metadata?.annotations?.[SYNC_WAVE] ?? 0);
const notFound = (stderr: string) => /NotFound|not found/.test(stderr) && !/forbidden/i.test(stderr);

/** The server-side apply field manager of every deploy: `diff --live` dry-runs as the same manager. */
export const FIELD_MANAGER = 'roomler-deploy';

/** Manifests as kubectl reads them on stdin (YAML 1.1). */
export const toYaml = manifestsText;

/** The names of the namespaces the cluster has now. */
export async function existingNamespaces(kubectl: Kubectl): Promise<Set<string>> {
  const r = await kubectl.must('listing namespaces', ['get', 'namespaces', '-o', 'name']);
  return new Set(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace(/^namespace\//, '')),
  );
}

/** dist/'s objects (not the Argo CD Application), file by file. */
export function readDist(dist: string): Obj[] {
  if (!existsSync(dist)) throw new UserError(`${dist} does not exist: run bin/roomler synth first`);
  return readdirSync(dist)
    .filter((f) => f.endsWith('.k8s.yaml') && f !== 'argocd.k8s.yaml')
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dist, f), 'utf8'), { version: '1.1' }).map((d) => d.toJS() as Obj));
}

/** Objects grouped by Argo CD sync wave: the dependency order (namespace and storage … CronJobs). */
export function byWave(objects: readonly Obj[]): [number, Obj[]][] {
  const waves = new Map<number, Obj[]>();
  for (const o of objects) waves.set(waveOf(o), [...(waves.get(waveOf(o)) ?? []), o]);
  return [...waves].sort(([a], [b]) => a - b);
}

/** dist/ objects grouped by sync wave. */
export const waves = (dist: string) => byWave(readDist(dist));

/** Secrets each namespace needs before anything is applied, unless a SealedSecret in dist/ provides them. */
export function requiredSecrets(objects: Obj[]): { namespace: string; name: string }[] {
  const sealed = new Set(objects.filter((o) => o.kind === 'SealedSecret').map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
  const needed = new Map<string, { namespace: string; name: string }>();
  for (const o of objects) {
    const spec = o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : o.spec?.template?.spec;
    if (!spec) continue;
    const ns = o.metadata.namespace;
    const names = [
      ...(spec.volumes ?? []).map((v: Obj) => v.secret?.secretName),
      ...[...(spec.containers ?? []), ...(spec.initContainers ?? [])].flatMap((c: Obj) => [
        ...(c.envFrom ?? []).map((e: Obj) => e.secretRef?.name),
        ...(c.env ?? []).map((e: Obj) => e.valueFrom?.secretKeyRef?.name),
      ]),
    ].filter(Boolean);
    for (const name of names) if (!sealed.has(`${ns}/${name}`)) needed.set(`${ns}/${name}`, { namespace: ns, name });
  }
  return [...needed.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export interface DeployOptions extends LockOptions {
  readonly dist: string;
  readonly projectDir: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  /** `--context`: every object to this context, whatever the instances say. */
  readonly context?: string;
  /** Per workload; default deploy.rolloutTimeoutSeconds. */
  readonly timeoutSeconds?: number;
  /** Data objects pruning may delete: kind/[namespace/]name (pvc/roomler/mongodb-backup, pv/x, namespace/x) or "all". */
  readonly pruneData: readonly string[];
  /** `--atomic`: a deploy that fails rolls back to the last successful revision by itself. */
  readonly atomic?: boolean;
  /** `--force-conflicts`: take over fields another field manager set (server-side apply). */
  readonly forceConflicts?: boolean;
  /** `--force-with-argo`: deploy into namespaces an Argo CD Application manages, taking over its fields. */
  readonly forceWithArgo?: boolean;
  /** Said in the record's source, e.g. that dist/ was deployed as it is (--dist-as-is). */
  readonly sourceNote?: string;
  readonly log: Log;
}

export type RollbackOptions = Omit<DeployOptions, 'dist' | 'dryRun' | 'pruneData' | 'atomic' | 'sourceNote'> & { revision?: number };

/** One release: a deploy of dist/ or a rollback to a recorded revision, to one cluster. */
interface ReleaseRequest extends LockOptions {
  readonly kind: 'deploy' | 'rollback';
  /** What is applied (a rollback: the revision's manifests). */
  readonly objects: readonly Obj[];
  /** dist/ (…), or "rollback to revision N". */
  readonly source: string;
  readonly projectDir: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly timeoutSeconds?: number;
  readonly pruneData: readonly string[];
  readonly atomic?: boolean;
  readonly forceConflicts?: boolean;
  readonly forceWithArgo?: boolean;
  readonly log: Log;
}

/** `deploy`: every cluster the objects go to, each with its own confirmation, lock, apply, waits, prune and record. */
export async function deploy(cfg: LoadedConfig, o: DeployOptions): Promise<number> {
  const targets = clusterTargets(cfg, readDist(o.dist), o.context);
  for (const t of targets) {
    if (targets.length > 1) o.log(`deploy: ${t.objects.length} object(s) for context ${t.context ?? "(kubectl's current)"}`);
    const source = `dist/ (${o.dist})${o.sourceNote ? ` ${o.sourceNote}` : ''}`;
    await release(cfg, new Kubectl(t.context), { ...o, kind: 'deploy', objects: t.objects, source });
  }
  return 0;
}

/** The revision `deploy rollback` goes to: the one named, else the last successful one before the current one. */
export function rollbackTarget(history: readonly StoredRevision[], revision: number | undefined, historyNs: string): StoredRevision {
  const have = history.map((r) => `${r.meta.revision} (${statusOf(r.meta)})`).join(', ') || 'none';
  if (revision !== undefined) {
    const named = history.find((r) => r.meta.revision === revision);
    if (!named) throw new UserError(`no revision ${revision} in namespace ${historyNs} (have: ${have})`);
    if (!named.meta.ok) throw new UserError(`revision ${revision} did not deploy (${named.meta.outcome}); roll back to one that did`);
    return named;
  }
  const current = history.at(-1);
  const target = current && history.filter((r) => r.meta.ok && r.meta.revision < current.meta.revision).at(-1);
  if (!target) {
    const now = current ? current.meta.revision : 'none';
    throw new UserError(`no successful revision before the current one (${now}) to roll back to (have: ${have})`);
  }
  return target;
}

/** `deploy rollback [REVISION]`: a recorded revision's manifests through the same steps (existing volumes and claims stay). */
export async function rollback(cfg: LoadedConfig, o: RollbackOptions): Promise<number> {
  const kubectl = new Kubectl(o.context ?? cfg.root.context);
  await kubectl.connect();
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const target = rollbackTarget(history, o.revision, cfg.root.deploy.historyNamespace);
  const what = `${target.meta.finishedAt}, ${describeGit(target.meta.git)}, ${target.objects.length} objects`;
  o.log(`rollback: to revision ${target.meta.revision} (${what}; existing volumes and claims stay as they are)`);
  const source = `rollback to revision ${target.meta.revision}`;
  return release(cfg, kubectl, { ...o, kind: 'rollback', objects: target.objects, source, dryRun: false, pruneData: [] });
}

export const describeGit = (g: Revision['meta']['git']) =>
  g.commit ? `${g.commit.slice(0, 12)}${g.dirty ? ' (dirty)' : ''}` : (g.note ?? 'no git');

/** What pruning would do: delete, keep with the data it holds, or leave alone (gone, or re-created by someone else). */
interface PrunePlan {
  readonly remove: Managed[];
  /** The live objects of `remove`, as the cluster holds them. */
  readonly live: Map<string, Obj>;
  readonly keep: { readonly managed: Managed; readonly data: string }[];
  readonly notOurs: Managed[];
}

/** kubectl's TYPE.VERSION.GROUP for an object; a core kind alone (`configmap.v1` would read as group "v1"). */
const resourceArg = (m: Pick<Managed, 'apiVersion' | 'kind'>) => {
  if (!m.apiVersion.includes('/')) return m.kind.toLowerCase();
  const [group, version] = m.apiVersion.split('/');
  return `${m.kind.toLowerCase()}.${version}.${group}`;
};
const inNamespace = (m: Pick<Managed, 'namespace'>) => (m.namespace ? ['-n', m.namespace] : []);
const shortKind: Record<string, string> = { PersistentVolumeClaim: 'pvc', PersistentVolume: 'pv', Namespace: 'namespace' };
const pruneDataName = (m: Managed) => [shortKind[m.kind], m.namespace, m.name].filter(Boolean).join('/');

/** How to let pruning delete a data object. */
const dropWith = (k: { managed: Managed }) => `delete it with --prune-data ${pruneDataName(k.managed)}`;

/** Whether --prune-data names this object: pvc/<ns>/<name>, pv/<name>, namespace/<name>, or "all". */
const pruneDataNames = (list: readonly string[], m: Managed) => list.includes('all') || list.includes(pruneDataName(m));

/** An object as the cluster holds it now; undefined when it does not exist; a refusal (RBAC) is an error. */
async function liveObject(kubectl: Kubectl, m: Pick<Managed, 'apiVersion' | 'kind' | 'namespace' | 'name'>): Promise<Obj | undefined> {
  const r = await kubectl.run(['get', resourceArg(m), m.name, ...inNamespace(m), '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode === 0) return JSON.parse(r.stdout);
  if (notFound(r.stderr)) return undefined;
  throw new UserError(`reading ${objectKey(m)} failed: ${explainKubectlError(r.stderr)}`);
}

/** The volume behind a data object, in words: what would go with it, or what comes back with it. */
async function volumeWords(kubectl: Kubectl, pvName: string | undefined, pv?: Obj): Promise<string> {
  if (!pvName) return 'no volume bound';
  pv ??= await liveObject(kubectl, { apiVersion: 'v1', kind: 'PersistentVolume', name: pvName }).catch(() => undefined);
  if (!pv) return `volume ${pvName}`;
  const node = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
  const where = pv.spec?.hostPath ? `hostPath ${pv.spec.hostPath.path}${node ? ` on ${node}` : ''}` : 'its storage';
  return `volume ${pvName}: ${where}, reclaim ${pv.spec?.persistentVolumeReclaimPolicy}${pv.spec?.persistentVolumeReclaimPolicy === 'Retain' ? ' (the files stay on the node)' : ' (THE DATA IS DELETED)'}`;
}

/** The data a protected object carries, in words. */
async function dataOf(kubectl: Kubectl, m: Managed, live: Obj): Promise<string> {
  if (m.kind === 'PersistentVolumeClaim') return volumeWords(kubectl, live.spec?.volumeName);
  if (m.kind === 'PersistentVolume') return (await volumeWords(kubectl, m.name, live)).replace(/^volume \S+: /, '');
  return 'every object in it, whoever created it';
}

async function planPrune(
  kubectl: Kubectl,
  previous: readonly Managed[],
  desired: ReadonlySet<string>,
  pruneData: readonly string[],
): Promise<PrunePlan> {
  const plan: PrunePlan = { remove: [], live: new Map(), keep: [], notOurs: [] };
  for (const m of previous) {
    if (desired.has(objectKey(m))) continue;
    const live = await liveObject(kubectl, m);
    if (!live) continue; // already gone
    if (live.metadata?.uid !== m.uid) {
      plan.notOurs.push(m); // deleted and re-created by someone else since: not ours to delete
      continue;
    }
    if (DATA_KINDS.has(m.kind) && !pruneDataNames(pruneData, m)) plan.keep.push({ managed: m, data: await dataOf(kubectl, m, live) });
    else {
      plan.remove.push(m);
      plan.live.set(objectKey(m), live);
    }
  }
  // Reverse apply order: CronJobs and the app first, namespaces last; within a wave a claim before its volume (the
  // volume's protection finalizer holds it while a claim is bound to it). The inventory is in apply order.
  const last: Record<string, number> = { PersistentVolumeClaim: 1, PersistentVolume: 2, Namespace: 3 };
  plan.remove.reverse().sort((a, b) => (b.wave ?? 0) - (a.wave ?? 0) || (last[a.kind] ?? 0) - (last[b.kind] ?? 0));
  return plan;
}

/**
 * Static PersistentVolumes that are Released: their claim was deleted (a deleted namespace, `kubectl delete -f`),
 * the Retain policy kept the data, and the old claim's uid in claimRef refuses every new claim ("already bound to
 * a different claim"): MongoDB would never start although its data is right there.
 */
async function releasedVolumes(kubectl: Kubectl, objects: readonly Obj[]): Promise<{ name: string; claim: string }[]> {
  const volumes = objects.filter((x) => x.kind === 'PersistentVolume' && x.spec?.claimRef);
  const pvOf = (pv: Obj) => liveObject(kubectl, { apiVersion: 'v1', kind: 'PersistentVolume', name: pv.metadata.name });
  const live = await Promise.all(volumes.map(pvOf));
  return volumes.flatMap((pv, i) => {
    const ref = live[i]?.spec?.claimRef ?? {};
    const sameClaim = ref.namespace === pv.spec.claimRef.namespace && ref.name === pv.spec.claimRef.name;
    const released = live[i]?.status?.phase === 'Released' && ref.uid && sameClaim;
    return released ? [{ name: pv.metadata.name, claim: `${ref.namespace}/${ref.name}` }] : [];
  });
}

/** The latest revision that recorded what it left managed (a run that never finished recorded nothing). */
const previousInventory = (history: readonly StoredRevision[]) =>
  [...history].reverse().find((r) => statusOf(r.meta) !== 'pending')?.inventory ?? [];

/** Everything a release will do, read from the cluster before anything changes: what the operator confirms. */
interface ReleasePlan {
  readonly target: ClusterTarget;
  /** What is applied, wave by wave (a rollback leaves out the volumes and claims that exist). */
  readonly waves: [number, Obj[]][];
  readonly namespaces: string[];
  readonly history: StoredRevision[];
  readonly previous: readonly Managed[];
  readonly prune: PrunePlan;
  readonly rebind: { name: string; claim: string }[];
  /** A rollback's volumes and claims that no longer exist: re-created, with the data the volume still holds. */
  readonly recreate: { readonly object: Obj; readonly data: string }[];
  /** A rollback's volumes and claims that exist: left exactly as they are. */
  readonly untouched: Obj[];
  readonly missingSecrets: string[];
  /** The confirmation's lines. */
  readonly lines: string[];
}

/** The rights a release needs, by object, plus deploy's own records and lock in the history namespace. */
function neededRights(objects: readonly Obj[], historyNs: string, dryRun: boolean): Right[] {
  const rights: Right[] = [];
  for (const o of objects) {
    const { group, resource } = resourceOf(o.apiVersion, o.kind);
    for (const verb of ['get', 'patch', 'create']) rights.push({ verb, group, resource, namespace: o.metadata?.namespace });
  }
  for (const s of requiredSecrets([...objects])) rights.push({ verb: 'get', group: '', resource: 'secrets', namespace: s.namespace });
  if (!dryRun) {
    const history = { group: '', resource: 'secrets', namespace: historyNs };
    const lock = { group: 'coordination.k8s.io', resource: 'leases', namespace: historyNs };
    for (const verb of ['list', 'get', 'create', 'update', 'delete']) rights.push({ verb, ...history });
    for (const verb of ['get', 'create', 'update']) rights.push({ verb, ...lock });
  }
  return rights;
}

async function requireRights(kubectl: Kubectl, target: ClusterTarget, rights: readonly Right[], what: string): Promise<void> {
  const missing = await missingRights(kubectl, rights);
  if (!missing.length) return;
  throw new UserError(
    [
      `user "${target.user}" (context ${target.context}) lacks the rights ${what} needs; nothing was changed. ` +
        'Missing (RBAC), not missing objects:',
      ...missing.map((r) => `  - ${describeRight(r)}`),
      '  ask a cluster admin for a Role/ClusterRole with these verbs (kubectl auth can-i --list shows what you have)',
    ].join('\n'),
  );
}

async function planRelease(cfg: LoadedConfig, kubectl: Kubectl, req: ReleaseRequest): Promise<ReleasePlan> {
  const historyNs = cfg.root.deploy.historyNamespace;
  const target = await kubectl.connect();
  const action = req.kind === 'rollback' ? 'deploy rollback' : 'deploy';
  await requireRights(kubectl, target, neededRights(req.objects, historyNs, req.dryRun), action);
  const touched = [...new Set(req.objects.map((x) => (x.kind === 'Namespace' ? x.metadata.name : x.metadata?.namespace)).filter(Boolean))];
  await refuseArgoManaged(kubectl, touched.sort(), target.server, { force: req.forceWithArgo ?? false, dryRun: req.dryRun, log: req.log });

  const missingSecrets: string[] = [];
  const secrets = requiredSecrets([...req.objects]);
  const get = (x: { name: string; namespace: string }) =>
    kubectl.run(['get', 'secret', x.name, '-n', x.namespace, '-o', 'name'], { timeoutMs: 30_000 });
  const found = await Promise.all(secrets.map(get));
  for (const [i, r] of found.entries()) {
    const id = `${secrets[i].namespace}/${secrets[i].name}`;
    if (r.exitCode === 0) continue;
    if (!notFound(r.stderr)) throw new UserError(`cannot tell whether Secret ${id} exists: ${explainKubectlError(r.stderr)}`);
    missingSecrets.push(id);
  }
  if (missingSecrets.length && !req.dryRun) {
    const tls = cfg.root.coturn.enabled ? `${cfg.root.coturn.namespace}/${cfg.root.coturn.tlsSecretName}` : undefined;
    const hints = [`bin/roomler secrets apply --context ${target.context}`];
    if (tls && missingSecrets.includes(tls))
      hints.push(
        `kubectl --context ${target.context} -n ${cfg.root.coturn.namespace} create secret tls ${cfg.root.coturn.tlsSecretName} --cert=fullchain.pem --key=privkey.pem`,
      );
    throw new UserError(
      `missing Secrets in the cluster: ${missingSecrets.join(', ')}; nothing was applied. Create them with: ${hints.join(' and ')}`,
    );
  }

  // A rollback re-creates the volumes and claims that were pruned since, and leaves the existing ones alone.
  const recreate: ReleasePlan['recreate'][number][] = [];
  const untouched: Obj[] = [];
  let objects = [...req.objects];
  if (req.kind === 'rollback') {
    objects = [];
    for (const o of req.objects) {
      if (!VOLUME_KINDS.has(o.kind)) objects.push(o);
      else if (await liveObject(kubectl, { ...(o as Managed), namespace: o.metadata.namespace, name: o.metadata.name })) {
        untouched.push(o);
      } else {
        const itsVolume = (x: Obj) => x.kind === 'PersistentVolume' && x.metadata.name === o.spec?.volumeName;
        const pv = o.kind === 'PersistentVolume' ? o : req.objects.find(itsVolume);
        const data = pv ? (await volumeWords(kubectl, pv.metadata.name, pv)).replace(/^volume \S+: /, '') : 'a new empty volume';
        recreate.push({ object: o, data });
        objects.push(o);
      }
    }
  }

  const history = await listRevisions(kubectl, historyNs);
  const previous = previousInventory(history);
  const desired = new Set([...objects, ...untouched].map(keyOf));
  const prune = await planPrune(kubectl, previous, desired, req.pruneData);
  const deletes = prune.remove.map((m) => ({ verb: 'delete', ...resourceOf(m.apiVersion, m.kind), namespace: m.namespace }));
  if (!req.dryRun) await requireRights(kubectl, target, deletes, 'pruning');
  // Also a rollback's existing volumes: a claim it re-creates binds to a Released volume only once that is re-bound.
  const rebind = await releasedVolumes(kubectl, [...objects, ...untouched]);
  const waves = byWave(objects);
  const namespaces = [
    ...new Set(objects.map((x) => (x.kind === 'Namespace' ? x.metadata.name : x.metadata?.namespace)).filter(Boolean)),
  ].sort();
  const from = req.kind === 'rollback' ? 'that revision' : 'dist/';
  const atomic = req.atomic ? ' (--atomic: a failure rolls back to the last successful revision)' : '';
  const lines = [
    `objects:         ${objects.length} from ${req.source}, in ${waves.length} waves`,
    ...rebind.map(
      (v) =>
        `re-bind:         PersistentVolume ${v.name} (Released: its claim was deleted, the data is retained) to the new claim ${v.claim}`,
    ),
    ...recreate.map((r) => `recreate:        ${keyOf(r.object)} (pruned since that revision)${storageOf(r)}`),
    ...(untouched.length ? [`keep as is:      ${untouched.length} existing volume(s) and claim(s): a rollback never changes them`] : []),
    ...prune.remove.map((m) => `delete:          ${objectKey(m)} (deployed before, no longer in ${from})`),
    ...prune.keep.map((k) => `keep:            ${objectKey(k.managed)}, no longer deployed but it holds data: ${k.data}; ${dropWith(k)}`),
    ...prune.notOurs.map((m) => `leave alone:     ${objectKey(m)} (re-created by someone else since deploy made it)`),
    `history:         revision ${Math.max(0, ...history.map((h) => h.meta.revision)) + 1} in namespace ${historyNs}${atomic}`,
  ];
  return { target, waves, namespaces, history, previous, prune, rebind, recreate, untouched, missingSecrets, lines };
}

/** The storage a re-created volume or claim points at, for the confirmation and the log. */
const storageOf = (r: ReleasePlan['recreate'][number]) =>
  r.object.kind === 'PersistentVolume' || r.object.spec?.volumeName ? `: ${r.data}` : '';

/**
 * `--force-conflicts` for kubectl: asked for, or implied by --force-with-argo (taking over from Argo CD means owning the
 * fields its server-side apply owns; even an unchanged dist/ conflicts with it on spec.storageClassName otherwise).
 */
const forceConflicts = (req: Pick<ReleaseRequest, 'forceConflicts' | 'forceWithArgo'>) =>
  req.forceConflicts || req.forceWithArgo ? ['--force-conflicts'] : [];

/** `--dry-run=server`: every wave through the API server's validation; nothing changes, nothing is recorded. */
async function dryRun(kubectl: Kubectl, plan: ReleasePlan, log: Log, guard: Guard, force: readonly string[]): Promise<number> {
  if (plan.missingSecrets.length)
    log(
      `dry run: a real deploy would refuse now: missing Secrets ${plan.missingSecrets.join(', ')} (bin/roomler secrets apply creates them)`,
    );
  for (const v of plan.rebind)
    log(`dry run: a real deploy would re-bind the Released PersistentVolume ${v.name} (data retained) to ${v.claim}`);
  for (const m of plan.prune.remove) log(`dry run: a real deploy would delete ${objectKey(m)} after applying`);
  for (const k of plan.prune.keep) log(`dry run: ${objectKey(k.managed)} is no longer deployed but holds data (${k.data}): kept`);
  const existing = await existingNamespaces(kubectl);
  for (const [wave, objs] of plan.waves) {
    guard.check();
    log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
    // A server-side dry run cannot create the namespaces it would create, and the API server refuses objects in a
    // namespace that does not exist: those are checked against the server's schema instead (client dry run).
    const server = objs.filter((x) => !x.metadata?.namespace || existing.has(x.metadata.namespace));
    const client = objs.filter((x) => !server.includes(x));
    if (server.length)
      await kubectl.must(
        `server-side dry run of wave ${wave}`,
        ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...force, '--dry-run=server', '-f', '-'],
        { input: manifestsText(server), timeoutMs: 120_000 },
      );
    if (client.length) {
      await kubectl.must(`schema check of wave ${wave}`, ['apply', '--dry-run=client', '--validate=strict', '-f', '-'], {
        input: manifestsText(client),
        timeoutMs: 120_000,
      });
      log(
        `  ${client.length} object(s) in namespaces that do not exist yet (${[...new Set(client.map((x) => x.metadata.namespace))].join(', ')}): checked against the server's schema only; the API server checks them when deploy creates the namespace`,
      );
    }
  }
  log('server-side dry run passed for every wave; nothing was changed');
  return 0;
}

/**
 * One release to one cluster: plan (reads only) -> confirm -> lock -> pending record -> waves with waits -> prune ->
 * the outcome written once -> unlock. Every way it ends (succeeded, failed, interrupted) is recorded and said; a
 * record that cannot be written is said too, with what `deploy history` will show instead.
 */
async function release(cfg: LoadedConfig, kubectl: Kubectl, req: ReleaseRequest): Promise<number> {
  const action = req.kind === 'rollback' ? 'deploy rollback' : 'deploy';
  const historyNs = cfg.root.deploy.historyNamespace;
  // From the first line of output: a reader that goes away (`deploy | head`) or a signal is an interruption.
  const guard = new Guard(req.log);
  let lock: ClusterLock | undefined;
  let outcome: unknown;
  try {
    let plan = await planRelease(cfg, kubectl, req);
    guard.check();
    if (req.dryRun) return await dryRun(kubectl, plan, req.log, guard, forceConflicts(req));
    await kubectl.confirmChange(action, plan.namespaces, req.yes, plan.lines, plan.target);
    guard.check();
    // A recorded history means the namespace exists; the first run creates it.
    if (!plan.history.length) await ensureHistoryNamespace(kubectl, historyNs);
    const how = { operation: action, waitSeconds: req.waitLockSeconds, forceUnlock: req.forceUnlock, log: req.log, guard };
    lock = await ClusterLock.acquire(kubectl, historyNs, how);
    // What was confirmed was read before the lock: if another run recorded a revision since, plan again from it.
    const now = await listRevisions(kubectl, historyNs);
    const versions = (h: readonly StoredRevision[]) => h.map((r) => `${r.meta.revision}:${r.resourceVersion}`).join();
    if (versions(now) !== versions(plan.history)) {
      req.log(`lock: another run recorded revision ${now.at(-1)?.meta.revision} while this one waited: planned again from it`);
      plan = await planRelease(cfg, kubectl, req);
      await kubectl.confirmChange(action, plan.namespaces, req.yes, plan.lines, plan.target);
      guard.check();
    }
    return await runRelease(cfg, kubectl, req, plan, lock, guard);
  } catch (e) {
    const early = e instanceof Interrupted ? `${action} ${e.message} before it changed anything: nothing was applied or recorded` : '';
    outcome = e instanceof Interrupted ? new UserError(early, e.exitCode) : e;
    throw outcome;
  } finally {
    const note = lock ? await lock.release() : undefined;
    guard.dispose();
    if (note && outcome instanceof UserError) outcome.message += `\n  ${note}`;
    else if (note) req.log(note);
  }
}

/** The part of a release that changes the cluster, under the lock, ending in exactly one recorded outcome. */
async function runRelease(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  req: ReleaseRequest,
  plan: ReleasePlan,
  lock: ClusterLock,
  guard: Guard,
): Promise<number> {
  const historyNs = cfg.root.deploy.historyNamespace;
  const timeout = req.timeoutSeconds ?? cfg.root.deploy.rolloutTimeoutSeconds;
  const started = Date.now();
  const log = (s: string) => req.log(`[${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s] ${s}`);
  const objects = plan.waves.flatMap(([, objs]) => objs);
  const base: Omit<RevisionMeta, 'revision'> = {
    kind: req.kind,
    status: 'pending',
    digest: digestOf(objects),
    git: await gitState(req.projectDir),
    by: whoami(),
    startedAt: new Date().toISOString(),
    finishedAt: '',
    outcome: 'pending',
    ok: false,
    source: req.source,
    pruned: [],
  };

  // The pending record takes the revision number, create-only: two runs can never record the same number.
  let revision = Math.max(0, ...plan.history.map((h) => h.meta.revision)) + 1;
  let resourceVersion: string | undefined;
  for (let tries = 0; resourceVersion === undefined; tries++, revision++) {
    if (tries === 5) {
      const taken = `revisions ${revision - 5}-${revision - 1}`;
      throw new UserError(`${taken} were all taken by other runs while this one tried to record; nothing was applied`);
    }
    resourceVersion = await createRevision(kubectl, historyNs, { meta: { ...base, revision }, inventory: plan.previous, objects });
    if (resourceVersion !== undefined) break;
  }
  await lock.setRevision(revision);
  log(`revision ${revision}: recorded as pending in namespace ${historyNs}; applying`);

  const applied = new Map<string, Managed>();
  const pruned: string[] = [];
  let step = `before wave ${plan.waves[0]?.[0] ?? 0}`;
  let failure: unknown;
  try {
    for (const [wave, objs] of plan.waves) {
      guard.check();
      lock.assertHeld();
      step = `during wave ${wave}`;
      await applyWave(kubectl, req, plan, wave, objs, applied, timeout, log, guard, (s) => (step = s));
    }
    for (const m of plan.prune.remove) {
      guard.check();
      lock.assertHeld();
      step = `while pruning ${objectKey(m)}`;
      log(`prune: deleting ${objectKey(m)}`);
      await kubectl.must(
        `deleting ${objectKey(m)}`,
        ['delete', resourceArg(m), m.name, ...inNamespace(m), '--wait=true', `--timeout=${timeout}s`],
        { timeoutMs: (timeout + 30) * 1000 },
      );
      pruned.push(objectKey(m));
    }
  } catch (e) {
    failure = e;
  }

  // The outcome, written once. Signals wait until it is written.
  guard.holdForRestore('writing the record of this run');
  const interrupted = failure instanceof Interrupted ? failure : undefined;
  const status = failure === undefined ? 'succeeded' : interrupted ? 'interrupted' : 'failed';
  const cause = failure === undefined ? '' : interrupted ? `${interrupted.message} ${step}` : (failure as Error).message.split('\n')[0];
  const outcome = status === 'succeeded' ? 'succeeded' : status === 'interrupted' ? cause : `failed: ${cause}`;
  const kept = new Map(plan.previous.map((m) => [objectKey(m), m] as const));
  const inventory =
    status === 'succeeded'
      ? [...applied.values(), ...plan.prune.keep.map((k) => k.managed), ...plan.untouched.flatMap((o) => kept.get(keyOf(o)) ?? [])]
      : // Nothing was pruned (or only part): everything deploy ever made stays managed.
        [...new Map([...kept, ...applied]).values()].filter((m) => !pruned.includes(objectKey(m)));
  const finishedAt = new Date().toISOString();
  const meta: RevisionMeta = { ...base, revision, status, outcome, ok: status === 'succeeded', finishedAt, pruned };
  let recorded = true;
  let noRecord = '';
  try {
    await finishRevision(kubectl, historyNs, { meta, inventory, objects }, resourceVersion!, cfg.root.deploy.historyLimit, plan.history);
  } catch (e) {
    recorded = false;
    noRecord =
      `no record of this outcome could be written (${(e as Error).message}): ` +
      `\`bin/roomler deploy history\` will list revision ${revision} as in progress until its lock expires ` +
      `at ${lock.expiresAt.toISOString()}, ` +
      `then as unfinished (started ${base.startedAt} by ${base.by}), not as ${status}`;
  }
  guard.endHold();

  if (status === 'succeeded') {
    if (!recorded) throw new UserError(`${req.kind} succeeded, but ${noRecord}`);
    log(`recorded revision ${revision}: succeeded${pruned.length ? `; pruned ${pruned.length} object(s)` : ''}`);
    await summary(kubectl, plan, objects, req.log);
    return 0;
  }
  const prunedWords = pruned.length ? `${pruned.length} object(s) pruned before it stopped` : 'nothing was pruned';
  const where = `; ${status === 'interrupted' ? `${applied.size} object(s) were applied before it stopped, ` : ''}${prunedWords}`;
  const said = recorded ? `recorded revision ${revision} as ${status}${where}` : `${status}${where}; ${noRecord}`;
  log(said);
  const message = interrupted ? `${req.kind} ${cause}: ${said}` : `${(failure as Error).message}\n  ${said}`;
  const atomic = status === 'failed' && req.atomic && recorded ? await atomicRollback(cfg, kubectl, req, revision, lock, guard, log) : '';
  const code = interrupted ? interrupted.exitCode : failure instanceof UserError ? Math.max(1, failure.exitCode) : 1;
  throw new UserError(message + atomic, code);
}

/** `--atomic`: after a recorded failure, a rollback to the last successful revision, under the same lock. */
async function atomicRollback(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  req: ReleaseRequest,
  failed: number,
  lock: ClusterLock,
  guard: Guard,
  log: Log,
): Promise<string> {
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const target = history.filter((r) => r.meta.ok && r.meta.revision < failed).at(-1);
  if (!target) return `\n  --atomic: no successful revision before ${failed} to roll back to; the cluster stays as ${failed} left it`;
  log(`--atomic: revision ${failed} failed; rolling back to revision ${target.meta.revision}`);
  const source = `rollback to revision ${target.meta.revision} (--atomic, after revision ${failed} failed)`;
  const rb: ReleaseRequest = { ...req, kind: 'rollback', objects: target.objects, source, pruneData: [], atomic: false };
  try {
    const plan = await planRelease(cfg, kubectl, rb);
    for (const l of plan.lines) req.log(`  ${l}`);
    await runRelease(cfg, kubectl, rb, plan, lock, guard);
    return `\n  --atomic: rolled back to revision ${target.meta.revision} (recorded as revision ${failed + 1}); the deploy itself failed`;
  } catch (e) {
    return `\n  --atomic: the rollback to revision ${target.meta.revision} failed too: ${(e as Error).message.split('\n').join('\n  ')}`;
  }
}

/** One wave: apply (server-side, deploy's field manager), then wait for each workload in it. */
async function applyWave(
  kubectl: Kubectl,
  req: ReleaseRequest,
  plan: ReleasePlan,
  wave: number,
  objs: Obj[],
  applied: Map<string, Managed>,
  timeout: number,
  log: Log,
  guard: Guard,
  setStep: (s: string) => void,
): Promise<void> {
  log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  // Right before the first claim or volume is applied.
  if (objs.some((x) => VOLUME_KINDS.has(x.kind)) && plan.waves.find(([, o]) => o.some((x) => VOLUME_KINDS.has(x.kind)))?.[0] === wave) {
    for (const v of plan.rebind) {
      // The stale uid is what keeps a Released volume from its new claim; name and namespace stay as synthesized.
      await kubectl.must(`re-binding PersistentVolume ${v.name}`, [
        'patch',
        'pv',
        v.name,
        '--type=json',
        '-p',
        '[{"op":"remove","path":"/spec/claimRef/uid"},{"op":"remove","path":"/spec/claimRef/resourceVersion"}]',
      ]);
      log(`PersistentVolume ${v.name}: cleared the deleted claim's uid, so ${v.claim} binds to the retained data`);
    }
  }
  for (const r of plan.recreate.filter((x) => objs.includes(x.object))) {
    log(`recreate: ${keyOf(r.object)}, pruned since that revision${storageOf(r)}`);
  }
  const workloads = objs.filter((y) => ROLLOUT_KINDS.has(y.kind));
  const appliedAt = new Date();
  const force = forceConflicts(req);
  const args = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...force, '-o', 'json', '-f', '-'];
  const r = await kubectl.run(args, { input: manifestsText(objs), timeoutMs: 120_000 });
  if (r.exitCode !== 0) {
    const why = await explainApplyFailure(kubectl, objs, r.stderr);
    throw new UserError(`kubectl apply of wave ${wave} failed; waves before it are applied, nothing after it:\n${why}`);
  }
  const out = JSON.parse(r.stdout);
  // Which workloads served before: apply answers with the status the controllers last wrote, from before this
  // change took effect. One that served and has no ready Pod after a failed rollout is an outage.
  const serving = new Set<string>();
  for (const x of out.kind === 'List' ? out.items : [out]) {
    const { namespace, name, uid } = x.metadata;
    applied.set(keyOf(x), { apiVersion: x.apiVersion, kind: x.kind, namespace, name, uid, wave });
    if (ROLLOUT_KINDS.has(x.kind) && (x.status?.readyReplicas ?? x.status?.numberReady ?? 0) > 0) serving.add(keyOf(x));
  }
  for (const x of workloads) {
    const id = `${x.metadata.namespace}/${x.kind.toLowerCase()}/${x.metadata.name}`;
    setStep(`during wave ${wave} (waiting for ${id})`);
    log(`waiting for ${id} (timeout ${timeout} s)`);
    await waitForRollout(kubectl, x, { timeoutSeconds: timeout, log, guard, servingUntil: serving.has(keyOf(x)) ? appliedAt : undefined });
    log(`${id} ready`);
  }
}

/**
 * Why a wave's apply failed, object by object: for conflicts each object is dry-run on its own, so the message names
 * the object, the fields and the field manager that holds them, and what the operator can do.
 */
async function explainApplyFailure(kubectl: Kubectl, objs: readonly Obj[], stderr: string): Promise<string> {
  if (!/conflict/i.test(stderr))
    return stderr
      .trim()
      .split('\n')
      .map((l) => `  ${explainKubectlError(l)}`)
      .join('\n');
  const lines: string[] = [];
  for (const o of objs) {
    const dry = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--dry-run=server', '-f', '-'];
    const r = await kubectl.run(dry, { input: manifestsText([o]), timeoutMs: 60_000 });
    if (r.exitCode === 0) continue;
    const conflicts = conflictsOf(r.stderr);
    if (!conflicts.length) {
      lines.push(`  ${keyOf(o)}: ${explainKubectlError(r.stderr)}`);
      continue;
    }
    const fields = conflicts.flatMap((c) => c.fields);
    const through = (c: { subresource?: string }) => (c.subresource ? ` (through the ${c.subresource} subresource)` : '');
    const managers = conflicts.map((c) => `field manager "${c.manager}"${through(c)}`);
    const by = [...new Set(managers)].join(' and ');
    lines.push(`  ${keyOf(o)}: ${fields.length} field(s) set to other values by ${by}: ${fields.join(', ')}`);
    lines.push(`    what to do: ${conflictAdvice(o, [...new Set(conflicts.map((c) => c.manager))])}`);
  }
  return lines.length ? lines.join('\n') : `  ${explainKubectlError(stderr)}`;
}

/** After a success: each namespace's Pods (ready, restarts) and the NodePorts. */
async function summary(kubectl: Kubectl, plan: ReleasePlan, objects: readonly Obj[], log: Log): Promise<void> {
  const rows: string[][] = [['NAMESPACE', 'POD', 'READY', 'RESTARTS']];
  for (const ns of plan.namespaces) {
    const r = await kubectl.run(['get', 'pods', '-n', ns, '-o', 'json'], { timeoutMs: 30_000 });
    for (const p of r.exitCode === 0 ? JSON.parse(r.stdout).items : []) {
      const statuses: Obj[] = p.status?.containerStatuses ?? [];
      rows.push([
        ns,
        p.metadata.name,
        `${statuses.filter((c) => c.ready).length}/${statuses.length}`,
        String(statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0)),
      ]);
    }
  }
  const ports = objects
    .filter((x) => x.kind === 'Service' && x.spec?.type === 'NodePort')
    .flatMap((s) => s.spec.ports.map((p: Obj) => `${s.metadata.namespace}/${s.metadata.name} ${p.name} ${p.port} -> ${p.nodePort}`));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  log(
    rows
      .map((r) =>
        r
          .map((v, c) => v.padEnd(widths[c]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') +
      '\n\nNodePorts:\n' +
      ports.map((p) => `  ${p}`).join('\n'),
  );
}

/**
 * What the next deploy would delete in this cluster (the objects it manages that `objects` no longer has), as the
 * cluster holds them, and the data objects it would keep: for `deploy diff` / `diff --live`.
 */
export async function prunePreview(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  objects: readonly Obj[],
): Promise<{ remove: Obj[]; keep: string[] }> {
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const plan = await planPrune(kubectl, previousInventory(history), new Set(objects.map(keyOf)), []);
  return {
    remove: [...plan.live.values()],
    keep: plan.keep.map(
      (k) => `${objectKey(k.managed)} is no longer in dist/ but holds data (${k.data}): deploy keeps it unless --prune-data names it`,
    ),
  };
}

/** `deploy history`: the recorded revisions, newest last, and who holds the lock now. */
export async function history(cfg: LoadedConfig, kubectl: Kubectl, log: Log): Promise<number> {
  await kubectl.connect();
  const ns = cfg.root.deploy.historyNamespace;
  const revisions = await listRevisions(kubectl, ns);
  const lock = await readLock(kubectl, ns);
  if (!revisions.length) {
    log(`no revisions in namespace ${ns}: nothing was deployed here with bin/roomler deploy`);
    return 0;
  }
  const outcome = (m: RevisionMeta) => {
    if (statusOf(m) !== 'pending') return m.outcome;
    if (lock && !lock.expired && lock.revision === String(m.revision)) return 'in progress';
    return 'unfinished: no outcome was recorded (the run lost the API server or was killed)';
  };
  const rows = [
    ['REVISION', 'FINISHED', 'OUTCOME', 'DIGEST', 'GIT', 'BY', 'SOURCE'],
    ...revisions.map((r) => [
      String(r.meta.revision),
      r.meta.finishedAt || '-',
      outcome(r.meta).slice(0, 100),
      r.meta.digest.slice(0, 12),
      describeGit(r.meta.git),
      r.meta.by,
      r.meta.source,
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  log(
    rows
      .map((r) =>
        r
          .map((v, c) => v.padEnd(widths[c]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n'),
  );
  if (lock) log(`\nlocked: ${describeHolder(lock)}${lock.expired ? ' (expired: the next deploy takes it over)' : ''}`);
  return 0;
}

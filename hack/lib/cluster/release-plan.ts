import type { LoadedConfig } from '../../../lib/config';
import { type K8sObject, keyOf, objectKey } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { refuseArgoManaged } from './argocd';
import { describeRight, explainKubectlError, missingRights, resourceOf, type Right } from './causes';
import { byWave, requiredSecrets } from './dist';
import type { ClusterTarget, Kubectl } from './kubectl';
import { liveObject, notFound, volumeWords } from './live';
import type { LockOptions } from './lock';
import { dropWith, planPrune, previousInventory, type PrunePlan } from './prune';
import { listRevisions, type Managed, type StoredRevision } from './releases';

// The first step of a release: everything it will do, read from the cluster before anything changes. The operator
// confirms exactly these lines; a refusal here (a missing right, a missing Secret, Argo CD) changes nothing.

/** Data objects a rollback never changes while they exist, and re-creates when they were pruned since. */
export const VOLUME_KINDS = new Set(['PersistentVolume', 'PersistentVolumeClaim']);

/** One release: a deploy of dist/ or a rollback to a recorded revision, to one cluster. */
export interface ReleaseRequest extends LockOptions {
  readonly kind: 'deploy' | 'rollback';
  /** What is applied (a rollback: the revision's manifests). */
  readonly objects: readonly K8sObject[];
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
}

/** Everything a release will do, read from the cluster before anything changes: what the operator confirms. */
export interface ReleasePlan {
  readonly target: ClusterTarget;
  /** What is applied, wave by wave (a rollback leaves out the volumes and claims that exist). */
  readonly waves: [number, K8sObject[]][];
  readonly namespaces: string[];
  readonly history: StoredRevision[];
  readonly previous: readonly Managed[];
  readonly prune: PrunePlan;
  readonly rebind: { name: string; claim: string }[];
  /** A rollback's volumes and claims that no longer exist: re-created, with the data the volume still holds. */
  readonly recreate: { readonly object: K8sObject; readonly data: string }[];
  /** A rollback's volumes and claims that exist: left exactly as they are. */
  readonly untouched: K8sObject[];
  readonly missingSecrets: string[];
  /** The confirmation's lines. */
  readonly lines: string[];
}

/** The command a release is, in messages. */
export const actionOf = (req: Pick<ReleaseRequest, 'kind'>) => (req.kind === 'rollback' ? 'deploy rollback' : 'deploy');

/** The namespaces objects are in (a Namespace: itself), sorted. */
const namespacesOf = (objects: readonly K8sObject[]) =>
  [...new Set(objects.map((x) => (x.kind === 'Namespace' ? x.metadata.name : x.metadata?.namespace)).filter(Boolean))].sort();

/** The rights a release needs, by object, plus deploy's own records and lock in the history namespace. */
function neededRights(objects: readonly K8sObject[], historyNs: string, dryRun: boolean): Right[] {
  const rights: Right[] = [];
  for (const o of objects) {
    const { group, resource } = resourceOf(o.apiVersion, o.kind);
    for (const verb of ['get', 'patch', 'create']) rights.push({ verb, group, resource, namespace: o.metadata?.namespace });
  }
  for (const s of requiredSecrets(objects)) rights.push({ verb: 'get', group: '', resource: 'secrets', namespace: s.namespace });
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

/** The Secrets the pods need that the cluster lacks; a real release refuses them, naming how to create them. */
async function missingSecretsOf(cfg: LoadedConfig, kubectl: Kubectl, target: ClusterTarget, req: ReleaseRequest): Promise<string[]> {
  const missing: string[] = [];
  const secrets = requiredSecrets(req.objects);
  const get = (x: { name: string; namespace: string }) =>
    kubectl.run(['get', 'secret', x.name, '-n', x.namespace, '-o', 'name'], { timeoutMs: 30_000 });
  const found = await Promise.all(secrets.map(get));
  for (const [i, r] of found.entries()) {
    const id = `${secrets[i].namespace}/${secrets[i].name}`;
    if (r.exitCode === 0) continue;
    if (!notFound(r.stderr)) throw new UserError(`cannot tell whether Secret ${id} exists: ${explainKubectlError(r.stderr)}`);
    missing.push(id);
  }
  if (!missing.length || req.dryRun) return missing;
  const c = cfg.root.coturn;
  const hints = [`bin/roomler secrets apply --context ${target.context}`];
  if (c.enabled && missing.includes(`${c.namespace}/${c.tlsSecretName}`))
    hints.push(
      `kubectl --context ${target.context} -n ${c.namespace} create secret tls ${c.tlsSecretName} --cert=fullchain.pem --key=privkey.pem`,
    );
  throw new UserError(
    `missing Secrets in the cluster: ${missing.join(', ')}; nothing was applied. Create them with: ${hints.join(' and ')}`,
  );
}

/** A rollback re-creates the volumes and claims that were pruned since, and leaves the existing ones alone. */
async function rollbackVolumes(
  kubectl: Kubectl,
  all: readonly K8sObject[],
): Promise<Pick<ReleasePlan, 'recreate' | 'untouched'> & { objects: K8sObject[] }> {
  const out = { objects: [] as K8sObject[], recreate: [] as ReleasePlan['recreate'][number][], untouched: [] as K8sObject[] };
  for (const o of all) {
    if (!VOLUME_KINDS.has(o.kind)) out.objects.push(o);
    else if (await liveObject(kubectl, { ...(o as Managed), namespace: o.metadata.namespace, name: o.metadata.name })) {
      out.untouched.push(o);
    } else {
      const itsVolume = (x: K8sObject) => x.kind === 'PersistentVolume' && x.metadata.name === o.spec?.volumeName;
      const pv = o.kind === 'PersistentVolume' ? o : all.find(itsVolume);
      const data = pv ? (await volumeWords(kubectl, pv.metadata.name, pv)).replace(/^volume \S+: /, '') : 'a new empty volume';
      out.recreate.push({ object: o, data });
      out.objects.push(o);
    }
  }
  return out;
}

/**
 * Static PersistentVolumes that are Released: their claim was deleted (a deleted namespace, `kubectl delete -f`),
 * the Retain policy kept the data, and the old claim's uid in claimRef refuses every new claim ("already bound to
 * a different claim"): MongoDB would never start although its data is right there.
 */
async function releasedVolumes(kubectl: Kubectl, objects: readonly K8sObject[]): Promise<{ name: string; claim: string }[]> {
  const volumes = objects.filter((x) => x.kind === 'PersistentVolume' && x.spec?.claimRef);
  const pvOf = (pv: K8sObject) => liveObject(kubectl, { apiVersion: 'v1', kind: 'PersistentVolume', name: pv.metadata.name });
  const live = await Promise.all(volumes.map(pvOf));
  return volumes.flatMap((pv, i) => {
    const ref = live[i]?.spec?.claimRef ?? {};
    const sameClaim = ref.namespace === pv.spec.claimRef.namespace && ref.name === pv.spec.claimRef.name;
    const released = live[i]?.status?.phase === 'Released' && ref.uid && sameClaim;
    return released ? [{ name: pv.metadata.name, claim: `${ref.namespace}/${ref.name}` }] : [];
  });
}

/** The storage a re-created volume or claim points at, for the confirmation and the log. */
export const storageOf = (r: ReleasePlan['recreate'][number]) =>
  r.object.kind === 'PersistentVolume' || r.object.spec?.volumeName ? `: ${r.data}` : '';

/** What the operator confirms: the objects, re-binds and re-creations, what is deleted or kept, the revision. */
function confirmationLines(req: ReleaseRequest, plan: Omit<ReleasePlan, 'lines'>, historyNs: string): string[] {
  const { rebind, recreate, untouched, prune, history } = plan;
  const from = req.kind === 'rollback' ? 'that revision' : 'dist/';
  const atomic = req.atomic ? ' (--atomic: a failure rolls back to the last successful revision)' : '';
  const objects = plan.waves.reduce((n, [, objs]) => n + objs.length, 0);
  return [
    `objects:         ${objects} from ${req.source}, in ${plan.waves.length} waves`,
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
}

/**
 * Reads everything a release needs and refuses what it must (rights, Argo CD, missing Secrets) before anything
 * changes. `io` hears what a refusal that does not stop it (a dry run, --force-with-argo) would have been.
 */
export async function planRelease(cfg: LoadedConfig, kubectl: Kubectl, req: ReleaseRequest, io: IO): Promise<ReleasePlan> {
  const historyNs = cfg.root.deploy.historyNamespace;
  const target = await kubectl.connect();
  await requireRights(kubectl, target, neededRights(req.objects, historyNs, req.dryRun), actionOf(req));
  const argo = { force: req.forceWithArgo ?? false, dryRun: req.dryRun, io };
  await refuseArgoManaged(kubectl, namespacesOf(req.objects), target.server, argo);
  const missingSecrets = await missingSecretsOf(cfg, kubectl, target, req);
  const { objects, recreate, untouched } =
    req.kind === 'rollback' ? await rollbackVolumes(kubectl, req.objects) : { objects: [...req.objects], recreate: [], untouched: [] };
  const history = await listRevisions(kubectl, historyNs);
  const previous = previousInventory(history);
  const prune = await planPrune(kubectl, previous, new Set([...objects, ...untouched].map(keyOf)), req.pruneData);
  const deletes = prune.remove.map((m) => ({ verb: 'delete', ...resourceOf(m.apiVersion, m.kind), namespace: m.namespace }));
  if (!req.dryRun) await requireRights(kubectl, target, deletes, 'pruning');
  // Also a rollback's existing volumes: a claim it re-creates binds to a Released volume only once that is re-bound.
  const rebind = await releasedVolumes(kubectl, [...objects, ...untouched]);
  const plan = { target, waves: byWave(objects), namespaces: namespacesOf(objects), history, previous, prune, rebind, recreate, untouched };
  return { ...plan, missingSecrets, lines: confirmationLines(req, { ...plan, missingSecrets }, historyNs) };
}

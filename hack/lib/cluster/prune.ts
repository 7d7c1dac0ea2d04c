import type { LoadedConfig } from '../../../lib/config';
import { type K8sObject, keyOf, objectKey } from '../../../lib/manifest';
import type { Kubectl } from './kubectl';
import { liveObject, volumeWords } from './live';
import { listRevisions, type Managed, statusOf, type StoredRevision } from './releases';

// Pruning: what deploy made before and dist/ no longer has is deleted, in reverse apply order, and only while its uid
// is the one deploy recorded. Data objects (volumes, claims, namespaces) are kept unless --prune-data names them.

/** Never deleted by pruning unless --prune-data names them: their deletion can take data with it. */
const DATA_KINDS = new Set(['PersistentVolume', 'PersistentVolumeClaim', 'Namespace']);

/** What pruning would do: delete, keep with the data it holds, or leave alone (gone, or re-created by someone else). */
export interface PrunePlan {
  readonly remove: Managed[];
  /** The live objects of `remove`, as the cluster holds them. */
  readonly live: Map<string, K8sObject>;
  readonly keep: { readonly managed: Managed; readonly data: string }[];
  readonly notOurs: Managed[];
}

const shortKind: Record<string, string> = { PersistentVolumeClaim: 'pvc', PersistentVolume: 'pv', Namespace: 'namespace' };
const pruneDataName = (m: Managed) => [shortKind[m.kind], m.namespace, m.name].filter(Boolean).join('/');

/** How to let pruning delete a data object. */
export const dropWith = (k: { managed: Managed }) => `delete it with --prune-data ${pruneDataName(k.managed)}`;

/** Whether --prune-data names this object: pvc/<ns>/<name>, pv/<name>, namespace/<name>, or "all". */
const pruneDataNames = (list: readonly string[], m: Managed) => list.includes('all') || list.includes(pruneDataName(m));

/** The data a protected object carries, in words. */
async function dataOf(kubectl: Kubectl, m: Managed, live: K8sObject): Promise<string> {
  if (m.kind === 'PersistentVolumeClaim') return volumeWords(kubectl, live.spec?.volumeName);
  if (m.kind === 'PersistentVolume') return (await volumeWords(kubectl, m.name, live)).replace(/^volume \S+: /, '');
  return 'every object in it, whoever created it';
}

/** What pruning does to `previous` (what deploy manages) when `desired` is what is applied now. */
export async function planPrune(
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

/** The latest revision that recorded what it left managed (a run that never finished recorded nothing). */
export const previousInventory = (history: readonly StoredRevision[]) =>
  [...history].reverse().find((r) => statusOf(r.meta) !== 'pending')?.inventory ?? [];

/**
 * What the next deploy would delete in this cluster (the objects it manages that `objects` no longer has), as the
 * cluster holds them, and the data objects it would keep: for `deploy diff` / `diff --live`.
 */
export async function prunePreview(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  objects: readonly K8sObject[],
): Promise<{ remove: K8sObject[]; keep: string[] }> {
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const plan = await planPrune(kubectl, previousInventory(history), new Set(objects.map(keyOf)), []);
  return {
    remove: [...plan.live.values()],
    keep: plan.keep.map(
      (k) => `${objectKey(k.managed)} is no longer in dist/ but holds data (${k.data}): deploy keeps it unless --prune-data names it`,
    ),
  };
}

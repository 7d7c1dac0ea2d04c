import type { Manifest } from './synth';

/**
 * Argo CD apply order, in one place so every chart gets it: namespace and storage, secrets and config,
 * MongoDB, Redis, Janus, the app, then the CronJobs. Data is never pruned or deleted by a sync: not the volumes and
 * claims, and not the Namespaces either, whose deletion takes every claim in them along (Argo CD prunes in the
 * foreground, whatever the claims' own options say).
 */
const WAVE_BY_KIND: Record<string, number> = {
  Namespace: -2,
  PersistentVolume: -1,
  PersistentVolumeClaim: -1,
  SealedSecret: 0,
  ConfigMap: 0,
  NetworkPolicy: 0,
  CronJob: 5,
};
const WAVE_BY_NAME: Record<string, number> = { mongodb: 1, redis: 2, janus: 3, roomler: 4 };
/** Components named per node (coturn-worker1, …) go by their component: the TURN servers start with Janus. */
const WAVE_BY_COMPONENT: Record<string, number> = { 'turn-server': 3 };
const PROTECTED = new Set(['Namespace', 'PersistentVolume', 'PersistentVolumeClaim']);

export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
export const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';
export const COMPARE_OPTIONS = 'argocd.argoproj.io/compare-options';
/**
 * What a data object says to Argo CD: a sync that no longer finds it in Git skips its prune (PruneSkipped; the
 * Application stays OutOfSync and lists it until `bin/roomler argocd retire` deletes it on purpose), and deleting
 * the Application leaves it.
 */
export const DATA_SYNC_OPTIONS = 'Prune=false,Delete=false';

/**
 * For objects this project makes outside Git (`secrets apply`, `secrets tls`, deploy's history): whichever
 * Application's tracking they might ever match, Argo CD neither prunes them nor counts them against the sync status.
 */
export const OUTSIDE_GIT_ANNOTATIONS: Readonly<Record<string, string>> = {
  [COMPARE_OPTIONS]: 'IgnoreExtraneous',
  [SYNC_OPTIONS]: 'Prune=false',
};

export function withSyncWave(m: Manifest): Manifest {
  if (m.kind === 'Application') return m;
  const labels = m.metadata.labels ?? {};
  const workload = !['ConfigMap', 'Service', 'NetworkPolicy'].includes(m.kind);
  const wave =
    WAVE_BY_KIND[m.kind] ??
    WAVE_BY_NAME[labels['app.kubernetes.io/name'] ?? ''] ??
    (workload ? WAVE_BY_COMPONENT[labels['app.kubernetes.io/component'] ?? ''] : undefined) ??
    0;
  const annotations: Record<string, string> = { ...(m.metadata.annotations ?? {}), [SYNC_WAVE]: String(wave) };
  if (PROTECTED.has(m.kind)) annotations[SYNC_OPTIONS] = DATA_SYNC_OPTIONS;
  return { ...m, metadata: { ...m.metadata, annotations } };
}

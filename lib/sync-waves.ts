import type { Manifest } from './synth';

/**
 * Argo CD apply order, in one place so every chart gets it: namespace and storage, secrets and config,
 * MongoDB, Redis, Janus, the app, then the CronJobs. Data volumes are never pruned or deleted by a sync.
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
const PROTECTED = new Set(['PersistentVolume', 'PersistentVolumeClaim']);

export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
export const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';

export function withSyncWave(m: Manifest): Manifest {
  if (m.kind === 'Application') return m;
  const labels = m.metadata.labels ?? {};
  const workload = !['ConfigMap', 'Service', 'NetworkPolicy'].includes(m.kind);
  const wave = WAVE_BY_KIND[m.kind] ?? WAVE_BY_NAME[labels['app.kubernetes.io/name'] ?? ''] ?? (workload ? WAVE_BY_COMPONENT[labels['app.kubernetes.io/component'] ?? ''] : undefined) ?? 0;
  const annotations: Record<string, string> = { ...(m.metadata.annotations ?? {}), [SYNC_WAVE]: String(wave) };
  if (PROTECTED.has(m.kind)) annotations[SYNC_OPTIONS] = 'Prune=false,Delete=false';
  return { ...m, metadata: { ...m.metadata, annotations } };
}

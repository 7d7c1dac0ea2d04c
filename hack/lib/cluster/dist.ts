import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { type K8sObject, podSpecOf } from '../../../lib/manifest';
import { SYNC_WAVE } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';

// dist/ as deploy reads it: its objects in file order, grouped by Argo CD sync wave, and the Secrets its pods need.

const waveOf = (o: K8sObject) => Number(o.metadata?.annotations?.[SYNC_WAVE] ?? 0);

/** dist/'s objects (not the Argo CD Application), file by file. */
export function readDist(dist: string): K8sObject[] {
  if (!existsSync(dist)) throw new UserError(`${dist} does not exist: run bin/roomler synth first`);
  return readdirSync(dist)
    .filter((f) => f.endsWith('.k8s.yaml') && f !== 'argocd.k8s.yaml')
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dist, f), 'utf8'), { version: '1.1' }).map((d) => d.toJS() as K8sObject));
}

/** Objects grouped by Argo CD sync wave: the dependency order (namespace and storage … CronJobs). */
export function byWave(objects: readonly K8sObject[]): [number, K8sObject[]][] {
  const waves = new Map<number, K8sObject[]>();
  for (const o of objects) waves.set(waveOf(o), [...(waves.get(waveOf(o)) ?? []), o]);
  return [...waves].sort(([a], [b]) => a - b);
}

/** dist/ objects grouped by sync wave. */
export const waves = (dist: string) => byWave(readDist(dist));

/** Secrets each namespace needs before anything is applied, unless a SealedSecret in dist/ provides them. */
export function requiredSecrets(objects: readonly K8sObject[]): { namespace: string; name: string }[] {
  const sealed = new Set(objects.filter((o) => o.kind === 'SealedSecret').map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
  const needed = new Map<string, { namespace: string; name: string }>();
  for (const o of objects) {
    const spec = podSpecOf(o);
    if (!spec) continue;
    const ns = o.metadata.namespace;
    const names = [
      ...(spec.volumes ?? []).map((v: K8sObject) => v.secret?.secretName),
      ...[...(spec.containers ?? []), ...(spec.initContainers ?? [])].flatMap((c: K8sObject) => [
        ...(c.envFrom ?? []).map((e: K8sObject) => e.secretRef?.name),
        ...(c.env ?? []).map((e: K8sObject) => e.valueFrom?.secretKeyRef?.name),
      ]),
    ].filter(Boolean);
    for (const name of names) if (!sealed.has(`${ns}/${name}`)) needed.set(`${ns}/${name}`, { namespace: ns, name });
  }
  return [...needed.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

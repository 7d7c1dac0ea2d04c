import type { K8sObject } from '../../../lib/manifest';
import { objectKey } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import { explainKubectlError } from './causes';
import type { Kubectl } from './kubectl';

// Objects as the cluster holds them now, read for deploy's plan: what exists, and the data a volume carries.

/** An object's identity as kubectl addresses it. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

/** kubectl's answer when the object is not there (and not because it may not be read). */
export const notFound = (stderr: string) => /NotFound|not found/.test(stderr) && !/forbidden/i.test(stderr);

/** kubectl's TYPE.VERSION.GROUP for an object; a core kind alone (`configmap.v1` would read as group "v1"). */
export const resourceArg = (m: Pick<ObjectRef, 'apiVersion' | 'kind'>) => {
  if (!m.apiVersion.includes('/')) return m.kind.toLowerCase();
  const [group, version] = m.apiVersion.split('/');
  return `${m.kind.toLowerCase()}.${version}.${group}`;
};

/** `-n <namespace>` for a namespaced object, nothing for a cluster-scoped one. */
export const inNamespace = (m: Pick<ObjectRef, 'namespace'>) => (m.namespace ? ['-n', m.namespace] : []);

/** An object as the cluster holds it now; undefined when it does not exist; a refusal (RBAC) is an error. */
export async function liveObject(kubectl: Kubectl, m: ObjectRef): Promise<K8sObject | undefined> {
  const r = await kubectl.run(['get', resourceArg(m), m.name, ...inNamespace(m), '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode === 0) return JSON.parse(r.stdout);
  if (notFound(r.stderr)) return undefined;
  throw new UserError(`reading ${objectKey(m)} failed: ${explainKubectlError(r.stderr)}`);
}

/** The volume behind a data object, in words: what would go with it, or what comes back with it. */
export async function volumeWords(kubectl: Kubectl, pvName: string | undefined, pv?: K8sObject): Promise<string> {
  if (!pvName) return 'no volume bound';
  pv ??= await liveObject(kubectl, { apiVersion: 'v1', kind: 'PersistentVolume', name: pvName }).catch(() => undefined);
  if (!pv) return `volume ${pvName}`;
  const node = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
  const where = pv.spec?.hostPath ? `hostPath ${pv.spec.hostPath.path}${node ? ` on ${node}` : ''}` : 'its storage';
  return `volume ${pvName}: ${where}, reclaim ${pv.spec?.persistentVolumeReclaimPolicy}${pv.spec?.persistentVolumeReclaimPolicy === 'Retain' ? ' (the files stay on the node)' : ' (THE DATA IS DELETED)'}`;
}

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

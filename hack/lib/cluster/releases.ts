import { createHash } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';

import { parseAllDocuments } from 'yaml';

import { type K8sObject, toYaml } from '../../../lib/manifest';
import { OUTSIDE_GIT_ANNOTATIONS } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';
import { run } from '../process/run';
import { explainKubectlError } from './causes';
import type { Kubectl } from './kubectl';
import type { LockHolder } from './lock';

// The release history of `deploy`, kept in the cluster it describes, as Helm keeps its releases: one Secret per
// revision in deploy.historyNamespace. A revision records what was applied (the manifests, so a rollback needs no
// git checkout), the inventory of objects deploy created or updated (kind, namespace, name and uid: pruning touches
// nothing else, and nothing that was re-created by someone else since), where it came from and how it ended.

export const RELEASE_LABEL = 'roomler.dev/release';
const REVISION_LABEL = 'roomler.dev/revision';

/** One object deploy manages: what pruning may delete, and only while its uid is unchanged. */
export interface Managed {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly uid: string;
  /** Its sync wave: pruning deletes in reverse wave order. */
  readonly wave?: number;
}

/** How a run ended: exactly one of these is written per deploy or rollback, once; `pending` while it runs. */
export type RevisionStatus = 'pending' | 'succeeded' | 'failed' | 'interrupted';

export interface RevisionMeta {
  readonly revision: number;
  /** deploy (dist/) or rollback (a recorded revision's manifests). */
  readonly kind?: 'deploy' | 'rollback';
  readonly status?: RevisionStatus;
  /** sha256 of the applied manifests, in apply order. */
  readonly digest: string;
  readonly git: { readonly commit?: string; readonly dirty?: boolean; readonly note?: string };
  readonly by: string;
  readonly startedAt: string;
  /** When the outcome was written; empty while pending. */
  readonly finishedAt: string;
  /** In words: succeeded, failed: <cause>, interrupted by SIGINT during wave 3, pending. */
  readonly outcome: string;
  readonly ok: boolean;
  /** dist/, or "rollback to revision N". */
  readonly source: string;
  readonly pruned: readonly string[];
}

/** A revision's status, also for records written before statuses existed (outcome "deployed" / "failed: …"). */
export const statusOf = (m: RevisionMeta): RevisionStatus => m.status ?? (m.ok ? 'succeeded' : 'failed');

/** A revision's outcome in words: a pending one is in progress while its run holds the lock, else unfinished. */
export function outcomeOf(m: RevisionMeta, lock: LockHolder | undefined): string {
  if (statusOf(m) !== 'pending') return m.outcome;
  if (lock && !lock.expired && lock.revision === String(m.revision)) return 'in progress';
  return 'unfinished: no outcome was recorded (the run lost the API server or was killed)';
}

/** Where a revision came from in git: the commit (and whether dist/ differed from it), or why there is none. */
export const describeGit = (g: RevisionMeta['git']) =>
  g.commit ? `${g.commit.slice(0, 12)}${g.dirty ? ' (dirty)' : ''}` : (g.note ?? 'no git');

export interface Revision {
  readonly meta: RevisionMeta;
  readonly inventory: readonly Managed[];
  /** The applied objects, in wave order. */
  readonly objects: readonly K8sObject[];
}

/** sha256 of the manifests as kubectl reads them, in apply order. */
export const digestOf = (objects: readonly K8sObject[]) => createHash('sha256').update(toYaml(objects)).digest('hex');

/** The git commit of the project and whether dist/ differs from it (no git: says so). */
export async function gitState(projectDir: string): Promise<RevisionMeta['git']> {
  const [head, dirty] = await Promise.all([
    run('git', ['-C', projectDir, 'rev-parse', 'HEAD'], { timeoutMs: 10_000 }),
    run('git', ['-C', projectDir, 'status', '--porcelain', '--', 'dist', 'roomler.yaml'], { timeoutMs: 10_000 }),
  ]);
  if (head.exitCode !== 0) return { note: 'not a git checkout' };
  return { commit: head.stdout.trim(), dirty: dirty.stdout.trim() !== '' };
}

export const whoami = () =>
  `${(() => {
    try {
      return userInfo().username;
    } catch {
      return process.env.USER ?? 'unknown';
    }
  })()}@${hostname()}`;

/** A revision as the cluster holds it, with the Secret's resourceVersion (the outcome is written conditioned on it). */
export interface StoredRevision extends Revision {
  readonly resourceVersion: string;
}

/** All revisions recorded in the cluster, oldest first. */
export async function listRevisions(kubectl: Kubectl, namespace: string): Promise<StoredRevision[]> {
  const r = await kubectl.run(['get', 'secrets', '-n', namespace, '-l', `${RELEASE_LABEL}=deploy`, '-o', 'json'], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    if (/NotFound|not found/.test(r.stderr) && !/forbidden/i.test(r.stderr)) return [];
    throw new UserError(`reading the release history in namespace ${namespace} failed: ${explainKubectlError(r.stderr)}`);
  }
  return (JSON.parse(r.stdout).items as K8sObject[])
    .map((s) => {
      const field = (k: string) => Buffer.from(s.data?.[k] ?? '', 'base64');
      return {
        meta: JSON.parse(field('meta.json').toString('utf8')) as RevisionMeta,
        inventory: JSON.parse(field('inventory.json').toString('utf8') || '[]') as Managed[],
        objects: parseAllDocuments(gunzipSync(field('manifests.yaml.gz')).toString('utf8'), { version: '1.1' }).map(
          (d) => d.toJS() as K8sObject,
        ),
        resourceVersion: s.metadata.resourceVersion as string,
      };
    })
    .sort((a, b) => a.meta.revision - b.meta.revision);
}

const secretName = (revision: number) => `roomler-deploy.v${revision}`;

function revisionSecret(namespace: string, rev: Revision, resourceVersion?: string): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'roomler.dev/deploy-revision',
    metadata: {
      name: secretName(rev.meta.revision),
      namespace,
      labels: { [RELEASE_LABEL]: 'deploy', [REVISION_LABEL]: String(rev.meta.revision), 'app.kubernetes.io/managed-by': 'roomler-deploy' },
      annotations: OUTSIDE_GIT_ANNOTATIONS,
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    data: {
      'meta.json': Buffer.from(JSON.stringify(rev.meta, null, 2)).toString('base64'),
      'inventory.json': Buffer.from(JSON.stringify(rev.inventory)).toString('base64'),
      'manifests.yaml.gz': gzipSync(toYaml(rev.objects)).toString('base64'),
    },
  };
}

/**
 * Creates the pending record of a run, create-only: a revision number is taken by exactly one run (a second create
 * of the same name is refused by the API server), so numbers never collide. Returns the record's resourceVersion,
 * or undefined when that number is taken. On stdin, as every manifest.
 */
export async function createRevision(kubectl: Kubectl, namespace: string, rev: Revision): Promise<string | undefined> {
  const input = JSON.stringify(revisionSecret(namespace, rev));
  const r = await kubectl.run(['create', '-f', '-', '-o', 'jsonpath={.metadata.resourceVersion}'], { input, timeoutMs: 60_000 });
  if (r.exitCode === 0) return r.stdout.trim();
  if (/AlreadyExists|already exists/.test(r.stderr)) return undefined;
  throw new UserError(`recording revision ${rev.meta.revision} failed: ${explainKubectlError(r.stderr)}`);
}

/**
 * Writes a run's outcome into its pending record, once: a replace conditioned on the resourceVersion the record was
 * created with, so it can never overwrite another run's record. Then deletes the oldest finished revisions beyond
 * `limit`. Throws a UserError when the outcome could not be written.
 */
export async function finishRevision(
  kubectl: Kubectl,
  namespace: string,
  rev: Revision,
  resourceVersion: string,
  limit: number,
  earlier: readonly Revision[],
): Promise<void> {
  const r = await kubectl.run(['replace', '-f', '-'], {
    input: JSON.stringify(revisionSecret(namespace, rev, resourceVersion)),
    timeoutMs: 30_000,
  });
  if (r.exitCode !== 0) throw new UserError(explainKubectlError(r.stderr) || `kubectl exit ${r.exitCode ?? r.signal}`);
  // The oldest finished ones go; a pending one may be another run's, still running.
  const all = [...earlier.filter((x) => x.meta.revision !== rev.meta.revision), rev];
  const finished = all.filter((x) => statusOf(x.meta) !== 'pending');
  for (const old of finished.slice(0, Math.max(0, all.length - limit))) {
    await kubectl.run(['delete', 'secret', secretName(old.meta.revision), '-n', namespace, '--ignore-not-found'], { timeoutMs: 60_000 });
  }
}

/** Makes sure the history namespace exists (it is never pruned). */
export async function ensureHistoryNamespace(kubectl: Kubectl, namespace: string): Promise<void> {
  const ns = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'roomler-deploy' }, annotations: OUTSIDE_GIT_ANNOTATIONS },
  };
  const r = await kubectl.run(['apply', '--server-side', '--field-manager=roomler-deploy', '-f', '-'], {
    input: JSON.stringify(ns),
    timeoutMs: 60_000,
  });
  if (r.exitCode !== 0) {
    throw new UserError(`creating namespace ${namespace} (deploy's history and lock) failed: ${explainKubectlError(r.stderr)}`);
  }
}

import type { LoadedConfig } from '../../../lib/config';
import { formatReleaseSummary } from '../../commands/tables';
import { UserError } from '../cli/errors';
import { logIO } from '../cli/legacy';
import { readDist } from './dist';
import { clusterTargets, Kubectl } from './kubectl';
import { type LockHolder, type LockOptions, readLock } from './lock';
import { release, type ReleaseIO } from './release';
import { describeGit, listRevisions, type RevisionMeta, statusOf, type StoredRevision } from './releases';

// `bin/roomler deploy`, `deploy rollback` and `deploy history`: releases (release.ts) of dist/ or of a recorded
// revision, one per cluster, and the history they leave.

// What the rest of the project reads from deploy (the migration day, the tests).
export { toYaml } from '../../../lib/manifest';
export { byWave, readDist, requiredSecrets, waves } from './dist';
export { existingNamespaces } from './live';
export { prunePreview } from './prune';
export { FIELD_MANAGER, type ReleaseIO, type ReleaseSummary } from './release';
export { describeGit, outcomeOf } from './releases';

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
}

export type RollbackOptions = Omit<DeployOptions, 'dist' | 'dryRun' | 'pruneData' | 'atomic' | 'sourceNote'> & { revision?: number };

/** `deploy`: every cluster the objects go to, each with its own confirmation, lock, apply, waits, prune and record. */
export function deploy(cfg: LoadedConfig, o: DeployOptions, io: ReleaseIO): Promise<number>;
/** @deprecated the migration day's call until its steps pass an IO (hack/lib/cli/legacy.ts): every line to `o.log`. */
export function deploy(cfg: LoadedConfig, o: DeployOptions & { readonly log: (line: string) => void }): Promise<number>;
export async function deploy(cfg: LoadedConfig, o: DeployOptions & { readonly log?: (line: string) => void }, io?: ReleaseIO) {
  // The deprecated call prints the summary as the deploy command does (its table, from hack/commands).
  const out: ReleaseIO = io ?? { ...logIO(o.log!), summary: (s) => o.log!(formatReleaseSummary(s)) };
  const targets = clusterTargets(cfg, readDist(o.dist), o.context);
  for (const t of targets) {
    if (targets.length > 1) out.out(`deploy: ${t.objects.length} object(s) for context ${t.context ?? "(kubectl's current)"}`);
    const source = `dist/ (${o.dist})${o.sourceNote ? ` ${o.sourceNote}` : ''}`;
    await release(cfg, new Kubectl(t.context), { ...o, kind: 'deploy', objects: t.objects, source }, out);
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
export async function rollback(cfg: LoadedConfig, o: RollbackOptions, io: ReleaseIO): Promise<number> {
  const kubectl = new Kubectl(o.context ?? cfg.root.context);
  await kubectl.connect();
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const target = rollbackTarget(history, o.revision, cfg.root.deploy.historyNamespace);
  const what = `${target.meta.finishedAt}, ${describeGit(target.meta.git)}, ${target.objects.length} objects`;
  io.out(`rollback: to revision ${target.meta.revision} (${what}; existing volumes and claims stay as they are)`);
  const source = `rollback to revision ${target.meta.revision}`;
  return release(cfg, kubectl, { ...o, kind: 'rollback', objects: target.objects, source, dryRun: false, pruneData: [] }, io);
}

/** The recorded revisions of a cluster, newest last, and who holds the lock now. */
export interface History {
  readonly namespace: string;
  readonly revisions: readonly RevisionMeta[];
  readonly lock?: LockHolder;
}

/** `deploy history`: the recorded revisions and the lock, as the cluster holds them. */
export async function history(cfg: LoadedConfig, kubectl: Kubectl): Promise<History> {
  await kubectl.connect();
  const namespace = cfg.root.deploy.historyNamespace;
  const revisions = await listRevisions(kubectl, namespace);
  const lock = await readLock(kubectl, namespace);
  return { namespace, revisions: revisions.map((r) => r.meta), lock };
}
